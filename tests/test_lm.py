"""Decoder-only LM (models/lm.py) and LM data/training (lm.py): step-by-step equals forward with and without
prompts, padded prompt batches decode as each prompt alone, beam reorder, every decoder and training
strategy runs on it; held-out verses, windows, prompts and the cached smoke-profile expert/amateur."""
from __future__ import annotations


import pytest
import torch

from seqgap_lab.zoo import lms as lm
from seqgap_lab.core.config import ConfigError, DecodeConfig, ModelConfig, TrainConfig
from seqgap_lab.data.text import corpora
from seqgap_lab.data.batching import collate, pad
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.decoding import decode, decode_sequences
from seqgap_lab.metrics.generation import parses
from seqgap_lab.models import TransformerLM, build_model
from seqgap_lab.strategies import get_strategy
from seqgap_lab.training.loop import train

V = 13
ATOL = 1e-5
PROMPTS = [[3, 4, 5, 6, 7], [8, 9], [], [10, 3, 5, 4]]  # different lengths, one empty


def _lm(max_positions: int = 64, dropout: float = 0.1, seed: int = 0, d_model: int = 16) -> TransformerLM:
    torch.manual_seed(seed)
    cfg = ModelConfig(kind="lm", d_model=d_model, num_heads=2, num_layers=2, ffn_dim=32, dropout=dropout,
                      max_positions=max_positions)
    return build_model(cfg, V).eval()


def _tgt_in(rows: int = 4, length: int = 6) -> torch.Tensor:
    t = torch.randint(3, V, (rows, length), generator=torch.Generator().manual_seed(1))
    t[:, 0] = BOS
    return t


def _step_all(model, src, tgt_in):
    mask = src != PAD
    state = model.init_state(model.encode(src, mask), mask)
    out = []
    for t in range(tgt_in.shape[1]):
        logits, state = model.step(tgt_in[:, t], state)
        out.append(logits)
    return torch.stack(out, 1), state  # (B, T, V)


def test_build_model_and_config_kind():
    model = _lm()
    assert isinstance(model, TransformerLM) and model.kind == "lm" and model.num_parameters() > 0
    with pytest.raises(ConfigError, match="kind = 'gpt'.*gru \\| transformer \\| lm"):
        ModelConfig(kind="gpt")


@pytest.mark.parametrize("prompts", [PROMPTS, [[]] * 3, [[5, 6, 7]] * 2], ids=["mixed", "no-prompt", "same"])
def test_incremental_steps_match_forward(prompts):
    model, src = _lm(), pad(prompts)
    tgt_in = _tgt_in(len(prompts))
    full = model(src, tgt_in)  # (B, T, V)
    assert full.shape == (len(prompts), tgt_in.shape[1], V)
    stepped, state = _step_all(model, src, tgt_in)
    torch.testing.assert_close(stepped, full, atol=ATOL, rtol=0)
    assert state.step == tgt_in.shape[1]


def test_padded_prompt_batch_equals_each_prompt_alone():
    model, tgt_in = _lm(), _tgt_in()
    batch = model(pad(PROMPTS), tgt_in)
    for i, prompt in enumerate(PROMPTS):
        alone = model(pad([prompt]), tgt_in[i:i + 1])
        torch.testing.assert_close(batch[i:i + 1], alone, atol=ATOL, rtol=0)


def test_prompt_is_running_text_not_a_separate_segment():
    """The design choice: continuing prompt p with y is the plain LM over p + y (BOS of tgt_in is not fed)."""
    model = _lm()
    p, y = [3, 4, 5, 6], [7, 8, 9]
    with_prompt = model(pad([p]), torch.tensor([[BOS] + y]))  # predicts y_1.., EOS
    plain = model(pad([[]]), torch.tensor([[BOS] + p + y]))  # predicts p_1.., y_1.., EOS
    torch.testing.assert_close(with_prompt, plain[:, len(p):], atol=ATOL, rtol=0)
    first, _ = model.step(torch.tensor([EOS]), model.init_state(model.encode(pad([p]), pad([p]) != PAD),
                                                                pad([p]) != PAD))
    torch.testing.assert_close(first, with_prompt[:, 0], atol=ATOL, rtol=0)  # step 0 ignores its input


def test_reorder_then_step_equals_reordered_batch():
    model, src, tgt_in = _lm(), pad(PROMPTS), _tgt_in()
    mask = src != PAD
    state = model.init_state(model.encode(src, mask), mask)
    for t in range(3):
        _, state = model.step(tgt_in[:, t], state)
    idx = torch.tensor([3, 0, 0, 2, 1])
    moved, _ = model.step(tgt_in[idx, 3], state.reorder(idx))
    direct, _ = model.step(tgt_in[:, 3], state)
    torch.testing.assert_close(moved, direct[idx], atol=ATOL, rtol=0)
    assert state.reorder(idx).batch_size == 5


