"""Hallucination under domain shift (notebook 10; after Wang & Sennrich 2020): notebook 04's translation
models (teacher forcing continued, and MRT with 1 - sentence-BLEU, both fine-tuned from notebook 02's model)
translate in-domain test verses and out-of-domain ones (the poetry and wisdom books, a genre never seen in
training), greedy and with growing beams (no length penalty, where beam degradation shows).

The criterion (automatic, stated, and validated by eye on a sample in the notebook): a translation is a
*hallucination* when it is both far from the reference (sentence chrF < CHRF_MAX) and barely licensed by its
source (lexicon.support < SUPPORT_MAX: most of its English content words are not translations of any source
word, by a Dice lexicon from the training bitext). Either alone is weaker: a low chrF also flags a valid
paraphrase; a low support also flags a very free reference-like rendering.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqgap_lab.core import config
from seqgap_lab.core.config import check_profile
from seqgap_lab.core.runtime import get_device
from seqgap_lab.core.stats import mcnemar
from seqgap_lab.data.text import corpora
from seqgap_lab.lessons.applications import lexicon
from seqgap_lab.metrics import text as tm
from seqgap_lab.probes import decode_cells
from seqgap_lab.zoo import translation, translation_mrt

CHRF_MAX, SUPPORT_MAX = 20.0, 0.3
DOMAINS = {"in-domain": "test", "out-of-domain": "test_ood"}
MODELS = {"TF": False, "MRT": True}  # label -> fine-tuned with MRT?
# Sentences per domain (a fixed seed-0 subset; 0 = all) and the beam sizes (1 = greedy).
PROFILES = {"smoke": dict(num_sentences=40, beams=(1, 3)), "default": dict(num_sentences=400, beams=(1, 2, 5, 10)),
            "full": dict(num_sentences=0, beams=(1, 2, 4, 6, 8, 10, 16))}


@dataclass
class HallucinationTables:
    """Per-sentence rows (model, domain, beam, source, reference, hypothesis, chrf, support, hallucination)
    and the scores per (model, domain, beam)."""

    sentences: pd.DataFrame
    scores: pd.DataFrame


def setting(beam: int) -> config.DecodeSetting:
    """Greedy for beam 1, else beam search without a length penalty."""
    return config.DecodeSetting() if beam == 1 else config.beam_setting(beam, "none", 0.0)


def flag(chrf: np.ndarray, support: np.ndarray) -> np.ndarray:
    """The hallucination criterion of the module docstring, element-wise."""
    return (np.asarray(chrf) < CHRF_MAX) & (np.asarray(support) < SUPPORT_MAX)


def run_study(profile: str, seed: int = 0, device=None, progress: bool = True) -> HallucinationTables:
    """Translate both domains with both models at every beam size (decodes cached) and score every sentence."""
    grid = PROFILES[check_profile(profile)]
    device = device if hasattr(device, "type") else get_device(device)
    data = translation.load_data(profile, seed=0)
    lex = lexicon.cached(data.train)
    parent = translation.train_run(data, profile, "transformer", seed, device, progress)
    rows = []
    for label, is_mrt in MODELS.items():
        run = translation_mrt.finetune(data, parent, profile, translation_mrt.finetune_config(profile, seed, is_mrt), seed, device,
                               progress)
        digest = decode_cells.weights_digest(run.model)
        for domain, split in DOMAINS.items():
            pairs = decode_cells.fixed_subset(corpora.load_parallel("bible", split), grid["num_sentences"])
            sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
            key = {"task": "hallucination", "model": digest,
                   "data": hashlib.sha256("\n".join(sources).encode()).hexdigest()}
            for beam in grid["beams"]:
                cell = decode_cells.cached_cell(run.model, run.vocab.encode_batch(sources), setting(beam),
                                              lambda ids: {}, key, device)
                hyps = [run.vocab.decode(ids) for ids in cell["ids"]]
                rows.append(_sentences(label, domain, beam, sources, refs, hyps, lex))
    sentences = pd.concat(rows, ignore_index=True)
    return HallucinationTables(sentences, scores(sentences))


def _sentences(label, domain, beam, sources, refs, hyps, lex) -> pd.DataFrame:
    chrf = np.array(tm.sentence_chrf(hyps, refs))
    sup = np.array([lexicon.support(s, h, lex) for s, h in zip(sources, hyps)])
    return pd.DataFrame({"model": label, "domain": domain, "beam": beam, "sentence": range(len(sources)),
                         "source": sources, "reference": refs, "hypothesis": hyps, "chrf": chrf, "support": sup,
                         "hallucination": flag(chrf, sup)})


def scores(sentences: pd.DataFrame) -> pd.DataFrame:
    """Corpus BLEU / chrF / length ratio, hallucination rate, low-chrF and low-support shares per cell."""
    rows = []
    for (model, domain, beam), part in sentences.groupby(["model", "domain", "beam"], sort=False):
        corpus = tm.corpus_scores(list(part["hypothesis"]), list(part["reference"]))
        rows.append({"model": model, "domain": domain, "beam": beam, "sentences": len(part),
                     "bleu": corpus["bleu"], "chrf": corpus["chrf"], "length_ratio": corpus["length_ratio"],
                     "hallucination_rate": float(part["hallucination"].mean()),
                     "low_chrf_share": float((part["chrf"] < CHRF_MAX).mean()),
                     "low_support_share": float((part["support"] < SUPPORT_MAX).mean()),
                     "mean_support": float(part["support"].mean())})
    return pd.DataFrame(rows)


def validation_sample(sentences: pd.DataFrame, k: int = 5, seed: int = 0) -> pd.DataFrame:
    """k flagged and k unflagged greedy out-of-domain translations, drawn at random, to check the criterion by eye."""
    pool = sentences[(sentences["beam"] == 1) & (sentences["domain"] == "out-of-domain")]
    parts = [g.sample(min(k, len(g)), random_state=seed) for _, g in pool.groupby("hallucination")]
    cols = ["model", "hallucination", "chrf", "support", "source", "reference", "hypothesis"]
    return pd.concat(parts)[cols].sort_values(["hallucination", "chrf"], ascending=[False, True]).reset_index(drop=True)


def headline(tables: HallucinationTables) -> dict:
    """Per model and domain: greedy scores and hallucination rate, the rate's and BLEU's change from greedy to
    the largest beam; per domain: MRT vs TF hallucination rate (verdict on the sentences, greedy)."""
    s = tables.scores
    big = int(s["beam"].max())
    out: dict = {"largest_beam": big, "chrf_max": CHRF_MAX, "support_max": SUPPORT_MAX, "cells": {}}
    for (model, domain), part in s.groupby(["model", "domain"], sort=False):
        g, b = part[part["beam"] == 1].iloc[0], part[part["beam"] == big].iloc[0]
        out["cells"][f"{model}/{domain}"] = {
            "sentences": int(g["sentences"]), "bleu": g["bleu"], "chrf": g["chrf"],
            "hallucination_rate": g["hallucination_rate"], "bleu_largest_beam": b["bleu"],
            "hallucination_rate_largest_beam": b["hallucination_rate"], "length_ratio_largest_beam": b["length_ratio"],
            "bleu_beam_change": b["bleu"] - g["bleu"]}
    for domain in DOMAINS:
        tf, mrt = out["cells"].get(f"TF/{domain}"), out["cells"].get(f"MRT/{domain}")
        if tf and mrt:
            # Paired over the same sentences (greedy), on soundness (not flagged): "helps" = fewer hallucinations.
            sent = tables.sentences
            greedy = sent[(sent["domain"] == domain) & (sent["beam"] == 1)]
            sound = {m: ~greedy[greedy["model"] == m].set_index("sentence")["hallucination"].astype(bool)
                     for m in ("MRT", "TF")}
            both = pd.concat({"mrt": sound["MRT"], "tf": sound["TF"]}, axis=1, join="inner")
            test = mcnemar(both["mrt"].to_numpy(), both["tf"].to_numpy())
            out[f"mrt_vs_tf_{domain}"], out[f"mrt_vs_tf_{domain}_test"] = test.sentence(), test.as_dict()
    return out


def takeaway(head: dict) -> str:
    """The hallucination study's takeaway as Markdown, every number read from `head`."""
    big = head["largest_beam"]
    lines = [f"Criterion: sentence chrF < {head['chrf_max']:g} and source support < {head['support_max']:g} (see "
             "the validation sample above). MRT vs teacher forcing is judged on the share of sound translations, "
             "sentence by sentence (exact McNemar test, 95% interval)."]
    for domain in DOMAINS:
        tf, mrt = head["cells"].get(f"TF/{domain}"), head["cells"].get(f"MRT/{domain}")
        if not (tf and mrt):
            continue
        lines.append(f"- **{domain}** ({tf['sentences']} verses): greedy hallucination rate TF {tf['hallucination_rate']:.3f}, "
                     f"MRT {mrt['hallucination_rate']:.3f} (MRT {head[f'mrt_vs_tf_{domain}']}); BLEU TF {tf['bleu']:.2f}, "
                     f"MRT {mrt['bleu']:.2f}. From greedy to beam {big} (no length penalty) BLEU moves "
                     f"{tf['bleu_beam_change']:+.2f} (TF) / {mrt['bleu_beam_change']:+.2f} (MRT) and the hallucination rate "
                     f"{tf['hallucination_rate']:.3f} -> {tf['hallucination_rate_largest_beam']:.3f} (TF) / "
                     f"{mrt['hallucination_rate']:.3f} -> {mrt['hallucination_rate_largest_beam']:.3f} (MRT).")
    tf_in, tf_out = head["cells"].get("TF/in-domain"), head["cells"].get("TF/out-of-domain")
    if tf_in and tf_out:
        lines.append(f"- Domain shift alone (TF, greedy): hallucination rate {tf_in['hallucination_rate']:.3f} in domain "
                     f"vs {tf_out['hallucination_rate']:.3f} out of domain, BLEU {tf_in['bleu']:.2f} vs {tf_out['bleu']:.2f}.")
    return "\n".join(lines)
