"""Loading audio files of any common format, rate and channel count into 16 kHz float32."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from duet.constants import SAMPLE_RATE
from duet.errors import DuetError

MIN_SECONDS = 0.5
MAX_SECONDS = 600.0  # ten minutes; raise with max_seconds= or DUET_MAX_AUDIO_SECONDS
SILENCE_DBFS = -60.0


@dataclass
class Audio:
    """Samples [channels, N] float32 in [-1, 1] at 16 kHz."""

    samples: np.ndarray
    sr: int
    name: str

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sr

    @property
    def mono(self) -> np.ndarray:
        return self.samples.mean(0)


def load_audio(path: str | os.PathLike, max_seconds: float | None = None,
               allow_silent: bool = False) -> Audio:
    """Read wav/flac/ogg/mp3 (anything libsndfile reads; ffmpeg for the rest) as 16 kHz float32.

    Raises DuetError for missing, empty, corrupt, silent, too-short (< 0.5 s) or too-long input.
    """
    path = Path(path)
    if max_seconds is None:
        max_seconds = float(os.environ.get("DUET_MAX_AUDIO_SECONDS", MAX_SECONDS))
    if not path.exists():
        raise DuetError(f"{path}: no such audio file")
    if path.is_dir():
        raise DuetError(f"{path}: is a folder, expected an audio file")
    if path.stat().st_size == 0:
        raise DuetError(f"{path}: the audio file is empty")
    data, sr = _decode(path)
    if data.size == 0 or data.shape[1] == 0:
        raise DuetError(f"{path}: the audio file holds no samples")
    seconds = data.shape[1] / sr
    if seconds < MIN_SECONDS:
        raise DuetError(f"{path}: audio is too short ({seconds:.2f} s; at least {MIN_SECONDS} s needed)")
    if seconds > max_seconds:
        raise DuetError(f"{path}: audio is too long ({seconds:.0f} s; the limit is {max_seconds:.0f} s)")
    if not np.all(np.isfinite(data)):
        raise DuetError(f"{path}: the audio holds invalid (NaN or infinite) samples")
    samples = resample(data, sr, SAMPLE_RATE)
    if not allow_silent and _dbfs(samples) < SILENCE_DBFS:
        raise DuetError(f"{path}: the audio is silent (peak below {SILENCE_DBFS:.0f} dBFS)")
    return Audio(samples=samples, sr=SAMPLE_RATE, name=path.name)


def _dbfs(x: np.ndarray) -> float:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return 20 * np.log10(max(peak, 1e-12))


def _decode(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        return np.ascontiguousarray(data.T), int(sr)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    if shutil.which("ffmpeg"):
        return _decode_ffmpeg(path)
    raise DuetError(f"{path}: cannot decode audio ({reason})")


def _decode_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    probe = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-acodec", "pcm_f32le",
                            "-ac", "1", "-ar", str(SAMPLE_RATE), "-"], capture_output=True)
    if probe.returncode != 0 or not probe.stdout:
        lines = probe.stderr.decode(errors="replace").strip().splitlines()
        raise DuetError(f"{path}: cannot decode audio ({lines[-1] if lines else 'unknown format'})")
    return np.frombuffer(probe.stdout, np.float32)[None, :].copy(), SAMPLE_RATE


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling along the last axis; float32 out."""
    if sr_in == sr_out:
        return np.asarray(x, np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr_in, sr_out)
    return resample_poly(x, sr_out // g, sr_in // g, axis=-1).astype(np.float32)


def save_wav(path: str | os.PathLike, samples: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Write float samples ([N] or [C, N]) as 16-bit PCM wav."""
    import soundfile as sf

    samples = np.asarray(samples, np.float32)
    sf.write(str(path), samples.T if samples.ndim == 2 else samples, sr, subtype="PCM_16", format="WAV")
