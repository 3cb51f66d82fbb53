"""Notebook 08's headline and takeaway read the sweep tables (hand-made here): changing a number in the table
changes the verdict; translation verdicts use the seed spread or the stated BLEU tolerance."""
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
    assert ss["verdict_beyond"].startswith("helps (+0.300") and ss["verdict_within"].startswith("hurts (-0.300")
    assert head["tf/beam"]["verdict_beyond"].startswith("makes no clear difference")
    same = lengths_summary.synthetic_headline(lengths_synthetic_table(ss_beyond=0.11))["reverse/gru"]["ss/greedy"]
    assert same["verdict_beyond"].startswith("makes no clear difference")
    text = lengths_summary.takeaway({"reverse/gru": head}, None, [0])
    assert "exact match 0.900 within" in text and "helps: ss/greedy (+0.300)" in text
    assert "hurts: ss/greedy (-0.300)" in text and "ss/greedy 3.0x" in text and "beam 4.0x" in text
    costs = ls.cost_frame({"reverse/gru": head}).set_index("label")
    assert costs.loc["ss/greedy", "gain_beyond"] == pytest.approx(0.3)
    assert costs.loc["ss/greedy", "cost_over_tf_greedy"] == pytest.approx(31 / 11)


def test_synthetic_verdict_weighs_seeds():
    table = lengths_synthetic_table(seeds=(0, 1))
    flip = (table["strategy"] == "ss") & (table["metric"] == "exact_match") & table["beyond_training"] & (table["seed"] == 1)
    table.loc[flip, "value"] = 0.0  # seed 1 loses the whole gain: +0.55 on seed 0, -0.10 on seed 1
    table.loc[(table["strategy"] == "ss") & (table["metric"] == "exact_match") & table["beyond_training"]
              & (table["seed"] == 0), "value"] = 0.65
    cell = lengths_summary.synthetic_headline(table)["reverse/gru"]["ss/greedy"]
    assert cell["exact_match_beyond_per_seed"] == [0.65, 0.0]
    assert cell["verdict_beyond"].startswith("makes no clear difference")


def test_translation_headline_and_bleu_verdicts():
    head = lengths_summary.translation_headline(lengths_translation_table())
    assert head["longest_bucket"] == "41+" and head["shortest_bucket"] == "1-10"
    ss = head["models"]["transformer"]["ss/greedy"]
    assert ss["bleu"] == 12.0 and ss["bleu_longest"] == 7.0
    assert ss["verdict_bleu"] == "helps (+2.00 BLEU)"
    small = lengths_summary.translation_headline(lengths_translation_table(ss_bleu=(10.5,)))["models"]["transformer"]
    assert small["ss/greedy"]["verdict_bleu"].startswith("makes no clear difference (+0.50 BLEU, within ±1.00")
    noisy = lengths_summary.translation_headline(lengths_translation_table(ss_bleu=(16.0, 8.0, 12.0),
                                                                           tf_bleu=(10.0, 10.0, 10.0)))
    assert noisy["models"]["transformer"]["ss/greedy"]["verdict_bleu"].startswith("makes no clear difference")
    text = lengths_summary.takeaway(None, head, [0])
    assert "BLEU 10.00" in text and "sources of 41+ words: helps: ss/greedy (+2.00 BLEU)" in text


def test_specs_follow_the_profile_and_validate():
    specs = ls.specs("full", seed=5)
    assert specs["synthetic"].seeds == (5, 6, 7) and specs["translation"].seeds == (5, 6, 7)
    assert len(ls.specs("smoke", translation=False)) == 1
    with pytest.raises(ConfigError, match="'lstm'"):
        ls.specs("smoke", models=("lstm",))
    with pytest.raises(ConfigError, match="'speech'"):
        ls.specs("smoke", tasks=("speech",))