def test_init_state_beam_repeats_rows():
    model, src = _lm(), pad(PROMPTS)
    mask = src != PAD
    state = model.init_state(model.encode(src, mask), mask, beam=3)
    logits, _ = model.step(torch.full((12,), BOS), state)
    single, _ = model.step(torch.full((4,), BOS), model.init_state(model.encode(src, mask), mask))
    torch.testing.assert_close(logits, single.repeat_interleave(3, 0))


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_decoding_a_padded_batch_equals_each_prompt_alone(method):
    model = _lm(dropout=0.0, seed=3)
    config = DecodeConfig(method=method, max_len=12, beam_size=3, seed=5)
    batch = decode(model, pad(PROMPTS), config)
    for i, prompt in enumerate(PROMPTS):
        alone = decode(model, pad([prompt]), config)
        if method == "sample":  # one generator over the batch: draws differ, only the shape is comparable
            assert alone.tokens.shape == (1, 12)
            continue
        assert batch.tokens[i].tolist() == alone.tokens[0].tolist(), (method, prompt)
        assert batch.lengths[i] == alone.lengths[0]


def test_beam_size_one_is_greedy_and_coverage_is_refused():
    model = _lm(dropout=0.0, seed=3)
    greedy = decode(model, pad(PROMPTS), DecodeConfig(method="greedy", max_len=10))
    beam = decode(model, pad(PROMPTS), DecodeConfig(method="beam", beam_size=1, max_len=10))
    assert greedy.tokens.tolist() == beam.tokens.tolist()
    with pytest.raises(NotImplementedError, match="coverage"):
        state = model.init_state(model.encode(pad(PROMPTS), pad(PROMPTS) != PAD), pad(PROMPTS) != PAD)
        model.step(torch.full((4,), BOS), state, need_weights=True)


def test_positions_beyond_max_positions_raise():
    model = _lm(max_positions=16)
    model(pad([[3] * 10]), torch.full((1, 6), 4))  # BOS + 10 + 5 fed = 16 positions: fits
    with pytest.raises(ValueError, match="max_positions=16"):
        model(pad([[3] * 10]), torch.full((1, 7), 4))
    state = model.init_state(model.encode(pad([[3] * 14]), pad([[3] * 14]) != PAD), pad([[3] * 14]) != PAD)
    for t in range(2):  # step 0 feeds nothing; step 1 is position 15, the last one
        _, state = model.step(torch.tensor([4]), state)
    with pytest.raises(ValueError, match="max_positions"):
        model.step(torch.tensor([4]), state)


@pytest.mark.parametrize("name, args", [
    ("teacher_forcing", {}),
    ("scheduled_sampling", {"mode": "two_pass", "schedule": {"name": "constant", "p": 0.5}}),
    ("scheduled_sampling", {"mode": "sequential", "schedule": {"name": "constant", "p": 0.5}}),
    ("word_kd", {"kd_weight": 0.5}),
    ("mrt", {"num_samples": 2}),
], ids=["tf", "ss-two-pass", "ss-sequential", "word-kd", "mrt"])
def test_every_strategy_trains_the_lm(name, args):
    model = _lm().train()
    if name == "word_kd":
        args = dict(args, teacher=_lm(seed=1))
    strategy = get_strategy(name, **args)
    batch = collate([([3, 4, 5], [6, 7, 8, 9]), ([], [5, 6]), ([4], [7, 7, 7])])
    loss, _ = strategy.loss(model, batch, 0)
    loss.backward()
    assert torch.isfinite(loss) and model.embed.weight.grad is not None


def test_scheduled_sampling_always_gold_is_teacher_forcing_on_the_lm():
    model = _lm(dropout=0.0)
    batch = collate([([3, 4, 5], [6, 7, 8, 9]), ([], [5, 6])])
    ss = get_strategy("scheduled_sampling", mode="two_pass", schedule={"name": "constant", "p": 1.0})
    tf = get_strategy("teacher_forcing")
    with torch.no_grad():
        assert float(ss.loss(model, batch, 0)[0]) == pytest.approx(float(tf.loss(model, batch, 0)[0]), abs=1e-6)


def test_training_learns_a_pattern_and_greedy_continues_it():
    model = _lm(dropout=0.0, d_model=32)
    cycle = [3, 4, 5, 6, 7]
    pairs = [([], (cycle * 6)[i:i + 16]) for i in range(5)]
    history = train(model, pairs, TrainConfig(steps=120, batch_size=5, lr=1e-2, warmup_steps=10, log_every=40),
                    torch.device("cpu"), progress=False)
    assert history["loss"].iloc[-1] < 0.2 * history["loss"].iloc[0]
    out = decode_sequences(model, [[5, 6, 7], [4]], DecodeConfig(max_len=6))
    assert out == [[3, 4, 5, 6, 7, 3], [5, 6, 7, 3, 4, 5]]


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


# --- corpus-backed: the checkout's prepared corpora, read only; tokenizers/checkpoints go to tmp ---------

from lm_corpora import corpus_root, data_dir  # noqa: E402,F401 (pytest fixtures, shared with the app tests)


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
