"""data/: task oracles checked independently, length control, split hygiene, vocab, batching."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seqgap_lab.core.config import TaskConfig
from seqgap_lab.data.batching import Batch, bucketed_batches, collate, infinite_batches, pad
from seqgap_lab.data.synthetic.tasks import make_task
from seqgap_lab.data.vocab import BOS, EOS, PAD, Vocab

SMALL = dict(min_len=2, train_max_len=5, test_max_len=8, num_train=300, num_dev=40, num_test=80, seed=3)


def _cfg(name: str, **kw) -> TaskConfig:
    args = dict(SMALL, num_symbols=10 if name == "addition" else 6)
    args.update(kw)
    return TaskConfig(name=name, **args)


def _all_pairs(splits):
    return splits.train + splits.dev + splits.test


def _addition_oracle(symbols: list[str]) -> tuple[int, int, int]:
    """Parse columns 'a0b0 a1b1 ..' (little-endian digit pairs) independently of the package."""
    assert all(len(c) == 2 and c.isdigit() for c in symbols)
    a = sum(int(c[0]) * 10 ** i for i, c in enumerate(symbols))
    b = sum(int(c[1]) * 10 ** i for i, c in enumerate(symbols))
    return a, b, len(symbols)


@pytest.mark.parametrize("name", ["copy", "reverse", "sort", "addition", "running_sum", "counter", "dialects"])
def test_every_pair_satisfies_an_independent_oracle(name):
    task = make_task(_cfg(name))
    vocab = task.vocab
    pairs = _all_pairs(task.make_splits())
    assert len(pairs) == 300 + 40 + 80
    for src, tgt in pairs:
        assert all(isinstance(i, int) for i in src + tgt)
        assert min(src + tgt) >= vocab.first_symbol_id(), "specials must not appear in pairs"
        s, t = vocab.decode(src), vocab.decode(tgt)
        assert len(s) == len(src) and len(t) == len(tgt)
        assert name == "dialects" or not {"A", "B"} & set(t)  # only dialects has tags
        if name == "copy":
            assert t == s
        elif name == "reverse":
            assert t == s[::-1]
        elif name == "sort":
            assert t == sorted(s, key=lambda c: vocab.encode([c])[0])
            assert sorted(t) == sorted(s)
        elif name == "running_sum":  # 6 digits: every output is the sum of the inputs so far, mod 6
            assert t == [str(sum(int(c) for c in s[: i + 1]) % 6) for i in range(len(s))]
        elif name == "dialects":  # 6 symbols: dialect B swaps a<->b only; dev/test store dialect A
            b_side = "".join({"a": "b", "b": "a"}.get(c, c) for c in s)
            assert "".join(t) in ("A" + "".join(s), "B" + b_side)
        elif name == "counter":  # inputs are bits; every output counts the 1s so far, mod 6
            assert set(s) <= {"0", "1"}
            assert t == [str(s[: i + 1].count("1") % 6) for i in range(len(s))]
        else:
            a, b, width = _addition_oracle(s)
            assert all(c.isdigit() for c in t)
            assert len(t) >= width, "output must have at least as many digits as the longer operand"
            assert len(t) <= width + 1
            assert sum(int(d) * 10 ** i for i, d in enumerate(t)) == a + b  # little-endian
            # the most significant written digit is only zero when padding to `width`
            if len(t) == width + 1:
                assert t[-1] == "1"


def test_addition_known_example():
    task = make_task(_cfg("addition"))
    v = task.vocab
    # 95 + 7 = 102; columns little-endian: (5,7) (9,0) -> "201"
    assert v.decode(task.oracle(v.encode(["57", "90"]))) == list("201")
    # 10 + 0 = 10 with 3-digit operands: columns (0,0) (1,0) (0,0) -> "010" little-endian
    assert v.decode(task.oracle(v.encode(["00", "10", "00"]))) == list("010")
    # 999 + 1 = 1000: the carry runs through every column and adds a digit
    assert v.decode(task.oracle(v.encode(["91", "90", "90"]))) == list("0001")


@pytest.mark.parametrize("name", ["copy", "reverse", "sort", "addition"])
def test_length_control(name):
    cfg = _cfg(name)
    task = make_task(cfg)
    splits = task.make_splits()
    for src, _ in splits.train + splits.dev:
        assert cfg.min_len <= task.source_length(src) <= cfg.train_max_len
    test_lengths = {task.source_length(s) for s, _ in splits.test}
    assert min(test_lengths) >= cfg.min_len and max(test_lengths) == cfg.test_max_len
    assert any(n > cfg.train_max_len for n in test_lengths)
    train_lengths = {task.source_length(s) for s, _ in splits.train}
    assert train_lengths == set(range(cfg.min_len, cfg.train_max_len + 1))


@pytest.mark.parametrize("name", ["copy", "addition"])
def test_dev_and_test_exclude_train_sources(name):
    # few symbols and short lengths so that collisions would be frequent if not excluded
    extra = {} if name == "addition" else {"num_symbols": 3}  # only 39 copy sources of length 1..3
    cfg = _cfg(name, min_len=1, train_max_len=3, test_max_len=4, num_train=40, num_dev=30, num_test=60, **extra)
    splits = make_task(cfg).make_splits()
    seen = {tuple(s) for s, _ in splits.train}
    assert not any(tuple(s) in seen for s, _ in splits.dev)
    assert not any(tuple(s) in seen for s, _ in splits.test)


def test_impossible_split_raises():
    # copy with 2 symbols and lengths 1..2 has only 6 distinct sources; all land in train.
    cfg = TaskConfig(name="copy", min_len=1, train_max_len=2, test_max_len=2, num_symbols=2,
                     num_train=200, num_dev=5, num_test=5)
    with pytest.raises(RuntimeError, match="could not draw"):
        make_task(cfg).make_splits()


def test_same_seed_same_splits_other_seed_differs():
    a = make_task(_cfg("reverse")).make_splits()
    b = make_task(_cfg("reverse")).make_splits()
    c = make_task(_cfg("reverse", seed=4)).make_splits()
    assert a == b
    assert a.train != c.train and a.test != c.test


def test_vocab_round_trip_and_unknown_symbol():
    v = Vocab(tuple("abc"))
    assert len(v) == 6 and v.itos[:3] == ("<pad>", "<bos>", "<eos>")
    assert v.first_symbol_id() == 3 and v.encode("abc") == [3, 4, 5]
    assert v.decode(v.encode(list("cab"))) == list("cab")
    assert v.decode([BOS, 3, PAD, 4, EOS, 5]) == ["a", "b"]
    assert v.decode([3, EOS, 4], strip=False) == ["a", "<eos>", "b"]
    with pytest.raises(KeyError, match="'z'"):
        v.encode(["a", "z"])
    with pytest.raises(ValueError):
        Vocab(("a", "a"))


def test_output_symbol_ids():
    assert make_task(_cfg("copy", num_symbols=4)).output_symbol_ids() == [3, 4, 5, 6]
    add = make_task(_cfg("addition"))
    assert add.vocab.decode(add.output_symbol_ids()) == list("0123456789")


# ----------------------------------------------------------------------------------- batching


def test_collate_layout_and_masks():
    pairs = [([3, 4, 5], [6, 7]), ([8], [9, 10, 11])]
    b = collate(pairs)
    assert isinstance(b, Batch) and len(b) == 2
    assert b.src.tolist() == [[3, 4, 5], [8, PAD, PAD]]
    assert b.tgt_in.tolist() == [[BOS, 6, 7, PAD], [BOS, 9, 10, 11]]
    assert b.tgt_out.tolist() == [[6, 7, EOS, PAD], [9, 10, 11, EOS]]
    assert (PAD, BOS, EOS) == (0, 1, 2)
    assert b.src_mask.tolist() == [[True, True, True], [True, False, False]]
    assert b.tgt_mask.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert b.num_tgt_tokens == 7
    assert b.src.dtype == torch.long
    # tgt_in shifted right by one is tgt_out on real positions
    shifted = b.tgt_in[:, 1:] != PAD
    assert torch.equal(b.tgt_in[:, 1:][shifted], b.tgt_out[:, :-1][shifted])


def test_pad_handles_empty_sequences():
    assert pad([[], [5]]).tolist() == [[PAD], [5]]
    assert pad([[], []]).shape == (2, 1)


def _rows(batch: Batch) -> list[tuple]:
    out = []
    for i in range(len(batch)):
        src = tuple(batch.src[i][batch.src_mask[i]].tolist())
        tgt = tuple(batch.tgt_out[i][batch.tgt_mask[i]].tolist()[:-1])
        out.append((src, tgt))
    return out


def _mixed_pairs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        length = int(rng.integers(1, 30))
        src = [int(x) for x in rng.integers(3, 9, size=length)] + [3 + i % 6]
        pairs.append((src, list(reversed(src))))
    return pairs


@pytest.mark.parametrize("shuffle", [False, True])
def test_bucketed_batches_cover_every_pair_once(shuffle):
    pairs = _mixed_pairs()
    rng = np.random.default_rng(0) if shuffle else None
    batches = bucketed_batches(pairs, 16, rng, pool=5)
    got = [row for b in batches for row in _rows(b)]
    assert sorted(got) == sorted((tuple(s), tuple(t)) for s, t in pairs)
    assert all(1 <= len(b) <= 16 for b in batches)
    assert sum(len(b) for b in batches) == len(pairs)


def test_bucketed_batches_pad_less_than_random_order():
    pairs = _mixed_pairs()
    bucketed = bucketed_batches(pairs, 16, np.random.default_rng(1), pool=50)
    order = np.random.default_rng(1).permutation(len(pairs))
    random_batches = [collate([pairs[i] for i in order[j:j + 16]]) for j in range(0, len(pairs), 16)]

    def padding(batches):
        return sum(int((~b.src_mask).sum()) + int((~b.tgt_mask).sum()) for b in batches)

    assert padding(bucketed) < 0.5 * padding(random_batches)


def test_infinite_batches_repeatable_from_seed():
    pairs = _mixed_pairs(100)

    def take(seed, n=20):
        it = infinite_batches(pairs, 8, seed)
        return [next(it) for _ in range(n)]  # 20 batches > 1 epoch (13 batches)

    a, b, c = take(5), take(5), take(6)
    assert all(torch.equal(x.src, y.src) and torch.equal(x.tgt_out, y.tgt_out) for x, y in zip(a, b))
    assert any(x.src.shape != y.src.shape or not torch.equal(x.src, y.src) for x, y in zip(a, c))
    # epoch 2 is a new order of the same pairs
    epoch1 = [r for x in a[:13] for r in _rows(x)]
    assert sorted(epoch1) == sorted((tuple(s), tuple(t)) for s, t in pairs)
    first2 = [_rows(x) for x in a[13:20]]
    assert first2 != [_rows(x) for x in a[:7]]


def test_running_sum_follows_its_own_previous_output():
    """y_t = (y_{t-1} + x_t) mod k: a model that uses the recurrence and slips once stays wrong (the lesson's
    compounding by construction), while the target itself is fixed by the source."""
    task = make_task(_cfg("running_sum", num_symbols=10))
    src = task.vocab.encode(list("7315"))
    assert task.vocab.decode(task.oracle(src)) == list("7016")
    assert task.vocab.decode(task.oracle(task.vocab.encode(list("9")))) == ["9"]
    # one digit off at the start moves every later output: each depends on everything before it
    shifted = task.oracle(task.vocab.encode(list("8315")))
    assert task.vocab.decode(shifted) == list("8127") and all(a != b for a, b in zip(shifted, task.oracle(src)))


def test_counter_draws_both_bits_and_counts_past_the_modulus():
    task = make_task(_cfg("counter", num_symbols=10, min_len=30, train_max_len=30, test_max_len=30))
    pairs = task.make_splits().train
    bits = [c for s, _ in pairs for c in task.vocab.decode(s)]
    assert 0.45 < bits.count("1") / len(bits) < 0.55  # both increments, about equally often
    assert any(task.vocab.decode(t)[-1] != str(task.vocab.decode(s).count("1")) for s, t in pairs)  # wraps mod 10
    src = task.vocab.encode(list("1101"))
    assert task.vocab.decode(task.oracle(src)) == list("1223")


def test_dialects_have_two_valid_targets_consistent_within_a_sequence():
    task = make_task(_cfg("dialects", num_symbols=10, num_train=2000))  # B swaps a<->b and c<->d
    enc, dec = task.vocab.encode, task.vocab.decode
    src = enc(list("acej"))
    assert [dec(t) for t in task.valid_targets(src)] == [list("Aacej"), list("Bbdej")]
    assert task.is_valid(src, enc(list("Bbdej"))) and task.is_valid(src, enc(list("Aacej")))
    assert not task.is_valid(src, enc(list("Badej")))  # mixed: A at 'a', B at 'c'
    assert not task.is_valid(src, enc(list("Abdej")))  # dialect B's symbols under A's tag
    assert not task.is_valid(src, src)  # no tag
    assert [dec(t) for t in task.valid_targets(enc(list("ej")))] == [list("Aej"), list("Bej")]  # tag alone differs
    assert set(task.output_symbol_ids()) == set(enc(list("abcdefghij")))  # injected errors are symbols, not tags
    splits = task.make_splits()
    b_share = sum(dec(t)[0] == "B" for _, t in splits.train) / len(splits.train)
    assert 0.45 < b_share < 0.55  # about half the training targets take dialect B
    assert all(task.is_valid(s, t) for s, t in splits.train)
    assert all(t == task.oracle(s) == enc(["A"]) + s for s, t in splits.test)
    noisy = make_task(_cfg("dialects", num_symbols=10, num_train=2000, label_noise=0.5)).make_splits().train
    assert all(dec(t)[0] in "AB" for _, t in noisy)  # label noise corrupts symbols, never the tag
    assert 0.4 < sum(not task.is_valid(s, t) for s, t in noisy) / len(noisy) < 0.6
    assert make_task(_cfg("reverse")).valid_targets(src) == [src[::-1]]
    with pytest.raises(ValueError, match=r"num_symbols = 3 .*>= 4 for the dialects task"):
        _cfg("dialects", num_symbols=3)


def test_running_sum_counts_in_at_most_ten_digits():
    with pytest.raises(ValueError, match=r"TaskConfig.num_symbols = 12 .*<= 10"):
        _cfg("running_sum", num_symbols=12)


def test_label_noise_corrupts_one_token_of_that_share_of_training_targets_only():
    clean_cfg = _cfg("reverse", num_train=2000)
    noisy_cfg = clean_cfg.replace(label_noise=0.25)
    clean, noisy = make_task(clean_cfg).make_splits(), make_task(noisy_cfg).make_splits()
    assert noisy.dev == clean.dev and noisy.test == clean.test, "dev and test stay clean"
    assert [s for s, _ in noisy.train] == [s for s, _ in clean.train]
    changed = [sum(a != b for a, b in zip(t, c)) for (_, t), (_, c) in zip(noisy.train, clean.train)]
    assert set(changed) == {0, 1}, "one token per corrupted target"
    share = sum(changed) / len(changed)
    assert abs(share - 0.25) < 5 * (0.25 * 0.75 / len(changed)) ** 0.5
    symbols = set(make_task(noisy_cfg).output_symbol_ids())
    assert all(set(t) <= symbols for _, t in noisy.train)


def test_a_new_config_field_at_its_old_value_keeps_every_cache_key():
    """TaskConfig.label_noise came after the caches: at 0 it is left out of to_dict, so config hashes (and the
    checkpoints keyed by them) are what they were; any other value is part of the key."""
    from seqgap_lab.core.cache import config_hash
    cfg = _cfg("reverse")
    assert "label_noise" not in cfg.to_dict() and TaskConfig.from_dict(cfg.to_dict()) == cfg
    assert config_hash(cfg.to_dict()) == config_hash({k: v for k, v in vars(cfg).items() if k != "label_noise"})
    noisy = cfg.replace(label_noise=0.1)
    assert noisy.to_dict()["label_noise"] == 0.1 and config_hash(noisy.to_dict()) != config_hash(cfg.to_dict())
    with pytest.raises(ValueError, match=r"TaskConfig.label_noise = 1.0 .*\[0.0, 1.0\)"):
        cfg.replace(label_noise=1.0)
