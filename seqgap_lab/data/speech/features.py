"""Log-mel filterbank features computed with torch: power STFT, HTK mel triangles, log, per-utterance
mean/variance normalisation.

Defaults (16 kHz audio, as Whisper's front end): 80 mel bands over 0-8000 Hz, 25 ms Hann window
(400 samples, n_fft 400), 10 ms hop (160 samples), centred frames, so num_frames = 1 + num_samples // hop.
The mel scale is HTK's: mel(f) = 2595 * log10(1 + f / 700); triangles are built on that scale (not Slaney's).
Features are time-major: (num_frames, n_mels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

LOG_FLOOR = 1e-6


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """HTK mel scale."""
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of the HTK mel scale."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) triangular filters, equally spaced on the HTK mel scale, peak 1."""
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"mel range [{f_min}, {f_max}] Hz is not allowed: expected 0 <= f_min < f_max <= "
                         f"{sample_rate / 2} (Nyquist)")
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # (F,)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(torch.tensor(f_min))), float(hz_to_mel(torch.tensor(f_max))),
                                     n_mels + 2, dtype=torch.float64))  # (n_mels + 2,)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower) / (centre - lower)  # (F, n_mels)
    falling = (upper - bins[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel parameters; the defaults are the module docstring's."""

    sample_rate: int = 16000
    n_mels: int = 80
    win_length: int = 400
    hop_length: int = 160
    n_fft: int = 400
    f_min: float = 0.0
    f_max: float = 8000.0

    def __post_init__(self) -> None:
        if self.n_mels not in (40, 80):
            raise ValueError(f"FeatureConfig.n_mels = {self.n_mels!r} is not allowed: expected 40 or 80")
        if not 0 < self.hop_length <= self.win_length <= self.n_fft:
            raise ValueError(f"FeatureConfig: hop_length={self.hop_length}, win_length={self.win_length}, "
                             f"n_fft={self.n_fft} are not allowed: expected 0 < hop <= win <= n_fft")

    def num_frames(self, num_samples: int) -> int:
        """Frames of an utterance of num_samples (centred STFT)."""
        return 1 + num_samples // self.hop_length


_FILTERS: dict = {}


def log_mel(samples: np.ndarray | torch.Tensor, config: FeatureConfig = FeatureConfig(),
            normalize: bool = True) -> torch.Tensor:
    """Samples (N,) -> (num_frames, n_mels) float32 log-mel features, per-utterance normalised by default."""
    wav = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    if wav.dim() != 1 or wav.numel() < 2:
        raise ValueError(f"log_mel expects 1-D audio of at least 2 samples, got shape {tuple(wav.shape)}")
    key = (config.n_mels, config.n_fft, config.sample_rate, config.f_min, config.f_max)
    if key not in _FILTERS:  # the filterbank is the same for every utterance
        _FILTERS[key] = mel_filterbank(config.n_mels, config.n_fft, config.sample_rate, config.f_min, config.f_max)
    # reflect padding needs more samples than half a window; short clips fall back to zero padding
    pad_mode = "reflect" if wav.numel() > config.n_fft // 2 else "constant"
    spec = torch.stft(wav, config.n_fft, config.hop_length, config.win_length, torch.hann_window(config.win_length),
                      center=True, pad_mode=pad_mode, return_complex=True)  # (F, frames)
    mel = spec.abs().pow(2).T @ _FILTERS[key]  # (frames, n_mels)
    feats = torch.log(mel + LOG_FLOOR)
    if normalize:
        feats = (feats - feats.mean(0)) / feats.std(0).clamp(min=1e-5)
    return feats
