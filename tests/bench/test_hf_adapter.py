"""models/hf.py: seqgap_lab.decoding on Hugging Face models equals HF `generate` (greedy; beam search with the
"hf" length penalty), step-by-step logits equal HF's forward, and the package imports without transformers.

HF beam search (transformers 5.x) and ours agree exactly with `early_stopping="never"`, for every
length_penalty >= 0: HF then bounds a live beam by running_score / max_new_tokens ** length_penalty, the same
bound as ours (raw / lp(max_len)), and both divide a finished hypothesis's summed log-probs by its generated
length incl. <eos> (HF: cur_len + 1 - prompt_len). HF's default `early_stopping=False` bounds a live beam by
its *current* length instead, which with length_penalty > 0 underestimates what it can still reach, so HF may
stop a sentence early and return worse hypotheses; `early_stopping=True` stops once num_beams hypotheses are
finished. Those two differ legitimately (ours is the exact rule); what must hold there is that our best score
is never below HF's (our finished set is a superset of HF's: the live beams evolve identically), and with
length_penalty = 0 `early_stopping=False` is exact too.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from seqgap_lab.core.config import ConfigError
from seqgap_lab.data.batching import pad
from seqgap_lab.data.vocab import EOS, PAD
from seqgap_lab.decoding import beam_search, greedy, sample

transformers = pytest.importorskip("transformers", reason="transformers is not installed (test-only dependency: "
                                                          "pip install transformers, or the `dev` extra)")
from seqgap_lab.bench.hf_adapter import HFCausalLM, HFSeq2Seq, TokenMap, build_gpt2, build_marian, from_hf  # noqa: E402

V, MAX_NEW, K = 64, 16, 4
ALPHAS = [0.0, 0.5, 1.0, 2.0]


@pytest.fixture(autouse=True)
def _quiet_transformers():
    """generate() logs advice (e.g. about pad ids) that is noise here."""
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    yield
    transformers.logging.set_verbosity(verbosity)


def _boost(weight: torch.Tensor, token: int, factor: float) -> None:
    """Scale one output-embedding row: that token's logit swings widely, so hypotheses end at many lengths."""
    with torch.no_grad():
        weight[token] *= factor


@pytest.fixture(scope="module")
def gpt2():
    """A random GPT2 (no download), peaked (init std 0.3) and with a frequent <eos>; eval mode."""
    model = build_gpt2(vocab_size=V, init_std=0.3)
    _boost(model.transformer.wte.weight, EOS, 2.0)
    return model


@pytest.fixture(scope="module")
def prompts() -> list[list[int]]:
    """Ten prompts of 2-7 ordinary ids (no specials)."""
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(2, 8, (10,), generator=g).tolist()
    return [torch.randint(3, V, (n,), generator=g).tolist() for n in lengths]


def _hyp(row: list[int]) -> list[int]:
    """Ids up to and including the first <eos>."""
    return row[:row.index(EOS) + 1] if EOS in row else row


def _ours(out, i: int, n: int = 1) -> list[list[int]]:
    """The n hypotheses of source i of a DecodeOutput, as id lists incl. <eos>."""
    return [out.tokens[i * n + j, :out.lengths[i * n + j]].tolist() for j in range(n)]


def _generate(model, prompt: list[int], **kwargs):
    ids = torch.tensor([prompt])
    return model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=MAX_NEW,
                          pad_token_id=PAD, **kwargs)


def test_greedy_equals_generate(gpt2, prompts):
    """Batched, right-padded prompts through the adapter == HF greedy on each prompt alone."""
    src = pad(prompts)
    out = greedy(HFCausalLM(gpt2), src, src != PAD, MAX_NEW)
    assert len(set(out.lengths.tolist())) >= 3  # rows finish at different steps: pruning + reorder exercised
    for i, prompt in enumerate(prompts):
        assert _ours(out, i) == [_hyp(_generate(gpt2, prompt)[0, len(prompt):].tolist())]


