"""Notebook 10's long-form study (app_longform, metrics.topic_drift): the drift metric on hand-made texts, prompt
cutting, headline and takeaway on a hand-made table, prefix-consistent decoding (app_runs) and a smoke run."""
from __future__ import annotations

import matplotlib
import pandas as pd
import pytest
import torch

from seqgap_lab.lessons.applications import longform as app_longform, runs as app_runs, figures as app_figures
from seqgap_lab.core.config import ModelConfig
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.metrics.generation import rep_n
from seqgap_lab.metrics.topic_drift import TopicVectors, content_words, cosine
from seqgap_lab.models import build_model
from seqgap_lab.lessons import generation

matplotlib.use("Agg")

DOCS = ["moses led the people out of egypt through the sea", "the king built a temple of cedar and gold",
        "the shepherd kept his sheep in the field", "pharaoh hardened his heart against moses"]
PROMPT = "Moses led the people of Israel out of Egypt, through the Red Sea."
TOPIC = "moses people egypt sea israel led"
OTHER = "cedar gold temple king shepherd sheep field"


def test_content_words_drop_stopwords_and_case():
    assert content_words("And the LORD said unto Moses: Go, thou, to Egypt! Don't") == ["lord", "moses", "go",
                                                                                         "egypt", "don't"]


def test_drift_similarity_on_hand_made_texts():
    topics = TopicVectors(DOCS)
    assert topics.similarity(PROMPT, PROMPT) == pytest.approx(1.0)
    assert topics.similarity(PROMPT, "Israel went out of Egypt with Moses by the sea") > 0.6
    assert topics.similarity(PROMPT, OTHER) == 0.0
    assert topics.similarity(PROMPT, "and the of unto") == 0.0  # no content word at all
    assert cosine({}, {"a": 1.0}) == 0.0
    # a continuation whose windows trade topic words for unrelated ones, one more per window: monotone fall
    topic, other = TOPIC.split(), OTHER.split()
    windows = [" ".join(topic[k:] + other[:k]) for k in range(6)]
    sims = topics.window_similarities(PROMPT, " ".join(windows), window=6)
    assert len(sims) == 6 and all(a > b for a, b in zip(sims, sims[1:])) and sims[0] > 0.8
    assert topics.window_similarities(PROMPT, TOPIC + " extra", window=6) == pytest.approx(sims[:1])  # tail dropped
    assert topics.window_similarities(PROMPT, "too short", window=6) == []


def test_idf_weights_rare_words_up():
    topics = TopicVectors(DOCS)
    assert topics.idf["moses"] < topics.idf["pharaoh"] < topics.unseen_idf
    assert topics.num_documents == 4


def test_passage_prompts_cut_the_first_words():
    prompts = app_longform.passage_prompts(["a b c d e f", "a b c"], ["Gen 1:1", "Gen 2:1"], prompt_words=3,
                                           min_rest=2)
    assert [(p.prompt, p.reference, p.source) for p in prompts] == [("a b c", "d e f", "Gen 1:1")]


def _rows(strategy, decoding, texts, seed=0, max_len=16):
    out = []
    for i, text in enumerate(texts):
        words = text.split()
        out.append({"strategy": strategy, "decoding": decoding, "seed": seed, "max_len": max_len, "prompt_index": i,
                    "completion": text, "tokens": len(words), "stopped": False, "words": len(words),
                    "coherent_words": generation.coherent_length(words), "rep_4": rep_n([words], 4), "nll_sum": 2.0,
                    "parses": None})
    return out


def _run(distilled_greedy: str) -> app_runs.AppRun:
    prompts = [PROMPT] * 6
    rows = []
    for max_len in (8, 16):
        rows += _rows(generation.REFERENCE, generation.REFERENCE, [TOPIC + " " + TOPIC] * 6, max_len=max_len)
        for strategy in app_runs.STRATEGIES:
            for decoding in app_runs.DECODINGS:
                student_greedy = (strategy, decoding) == (app_runs.DISTILLED, "greedy")
                text = distilled_greedy if student_greedy else TOPIC + " " + OTHER
                for seed in ((0, 1) if decoding == generation.SAMPLED else (0,)):
                    rows += _rows(strategy, decoding, [text] * 6, seed=seed, max_len=max_len)
    gens = app_longform.add_drift(pd.DataFrame(rows), prompts, TopicVectors(DOCS), window=6)
    metrics = pd.concat([app_runs.metrics_table(gens), app_longform.drift_metrics(gens)], ignore_index=True)
    info = {"profile": "smoke", "budgets": [8, 16], "seeds": [0, 1], "num_prompts": 6, "window_words": 6,
            "drift": app_longform.drift_table(gens)}
    return app_runs.AppRun(gens, metrics, {}, info)


