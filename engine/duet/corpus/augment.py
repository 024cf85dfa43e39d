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


def augment_mix(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.3:
        x = band_limit(x, float(rng.choice([3400.0, 4000.0, 5500.0, 7000.0])))
    if rng.random() < 0.8:
        x = noise(x, rng, rng.uniform(12, 45))
    peak = np.abs(x).max()
    return (x * (0.9 / peak) if peak > 0.9 else x).astype(np.float32)
