"""wav2vec 2.0 features from a local checkpoint: tiny randomly initialised models saved by the test and
loaded through the real transformers code path (no download, no mocks)."""

import json

import numpy as np
import pytest

from duet.audio import wav2vec as W
from duet.errors import DuetError

SR = 16000


def _save(folder, layers, local=False, preprocessor=None):
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    # real conv geometry (window 400, stride 320), tiny widths
    cfg = Wav2Vec2Config(hidden_size=16, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=32,
                         conv_dim=(8,) * 7, vocab_size=4,
                         # local: per-time-step norms and a width-1 positional conv, so frame k only
                         # hears its own stretch of audio and alignment can be read off exactly
                         feat_extract_norm="layer" if local else "group",
                         num_conv_pos_embeddings=1 if local else 16,
                         num_conv_pos_embedding_groups=1 if local else 4)
    torch.manual_seed(layers)
    Wav2Vec2Model(cfg).eval().save_pretrained(folder)
    if preprocessor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return folder


@pytest.fixture(scope="module")
def deep(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("w2v_deep"), layers=2)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("w2v_local"), layers=0, local=True)


def _speechlike(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.2 * env * (np.sin(2 * np.pi * 140 * t) + 0.3 * rng.standard_normal(len(t)))).astype(np.float32)


def test_shape_dim_and_determinism(deep):
    x = _speechlike(3.0 + 639 / SR)
    f = W.wav2vec_features(x, deep)
    assert f.shape == (75, 16) and f.dtype == np.float32 and np.isfinite(f).all()
    assert W.feature_dim(deep) == 16
    assert np.array_equal(W.wav2vec_features(x, deep), f)
    W._models.clear()  # a fresh load from disk gives the same numbers
    assert np.array_equal(W.wav2vec_features(x, deep), f)
    assert f.std(0).min() > 0  # frames differ: the audio, not a constant, drives them
    assert W.wav2vec_features(x[:639], deep).shape == (0, 16)


def test_waveform_normalization_makes_level_irrelevant(deep):
    x = _speechlike(2.0, seed=1)
    assert np.allclose(W.wav2vec_features(0.05 * x, deep), W.wav2vec_features(x, deep), atol=1e-4)


@pytest.mark.parametrize("offset,frames", [(40, {10}), (320, {10}), (599, {10}), (10, {9, 10}), (630, {10, 11})])
def test_frame_k_hears_exactly_its_own_40_ms(local, offset, frames):
    """A click at sample 640k + offset changes output frame k (and a neighbour only within 40 samples of
    the frame's edge): the 25 fps frame covers [640k - 40, 640k + 680), centred at (k + 0.5) / 25 s."""
    def clicked(at):
        x = np.zeros(SR * 2, np.float32)
        x[at] = 0.5
        return W.wav2vec_features(x, local)

    here, far = clicked(640 * 10 + offset), clicked(640 * 40 + 320)
    changed = set(np.flatnonzero(np.abs(here[:30] - far[:30]).max(1) > 1e-6).tolist())
    assert changed == frames


def test_chunked_equals_one_pass_for_a_local_model(local, monkeypatch):
    x = _speechlike(6.0, seed=2)
    whole = W.wav2vec_features(x, local)
    monkeypatch.setattr(W, "CHUNK_FRAMES", 7)
    monkeypatch.setattr(W, "CONTEXT_FRAMES", 1)
    assert np.allclose(W.wav2vec_features(x, local), whole, atol=1e-5)


def test_chunks_keep_the_frame_grid_with_attention(deep, monkeypatch):
    x = _speechlike(6.0, seed=3)
    whole = W.wav2vec_features(x, deep)
    monkeypatch.setattr(W, "CHUNK_FRAMES", 40)
    chunked = W.wav2vec_features(x, deep)
    assert chunked.shape == whole.shape
    # attention makes chunks differ a little from one pass, but each frame stays itself
    dist = ((chunked[:, None] - whole[None]) ** 2).sum(-1)
    assert (dist.argmin(1) == np.arange(len(whole))).mean() > 0.9


def test_checkpoint_from_argument_or_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(W.ENV, raising=False)
    assert W.checkpoint_dir() is None
    monkeypatch.setenv(W.ENV, str(tmp_path))
    assert W.checkpoint_dir() == tmp_path
    assert W.checkpoint_dir(tmp_path / "other") == tmp_path / "other"


def test_bad_checkpoints_are_refused_in_one_line(tmp_path, deep):
    import shutil

    cases = {}
    cases["no such wav2vec 2.0 checkpoint folder"] = tmp_path / "missing"
    (tmp_path / "empty").mkdir()
    cases["no config.json"] = tmp_path / "empty"
    other = tmp_path / "bert"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    cases["model_type 'bert'"] = other
    corrupt = tmp_path / "corrupt"
    shutil.copytree(deep, corrupt)
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: 300])
    cases["cannot load"] = corrupt
    partial = tmp_path / "partial"  # config of a deeper model than the weights hold
    shutil.copytree(deep, partial)
    cfg = json.loads((partial / "config.json").read_text())
    (partial / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 3}))
    cases["lacks"] = partial
    rate = tmp_path / "rate"
    shutil.copytree(deep, rate)
    (rate / "preprocessor_config.json").write_text(json.dumps({"sampling_rate": 8000}))
    cases["8000 Hz"] = rate
    for message, folder in cases.items():
        with pytest.raises(DuetError, match=message) as e:
            W.wav2vec_features(np.zeros(SR, np.float32), folder)
        assert "\n" not in str(e.value)
