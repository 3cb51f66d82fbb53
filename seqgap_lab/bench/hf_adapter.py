"""Hugging Face models behind the project's model interface, so seqgap_lab.decoding runs on them.

Two adapters wrap a `transformers` model (it stays reachable as `.hf`):
- `HFCausalLM` (decoder-only, e.g. GPT2LMHeadModel): `encode(prompt, mask)` is the prefill. It runs the
  prompt once and returns a DecoderState (one row per prompt: the KV cache and the prompt's last logits);
  `init_state(memory, mask, beam)` repeats its rows. The first `step` returns the prefill's last logits and
  ignores prev_tokens (the project's decoders always feed <bos> first), so our greedy continues the prompt
  as HF `generate` does. Prompts may be right-padded (PAD = 0 masked out, positions counted per row).
- `HFSeq2Seq` (encoder-decoder, e.g. MarianMTModel, BartForConditionalGeneration): `encode` runs the encoder;
  the first `step` feeds the model's decoder_start_token_id whatever prev_tokens holds.

Token ids: the adapters speak the project's id space, where <eos> is 2 (seqgap_lab.data.vocab). If the
model's eos id differs, the two ids trade places (`TokenMap`: on inputs and on the logits' columns); every
other id is the model's own. Build models with pad 0, bos 1, eos 2 (as `build_gpt2` / `build_marian` do)
and the map is the identity, so HF `generate` and seqgap_lab.decoding return the same ids.

The KV cache lives in the state as plain tensors (per layer a (keys, values) pair, (B, H, T, dh)), so
`DecoderState.reorder` works unchanged and `step` never mutates the state it was given. `transformers`
is optional: this module imports without it, and the adapters raise ImportError when it is missing.
"""
from __future__ import annotations

import importlib
import inspect

import torch

from seqgap_lab.core.config import ConfigError
from seqgap_lab.data.vocab import BOS, EOS, PAD
from seqgap_lab.models.base import DecoderState, Seq2SeqModel

KV = tuple  # type alias: per layer a (keys, values) pair of (B, H, T, dh) tensors


def _transformers():
    """The transformers module, or an ImportError that says how to get it."""
    try:
        return importlib.import_module("transformers")
    except ImportError as err:  # pragma: no cover - exercised only where transformers is missing
        raise ImportError("seqgap_lab.bench.hf_adapter needs `transformers` (pip install transformers, or the "
                          "package's `dev` extra)") from err


def transformers_available() -> bool:
    """Whether transformers can be imported (an optional dependency: the benchmarks skip their HF rows without it)."""
    try:
        _transformers()
    except ImportError:
        return False
    return True


def _config_id(model, name: str) -> int | None:
    """A special id from the generation config, else the model config; the first of a list."""
    value = getattr(getattr(model, "generation_config", None), name, None)
    if value is None:
        value = getattr(model.config, name, None)
    return value[0] if isinstance(value, (list, tuple)) else value


