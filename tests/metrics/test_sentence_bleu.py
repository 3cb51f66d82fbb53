"""Batched sentence-BLEU equals sacrebleu.sentence_bleu(h, [r]).score (tolerance 1e-9) on real and perturbed pairs."""
from __future__ import annotations

import random

import numpy as np
import pytest
import sacrebleu
from helpers import CHECKOUT_DATA
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from seqgap_lab.metrics import sentence_bleu as sb
from seqgap_lab.metrics import tokenize_13a as tok13a
from seqgap_lab.metrics.sentence_bleu import sentence_bleu_batch, sentence_bleu_ids, sentence_bleu_multi, tokenize_13a

TOL = 1e-9
_TOK = Tokenizer13a()


def sacre(hyps, refs) -> np.ndarray:
    return np.array([sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(hyps, refs)])


def assert_equal_to_sacrebleu(hyps, refs) -> int:
    ours = sentence_bleu_batch(hyps, refs)
    theirs = sacre(hyps, refs)
    diff = np.abs(ours - theirs)
    worst = int(np.argmax(diff)) if len(diff) else 0
    assert not len(diff) or diff.max() <= TOL, (
        f"max |diff| {diff.max()} at pair {worst}: hyp={hyps[worst]!r} ref={refs[worst]!r} "
        f"ours={ours[worst]} sacrebleu={theirs[worst]}")
    # Tokens too: what we score is what sacrebleu scores.
    for line in set(hyps) | set(refs):
        assert tokenize_13a(line) == _TOK(line.rstrip()).split(), repr(line)
    return len(hyps)


# ---------------------------------------------------------------- perturbations

def perturb(sentence: str, rng: random.Random) -> str:
    words = sentence.split()
    kind = rng.randrange(12)
    if kind == 0 and len(words) > 1:  # drop words
        for _ in range(rng.randint(1, max(1, len(words) // 4))):
            if len(words) > 1:
                del words[rng.randrange(len(words))]
    elif kind == 1 and len(words) > 1:  # swap neighbours
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
    elif kind == 2 and words:  # repeat a stretch (repeated n-grams exercise clipping)
        i = rng.randrange(len(words))
        j = min(len(words), i + rng.randint(1, 4))
        words[j:j] = words[i:j] * rng.randint(1, 3)
    elif kind == 3 and words:  # truncate
        words = words[:rng.randint(0, len(words))]
    elif kind == 4:  # case changes
        return rng.choice([sentence.upper(), sentence.lower(), sentence.title(), sentence.swapcase()])
    elif kind == 5:  # punctuation glued to / split from words
        return sentence.replace(" ,", ",").replace(",", " , ").replace(" .", ".").replace(";", " ;")
    elif kind == 6:
        return sentence.replace(", ", ",").replace(". ", ".").replace(" (", "(").replace(": ", ":")
    elif kind == 7:
        return ""
    elif kind == 8 and words:
        return rng.choice(words)
    elif kind == 9:  # very long
        return " ".join([sentence] * rng.randint(5, 12))
    elif kind == 10 and words:  # replace words by others from the sentence
        for _ in range(rng.randint(1, 3)):
            words[rng.randrange(len(words))] = rng.choice(words)
    elif kind == 11:  # whitespace variants
        return rng.choice(["  " + sentence + "  \n", sentence.replace(" ", "\t"), sentence.replace(" ", "  ")])
    return " ".join(words)


HAND_MADE = [
    "I don't think the U.S. economy grew 3.14% in 2019, did it?",
    "Don't, won't, can't -- they're all contractions.",
    "The price is $1,000.50 (about €900) as of 12/05/2021.",
    "A well-known state-of-the-art system; e-mail: someone@example.com.",
    "Numbers: 1,234,567 and 3.14159 and -42 and 10-20 and 5-year-old.",
    "Ellipsis... and more.... and a, b, c.",
    "Quotes: \"double\" 'single' “curly” ‘curly’ «guillemets».",
    "Ünïcödé wörds: naïve café, Straße, São Paulo, Zürich.",
    "日本語のテキスト、句読点。 中文文本，标点。",
    "Русский текст, с пунктуацией. Ελληνικά κείμενα!",
    "Emoji 😀 and symbols ± × ÷ → ← ∞ © ®.",
    "Brackets [like this] {and this} <and this> (and this).",
    "Math: a+b=c, x*y/z, 2^10, 50% off, #hashtag, @mention, ~tilde, |pipe|, back\\slash.",
    "HTML entities &amp; &quot;quoted&quot; &lt;tag&gt; &amp;amp; stay?",
    "Skipped <skipped> segments and hyphen-\nated line breaks\nacross lines.",
    "Trailing spaces and tabs\t \t",
    "Non-breaking\u00a0space and\u2009thin space and\u3000ideographic space.",
    "Null\x00char and \x00 alone.",
    "Mr. Smith went to Washington D.C. on Jan. 5th at 3 p.m.",
    "end.", ".", ",", "-", "...", "3.", ".5", "1,000", "a-", "-a", "3-4", "x.y,z", "a..b", "a.,b", "1..2",
    "A", "a", "the the the the the", "the cat the cat the cat", "", " ", "\n",
    "It was the best of times, it was the worst of times.",
    "In the beginning God created the heavens and the earth.",
    "And God said, Let there be light: and there was light.",
    "The quick brown fox jumps over the lazy dog.",
    "the quick brown fox jumped over the lazy dogs",
    "To be, or not to be: that is the question.",
    "O'Neil's rock'n'roll isn't 'quoted'.",
    "e.g. i.e. etc. vs. a.m. p.m.",
    "Hello-world--double---triple hyphens",
    "9-5 job, 24/7 service, 1-800-555-0199, 2020-01-01.",
]


def hand_made_pairs(n_random: int = 400) -> tuple[list[str], list[str]]:
    rng = random.Random(1234)
    hyps, refs = [], []
    for a in HAND_MADE:  # each against itself, its neighbours and a perturbation
        for b in (a, rng.choice(HAND_MADE), perturb(a, rng)):
            hyps.append(b)
            refs.append(a)
    vocab = " ".join(HAND_MADE).split() + ["don't", "U.S.", "3.14", "well-known", ",", ".", "-", "'s", "&amp;"]
    for _ in range(n_random):  # random sentences from the same pieces, and perturbations of them
        ref = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 25)))
        if rng.random() < 0.7:
            hyp = perturb(ref, rng)
        else:
            hyp = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 25)))
        hyps.append(hyp)
        refs.append(ref)
    return hyps, refs


