"""Features at 25 fps: shape, alignment to frame centres, level normalization, pitch, chunking."""

import numpy as np
import pytest

from duet.audio import features as F
from duet.errors import DuetError

from duet.constants import SAMPLE_RATE as SR


def _tone(f0, seconds, amp=0.3, harmonics=5):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, harmonics + 1))).astype(np.float32)


def test_shape_dtype_and_frame_count():
    for n in (640, 641, 16000, 16000 * 3 + 639):
        f = F.compute(np.zeros(n, np.float32) + np.float32(1e-3) * np.sin(np.arange(n)).astype(np.float32))
        assert f.shape == (n // 640, F.FEATURE_DIM) and f.dtype == np.float32
        assert np.isfinite(f).all()
    assert len(F.NAMES) == F.FEATURE_DIM


def test_energy_peaks_in_the_frame_that_holds_the_sound():
    x = np.zeros(SR * 2, np.float32)
    x[640 * 20: 640 * 21] = _tone(220, 640 / SR)  # exactly frame 20
    e = F.compute(x)[:, F.NAMES.index("energy")]
    assert e.argmax() == 20
    assert e[20] - max(e[18], e[22]) > 1.0  # 30 dB above the neighbours two frames away


def test_level_normalized_and_deterministic(conversation):
    from duet.audio.io import load_audio

    x = load_audio(conversation.mix).mono
    loud, quiet = F.compute(x), F.compute(0.05 * x)
    assert np.array_equal(loud, F.compute(x))
    speech = loud[:, F.NAMES.index("voicing")] > 0.5
    assert np.abs(loud[speech] - quiet[speech]).max() < 0.02
    mel = loud[speech, : 2 * F.N_MELS]
    assert -1.5 < mel.mean() < 1.0 and 0.2 < mel.std() < 1.0  # scales the model can take as they are


@pytest.mark.parametrize("f0", [90.0, 140.0, 220.0, 330.0])
def test_pitch_of_a_harmonic_tone(f0):
    f = F.compute(_tone(f0, 1.0))[2:-2]
    est = 150 * 2 ** f[:, F.NAMES.index("log_f0")]
    assert np.all(np.abs(est / f0 - 1) < 0.03), est
    assert f[:, F.NAMES.index("voicing")].min() > 0.8


def test_noise_and_silence_are_unvoiced():
    rng = np.random.default_rng(0)
    noise = F.compute((0.1 * rng.standard_normal(SR)).astype(np.float32))
    silence = F.compute(np.zeros(SR, np.float32))
    v = F.NAMES.index("voicing")
    assert (noise[:, v] > 0.5).mean() < 0.1
    assert (silence[:, v] == 0).all() and np.isfinite(silence).all()
    assert (silence[:, F.NAMES.index("log_f0")] == 0).all()


def test_female_voice_pitch_above_male(conversation):
    from duet.audio.io import load_audio

    idx, v = F.NAMES.index("log_f0"), F.NAMES.index("voicing")
    medians = []
    for path in (conversation.a, conversation.b):  # en-us+m3, en-us+f4
        f = F.compute(load_audio(path).mono)
        medians.append(150 * 2 ** np.median(f[f[:, v] > 0.5, idx]))
    assert 70 < medians[0] < 160 and medians[1] > 1.4 * medians[0], medians


def test_chunked_equals_one_pass(monkeypatch, conversation):
    from duet.audio.io import load_audio

    x = load_audio(conversation.mix).mono
    whole = F.compute(x)
    monkeypatch.setattr(F, "CHUNK_FRAMES", 37)
    assert np.allclose(F.compute(x), whole, atol=1e-5)


def test_bad_samples_are_refused():
    with pytest.raises(DuetError, match="NaN"):
        F.compute(np.full(SR, np.nan, np.float32))
    with pytest.raises(DuetError, match="shape"):
        F.compute(np.zeros((2, 2, SR), np.float32))


def test_the_same_clip_is_analysed_once_and_answers_stay_those_of_a_fresh_pass():
    rng = np.random.default_rng(4)
    x = (_tone(180, 3.0) + np.float32(0.01) * rng.standard_normal(3 * SR).astype(np.float32)) * np.float32(0.5)
    F.forget()
    first = F.compute(x)
    mel, (f0, voicing) = F.log_mel(x, 0, 75), F.pitch(x, 0, 75)
    assert not mel.flags.writeable and not f0.flags.writeable  # shared answers cannot be changed in place
    assert F.log_mel(x, 0, 75) is mel and F.pitch(x, 0, 75)[0] is f0  # remembered: the same samples
    other = x.copy()
    other[SR] += np.float32(0.1)  # one sample apart: analysed again
    assert F.log_mel(other, 0, 75) is not mel and not np.array_equal(F.log_mel(other, 0, 75), mel)
    F.forget()
    assert np.array_equal(F.compute(x), first) and np.array_equal(F.log_mel(x, 0, 75), mel)
    budget = F.MEMO_BYTES
    try:
        F.MEMO_BYTES = F.log_mel(x, 0, 5).nbytes + 1  # room for one answer: the oldest go first
        for a in range(10, 70, 10):
            F.log_mel(x, a, a + 5)
        assert len(F._memo) == 1 and F.log_mel(x, 60, 65) is F.log_mel(x, 60, 65)
    finally:
        F.MEMO_BYTES = budget
        F.forget()