class TokenMap:
    """Project ids <-> model ids: the identity except that the project's <eos> and the model's eos trade places."""

    def __init__(self, model_eos: int, eos: int = EOS):
        self.a, self.b = eos, model_eos

    @property
    def identity(self) -> bool:
        """True when no id moves."""
        return self.a == self.b

    def swap(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids in one space -> the other (a transposition, so the same call maps both ways)."""
        if self.identity:
            return ids
        return torch.where(ids == self.a, self.b, torch.where(ids == self.b, self.a, ids))

    def swap_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (..., V) over one space's ids -> over the other's."""
        if self.identity:
            return logits
        out = logits.clone()
        out[..., [self.a, self.b]] = logits[..., [self.b, self.a]]
        return out


def _kv(cache) -> KV:
    """A transformers DynamicCache -> per layer (keys, values)."""
    return tuple((layer.keys, layer.values) for layer in cache.layers)


def _dynamic(kv: KV | None):
    """Per layer (keys, values) -> a fresh DynamicCache that shares (does not copy) the tensors."""
    cache_utils = importlib.import_module("transformers.cache_utils")
    cache = cache_utils.DynamicCache()
    for keys, values in kv or ():
        layer = cache_utils.DynamicLayer()
        layer.lazy_initialization(keys, values)
        layer.keys, layer.values = keys, values  # why not update(): it concatenates, i.e. copies the cache
        cache.layers.append(layer)
    return cache


class _HFAdapter(Seq2SeqModel):
    """What both adapters share: the wrapped model, the id map and the cache keyword."""

    def __init__(self, model):
        super().__init__(model.config.get_text_config(decoder=True).vocab_size)
        self.hf = model
        model_eos = _config_id(model, "eos_token_id")
        if model_eos is None:
            raise ConfigError(f"{type(model).__name__}: the model config has no eos_token_id")
        self.ids = TokenMap(model_eos)
        # transformers 5.x renamed the cache keyword (past_key_values -> cache); accept either
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    def _run(self, cache, **inputs):
        """The wrapped model's forward with a cache; returns (logits (B, T, V) in project ids, new cache)."""
        out = self.hf(**inputs, **{self._cache_kw: cache}, use_cache=True, return_dict=True)
        new = getattr(out, "cache", None)
        return self.ids.swap_logits(out.logits), (out.past_key_values if new is None else new)

    @staticmethod
    def _check_weights(need_weights: bool) -> None:
        if need_weights:
            raise ConfigError("HF adapters do not return attention weights (need_weights=True, e.g. a coverage "
                              "penalty): use the project's own models for that")


class HFCausalLM(_HFAdapter):
    """A decoder-only HF LM: encode = prefill of the prompt; the first step returns the prompt's last logits."""

    kind = "hf_causal"

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> DecoderState:
        """Prompts (B, S), PAD-padded anywhere -> a DecoderState with B rows: KV cache and last logits (B, V)."""
        lengths = src_mask.sum(1)  # (B,)
        if bool((lengths == 0).any()):
            raise ConfigError("HFCausalLM.encode: every prompt needs at least one token (e.g. the model's bos)")
        mask = src_mask.long()
        positions = (mask.cumsum(1) - 1).clamp(min=0)  # padding never shifts a row's positions
        logits, cache = self._run(_dynamic(None), input_ids=self.ids.swap(src), attention_mask=mask,
                                  position_ids=positions)  # (B, S, V)
        last = logits[torch.arange(src.shape[0], device=src.device), _last_index(src_mask)]  # (B, V)
        tensors = {"src_mask": src_mask, "attn": mask, "pos": lengths, "kv": _kv(cache), "first": last}
        return DecoderState(tensors, 0)

    def init_state(self, memory: DecoderState, src_mask: torch.Tensor, beam: int = 1) -> DecoderState:
        """The prefill's rows, each repeated `beam` times (row-major); nothing is recomputed."""
        if beam == 1:
            return memory
        rows = torch.arange(memory.batch_size, device=src_mask.device).repeat_interleave(beam)
        return memory.reorder(rows)

    def step(self, prev_tokens: torch.Tensor, state: DecoderState,
             need_weights: bool = False) -> tuple[torch.Tensor, DecoderState]:
        """prev_tokens (B,) -> logits (B, V). Step 0 ignores prev_tokens and returns the prompt's last logits."""
        self._check_weights(need_weights)
        if state.step == 0:
            return state["first"], DecoderState(dict(state.tensors, first=None), 1)
        ones = state["attn"].new_ones(state["attn"].shape[0], 1)
        attn = torch.cat([state["attn"], ones], 1)  # (B, S + t)
        logits, cache = self._run(_dynamic(state["kv"]), input_ids=self.ids.swap(prev_tokens)[:, None],
                                  attention_mask=attn, position_ids=state["pos"][:, None])
        tensors = dict(state.tensors, attn=attn, pos=state["pos"] + 1, kv=_kv(cache))
        return logits[:, -1], DecoderState(tensors, state.step + 1)

    def decode_forward(self, memory: DecoderState, src_mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced continuation of the prefill: tgt_in (B, T) = <bos> y1 .. y(T-1) -> logits (B, T, V)."""
        first = memory["first"][:, None]  # (B, 1, V) predicts y1; tgt_in[:, 0] is not fed (see step 0)
        if tgt_in.shape[1] == 1:
            return first
        t = tgt_in.shape[1] - 1
        attn = torch.cat([memory["attn"], memory["attn"].new_ones(tgt_in.shape[0], t)], 1)
        positions = memory["pos"][:, None] + torch.arange(t, device=tgt_in.device)  # (B, T-1)
        logits, _ = self._run(_dynamic(memory["kv"]), input_ids=self.ids.swap(tgt_in[:, 1:]),
                              attention_mask=attn, position_ids=positions)
        return torch.cat([first, logits], 1)


def _last_index(mask: torch.Tensor) -> torch.Tensor:
    """(B, S) bool -> (B,) index of each row's last True."""
    positions = torch.arange(mask.shape[1], device=mask.device)
    return torch.where(mask, positions, -1).amax(1)


class HFSeq2Seq(_HFAdapter):
    """An HF encoder-decoder: encode = its encoder; the first step feeds the model's decoder_start_token_id."""

    kind = "hf_seq2seq"

    def __init__(self, model):
        super().__init__(model)
        self.start = _config_id(model, "decoder_start_token_id")
        if self.start is None:
            raise ConfigError(f"{type(model).__name__}: the model config has no decoder_start_token_id")

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """(B, S) -> encoder states (B, S, D)."""
        encoder = self.hf.get_encoder()
        return encoder(input_ids=self.ids.swap(src), attention_mask=src_mask.long(), return_dict=True)[0]

    def init_state(self, memory: torch.Tensor, src_mask: torch.Tensor, beam: int = 1) -> DecoderState:
        """Encoder states and mask repeated `beam` times; the caches start empty (cross K/V come at step 0)."""
        tensors = {"src_mask": self.repeat_beam(src_mask, beam), "memory": self.repeat_beam(memory, beam),
                   "self": None, "cross": None}
        return DecoderState(tensors, 0)

    def _decoder(self, memory, src_mask, decoder_ids, cache):
        """The wrapped model's decoder over decoder_ids (B, T) -> (logits (B, T, V), cache)."""
        outputs = importlib.import_module("transformers.modeling_outputs")
        return self._run(cache, encoder_outputs=outputs.BaseModelOutput(last_hidden_state=memory),
                         attention_mask=src_mask.long(), decoder_input_ids=decoder_ids)

    def step(self, prev_tokens: torch.Tensor, state: DecoderState,
             need_weights: bool = False) -> tuple[torch.Tensor, DecoderState]:
        """prev_tokens (B,) -> logits (B, V); step 0 feeds decoder_start_token_id instead of prev_tokens."""
        self._check_weights(need_weights)
        cache_utils = importlib.import_module("transformers.cache_utils")
        if state.step == 0:
            ids = torch.full_like(prev_tokens, self.start)
        else:
            ids = self.ids.swap(prev_tokens)
        cache = cache_utils.EncoderDecoderCache(_dynamic(state["self"]), _dynamic(state["cross"]))
        logits, cache = self._decoder(state["memory"], state["src_mask"], ids[:, None], cache)
        tensors = dict(state.tensors, self=_kv(cache.self_attention_cache), cross=_kv(cache.cross_attention_cache))
        return logits[:, -1], DecoderState(tensors, state.step + 1)

    def decode_forward(self, memory: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoder: tgt_in (B, T), its <bos> replaced by decoder_start_token_id -> (B, T, V)."""
        ids = torch.cat([torch.full_like(tgt_in[:, :1], self.start), self.ids.swap(tgt_in[:, 1:])], 1)
        cache_utils = importlib.import_module("transformers.cache_utils")
        cache = cache_utils.EncoderDecoderCache(_dynamic(None), _dynamic(None))
        return self._decoder(memory, src_mask, ids, cache)[0]


def from_hf(model) -> HFCausalLM | HFSeq2Seq:
    """Wrap an HF model in the adapter its config calls for (encoder-decoder or causal LM)."""
    cls = HFSeq2Seq if model.config.is_encoder_decoder else HFCausalLM
    return cls(model)


def build_gpt2(vocab_size: int = 64, d_model: int = 32, num_layers: int = 2, num_heads: int = 2,
               max_positions: int = 128, init_std: float = 0.02, seed: int = 0):
    """A randomly initialised GPT2LMHeadModel from a config (never downloads), pad 0 / bos 1 / eos 2, eval mode."""
    transformers = _transformers()
    config = transformers.GPT2Config(vocab_size=vocab_size, n_embd=d_model, n_layer=num_layers, n_head=num_heads,
                                     n_positions=max_positions, initializer_range=init_std, resid_pdrop=0.0,
                                     embd_pdrop=0.0, attn_pdrop=0.0, pad_token_id=PAD, bos_token_id=BOS,
                                     eos_token_id=EOS)
    torch.manual_seed(seed)
    return transformers.GPT2LMHeadModel(config).eval()


def build_marian(vocab_size: int = 8000, d_model: int = 256, num_layers: int = 3, num_heads: int = 4,
                 ffn_dim: int = 1024, max_positions: int = 512, init_std: float = 0.02, seed: int = 0,
                 dropout: float = 0.0):
    """A randomly initialised MarianMTModel from a config (never downloads): pad 0, decoder start = bos 1, eos 2,
    no forced eos at max_length, eval mode; `dropout` on embeddings, residuals, attention probabilities and the
    FFN's inner activations (where ours drops too), none by default."""
    transformers = _transformers()
    config = transformers.MarianConfig(
        vocab_size=vocab_size, d_model=d_model, encoder_layers=num_layers, decoder_layers=num_layers,
        encoder_attention_heads=num_heads, decoder_attention_heads=num_heads, encoder_ffn_dim=ffn_dim,
        decoder_ffn_dim=ffn_dim, max_position_embeddings=max_positions, dropout=dropout,
        attention_dropout=dropout, activation_dropout=dropout, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
        decoder_start_token_id=BOS, forced_eos_token_id=None, decoder_vocab_size=vocab_size, init_std=init_std)
    torch.manual_seed(seed)
    return transformers.MarianMTModel(config).eval()