# ---------------------------------------------------------------- equality with sacrebleu

def test_hand_made_and_random_pairs_equal_sacrebleu():
    hyps, refs = hand_made_pairs()
    assert assert_equal_to_sacrebleu(hyps, refs) > 500


def test_empty_and_tiny_inputs_match_sacrebleu():
    cases = [("", ""), ("", "a b"), ("a b", ""), ("   ", "a"), ("a", "a"), ("x", "a"), ("a b c", "a b c"),
             ("a a a a", "a"), ("a", "a a a a"), ("\n", "\n"), (".", "."), ("a b", "b a")]
    hyps, refs = [h for h, _ in cases], [r for _, r in cases]
    assert_equal_to_sacrebleu(hyps, refs)
    scores = sentence_bleu_batch(hyps, refs)
    assert scores[0] == scores[1] == scores[2] == scores[3] == 0.0  # empty side: 0, as sacrebleu
    assert sentence_bleu_batch([], []).shape == (0,)


def test_tokenisation_fuzz_equals_tokenizer13a():
    rng = random.Random(7)
    alphabet = "ab1 2.,-'\"()!?;:&<>/@#$%^*_+=[]{}|~`\\\t\n\x00\u00a0éü€“”—…日"
    lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    lines += ["&quot;", "&amp;quot;", "<skipped>", "a-<skipped>\nb", "-\n", "x&lt;y&gt;z", "a\x00b \x00"]
    for line in lines:
        assert tokenize_13a(line) == _TOK(line.rstrip()).split(), repr(line)
    # Batched tokenisation (one split for all lines) gives the same tokens line by line.
    flat, lens = tok13a._tokenize_flat(lines[:500])
    words = tok13a._CHUNKS.words
    got = np.split(np.asarray([words[i] for i in flat.tolist()], dtype=object), np.cumsum(lens)[:-1])
    assert [list(g) for g in got] == [_TOK(line.rstrip()).split() for line in lines[:500]]


