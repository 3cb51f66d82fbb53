"""Self-attention KV cache for incremental decoding that reordering beams never copies (BeamKV)."""
from __future__ import annotations

import torch

NEG_INF = float("-inf")


class BeamKV:
    """Keys and values of every decoder layer for N rows in G groups of g consecutive rows (the beams, or
    the samples, of one source), written in place into one buffer that reordering does not move.

    Layout: buf (L, 2, G, H, cap*g, dh); the token at position s of the row in slot j of group a lies at
    [.., a, :, s*g + j]. `slots` (N, t) names, for each row and position, the slot that wrote its ancestor's
    token there. Beam search reorders rows within their groups, so a reorder only gathers `slots`; a step
    lets each group's g queries attend over all g*(t+1) keys of the group and masks the other beams' keys
    (bias). Why: that costs a few small matmuls, where copying the whole cache per reorder (and the
    torch.cat per step) cost more than the attention itself. Reorders that break the groups (e.g. one of
    several samples of a source finishing) copy each row's history out once, into groups of one row.
    A step writes position t in place; `_filled` (shared by every state on the buffer) notices a second
    step from the same position and copies the buffer first, so states still behave as values.
    """

    def __init__(self, buf: torch.Tensor, filled: list, slots: torch.Tensor, group: int):
        self.buf, self._filled, self.slots, self.g = buf, filled, slots, group

    @classmethod
    def empty(cls, layers: int, groups: int, group: int, heads: int, head_dim: int, like: torch.Tensor,
              capacity: int = 128) -> "BeamKV":
        """No tokens yet: groups * group rows; like gives dtype and device. Capacity: positions before the first
        growth (a copy); on a CPU, pages of the buffer that are never written cost no memory."""
        buf = like.new_empty(layers, 2, groups, heads, capacity * group, head_dim)
        slots = torch.zeros(groups * group, 0, dtype=torch.long, device=like.device)
        return cls(buf, [0], slots, group)

    @property
    def steps(self) -> int:
        """Tokens cached per row."""
        return self.slots.shape[1]

    @property
    def capacity(self) -> int:
        """Positions the buffer holds before it must grow."""
        return self.buf.shape[4] // self.g

    def __len__(self) -> int:
        return self.buf.shape[0]

    def __getitem__(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer's per-row (keys, values), each (N, H, t, dh): a copy, for inspection and the autograd path."""
        return self.per_row()[layer]

    def __iter__(self):
        return iter(self.per_row())

    def per_row(self) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        """Every layer's per-row (keys, values), each (N, H, t, dh), copied out of the buffer."""
        hist = self._history(torch.arange(self.slots.shape[0], device=self.slots.device))  # (N, t, L, 2, H, dh)
        return tuple((hist[:, :, i, 0].transpose(1, 2), hist[:, :, i, 1].transpose(1, 2)) for i in range(len(self)))

    def _history(self, idx: torch.Tensor) -> torch.Tensor:
        """(N', t, L, 2, H, dh): every layer's keys and values of the tokens of rows idx (N',), a copy."""
        t, g = self.steps, self.g
        grid = self.buf[:, :, :, :, :t * g].unflatten(4, (t, g)).permute(2, 4, 5, 0, 1, 3, 6)  # (G, t, g, L, 2, H, dh)
        pos = torch.arange(t, device=idx.device)
        return grid[(idx // g)[:, None], pos[None, :], self.slots.index_select(0, idx)]

    def reorder_rows(self, idx: torch.Tensor) -> "BeamKV":
        """Rows idx (N',) of the cache; no copy while every new group of g rows descends from one old group."""
        g, n = self.g, idx.shape[0]
        if n % g == 0 and n > 0:
            parents = (idx // g).view(-1, g)  # (G', g) old group of every new row
            if bool((parents == parents[:, :1]).all()):
                groups = parents[:, 0]
                same = groups.shape[0] == self.buf.shape[2] and bool(
                    (groups == torch.arange(groups.shape[0], device=groups.device)).all())
                buf, filled = (self.buf, self._filled) if same else (self._compacted(groups), [self.steps])
                return BeamKV(buf, filled, self.slots.index_select(0, idx), g)
        return self._ungrouped(idx)

    def _compacted(self, groups: torch.Tensor) -> torch.Tensor:
        """A new buffer of the same capacity holding groups (G',) of this one; only the filled prefix is copied."""
        t = self.steps * self.g
        buf = self.buf.new_empty(*self.buf.shape[:2], groups.shape[0], *self.buf.shape[3:])
        buf[:, :, :, :, :t] = self.buf[:, :, :, :, :t].index_select(2, groups)
        return buf

    def _ungrouped(self, idx: torch.Tensor) -> "BeamKV":
        """Rows idx as groups of one row each: every row's history copied into its own buffer rows."""
        layers, _, _, heads, _, dh = self.buf.shape
        t = self.steps
        buf = self.buf.new_empty(layers, 2, idx.shape[0], heads, max(self.capacity, 1), dh)
        buf[:, :, :, :, :t] = self._history(idx).permute(2, 3, 0, 4, 1, 5)  # (L, 2, N', H, t, dh)
        return BeamKV(buf, [t], torch.zeros(idx.shape[0], t, dtype=torch.long, device=idx.device), 1)

    def advanced(self) -> "BeamKV":
        """The cache of the next step: position t claimed for every row (slot = the row's place in its group);
        the layers then `write` it. Grows (doubles) the buffer when full; copies it when t was written before."""
        t, g = self.steps, self.g
        buf, filled = self.buf, self._filled
        if filled[0] > t or t == self.capacity:
            cap = 2 * max(self.capacity, 1) if t == self.capacity else self.capacity
            buf = buf.new_empty(*buf.shape[:4], cap * g, buf.shape[5])
            buf[:, :, :, :, :t * g] = self.buf[:, :, :, :, :t * g]
            filled = [t]
        filled[0] = t + 1
        own = torch.arange(g, device=self.slots.device).repeat(self.slots.shape[0] // g)  # (N,)
        return BeamKV(buf, filled, torch.cat([self.slots, own[:, None]], 1), g)

    def bias(self, dtype: torch.dtype) -> torch.Tensor | None:
        """(G, 1, g, t*g) additive mask: 0 on each row's own ancestors' keys, -inf on its group's other keys;
        None for groups of one row (nothing to mask)."""
        if self.g == 1:
            return None
        n, t = self.slots.shape
        g = self.g
        mine = self.slots.view(n // g, g, t, 1) == torch.arange(g, device=self.slots.device)  # (G, g, t, g)
        bias = torch.zeros(n // g, 1, g, t * g, dtype=dtype, device=self.slots.device)
        return bias.masked_fill_(~mine.view(n // g, 1, g, t * g), NEG_INF)

    def write(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the layer's new keys/values (G, H, g, dh) at the last position; return all of the layer's
        keys and values so far as views (G, H, t*g, dh)."""
        t, g = self.steps, self.g
        self.buf[layer, 0, :, :, (t - 1) * g: t * g] = keys
        self.buf[layer, 1, :, :, (t - 1) * g: t * g] = values
        return self.buf[layer, 0, :, :, :t * g], self.buf[layer, 1, :, :, :t * g]


def for_matmul(k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys (B, H, S, dh) as the transposed view of a contiguous (B, H, dh, S) tensor, values contiguous:
    q @ k.transpose(-2, -1) then multiplies contiguous operands, with no copy and a faster kernel."""
    return k.transpose(-2, -1).contiguous().transpose(-2, -1), v.contiguous()
