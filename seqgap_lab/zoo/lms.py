"""Language models on real text: held-out-safe data, one tokenizer per corpus, and the cached training of an
expert (larger) and an amateur (smaller) LM on the prose and code corpora (contrastive decoding needs both,
with one shared vocabulary).

Data.
- prose: the WEB passages of corpora.load_prose (whole books in train / dev / test). Every verse that is
  the English side of the bible corpus's dev or test split (HELD_OUT_BIBLE_SPLITS) is cut out of the
  training passages wherever it stands as whole words (in any book: Chronicles repeats Kings), so an LM
  never trains on an NMT reference; the prose dev and test books are held out whole.
- code: the standard-library functions of corpora.load_code (every file's functions in one split), with a
  byte-exact tokenizer (SubwordConfig.normalization="identity": indentation and newlines survive).
Training examples: plain language modelling. Each document's ids are cut into windows of at most
`window` tokens, each a pair (prompt=[], continuation=window): the loss falls on every token, and a
window starts with the LM's BOS. A window cut inside a document still ends in <eos> (collate appends it),
always at position `window`, so keep prompt + generation under `window` tokens when decoding.
Evaluation prompts (eval_prompts) come from the test split, never trained on: prose = the first
`prompt_words` words of a passage and the next `reference_words` as reference; code = the first
`prompt_lines` lines of a function (the def line at least) and the rest of it as reference
(`eval_prompts(..., vocab=run.vocab, max_tokens=run.window)` keeps those that fit in the LM's window).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seqgap_lab.core.config import (
    ConfigError,
    DecodeConfig,
    ModelConfig,
    SubwordConfig,
    TrainConfig,
    check_choice,
    check_profile,
)
from seqgap_lab.core.runtime import get_device, seed_everything
from seqgap_lab.data.text import corpora
from seqgap_lab.data.text.subword import SubwordVocab, texts_sha256, train_subword
from seqgap_lab.decoding import decode_sequences
from seqgap_lab.models import Seq2SeqModel, build_model
from seqgap_lab.training.loop import evaluate_loss
from seqgap_lab.training.runs import cached_train

LM_CORPORA = ("prose", "code")
ROLES = ("expert", "amateur")
HELD_OUT_BIBLE_SPLITS = ("dev", "test")
_ARCH = ("d_model", "num_heads", "num_layers", "ffn_dim")

# Architectures are (d_model, num_heads, num_layers, ffn_dim); both roles share the tokenizer and the data.
# smoke: seconds (CI). default: measured 368 s of training for all four LMs (2 corpora x 2 roles; 6.6 min
# wall with tokenizers and evaluation) on 2 shared CPU cores, one torch thread; held-out test perplexity
# prose 100 (expert) / 161 (amateur), code 98 / 162. full: a GPU, every document; sized for ~15-25
# passes over the small corpora (prose ~0.9M tokens, code ~2M at 8k pieces), not measured on a GPU yet.
PROFILE_SIZES = {
    "smoke": dict(num_docs=150, num_dev_docs=20, vocab_size=400, window=64, steps=30, batch_size=16, lr=3e-3,
                  dropout=0.0, expert=(48, 2, 2, 96), amateur=(32, 2, 1, 64)),
    "default": dict(num_docs=0, num_dev_docs=150, vocab_size=2000, window=128, steps=300, batch_size=24, lr=3e-3,
                    dropout=0.1, expert=(128, 4, 2, 512), amateur=(64, 2, 1, 256)),
    "full": dict(num_docs=0, num_dev_docs=0, vocab_size=8000, window=256, steps=1500, batch_size=64, lr=1e-3,
                 dropout=0.2, expert=(384, 6, 4, 1536), amateur=(128, 2, 2, 512)),
}
PROMPTS = {"prose": dict(prompt_words=24, reference_words=48), "code": dict(prompt_lines=4)}


@dataclass
class LMData:
    """Raw documents of one corpus per split (train held-out-safe, subsets per the profile) and a train hash."""

    corpus: str
    train: list[str]
    dev: list[str]
    test: list[str]
    sha256: str
    stats: dict = field(default_factory=dict)


@dataclass
class LMRun:
    """A trained (or cached) LM with its tokenizer, provenance and training history."""

    model: Seq2SeqModel
    vocab: SubwordVocab
    corpus: str
    role: str
    profile: str
    history: pd.DataFrame
    checkpoint: Path
    from_cache: bool
    train_seconds: float

    @property
    def window(self) -> int:
        """Longest sequence trained on (prompt + continuation tokens); decode within it."""
        return PROFILE_SIZES[self.profile]["window"]


@dataclass(frozen=True)
class EvalPrompt:
    """A held-out prompt, its reference continuation, and where it comes from."""

    prompt: str
    reference: str
    source: str


def _check(corpus: str, role: str | None = None) -> None:
    check_choice("lm", "corpus", corpus, LM_CORPORA)
    if role is not None:
        check_choice("lm", "role", role, ROLES)


class VerseCutter:
    """Cuts given verse texts out of passages wherever they stand as whole words (between spaces or ends).

    An index from each verse's first KEY characters to the verses starting so makes one pass over the
    word starts of a passage enough; the few verses shorter than KEY are searched with str.find.
    """

    KEY = 20

    def __init__(self, verses):
        self.index: dict[str, list[str]] = {}
        self.short: list[str] = []
        for verse in sorted(set(verses), key=len, reverse=True):  # longest first: a verse that contains another wins
            if len(verse) < self.KEY:
                self.short.append(verse)
            else:
                self.index.setdefault(verse[:self.KEY], []).append(verse)

    def spans(self, passage: str) -> list[tuple[int, int]]:
        """(start, end) of every whole-word occurrence, overlaps dropped, in order."""
        found, offset = [], 0
        for word in passage.split(" "):
            for verse in self.index.get(passage[offset:offset + self.KEY], ()):
                if _whole(passage, offset, offset + len(verse), verse):
                    found.append((offset, offset + len(verse)))
                    break
            offset += len(word) + 1
        for verse in self.short:
            start = passage.find(verse)
            while start != -1:
                if _whole(passage, start, start + len(verse), verse):
                    found.append((start, start + len(verse)))
                start = passage.find(verse, start + 1)
        kept, end = [], -1
        for span in sorted(found):
            if span[0] >= end:
                kept.append(span)
                end = span[1]
        return kept

    def cut(self, passage: str) -> tuple[str, int]:
        """The passage without the verses (spaces re-collapsed) and the number of occurrences cut."""
        spans = self.spans(passage)
        pieces, last = [], 0
        for start, end in spans:
            pieces.append(passage[last:start])
            last = end
        pieces.append(passage[last:])
        return " ".join("".join(pieces).split()), len(spans)


def _whole(text: str, start: int, end: int, verse: str) -> bool:
    """verse stands at text[start:end] with a space or an end of text on both sides."""
    return (text.startswith(verse, start) and (start == 0 or text[start - 1] == " ")
            and (end == len(text) or text[end] == " "))


def remove_verses(passage: str, verses) -> tuple[str, int]:
    """Cut every whole-word occurrence of each verse text out of a passage -> (passage, occurrences cut)."""
    return VerseCutter(verses).cut(passage)


def heldout_prose_train() -> tuple[list[str], dict]:
    """Prose train passages without any English verse of the bible dev/test splits, and what was cut.

    Searched in every passage, not only the verse's own book: Chronicles repeats Samuel and Kings, psalms
    recur, and prophets share formulas, so the same text stands in other books too.
    """
    held = [en for split in HELD_OUT_BIBLE_SPLITS for _, en in corpora.load_parallel("bible", split)]
    cutter, passages = VerseCutter(held), corpora.load_prose("train")
    out, cut = [], 0
    for text in passages:
        text, n = cutter.cut(text)
        cut += n
        if text:
            out.append(text)
    stats = {"bible_verses_held_out": len(held), "verse_occurrences_cut": cut,
             "words_before": sum(len(p.split()) for p in passages), "words_after": sum(len(p.split()) for p in out)}
    return out, stats


def _subset(items: list, n: int, seed: int = 0) -> list:
    if not n or n >= len(items):
        return items
    return [items[i] for i in sorted(np.random.default_rng(seed).choice(len(items), n, replace=False))]


def load_data(corpus: str, profile: str) -> LMData:
    """The corpus's documents per split (subsampled by the profile, seed 0) with the train hash."""
    _check(corpus)
    size = PROFILE_SIZES[check_profile(profile)]
    if corpus == "prose":
        train, stats = heldout_prose_train()
        dev, test = corpora.load_prose("dev"), corpora.load_prose("test")
    else:
        train, dev, test = ([f["code"] for f in corpora.load_code(s)] for s in ("train", "dev", "test"))
        stats = {}
    train, dev = _subset(train, size["num_docs"]), _subset(dev, size["num_dev_docs"])
    stats.update(train_docs=len(train), dev_docs=len(dev), test_docs=len(test))
    return LMData(corpus, train, dev, test, texts_sha256(train), stats)