# Lines aimed at each tokeniser shortcut (a chunk without ASCII digits: periods and commas split like
# rule 1's characters; digits: rule 1 alone unless '.', ',' or a digit-dash; "word." / "word,"), next to
# chunks only the regular expressions handle.
SHORTCUT_LINES = [
    "“Behold,” he said. ‘No,’ she said… «Oui.» „Ja,“ – — sky.” you,” doing.’” (law.) Zoar). A.B.C. a.,b ,.,",
    "‹a›, ¿qué? ¡sí! 「引用」。 『二重』、【括弧】 ・中黒 ،عربي؛ ؟ ।हिन्दी। ။ ",
    "1,000 1,000.50 3.14 3. .5 ,5 5, 1.2.3 1,2,3 1.,2 1,.2 12.34.56 0.5% $1.5m 1e-5 -3.2 +4,5 1..2 2,,3",
    "10-20 5-year-old 3-4-5 a-1 1-a -1 1- - -- --- x--y 9-5, 24/7. 2020-01-01. 1-800-555-0199. 3.-4 3,-4",
    "Beer-sheba; Jehovah-jireh: daughter-in-law. sixty-five eighty-two. Pi-hahiroth, Baal-zephon:",
    "&quot;quoted&quot; &amp;quot; &quot;1,000&quot; 3&quot;. &lt;a-1&gt; &amp;lt; &quot;&quot; &quot",
    "ｆｕｌｌｗｉｄｔｈ，ｄｉｇｉｔｓ１２３．４ ٣٫١٤ ３.１４ ²³.¹ Ⅻ. ½,",
    "a.b.c. U.S.A., e.g., i.e.; etc.) (etc.). [1]. {2}, <3>. |4|; ~5~: @6@? #7#! %8%",
    "", " ", "\t\n", ".", ",", "-", "...", ",,,", "-.-", ".,-", "9", "9.", "9,", "9-", ".9", ",9", "-9",
]


def test_shortcut_chunks_tokenise_like_tokenizer13a_and_score_like_sacrebleu():
    for line in SHORTCUT_LINES:
        assert tokenize_13a(line) == _TOK(line.rstrip()).split(), repr(line)
    rng = random.Random(11)
    hyps, refs = [], []
    for ref in SHORTCUT_LINES:
        for hyp in (ref, perturb(ref, rng), perturb(ref, rng), rng.choice(SHORTCUT_LINES)):
            hyps.append(hyp)
            refs.append(ref)
    sb.clear_cache()  # cold: every chunk tokenised in one batch
    assert_equal_to_sacrebleu(hyps, refs)


def test_digit_free_chunks_fuzz_equals_tokenizer13a():
    """Chunks without ASCII digits take the translate shortcut; dense in '.', ',' and '-' on purpose."""
    rng = random.Random(13)
    alphabet = "ab.,.,.,--'\"()!?;:&<>/@#%*_+=[]{}|~`\\éü€“”‘’—…«»日。、"
    lines = [" ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
                      for _ in range(rng.randint(1, 6))) for _ in range(4000)]
    sb.clear_cache()
    flat, lens = tok13a._tokenize_flat(lines)
    words = tok13a._CHUNKS.words
    got = np.split(np.asarray([words[i] for i in flat.tolist()], dtype=object), np.cumsum(lens)[:-1])
    assert [list(g) for g in got] == [_TOK(line.rstrip()).split() for line in lines]


@pytest.mark.parametrize("block", [1, 2, 3, 128])
def test_batched_tokenisation_is_per_line_whatever_the_block_size(block, monkeypatch):
    """Lines are split a block at a time; empty and whitespace-only lines fall on block edges too."""
    monkeypatch.setattr(tok13a, "_BLOCK", block)
    lines = ["", "a b", " ", "c.", "", "", "d, e", "\t", "f"] + SHORTCUT_LINES + HAND_MADE + [""]
    flat, lens = tok13a._tokenize_flat(lines)
    assert len(lens) == len(lines)
    words = tok13a._CHUNKS.words
    got = np.split(np.asarray([words[i] for i in flat.tolist()], dtype=object), np.cumsum(lens)[:-1])
    assert [list(g) for g in got] == [_TOK(line.rstrip()).split() for line in lines]


def test_very_long_lines_equal_sacrebleu():
    rng = random.Random(17)
    base = " ".join(HAND_MADE + SHORTCUT_LINES)
    long_ref = " ".join([base] * 20)  # ~20k tokens, repeated n-grams everywhere
    hyps = [long_ref, perturb(long_ref, rng), " ".join(reversed(long_ref.split())), base, "x" * 5000,
            long_ref.replace(" ", "")[:20000]]
    refs = [long_ref] * len(hyps)
    assert_equal_to_sacrebleu(hyps, refs)


