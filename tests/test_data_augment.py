"""Augmentation keeps the timings true: tempo changes scale them exactly, filters and rooms shift nothing."""

import numpy as np
import pytest

from duet import speech as tts
from duet.corpus import augment
from duet.speech import phonemes as ph


@pytest.fixture(scope="module")
def speech():
    return tts.synthesize("Bob bought a big map of Paris, and the man was happy about it.", "flite:kal16")


def _vowel_energy_ratio(s):
    x = s.samples
    rms = lambda a, b: float(np.sqrt(np.mean(x[int(a * 16000):int(b * 16000)] ** 2)))  # noqa: E731
    vowels = [rms(a, b) for a, b, p in s.phonemes if ph.is_vowel(p)]
    stops = [rms(a, b) for a, b, p in s.phonemes if p in ("b", "p", "t", "k", "g", "d") and b - a > 0.03]
    return np.median(vowels) / max(np.median(stops), 1e-9)


@pytest.mark.parametrize("factor", [0.9, 1.08])
def test_resampling_scales_every_phone_time_exactly(speech, factor):
    fast = augment.resample_speech(speech, factor)
    assert abs(fast.duration - speech.duration / factor) < 2e-3
    assert fast.phonemes[-1][1] == pytest.approx(fast.duration)
    for (a0, b0, p0), (a1, b1, p1) in zip(speech.phonemes[:-1], fast.phonemes[:-1]):
        assert p0 == p1 and a1 == pytest.approx(a0 * fast.duration / speech.duration)
    # vowels stay loud and closures quiet inside their (moved) boundaries
    assert _vowel_energy_ratio(fast) > 3 and abs(np.log(_vowel_energy_ratio(fast) / _vowel_energy_ratio(speech))) < 0.3


def _lag(a, b, max_lag=400):
    c = [np.dot(a[max_lag:-max_lag], np.roll(b, -k)[max_lag:-max_lag]) for k in range(-max_lag, max_lag + 1)]
    return int(np.argmax(c)) - max_lag


@pytest.mark.parametrize("seed", range(4))
def test_track_and_mix_augmentation_shift_nothing_in_time(speech, seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.zeros(8000, np.float32), speech.samples, np.zeros(8000, np.float32)])
    y = augment.augment_mix(augment.augment_track(x, rng), rng)
    assert y.shape == x.shape and np.abs(y).max() <= 0.9 + 1e-6
    assert abs(_lag(x, y)) <= 1
    assert not np.allclose(x, y)


def test_band_limit_removes_high_frequencies(speech):
    y = augment.band_limit(speech.samples, 3400.0)
    spec = lambda v: np.abs(np.fft.rfft(v)) ** 2  # noqa: E731
    f = np.fft.rfftfreq(len(y), 1 / 16000)
    hi = f > 4500
    assert spec(y)[hi].sum() < 0.01 * spec(speech.samples)[hi].sum()
