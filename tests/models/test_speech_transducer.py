"""RNN transducer: the lattice loss against enumeration of alignments, its gradient, and decoding."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from seqgap_lab.decoding.transducer import transducer_beam, transducer_greedy
from seqgap_lab.models.speech.encoder import SpeechModelConfig
from seqgap_lab.models.speech.transducer import TransducerModel, transducer_loss

BLANK = 0


def _brute_force(log_probs: torch.Tensor, y: list[int]) -> float:
    """-log p(y): every alignment of T blanks and U labels whose last move is the final blank at (T-1, U)."""
    t_len, u_len, total = log_probs.shape[0], len(y), -math.inf
    for emit_at in itertools.combinations(range(t_len + u_len - 1), u_len):
        t = u = 0
        score = 0.0
        for move in range(t_len + u_len - 1):
            if move in emit_at:
                score, u = score + float(log_probs[t, u, y[u]]), u + 1
            else:
                score, t = score + float(log_probs[t, u, BLANK]), t + 1
        score += float(log_probs[t_len - 1, u_len, BLANK])
        total = max(total, score) + math.log1p(math.exp(-abs(total - score))) if total > -math.inf else score
    return -total


@pytest.mark.parametrize("seed", range(4))
def test_loss_equals_enumeration_in_a_ragged_batch(seed):
    gen = torch.Generator().manual_seed(seed)
    t_max, u_max, vocab = 4, 3, 3
    log_probs = torch.randn(3, t_max, u_max + 1, vocab, generator=gen, dtype=torch.float64).log_softmax(-1)
    targets = torch.randint(1, vocab, (3, u_max), generator=gen)
    t_lens, u_lens = torch.tensor([4, 2, 3]), torch.tensor([3, 1, 0])
    nll = transducer_loss(log_probs, targets, t_lens, u_lens, reduction="none")
    for b in range(3):
        t, u = int(t_lens[b]), int(u_lens[b])
        expected = _brute_force(log_probs[b, :t, : u + 1], targets[b, :u].tolist())
        assert float(nll[b]) == pytest.approx(expected, abs=1e-9)
    assert float(transducer_loss(log_probs, targets, t_lens, u_lens, reduction="sum")) == pytest.approx(float(nll.sum()))


def test_loss_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    targets, t_lens, u_lens = torch.tensor([[1, 2], [2, 0]]), torch.tensor([3, 2]), torch.tensor([2, 1])

    def loss(x):
        return transducer_loss(x.log_softmax(-1), targets, t_lens, u_lens, reduction="none")

    assert torch.autograd.gradcheck(loss, (logits,), eps=1e-6, atol=1e-6)


def test_loss_rejects_bad_shapes_and_lengths():
    lp = torch.zeros(1, 3, 3, 4).log_softmax(-1)
    with pytest.raises(ValueError, match="targets shape"):
        transducer_loss(lp, torch.ones(1, 3, dtype=torch.long), torch.tensor([3]), torch.tensor([2]))
    with pytest.raises(ValueError, match=r"logit_lengths must be in \[1, 3\]"):
        transducer_loss(lp, torch.ones(1, 2, dtype=torch.long), torch.tensor([4]), torch.tensor([2]))
    with pytest.raises(ValueError, match="reduction = 'avg'"):
        transducer_loss(lp, torch.ones(1, 2, dtype=torch.long), torch.tensor([3]), torch.tensor([2]), reduction="avg")


def _tiny_model(seed: int = 0) -> TransducerModel:
    torch.manual_seed(seed)
    cfg = SpeechModelConfig(kind="transducer", n_mels=40, conv_channels=4, d_model=16, num_heads=2, encoder_layers=1,
                            ffn_dim=32, dropout=0.0, pred_dim=8, joint_dim=8)
    model = TransducerModel(cfg, vocab_size=5).eval()  # blank, <bos>, <eos> (masked), two labels 3 and 4
    with torch.no_grad():
        model.out.weight.mul_(3.0)  # a peakier joiner: fewer near-ties between hypotheses
    return model


@torch.no_grad()
def test_unpruned_beam_scores_equal_the_loss():
    model = _tiny_model()
    src, lengths = torch.randn(1, 9, 40, generator=torch.Generator().manual_seed(1)), torch.tensor([9])  # T' = 3
    nbest = transducer_beam(model, src, lengths, beam_size=10_000, max_symbols=3)[0]
    enc, t_lens = model.encoder(src, lengths)
    for labels, score in nbest[:6]:
        target = torch.tensor([labels]) if labels else torch.zeros(1, 0, dtype=torch.long)
        lattice = model.joint(model.enc_proj(enc)[:, :, None],
                              model.pred_proj(model.predict(torch.cat([torch.ones(1, 1, dtype=torch.long), target], 1))[0])[:, None])
        nll = transducer_loss(lattice, target, t_lens, torch.tensor([len(labels)]), reduction="none")
        assert score == pytest.approx(-float(nll), abs=1e-4)
    assert [s for _, s in nbest] == sorted((s for _, s in nbest), reverse=True)


@torch.no_grad()
def test_greedy_respects_lengths_and_the_symbol_cap():
    model = _tiny_model(1)
    src = torch.randn(2, 13, 40, generator=torch.Generator().manual_seed(2))
    lengths = torch.tensor([13, 5])  # T' = 4 and 2
    hyps = transducer_greedy(model, src, lengths, max_symbols=2)
    assert len(hyps[0]) <= 8 and len(hyps[1]) <= 4
    assert all(3 <= c <= 4 for h in hyps for c in h)  # never blank, <bos> or <eos>
    alone = transducer_greedy(model, src[1:, :5], lengths[1:], max_symbols=2)
    assert alone[0] == hyps[1]  # padding does not change a row's result
    with pytest.raises(ValueError, match="max_symbols = 0"):
        transducer_greedy(model, src, lengths, max_symbols=0)
