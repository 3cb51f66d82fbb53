"""Vocabularies: fixed special ids shared by every model and task."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")


@dataclass(frozen=True)
class Vocab:
    """Symbol <-> id table; ids 0-2 are <pad>, <bos>, <eos>."""

    symbols: tuple[str, ...]
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        itos = SPECIALS + tuple(self.symbols)
        if len(set(itos)) != len(itos):
            raise ValueError(f"duplicate symbols in vocabulary: {self.symbols}")
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(itos)})

    @property
    def itos(self) -> tuple[str, ...]:
        """All symbols, specials first, indexed by id."""
        return SPECIALS + tuple(self.symbols)

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.symbols)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Symbols to ids; an unknown symbol raises KeyError naming it."""
        try:
            return [self._index[t] for t in tokens]
        except KeyError as exc:
            raise KeyError(f"symbol {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Sequence[int], strip: bool = True) -> list[str]:
        """Ids to symbols; with strip, stop at <eos> and drop <pad>/<bos>."""
        out = []
        for i in ids:
            i = int(i)
            if strip and i == EOS:
                break
            if strip and i in (PAD, BOS):
                continue
            out.append(self.itos[i])
        return out

    def first_symbol_id(self) -> int:
        """Id of the first non-special symbol (symbols occupy a contiguous id range)."""
        return len(SPECIALS)