def test_memo_grows_and_trims_across_calls(monkeypatch):
    """New chunks in later calls extend the memo (ids stay consistent); past _MAX_MEMO it is dropped."""
    hyps, refs = hand_made_pairs(150)
    sb.clear_cache()
    first = sentence_bleu_batch(hyps[:100], refs[:100])
    later = sentence_bleu_batch(hyps, refs)  # some chunks new, most seen
    np.testing.assert_array_equal(later[:100], first)
    np.testing.assert_allclose(later, sacre(hyps, refs), rtol=0, atol=TOL)
    assert len(tok13a._CHUNKS.words) == len(tok13a._CHUNKS.vocab) == len(set(tok13a._CHUNKS.words))
    monkeypatch.setattr(tok13a, "_MAX_MEMO", 10)
    size = len(tok13a._CHUNKS)
    np.testing.assert_array_equal(sentence_bleu_batch(hyps, refs), later)  # trimmed first, then refilled
    assert len(tok13a._CHUNKS) <= size


def test_without_shortcuts_every_chunk_goes_through_the_regexes(monkeypatch):
    """If sacrebleu's 13a rules ever change, _ALWAYS_SPLIT is empty and no shortcut is taken."""
    hyps, refs = hand_made_pairs(100)
    sb.clear_cache()
    fast = sentence_bleu_batch(hyps, refs)
    monkeypatch.setattr(tok13a, "_ALWAYS_SPLIT", frozenset())
    sb.clear_cache()
    try:
        np.testing.assert_array_equal(sentence_bleu_batch(hyps, refs), fast)
        for line in HAND_MADE + SHORTCUT_LINES:
            assert tokenize_13a(line) == _TOK(line.rstrip()).split(), repr(line)
    finally:
        sb.clear_cache()  # drop the memo built without shortcuts (same tokens, but keep tests independent)


def _modernize_pairs(monkeypatch):
    # The checkout's prepared corpora (conftest points SEQGAP_DATA_DIR at a tmp folder per test).
    corpora = CHECKOUT_DATA / "corpora"
    if not (corpora / "bible").is_dir() or not (corpora / "modernize" / "manifest.json").is_file():
        pytest.skip(f"{corpora}/bible or /modernize is not prepared (python -m seqgap_lab data prepare): the "
                    "real-sentence part is skipped; the hand-made and random pairs still run")
    monkeypatch.setenv("SEQGAP_DATA_DIR", str(CHECKOUT_DATA))  # read only; nothing is prepared
    from seqgap_lab.data.text.corpora import load_parallel
    return load_parallel("modernize", "test")


def test_real_pairs_and_perturbations_equal_sacrebleu(monkeypatch):
    pairs = _modernize_pairs(monkeypatch)
    rng = random.Random(0)
    kjv, web = [s for s, _ in pairs], [t for _, t in pairs]
    hyps, refs = list(kjv), list(web)          # KJV against WEB: natural near-paraphrases
    hyps += web[:300]                          # identical
    refs += web[:300]
    for _ in range(3):                         # perturbed hypotheses
        hyps += [perturb(s, rng) for s in kjv]
        refs += web
    hyps += kjv[:200]                          # perturbed references
    refs += [perturb(t, rng) for t in web[:200]]
    n = assert_equal_to_sacrebleu(hyps, refs)
    assert n >= 8000


def test_multi_equals_batch_and_reuses_reference():
    hyps, refs = hand_made_pairs(200)
    rng = random.Random(3)
    groups = [[perturb(r, rng) for _ in range(rng.randint(0, 6))] for r in refs]
    out = sentence_bleu_multi(groups, refs)
    assert len(out) == len(refs)
    flat_h = [h for g in groups for h in g]
    flat_r = [r for g, r in zip(groups, refs) for _ in g]
    batch = sentence_bleu_batch(flat_h, flat_r)
    assert [len(o) for o in out] == [len(g) for g in groups]
    np.testing.assert_array_equal(np.concatenate(out), batch)
    np.testing.assert_allclose(batch, sacre(flat_h, flat_r), rtol=0, atol=TOL)
    assert sentence_bleu_multi([], []) == []


