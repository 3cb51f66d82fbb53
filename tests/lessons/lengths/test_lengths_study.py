"""Notebook 08's headline and takeaway read the sweep tables (hand-made here): changing a number in the table
changes the verdict; verdicts are paired (McNemar for exact match, a bootstrap of corpus BLEU over sentences)."""
from __future__ import annotations

import pytest
from helpers import lengths_synthetic_table, lengths_translation_table

from seqgap_lab.lessons.lengths import study as ls
from seqgap_lab.core.config import ConfigError
from seqgap_lab.lessons.lengths import summary as lengths_summary


def test_synthetic_headline_reads_the_table_and_the_verdict_follows_it():
    head = lengths_summary.synthetic_headline(lengths_synthetic_table())["reverse/gru"]
    tf, ss = head["tf/greedy"], head["ss/greedy"]
    assert tf["exact_match_within"] == pytest.approx(0.9) and ss["exact_match_beyond"] == pytest.approx(0.4)
    assert tf["exaccerr_beyond"] == pytest.approx(80.0) and ss["train_seconds"] == 30.0
    assert ss["verdict_beyond"].startswith("helps (+0.300 [") and ss["verdict_within"].startswith("hurts (-0.300 [")
    assert ss["test_beyond"]["n"] == 100 and ss["test_all"]["n"] == 200
    # beam: +1 example within (the interval excludes ±0.03), +2 beyond (it does not: 100 examples are too few)
    assert head["tf/beam"]["verdict_within"].startswith("makes no clear difference")
    assert head["tf/beam"]["verdict_beyond"].startswith("is underpowered")
    same = lengths_summary.synthetic_headline(lengths_synthetic_table(ss_beyond=0.11))["reverse/gru"]["ss/greedy"]
    assert same["verdict_beyond"].startswith("makes no clear difference")
    text = lengths_summary.takeaway({"reverse/gru": head}, None, [0])
    assert "exact match 0.900 within" in text and "helps: ss/greedy (+0.300 [" in text
    assert "hurts: ss/greedy (-0.300 [" in text and "underpowered: tf/beam" in text
    assert "ss/greedy 3.0x" in text and "beam 4.0x" in text
    costs = ls.cost_frame({"reverse/gru": head}).set_index("label")
    assert costs.loc["ss/greedy", "gain_beyond"] == pytest.approx(0.3)
    assert costs.loc["ss/greedy", "cost_over_tf_greedy"] == pytest.approx(31 / 11)


def test_synthetic_verdict_pools_seeds_example_by_example():
    # +0.55 on seed 0, -0.10 on seed 1: pooled over the 200 (seed, example) pairs, 55 gained and 10 lost
    table = lengths_synthetic_table(seeds=(0, 1), ss_beyond_by_seed={0: 0.65, 1: 0.0})
    cell = lengths_summary.synthetic_headline(table)["reverse/gru"]["ss/greedy"]
    assert cell["exact_match_beyond_per_seed"] == [0.65, 0.0]
    assert cell["test_beyond"]["n"] == 200 and cell["test_beyond"]["delta"] == pytest.approx(0.225)
    assert cell["verdict_beyond"].startswith("helps (+0.225")


def test_translation_headline_and_bleu_verdicts():
    head = lengths_summary.translation_headline(lengths_translation_table())
    assert head["longest_bucket"] == "41+" and head["shortest_bucket"] == "1-10"
    ss = head["models"]["transformer"]["ss/greedy"]
    assert ss["bleu"] == 12.0 and ss["bleu_longest"] == 7.0
    # the sentence statistics behind the verdicts: 2 of 12 words wrong (ss, BLEU 12) vs 3 of 12 (tf, BLEU 10)
    assert ss["verdict_bleu"].startswith("helps (+") and ss["test_bleu"]["n"] == 240
    assert ss["test_bleu_longest"]["n"] == 120 and ss["verdict_bleu_longest"].startswith("helps (+")
    same = lengths_summary.translation_headline(lengths_translation_table(ss_bleu=(10.2,)))["models"]["transformer"]
    assert same["ss/greedy"]["verdict_bleu"].startswith("makes no clear difference (+0.00")  # 3 of 12 wrong too
    text = lengths_summary.takeaway(None, head, [0])
    assert "BLEU 10.00" in text and "sources of 41+ words: helps: ss/greedy (+" in text


def test_specs_follow_the_profile_and_validate():
    specs = ls.specs("full", seed=5)
    assert specs["synthetic"].seeds == (5, 6, 7) and specs["translation"].seeds == (5, 6, 7)
    assert len(ls.specs("smoke", translation=False)) == 1
    with pytest.raises(ConfigError, match="'lstm'"):
        ls.specs("smoke", models=("lstm",))
    with pytest.raises(ConfigError, match="'speech'"):
        ls.specs("smoke", tasks=("speech",))