def test_headline_and_takeaway_read_the_table_and_the_verdict_follows_it():
    run = _run(TOPIC + " " + OTHER)
    head = app_longform.headline(run)
    tf = head["cells"]["TF"]["greedy"]
    assert tf["topic_sim_first"] > 0.8 and tf["topic_sim_last"] == 0.0 and tf["windowed_share"] == 1.0
    assert head["reference"]["topic_sim_last"] == pytest.approx(head["reference"]["topic_sim_first"])
    assert head["drift_curves"]["TF"]["greedy"] == {"0": pytest.approx(tf["topic_sim_first"]), "1": 0.0}
    assert head["distill_effect"]["greedy"]["topic_sim_last"]["diff"] == 0.0
    text = app_longform.takeaway(head)
    vs_ref = head["vs_reference"]["TF"]["greedy"]["comparison"]
    assert vs_ref["delta"] < 0 and vs_ref["n"] == 6  # drifts more than the reference; 6 prompts: not judged
    assert f"greedy {tf['topic_sim_first']:.3f}" in text and "greedy is not judged (n = 6 < 100 examples; " \
        f"difference {vs_ref['delta']:+.3f})" in text
    assert "last-window topic similarity per prompt: greedy is not judged (n = 6 < 100 examples; difference " \
        "+0.000)" in text
    stays = app_longform.headline(_run(TOPIC + " " + TOPIC))  # the student stays on topic
    effect = stays["distill_effect"]["greedy"]["topic_sim_last"]
    assert effect["diff"] > 0.8 and effect["n"] == 6
    assert "last-window topic similarity per prompt: greedy is not judged (n = 6 < 100 examples; difference +" \
        in app_longform.takeaway(stays)
    assert stays["cells"][app_runs.DISTILLED]["greedy"]["rep_4"] > 0.3


def test_longform_plots_draw_the_drift_curve_and_rep4():
    run = _run(TOPIC + " " + OTHER)
    curve = app_longform.curve_table(run.info["drift"])
    assert set(curve["window"]) == {0, 1} and (curve["n"] >= 6).all()
    drift, rep = app_figures.longform_panels(run.metrics, curve, window_words=6)
    assert "human reference" in drift.axes[0].get_legend_handles_labels()[1]
    assert rep.axes[0].get_ylabel() == "rep-4"


def test_grid_decodings_except_beam_are_prefix_consistent():
    """A run at a short budget equals the run at the longest budget cut there (what decode_grid relies on)."""
    torch.manual_seed(0)
    make = lambda d: build_model(ModelConfig(kind="lm", d_model=d, num_heads=2, num_layers=1, ffn_dim=2 * d,
                                             dropout=0.0, max_positions=64), 17).eval()
    expert, amateur = make(16), make(8)
    prompts = [torch.randint(3, 17, (n,)).tolist() for n in (3, 7, 1, 5, 4)]
    for label, knobs in app_runs.DECODINGS.items():
        if knobs["method"] == "beam":
            continue
        long_run, short_run = (decode_sequences(expert, prompts, app_runs.decode_config(label, n, 3, len(prompts)),
                                                amateur=amateur) for n in (20, 6))
        assert [o[:6] for o in long_run] == short_run, label


def test_smoke_longform_study_end_to_end(data_dir):
    run = app_longform.run_study("smoke")
    g = run.generations
    assert {"strategy", "decoding", "completion", "rep_4", "topic_sims", "topic_sim_first", "topic_sim_last"} <= set(g)
    assert set(g["strategy"]) == {*app_runs.STRATEGIES, generation.REFERENCE} and set(g["max_len"]) == {8, 16}
    assert {"rep_2", "rep_4", "diversity", "topic_sim_last", "windowed_share"} <= set(run.metrics["metric"])
    drift = run.info["drift"]
    assert {"strategy", "decoding", "seed", "max_len", "prompt_index", "window", "similarity"} <= set(drift.columns)
    assert drift["similarity"].between(0, 1 + 1e-9).all()
    head = app_longform.headline(run)
    assert set(head["cells"]) == set(app_runs.STRATEGIES) and "Topic similarity" in app_longform.takeaway(head)