def test_cold_and_warm_memo_and_sort_fallback_agree(monkeypatch):
    hyps, refs = hand_made_pairs(100)
    warm = sentence_bleu_batch(hyps, refs)
    sb.clear_cache()
    cold = sentence_bleu_batch(hyps, refs)
    np.testing.assert_array_equal(warm, cold)
    monkeypatch.setattr(sb, "_MAX_TABLE", 0)  # sort-based lookup, as for very long references
    np.testing.assert_array_equal(sentence_bleu_batch(hyps, refs), cold)
    monkeypatch.setattr(sb, "_MAX_KEPT", 0)  # and sort-based unigrams (many references x distinct tokens)
    np.testing.assert_array_equal(sentence_bleu_batch(hyps, refs), cold)
    monkeypatch.undo()
    monkeypatch.setattr(sb, "_MAX_KEPT", 0)  # dense tables, allocated per call instead of kept
    np.testing.assert_array_equal(sentence_bleu_batch(hyps, refs), cold)
    monkeypatch.undo()
    # The kept tables are left all -1 (they are reused by the next call).
    assert all((table == -1).all() for table in sb._SCRATCH.values())


@pytest.mark.parametrize("match_tokens", [1, 7, 100])
def test_matching_in_blocks_of_references_agrees(match_tokens, monkeypatch):
    """_score matches a block of references at a time; any block size gives the same scores, for
    pairs grouped by reference (multi) and in any order (batch: regrouped, then put back)."""
    hyps, refs = hand_made_pairs(150)
    rng = random.Random(5)
    groups = [[perturb(r, rng) for _ in range(rng.randint(0, 4))] for r in refs[:120]]
    whole_batch = sentence_bleu_batch(hyps, refs)
    whole_multi = np.concatenate(sentence_bleu_multi(groups, refs[:120]))
    monkeypatch.setattr(sb, "_MATCH_TOKENS", match_tokens)
    np.testing.assert_array_equal(sentence_bleu_batch(hyps, refs), whole_batch)
    np.testing.assert_array_equal(np.concatenate(sentence_bleu_multi(groups, refs[:120])), whole_multi)


# ---------------------------------------------------------------- token ids

def _words(ids) -> str:
    return " ".join(f"w{i}".replace("-", "m") for i in ids)


def test_ids_variant_equals_sacrebleu_on_word_mapped_strings():
    rng = random.Random(5)
    hyp_ids, ref_ids = [], []
    for _ in range(600):
        vocab = rng.randint(2, 30)
        ref = [rng.randrange(vocab) for _ in range(rng.randint(0, 30))]
        kind = rng.random()
        if kind < 0.4 and ref:  # perturbed copy
            hyp = [t if rng.random() > 0.2 else rng.randrange(vocab) for t in ref]
            if rng.random() < 0.5:
                del hyp[rng.randrange(len(hyp)):]
        elif kind < 0.5:
            hyp = list(ref)
        else:
            hyp = [rng.randrange(vocab) for _ in range(rng.randint(0, 30))]
        hyp_ids.append(hyp)
        ref_ids.append(ref)
    hyp_ids.append([-3, 10**12, 7])  # any integer values
    ref_ids.append([10**12, 7, -3])
    ours = sentence_bleu_ids(hyp_ids, ref_ids)
    theirs = sacre([_words(h) for h in hyp_ids], [_words(r) for r in ref_ids])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOL)
    # numpy arrays and tensors of ids are accepted
    torch = pytest.importorskip("torch")
    again = sentence_bleu_ids([np.asarray(h, dtype=np.int64) for h in hyp_ids[:50]],
                              [torch.tensor(r, dtype=torch.long) for r in ref_ids[:50]])
    np.testing.assert_array_equal(again, ours[:50])


# ---------------------------------------------------------------- errors

def test_length_mismatch_and_bad_types_raise_clear_errors():
    with pytest.raises(ValueError, match=r"2 hypotheses vs 1 references"):
        sentence_bleu_batch(["a", "b"], ["a"])
    with pytest.raises(ValueError, match=r"1 hypothesis lists vs 2 references"):
        sentence_bleu_multi([["a"]], ["a", "b"])
    with pytest.raises(ValueError, match=r"0 hypotheses vs 1 references"):
        sentence_bleu_ids([], [[1]])
    with pytest.raises(TypeError, match=r"hyps\[1\]"):
        sentence_bleu_batch(["a", None], ["a", "b"])
    with pytest.raises(TypeError, match=r"hyps_per_ref\[0\] is a string"):
        sentence_bleu_multi(["a b"], ["a"])
    with pytest.raises(ValueError, match=r"1-D"):
        sentence_bleu_ids([[[1, 2]]], [[1, 2]])
    with pytest.raises(TypeError, match=r"integer"):
        sentence_bleu_ids([[1.5]], [[1]])
