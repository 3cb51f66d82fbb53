"""The LM zoo (zoo/lms.py): held-out verses cut from the prose, windows, profile configs, eval prompts and the
cached smoke-profile expert/amateur trained on the real corpora. The decoder-only model itself: models/test_lm.py."""
from __future__ import annotations

import pytest
import torch

from seqgap_lab.core.config import ConfigError, DecodeConfig
from seqgap_lab.data.text import corpora
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.metrics.generation import parses
from seqgap_lab.models import build_model
from seqgap_lab.zoo import lms as lm


# --- data rules (no corpus needed) ---------------------------------------------------------------------

def test_remove_verses_cuts_whole_verses_only():
    passage = "In the beginning. God said go. Amen. God said go. The end, Amen."
    text, cut = lm.remove_verses(passage, ["God said go.", "Amen."])
    assert text == "In the beginning. The end,"  # whole words: "Amen." goes wherever spaces delimit it
    assert cut == 4
    assert lm.remove_verses("abc def", ["bc"]) == ("abc def", 0)  # not on a word boundary
    long_verse = "And the people answered and said, it is good to be here today."  # longer than the index key
    text, cut = lm.remove_verses(f"One. {long_verse} “{long_verse}” {long_verse}", [long_verse])
    assert (text, cut) == (f"One. “{long_verse}”", 2)  # the quoted one is glued to quote marks: kept


def test_windows_cover_every_token_once():
    docs = [list(range(10)), [1, 2], []]
    pairs = lm.windows(docs, 4)
    assert pairs == [([], [0, 1, 2, 3]), ([], [4, 5, 6, 7]), ([], [8, 9]), ([], [1, 2])]


def test_profiles_build_valid_configs_and_the_expert_is_larger():
    for profile in lm.PROFILE_SIZES:
        for corpus in lm.LM_CORPORA:
            sub_e, expert, _ = lm.configs(corpus, "expert", profile, seed=2)
            sub_a, amateur, train_cfg = lm.configs(corpus, "amateur", profile, seed=2)
            assert sub_e == sub_a and train_cfg.seed == 2 and expert.kind == amateur.kind == "lm"
            assert build_model(expert, 500).num_parameters() > 2 * build_model(amateur, 500).num_parameters()
            assert sub_e.normalization == ("identity" if corpus == "code" else "nmt_nfkc")
    with pytest.raises(ConfigError, match="corpus = 'bible'"):
        lm.configs("bible", "expert", "smoke")
    with pytest.raises(ConfigError, match="role = 'student'.*expert \\| amateur"):
        lm.configs("code", "student", "smoke")
    with pytest.raises(ConfigError, match="profile = 'fast'"):
        lm.configs("code", "expert", "fast")


# --- corpus-backed (the data_dir fixture, tests/conftest.py): the checkout's prepared corpora, read only;
# tokenizers/checkpoints go to tmp

def test_prose_training_text_holds_no_bible_dev_or_test_verse(data_dir):
    train, stats = lm.heldout_prose_train()
    text = " " + " \n ".join(train) + " "
    held = [en for split in ("dev", "test") for _, en in corpora.load_parallel("bible", split)]
    # Whole words (the rule): a verse quoted inside another, glued to quote marks, is other text.
    sample = [held[i] for i in range(0, len(held), 5)]  # every fifth verse: the whole search takes seconds
    leaked = [v for v in sample if f" {v} " in text]
    assert not leaked, leaked[:3]
    assert stats["verse_occurrences_cut"] >= 2000 and stats["words_after"] > 0.85 * stats["words_before"]
    # the held-out books stay out whole
    assert not set(corpora.load_prose("test")) & set(train)


def test_eval_prompts_come_from_held_out_documents(data_dir):
    code = lm.eval_prompts("code", num=5)
    functions = {f["code"] for f in corpora.load_code("test")}
    assert len(code) == 5 and all(e.prompt + e.reference in functions for e in code)
    assert all(e.prompt.startswith(("def ", "async def ")) and e.prompt.endswith("\n") for e in code)
    prose = lm.eval_prompts("prose", num=4, seed=1)
    test_text = "\n".join(corpora.load_prose("test"))
    for e in prose:
        assert len(e.prompt.split()) == 24 and len(e.reference.split()) == 48
        assert f"{e.prompt} {e.reference}" in test_text


def test_smoke_lms_train_cache_share_a_vocabulary_and_generate(data_dir):
    expert = lm.trained_lm("code", "expert", "smoke", progress=False)
    amateur = lm.trained_lm("code", "amateur", "smoke", progress=False)
    assert not expert.from_cache and expert.vocab.path == amateur.vocab.path
    assert expert.model.num_parameters() > amateur.model.num_parameters()
    again = lm.trained_lm("code", "amateur", "smoke", progress=False)
    assert again.from_cache and again.checkpoint == amateur.checkpoint
    for a, b in zip(again.model.parameters(), amateur.model.parameters()):
        assert torch.equal(a, b)
    assert expert.window == 64
    prompts = lm.eval_prompts("code", num=3, vocab=expert.vocab, max_tokens=expert.window)
    assert all(len(expert.vocab.encode(p.prompt + p.reference)) <= 64 for p in prompts)
    completions = lm.generate(expert, [p.prompt for p in prompts], DecodeConfig(max_len=20))
    assert len(completions) == 3 and all(isinstance(c, str) for c in completions)
    for p, c in zip(prompts, completions):
        ids = expert.vocab.encode(p.prompt)
        assert expert.vocab.decode(ids) == p.prompt  # identity tokenizer: indentation survives
        assert isinstance(parses(p.prompt + c), bool)
    texts = [p.prompt for p in prompts]
    weightless = DecodeConfig(method="contrastive", contrastive_weight=0.0, plausibility=0.0, max_len=20)
    assert lm.generate(expert, texts, weightless, amateur=amateur) == completions  # weight 0: the expert's greedy
    assert len(lm.generate(expert, texts, DecodeConfig(method="contrastive", max_len=20), amateur=amateur)) == 3
    loss = lm.heldout_loss(expert, "test", max_docs=10)
    assert 0 < loss["loss"] < 10 and loss["perplexity"] == pytest.approx(float(torch.tensor(loss["loss"]).exp()))


def test_completion_text_keeps_the_prompt_boundary(data_dir):
    run = lm.trained_lm("code", "amateur", "smoke", progress=False)
    code = "def f(x):\n    return x\n"
    ids = run.vocab.encode(code)
    for cut in range(1, len(ids)):
        assert run.vocab.decode(ids[:cut]) + lm.completion_text(run.vocab, ids[:cut], ids[cut:]) == code


def test_smoke_prose_lm_continues_held_out_prompts(data_dir):
    run = lm.trained_lm("prose", "amateur", "smoke", progress=False)
    assert run.vocab.config.normalization == "nmt_nfkc" and run.history["dev_loss"].notna().any()
    prompts = lm.eval_prompts("prose", num=2)
    texts = [p.prompt for p in prompts]
    out = lm.generate(run, texts, DecodeConfig(method="sample", max_len=8, seed=1))
    assert out == lm.generate(run, texts, DecodeConfig(method="sample", max_len=8, seed=1))  # seeded
    ids = decode_sequences(run.model, run.vocab.encode_batch(texts), DecodeConfig(method="sample", max_len=8, seed=1))
    for text, prompt_ids, new_ids, completion in zip(texts, run.vocab.encode_batch(texts), ids, out):
        assert text + completion == run.vocab.decode(prompt_ids + new_ids)  # prompt + completion = the whole