def configs(corpus: str, role: str, profile: str, seed: int = 0) -> tuple[SubwordConfig, ModelConfig, TrainConfig]:
    """Tokenizer (shared by both roles), model and training configs of one LM."""
    _check(corpus, role)
    s = PROFILE_SIZES[check_profile(profile)]
    # identity keeps code byte for byte; 0.9999 maps the rarest characters of code strings to <unk>.
    sub = SubwordConfig(vocab_size=s["vocab_size"], character_coverage=1.0 if corpus == "prose" else 0.9999,
                        normalization="nmt_nfkc" if corpus == "prose" else "identity")
    model = ModelConfig(kind="lm", dropout=s["dropout"], max_positions=max(1024, s["window"] + 1),
                        **dict(zip(_ARCH, s[role])))
    train = TrainConfig(steps=s["steps"], batch_size=s["batch_size"], lr=s["lr"], warmup_steps=max(5, s["steps"] // 10),
                        seed=seed, log_every=max(5, s["steps"] // 30))
    return sub, model, train


def windows(docs: list[list[int]], window: int) -> list[tuple[list[int], list[int]]]:
    """Each document's ids cut into consecutive windows of at most `window` -> pairs (prompt=[], window)."""
    return [([], ids[i:i + window]) for ids in docs for i in range(0, len(ids), window)]


def tokenizer(corpus: str, profile: str, data: LMData | None = None, progress: bool = True) -> SubwordVocab:
    """The corpus's subword vocabulary (cached), trained on its training documents."""
    data = data or load_data(corpus, profile)
    return train_subword(data.train, configs(corpus, "expert", profile)[0], progress=progress)


def run_key(data: LMData, corpus: str, role: str, profile: str, seed: int = 0) -> dict:
    """What identifies a trained LM: data hash, held-out rule, tokenizer, windows, model and training."""
    sub, model, train = configs(corpus, role, profile, seed)
    key = {"kind": "lm", "corpus": corpus, "train_sha256": data.sha256, "subword": sub.to_dict(),
           "window": PROFILE_SIZES[profile]["window"], "model": model.to_dict(), "train": train.to_dict()}
    if corpus == "prose":
        key["held_out_bible"] = list(HELD_OUT_BIBLE_SPLITS)
    return key


def trained_lm(corpus: str, role: str, profile: str = "default", seed: int = 0, device=None,
               progress: bool = True, retrain: bool = False) -> LMRun:
    """Load the cached LM of (corpus, role, profile, seed), or train and cache it (see training/runs.py)."""
    _check(corpus, role)
    data = load_data(corpus, profile)
    vocab = tokenizer(corpus, profile, data, progress)
    _, model_cfg, train_cfg = configs(corpus, role, profile, seed)
    window = PROFILE_SIZES[profile]["window"]
    seed_everything(seed)
    model = build_model(model_cfg, len(vocab))
    device = device if isinstance(device, torch.device) else get_device(device)
    run = cached_train(f"lm-{corpus}-{role}", run_key(data, corpus, role, profile, seed), model,
                       lambda: windows(vocab.encode_batch(data.train), window),
                       windows(vocab.encode_batch(data.dev), window), train_cfg, device, retrain, progress)
    return LMRun(run.model, vocab, corpus, role, profile, run.history, run.checkpoint, run.from_cache,
                 run.train_seconds)


def heldout_loss(run: LMRun, split: str = "test", max_docs: int = 0) -> dict:
    """Teacher-forced loss (nats/token, <eos> included), perplexity and token accuracy on held-out windows."""
    check_choice("heldout_loss", "split", split, ("dev", "test"))
    data = load_data(run.corpus, run.profile)
    docs = _subset(getattr(data, split), max_docs)
    pairs = windows(run.vocab.encode_batch(docs), run.window)
    out = evaluate_loss(run.model, pairs, next(run.model.parameters()).device, batch_size=64)
    return {"split": split, "loss": out["dev_loss"], "perplexity": float(np.exp(out["dev_loss"])),
            "token_acc": out["dev_token_acc"], "windows": len(pairs)}


def _prose_prompt(text: str, ref: str, prompt_words: int, reference_words: int) -> EvalPrompt | None:
    words = text.split()
    if len(words) < prompt_words + reference_words:
        return None
    return EvalPrompt(" ".join(words[:prompt_words]), " ".join(words[prompt_words:prompt_words + reference_words]),
                      ref)


def _code_prompt(func: dict, prompt_lines: int) -> EvalPrompt | None:
    lines = func["code"].splitlines(keepends=True)
    k = min(prompt_lines, len(lines) - 1)  # at least one line left to complete
    if k < 1:
        return None
    return EvalPrompt("".join(lines[:k]), "".join(lines[k:]), f"{func['file']}:{func['line']} {func['name']}")


def eval_prompts(corpus: str, num: int = 0, split: str = "test", seed: int = 0,
                 vocab: SubwordVocab | None = None, max_tokens: int = 0) -> list[EvalPrompt]:
    """Held-out prompts with reference continuations (see the module doc); `num` > 0 draws a seeded subset.

    With vocab and max_tokens, only documents whose prompt + reference fit in max_tokens ids are kept
    (for code: a whole function within the LM's window).
    """
    _check(corpus)
    check_choice("eval_prompts", "split", split, ("dev", "test"))
    if corpus == "prose":
        p = PROMPTS["prose"]
        found = [_prose_prompt(t, r, p["prompt_words"], p["reference_words"])
                 for t, r in zip(corpora.load_prose(split), corpora.load_refs("prose", split))]
    else:
        found = [_code_prompt(f, PROMPTS["code"]["prompt_lines"]) for f in corpora.load_code(split)]
    found = [e for e in found if e is not None]
    if vocab is not None and max_tokens:
        sizes = [len(ids) for ids in vocab.encode_batch([e.prompt + e.reference for e in found])]
        found = [e for e, n in zip(found, sizes) if n <= max_tokens]
    return _subset(found, num, seed)


def completion_text(vocab: SubwordVocab, prompt_ids: list[int], continuation_ids: list[int]) -> str:
    """The generated text such that prompt text + it = the decoded whole (keeps a leading space or indent)."""
    whole, prompt = vocab.decode(list(prompt_ids) + list(continuation_ids)), vocab.decode(prompt_ids)
    return whole[len(prompt):] if whole.startswith(prompt) else vocab.decode(continuation_ids)


def generate(run: LMRun, prompts: list[str], config: DecodeConfig = DecodeConfig(), device=None,
             amateur: LMRun | None = None) -> list[str]:
    """Continue each prompt text with the decoding method of config (contrastive: against `amateur`, an LM of
    the same tokenizer); the completion texts, in order."""
    if isinstance(prompts, str):
        raise TypeError("generate expects a list of prompt texts, got one str; wrap it in a list")
    if amateur is not None and amateur.vocab.path != run.vocab.path:
        raise ConfigError(f"generate: amateur tokenizer {amateur.vocab.path.name} is not allowed: expected the "
                          f"expert's {run.vocab.path.name} (contrastive decoding compares one vocabulary)")
    ids = run.vocab.encode_batch(list(prompts))
    outs = decode_sequences(run.model, ids, config, device, amateur.model if amateur is not None else None)
    return [completion_text(run.vocab, p, o) for p, o in zip(ids, outs)]
