"""SpeechConfig: what the synthesized speech corpus is made of, with smoke / default / full sizes."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from seqgap_lab.core.config import ConfigError, check_float, check_int, check_profile
from seqgap_lab.data.speech.synth import NOISE_KINDS, PITCH_RANGE, SNR_RANGE, SPEED_RANGE, VOICES

# Utterances per profile: smoke builds in seconds, default in about a minute on 2 cores.
PROFILE_UTTERANCES = {"smoke": 40, "default": 2400, "full": 20000}
# Share of each split; train/dev/test hold short+medium transcripts, test_long the long bucket only.
SPLIT_FRACTIONS = {"train": 0.8, "dev": 0.05, "test": 0.075, "test_long": 0.075}
SPEECH_SPLITS = tuple(SPLIT_FRACTIONS)


@dataclass(frozen=True)
class SpeechConfig:
    """A synthesized corpus: utterance count, text mix, voices, speed/pitch ranges, noise and features.

    Each utterance draws a voice, a speed and pitch uniformly in their ranges, and a noise kind; noise is
    added at snr_db (None: clean). A share digit_fraction of transcripts are spoken digit strings, the rest
    phrases cut from the prose corpus (train/dev phrases from its train books, test from its test books).
    """

    profile: str = "default"
    num_utterances: int | None = None  # None: PROFILE_UTTERANCES[profile]
    digit_fraction: float = 0.3
    voices: tuple[str, ...] = VOICES
    speed_range: tuple[int, int] = (140, 200)
    pitch_range: tuple[int, int] = (30, 70)
    snr_db: float | None = 20.0
    noise_kinds: tuple[str, ...] = NOISE_KINDS
    n_mels: int = 80
    seed: int = 0

    def __post_init__(self) -> None:
        o = "SpeechConfig"
        check_profile(self.profile)
        if self.num_utterances is None:
            object.__setattr__(self, "num_utterances", PROFILE_UTTERANCES[self.profile])
        check_int(o, "num_utterances", self.num_utterances, 8, 1_000_000)
        check_float(o, "digit_fraction", self.digit_fraction, 0.0, 1.0)
        self._check_selection("voices", VOICES)
        self._check_selection("noise_kinds", NOISE_KINDS)
        self._check_range("speed_range", SPEED_RANGE)
        self._check_range("pitch_range", PITCH_RANGE)
        if self.snr_db is not None:
            check_float(o, "snr_db", self.snr_db, *SNR_RANGE)
        if type(self.n_mels) is not int or self.n_mels not in (40, 80):  # 80.0 or True would reach the layers
            raise ConfigError(f"{o}.n_mels = {self.n_mels!r} is not allowed: expected 40 or 80")
        check_int(o, "seed", self.seed, 0)

    def _check_selection(self, name: str, allowed: tuple[str, ...]) -> None:
        value = getattr(self, name)
        if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value \
                or any(v not in allowed for v in value):
            raise ConfigError(f"SpeechConfig.{name} = {value!r} is not allowed: expected a non-empty selection "
                              f"(a tuple) of {' | '.join(allowed)}")
        object.__setattr__(self, name, tuple(value))

    def _check_range(self, name: str, allowed: tuple[int, int]) -> None:
        value = getattr(self, name)
        value = tuple(value) if isinstance(value, (tuple, list)) else value
        object.__setattr__(self, name, value)
        lo, hi = allowed
        if not isinstance(value, tuple) or len(value) != 2 \
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value) \
                or not lo <= value[0] <= value[1] <= hi:
            raise ConfigError(f"SpeechConfig.{name} = {value!r} is not allowed: expected (low, high) integers "
                              f"with {lo} <= low <= high <= {hi}")

    def split_counts(self) -> dict[str, int]:
        """Utterances per split (at least one each; train takes the rounding remainder)."""
        counts = {s: max(1, round(self.num_utterances * f)) for s, f in SPLIT_FRACTIONS.items() if s != "train"}
        counts["train"] = self.num_utterances - sum(counts.values())
        return {s: counts[s] for s in SPEECH_SPLITS}

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