def test_step_logits_equal_hf_forward(gpt2, prompts):
    """Logits of each step == HF's forward over prompt + continuation; decode_forward == the steps."""
    adapter = HFCausalLM(gpt2)
    src = pad(prompts[:4])
    cont = torch.randint(3, V, (4, 6), generator=torch.Generator().manual_seed(2))  # fed after the prompt
    state = adapter.init_state(adapter.encode(src, src != PAD), src != PAD)
    steps = []
    for t in range(cont.shape[1] + 1):
        logits, state = adapter.step(cont[:, t - 1] if t else torch.full((4,), 1), state)
        steps.append(logits)
    steps = torch.stack(steps, 1)  # (B, T+1, V)
    for i, prompt in enumerate(prompts[:4]):
        full = gpt2(torch.tensor([prompt + cont[i].tolist()])).logits[0, len(prompt) - 1:]  # (T+1, V)
        torch.testing.assert_close(steps[i], full, atol=1e-4, rtol=1e-4)
    tgt_in = torch.cat([torch.full((4, 1), 1), cont], 1)
    torch.testing.assert_close(adapter(src, tgt_in), steps, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_beam_equals_generate_never(gpt2, prompts, alpha):
    """beam_search(length_penalty="hf", alpha) == generate(num_beams, length_penalty=alpha,
    early_stopping="never"): all K hypotheses, in order, and their scores."""
    src = pad(prompts)
    out = beam_search(HFCausalLM(gpt2), src, src != PAD, MAX_NEW, beam_size=K, alpha=alpha, length_penalty="hf",
                      num_return=K)
    for i, prompt in enumerate(prompts):
        ref = _generate(gpt2, prompt, num_beams=K, num_return_sequences=K, length_penalty=alpha,
                        early_stopping="never", output_scores=True, return_dict_in_generate=True)
        assert _ours(out, i, K) == [_hyp(s[len(prompt):].tolist()) for s in ref.sequences]
        torch.testing.assert_close(out.scores[i * K:(i + 1) * K], ref.sequences_scores, atol=1e-4, rtol=1e-4)


def test_length_penalty_matters_here(gpt2, prompts):
    """Guard for the test above: on these prompts alpha changes the best hypothesis's length."""
    src = pad(prompts)
    best = [beam_search(HFCausalLM(gpt2), src, src != PAD, MAX_NEW, beam_size=K, alpha=a,
                        length_penalty="hf").lengths.tolist() for a in (0.0, 1.0)]
    assert best[0] != best[1] and min(best[0]) < MAX_NEW


@pytest.mark.parametrize("alpha,early_stopping", [(0.0, False), (1.0, False), (1.0, True), (2.0, True)])
def test_beam_vs_generate_default_early_stopping(gpt2, prompts, alpha, early_stopping):
    """HF's heuristic stops may only lose: our best score >= HF's; with alpha 0 `False` is exact."""
    src = pad(prompts)
    out = beam_search(HFCausalLM(gpt2), src, src != PAD, MAX_NEW, beam_size=K, alpha=alpha, length_penalty="hf")
    for i, prompt in enumerate(prompts):
        ref = _generate(gpt2, prompt, num_beams=K, length_penalty=alpha, early_stopping=early_stopping,
                        output_scores=True, return_dict_in_generate=True)
        assert float(out.scores[i]) >= float(ref.sequences_scores[0]) - 1e-4
        if alpha == 0.0 and early_stopping is False:
            assert _ours(out, i) == [_hyp(ref.sequences[0, len(prompt):].tolist())]


def test_sample_scores_are_model_log_probs(gpt2, prompts):
    """Sampling runs on the adapter; each draw's score == its log-prob under teacher forcing."""
    adapter, src = HFCausalLM(gpt2), pad(prompts[:3])
    out = sample(adapter, src, src != PAD, MAX_NEW, num_samples=2, generator=torch.Generator().manual_seed(0))
    rows = torch.arange(3).repeat_interleave(2)
    tgt_in = torch.cat([torch.full((6, 1), 1), out.tokens[:, :-1]], 1)
    log_probs = adapter(src[rows], tgt_in, src[rows] != PAD).log_softmax(-1)  # (6, T, V)
    picked = log_probs.gather(2, out.tokens[:, :, None])[:, :, 0]
    keep = torch.arange(MAX_NEW)[None, :] < out.lengths[:, None]
    torch.testing.assert_close(out.scores, (picked * keep).sum(1), atol=1e-4, rtol=1e-4)


def test_token_map_swaps_a_foreign_eos():
    """A model whose eos is not 2: the adapter swaps ids, so our output mapped back == HF's output."""
    model = build_gpt2(vocab_size=V, init_std=0.3)
    model.config.eos_token_id = model.generation_config.eos_token_id = V - 1
    _boost(model.transformer.wte.weight, V - 1, 2.0)
    adapter = from_hf(model)
    assert isinstance(adapter, HFCausalLM) and not adapter.ids.identity
    prompts = [[5, 9, 2, 7], [40, 2, 33]]  # id 2 is an ordinary token for this model
    src = pad([adapter.ids.swap(torch.tensor(p)).tolist() for p in prompts])  # into the project's ids
    out = greedy(adapter, src, src != PAD, MAX_NEW)
    assert EOS in out.tokens  # the model's eos arrived as the project's <eos>
    for i, prompt in enumerate(prompts):
        ref = _generate(model, prompt, eos_token_id=V - 1)[0, len(prompt):].tolist()
        ref = ref[:ref.index(V - 1) + 1] if V - 1 in ref else ref
        assert adapter.ids.swap(torch.tensor(_ours(out, i)[0])).tolist() == ref


def test_token_map_is_an_involution():
    """The id map is a transposition: applying it twice is the identity; logits columns move with the ids."""
    m = TokenMap(model_eos=7)
    ids = torch.tensor([0, 2, 7, 9])
    assert m.swap(ids).tolist() == [0, 7, 2, 9] and torch.equal(m.swap(m.swap(ids)), ids)
    logits = torch.arange(10.0)[None]
    assert m.swap_logits(logits)[0, 2] == 7 and m.swap_logits(logits)[0, 7] == 2


@pytest.fixture(scope="module")
def marian():
    """A small random MarianMT (2+2 layers, no download), peaked and with a frequent <eos>."""
    model = build_marian(vocab_size=V, d_model=32, num_layers=2, num_heads=2, ffn_dim=64, max_positions=64,
                         init_std=0.3)
    _boost(model.get_output_embeddings().weight, EOS, 2.0)
    return model


def test_seq2seq_greedy_and_beam_equal_generate(marian, prompts):
    """Encoder-decoder adapter: greedy and beam (never) == HF generate on the same padded batch."""
    src = pad(prompts)
    mask = src != PAD
    adapter = HFSeq2Seq(marian)
    kwargs = dict(input_ids=src, attention_mask=mask.long(), do_sample=False, max_new_tokens=MAX_NEW)
    ref = marian.generate(**kwargs)[:, 1:]  # drop decoder_start
    out = greedy(adapter, src, mask, MAX_NEW)
    assert len(set(out.lengths.tolist())) >= 2
    assert [_ours(out, i)[0] for i in range(len(prompts))] == [_hyp(r) for r in ref.tolist()]
    beam = beam_search(adapter, src, mask, MAX_NEW, beam_size=K, alpha=1.0, length_penalty="hf")
    ref = marian.generate(**kwargs, num_beams=K, length_penalty=1.0, early_stopping="never")[:, 1:]
    assert [_ours(beam, i)[0] for i in range(len(prompts))] == [_hyp(r) for r in ref.tolist()]


def test_seq2seq_steps_equal_forward(marian, prompts):
    """Encoder-decoder adapter: step logits == HF forward == the adapter's teacher-forced forward."""
    src = pad(prompts[:4])
    mask = src != PAD
    adapter = from_hf(marian)
    assert isinstance(adapter, HFSeq2Seq)
    tgt_in = torch.cat([torch.full((4, 1), 1), torch.randint(3, V, (4, 5))], 1)
    state = adapter.init_state(adapter.encode(src, mask), mask)
    steps = []
    for t in range(tgt_in.shape[1]):
        logits, state = adapter.step(tgt_in[:, t], state)
        steps.append(logits)
    decoder_ids = torch.cat([torch.full((4, 1), marian.config.decoder_start_token_id), tgt_in[:, 1:]], 1)
    ref = marian(input_ids=src, attention_mask=mask.long(), decoder_input_ids=decoder_ids).logits
    torch.testing.assert_close(torch.stack(steps, 1), ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(adapter(src, tgt_in), ref, atol=1e-4, rtol=1e-4)


def test_bad_inputs_raise_config_error(gpt2):
    """An empty prompt and need_weights=True are refused where they enter."""
    adapter = HFCausalLM(gpt2)
    src = torch.tensor([[5, 6], [0, 0]])
    with pytest.raises(ConfigError, match="at least one token"):
        adapter.encode(src, src != PAD)
    state = adapter.init_state(adapter.encode(src[:1], src[:1] != PAD), src[:1] != PAD)
    with pytest.raises(ConfigError, match="attention weights"):
        adapter.step(torch.tensor([1]), state, need_weights=True)


def test_bench_hf_rows_tiny():
    """hf_rows returns bench-format rows for every variant and the speed-ups."""
    from seqgap_lab.bench.hf import hf_rows

    rows = hf_rows("cpu", 1, size="tiny")
    metrics = {(r["model"], r["metric"]) for r in rows}
    assert ("transformer_vs_hf_marian", "beam5_speedup") in metrics
    assert ("hf_marian", "greedy_forced_sentences_per_s") in metrics
    assert all(r["value"] > 0 for r in rows) and set(rows[0]) == {"model", "metric", "value", "unit", "note"}
    with pytest.raises(ConfigError, match="size"):
        hf_rows("cpu", 1, size="huge")


def test_imports_without_transformers():
    """The package and these modules import with transformers unavailable; hf_rows returns a note row."""
    code = ("import sys; sys.modules['transformers'] = None\n"
            "import seqgap_lab, seqgap_lab.bench.hf_adapter, seqgap_lab.decoding\n"
            "from seqgap_lab.bench.hf import hf_rows\n"
            "rows = hf_rows('cpu', 1, size='tiny'); assert rows[0]['metric'] == 'hf_rows_skipped', rows\n"
            "from seqgap_lab.bench.hf_train import hf_train_rows\n"
            "rows = hf_train_rows('cpu', 1, size='tiny'); assert rows[0]['metric'] == 'hf_train_rows_skipped', rows\n"
            "try:\n    seqgap_lab.bench.hf_adapter.build_gpt2()\nexcept ImportError as e:\n    print('ok', e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok") and "pip install transformers" in done.stdout


def test_contrastive_runs_on_hf_pairs(gpt2, prompts):
    """The contrastive decoder (same interface) on an HF expert/amateur pair: weight 0 is the expert's greedy."""
    contrastive = pytest.importorskip("seqgap_lab.decoding.contrastive").contrastive
    expert, amateur = HFCausalLM(gpt2), HFCausalLM(build_gpt2(vocab_size=V, num_layers=1, init_std=0.3, seed=1))
    src = pad(prompts)
    mask = src != PAD
    ref = greedy(expert, src, mask, MAX_NEW)
    out = contrastive(expert, amateur, src, mask, MAX_NEW, weight=0.0)
    assert torch.equal(out.tokens, ref.tokens) and torch.equal(out.lengths, ref.lengths)
    beam = contrastive(expert, amateur, src, mask, MAX_NEW, weight=1.0, search="beam", beam_size=K)
    assert beam.tokens.shape == (len(prompts), MAX_NEW)
