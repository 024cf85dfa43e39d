"""Audio augmentation that never moves a phone boundary it does not also move in the timings.

Per utterance: tempo/pitch jitter by resampling (all times scale by the same factor, exactly).
Per speaker track: EQ, room reverb (direct path at zero delay), level. Per mix: noise, codec-like band limit.
"""

from __future__ import annotations

from math import gcd

import numpy as np

from duet.constants import SAMPLE_RATE
from duet.speech import Speech


def resample_speech(speech: Speech, factor: float) -> Speech:
    """Play ``speech`` ``factor`` times faster (pitch rises with it); phone times scale by 1 / factor."""
    from scipy.signal import resample_poly
    up = 200
    down = int(round(up * factor))
    g = gcd(up, down)
    x = resample_poly(speech.samples, up // g, down // g).astype(np.float32)
    scale = len(x) / max(len(speech.samples), 1)
    duration = len(x) / SAMPLE_RATE
    phones = [(a * scale, min(b * scale, duration), p) for a, b, p in speech.phonemes]
    phones[-1] = (phones[-1][0], duration, phones[-1][2])
    return Speech(samples=x, sr=SAMPLE_RATE, phonemes=phones, voice=speech.voice, text=speech.text)


def eq(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random gentle tilt plus one peaking band (biquad), keeping the level."""
    from scipy.signal import lfilter
    f0 = rng.uniform(300, 4000)
    gain_db = rng.uniform(-8, 8)
    q = rng.uniform(0.5, 2.0)
    a_ = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / SAMPLE_RATE
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * a_, -2 * np.cos(w0), 1 - alpha * a_]
    a = [1 + alpha / a_, -2 * np.cos(w0), 1 - alpha / a_]
    y = lfilter(b, a, x)
    tilt = rng.uniform(-0.5, 0.5)  # first-order pre-/de-emphasis
    y = lfilter([1, -tilt], [1], y) if tilt > 0 else lfilter([1], [1, tilt], y)
    return (y * (np.std(x) / max(np.std(y), 1e-9))).astype(np.float32)


def reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: unit direct path at zero delay plus exponentially decaying noise (RT60 0.1-0.6 s)."""
    from scipy.signal import fftconvolve
    rt60 = rng.uniform(0.1, 0.6)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.normal(0, 1, n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.004 * SAMPLE_RATE)] = 0.0  # first reflections arrive a few ms after the direct sound
    tail *= rng.uniform(0.1, 0.5) / max(np.sqrt(np.sum(tail ** 2)), 1e-9)
    ir = np.concatenate([[1.0], tail[1:]])
    return fftconvolve(x, ir)[: len(x)].astype(np.float32)


def noise(x: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """Coloured background noise at ``snr_db`` below the speech level."""
    from scipy.signal import lfilter
    level = np.sqrt(np.mean(x[np.abs(x) > 1e-4] ** 2)) if np.any(np.abs(x) > 1e-4) else 0.01
    w = lfilter([1], [1, -rng.uniform(0.0, 0.95)], rng.normal(0, 1, len(x)))
    w *= level * 10 ** (-snr_db / 20) / max(np.std(w), 1e-9)
    return (x + w).astype(np.float32)


def band_limit(x: np.ndarray, cutoff: float) -> np.ndarray:
    """Telephone/codec-like low-pass (and a 100 Hz high-pass), zero phase so nothing shifts in time."""
    from scipy.signal import butter, sosfiltfilt
    sos = butter(6, [100, cutoff], btype="band", fs=SAMPLE_RATE, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


def augment_track(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.7:
        x = eq(x, rng)
    if rng.random() < 0.5:
        x = reverb(x, rng)
    return (x * 10 ** (rng.uniform(-8, 4) / 20)).astype(np.float32)


def babble(x: np.ndarray, tracks: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """Background talk: the clip's own voices reversed in time (speech's spectrum and rhythm, no words
    to lip-read), three copies at random offsets, ``snr_db`` below the speech level."""
    voiced = np.abs(x) > 1e-4
    level = np.sqrt(np.mean(x[voiced] ** 2)) if voiced.any() else 0.01
    crowd = np.zeros_like(x)
    for _ in range(3):
        talker = tracks[int(rng.integers(len(tracks)))][::-1]
        crowd += np.roll(talker, int(rng.integers(len(x))))
    crowd *= level * 10 ** (-snr_db / 20) / max(float(np.std(crowd)), 1e-9)
    return (x + crowd).astype(np.float32)


def codec(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lossy round trip through ffmpeg (Opus at 12-32 kbit/s or MP3 at 32-64 kbit/s), moved back to the
    input's timing by cross-correlation so no phone shifts; the input unchanged if ffmpeg fails."""
    import shutil
    import subprocess

    if not shutil.which("ffmpeg"):
        return x
    opus = rng.random() < 0.5
    rate = int(rng.choice([12, 16, 24, 32] if opus else [32, 48, 64]))
    fmt = ["-c:a", "libopus", "-b:a", f"{rate}k", "-f", "ogg"] if opus else ["-c:a", "libmp3lame", "-b:a", f"{rate}k", "-f", "mp3"]
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    raw = ["-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1"]
    try:
        coded = subprocess.run(["ffmpeg", "-v", "error", *raw, "-i", "-", *fmt, "-"], input=pcm,
                               capture_output=True, timeout=120, check=True).stdout
        back = subprocess.run(["ffmpeg", "-v", "error", "-i", "-", *raw, "-"], input=coded,
                              capture_output=True, timeout=120, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return x
    y = np.frombuffer(back, "<i2").astype(np.float32) / 32767
    shift = _delay(x, y)
    y = y[shift:] if shift >= 0 else np.concatenate([np.zeros(-shift, np.float32), y])
    return np.concatenate([y, np.zeros(max(0, len(x) - len(y)), np.float32)])[: len(x)]


def _delay(x: np.ndarray, y: np.ndarray, most: int = 4000) -> int:
    """Samples by which ``y`` lags ``x`` (within +-``most``), from the peak of their cross-correlation."""
    from scipy.signal import correlate

    n = min(len(x), len(y), 10 * SAMPLE_RATE)
    c = correlate(y[:n + most], x[:n], mode="full", method="fft")
    lags = np.arange(-n + 1, len(y[:n + most]))
    keep = np.abs(lags) <= most
    return int(lags[keep][np.argmax(c[keep])])


def augment_mix(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.3:
        x = band_limit(x, float(rng.choice([3400.0, 4000.0, 5500.0, 7000.0])))
    if rng.random() < 0.8:
        x = noise(x, rng, rng.uniform(12, 45))
    peak = np.abs(x).max()
    return (x * (0.9 / peak) if peak > 0.9 else x).astype(np.float32)
