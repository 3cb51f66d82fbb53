"""Speech synthesis with Debian's espeak-ng, resampling, and additive noise at a stated SNR.

espeak-ng writes 16-bit mono WAV at 22,050 Hz to stdout; it is read with the stdlib `wave` module and
resampled to 16 kHz (band-limited, by truncating the spectrum) so features follow the usual ASR setup.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np
import torch

from seqgap_lab.data.text.builders import CorpusUnavailable

ESPEAK = "espeak-ng"
ESPEAK_RATE = 22050
SAMPLE_RATE = 16000
# Voices and variants of espeak-ng 1.51 (voice+variant): accents and male/female variants.
VOICES = ("en-us", "en", "en+m3", "en+f2", "en-us+f3", "en+m7", "en-gb-scotland", "en-us+m5")
SPEED_RANGE = (80, 450)  # words per minute, espeak-ng -s
PITCH_RANGE = (0, 99)  # espeak-ng -p
SNR_RANGE = (-10.0, 60.0)  # dB
NOISE_KINDS = ("white", "pink")


class SpeechUnavailable(CorpusUnavailable):
    """espeak-ng, which the speech corpus is synthesized with, is not installed."""


def espeak_available() -> bool:
    """True when the espeak-ng program is on PATH."""
    return shutil.which(ESPEAK) is not None


def check_espeak() -> None:
    """Raise SpeechUnavailable, in one line, when espeak-ng is missing."""
    if not espeak_available():
        raise SpeechUnavailable("the speech corpus needs the Debian package espeak-ng (program `espeak-ng` not on "
                                "PATH): install with `sudo apt-get install -y espeak-ng` (or `make system-deps`)")


def check_voice(voice: str, speed: int, pitch: int) -> None:
    """Raise ValueError naming the value and the allowed range for an unknown voice, speed or pitch."""
    if voice not in VOICES:
        raise ValueError(f"voice = {voice!r} is not allowed: expected one of {' | '.join(VOICES)}")
    for name, value, (lo, hi) in (("speed", speed, SPEED_RANGE), ("pitch", pitch, PITCH_RANGE)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"{name} = {value!r} is not allowed: expected an integer in [{lo}, {hi}]")


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit mono WAV bytes -> (float32 samples in [-1, 1], sample rate)."""
    with wave.open(io.BytesIO(data)) as fh:
        if fh.getsampwidth() != 2 or fh.getnchannels() != 1:
            raise ValueError(f"expected 16-bit mono WAV, got {8 * fh.getsampwidth()}-bit x {fh.getnchannels()}")
        rate = fh.getframerate()
        # espeak-ng's streamed header claims ~2^30 frames; read whatever is really there.
        raw = fh.readframes(fh.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0, rate


def synthesize(text: str, voice: str = "en-us", speed: int = 175, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Speak text with espeak-ng -> (float32 samples, 22,050 Hz). Text must be non-empty."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text = {text!r} is not allowed: expected non-empty text to speak")
    check_voice(voice, speed, pitch)
    check_espeak()
    cmd = [ESPEAK, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text]
    done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"espeak-ng failed ({done.returncode}) on {text[:40]!r}: "
                           f"{done.stderr.decode(errors='replace').strip()}")
    return read_wav(done.stdout)


def resample(samples: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling by the FFT (keep the bins below the lower Nyquist frequency)."""
    if rate_in == rate_out:
        return samples.astype(np.float32)
    n_out = max(1, round(len(samples) * rate_out / rate_in))
    spec = torch.fft.rfft(torch.from_numpy(samples.astype(np.float64)))  # (n_in // 2 + 1,)
    keep = min(spec.shape[0], n_out // 2 + 1)
    out = torch.fft.irfft(spec[:keep], n=n_out) * (n_out / len(samples))  # (n_out,)
    return out.numpy().astype(np.float32)


def noise(num_samples: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise: white (flat spectrum) or pink (power ~ 1/f, shaped in the frequency domain)."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind = {kind!r} is not allowed: expected one of {' | '.join(NOISE_KINDS)}")
    white = rng.standard_normal(num_samples)
    if kind == "pink":
        spec = np.fft.rfft(white)
        freqs = np.arange(len(spec), dtype=np.float64)
        freqs[0] = 1.0  # no infinite gain at DC
        white = np.fft.irfft(spec / np.sqrt(freqs), n=num_samples)
    return (white / max(np.sqrt(np.mean(white ** 2)), 1e-12)).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Add noise so that signal power / noise power = snr_db (signal power over the whole utterance)."""
    lo, hi = SNR_RANGE
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float)) or not lo <= snr_db <= hi:
        raise ValueError(f"snr_db = {snr_db!r} is not allowed: expected a number in [{lo}, {hi}] dB")
    power = float(np.mean(samples.astype(np.float64) ** 2))
    scale = np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + scale * noise(len(samples), kind, rng)).astype(np.float32)
