"""The hallucination criterion of notebook 10: the Dice lexicon, source support, the flag, and the headline
read from hand-made sentence tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqgap_lab.lessons.applications import hallucination as ah
from seqgap_lab.lessons.applications import lexicon

PAIRS = [("el rey dijo", "the king said"), ("el rey vino", "the king came"), ("la casa grande", "the big house"),
         ("la casa vieja", "the old house"), ("el perro grande", "the big dog"), ("el perro vino", "the dog came")] * 2


def test_dice_lexicon_finds_the_translations():
    lex = lexicon.build(PAIRS)
    assert lex["rey"][0] == "king" and lex["casa"][0] == "house" and lex["perro"][0] == "dog"
    assert "the" not in {t for v in lex.values() for t in v}, "function words are not content"
    assert lexicon.cached(PAIRS) == lexicon.cached(PAIRS) == {k: v for k, v in lex.items()}


def test_support_is_the_share_of_licensed_content_words():
    lex = lexicon.build(PAIRS)
    assert lexicon.support("el rey vino", "The king came.", lex) == 1.0
    assert lexicon.support("el rey vino", "A cat barked loudly.", lex) == 0.0
    assert lexicon.support("el rey vino", "the king barked", lex) == pytest.approx(0.5)
    assert lexicon.support("Moisés vino", "Moisés came", lex) == 1.0  # a name is licensed by appearing in the source
    assert lexicon.support("el rey", "the of and", lex) == 1.0  # no content word: nothing unsupported


def test_flag_needs_both_low_chrf_and_low_support():
    chrf = np.array([10.0, 10.0, 50.0, 50.0])
    support = np.array([0.1, 0.9, 0.1, 0.9])
    assert ah.flag(chrf, support).tolist() == [True, False, False, False]


def _sentences(tf_rate_out: float, mrt_rate_out: float, n: int = 400) -> pd.DataFrame:
    rows = []
    for model, rate_out in (("TF", tf_rate_out), ("MRT", mrt_rate_out)):
        for domain, rate in (("in-domain", 0.05), ("out-of-domain", rate_out)):
            for beam in (1, 5):
                flagged = np.arange(n) < int(rate * n)
                rows.append(pd.DataFrame({"model": model, "domain": domain, "beam": beam, "sentence": range(n),
                                          "source": "el rey vino", "reference": "the king came",
                                          "hypothesis": np.where(flagged, "a dog barked", "the king came"),
                                          "chrf": np.where(flagged, 5.0, 100.0), "support": np.where(flagged, 0.0, 1.0),
                                          "hallucination": flagged}))
    return pd.concat(rows, ignore_index=True)


def test_headline_reads_the_sentences_and_the_verdict_follows_them():
    sent = _sentences(0.20, 0.08)
    head = ah.headline(ah.HallucinationTables(sent, ah.scores(sent)))
    out = head["cells"]["MRT/out-of-domain"]
    assert out["hallucination_rate"] == pytest.approx(0.08) and head["largest_beam"] == 5
    assert head["mrt_vs_tf_out-of-domain"].startswith("helps (+0.120")  # fewer hallucinations
    assert head["mrt_vs_tf_in-domain"].startswith("makes no clear difference")
    same = _sentences(0.20, 0.19)
    assert ah.headline(ah.HallucinationTables(same, ah.scores(same)))["mrt_vs_tf_out-of-domain"].startswith("makes no")
    text = ah.takeaway(head)
    assert "TF 0.200, MRT 0.080 (MRT helps (+0.120" in text and "out of domain" in text
    sample = ah.validation_sample(sent, k=3)
    assert sample["hallucination"].tolist() == [True] * 3 + [False] * 3
