"""Voice prints: the shipped network on real espeak-ng speech, training one, shipping it."""

import argparse
import json

import numpy as np
import pytest

import torch  # noqa: E402

from conftest import espeak  # noqa: E402
from duet.audio import voiceprint  # noqa: E402
from duet.train import voiceprint as vp_train  # noqa: E402
from duet.errors import DuetError  # noqa: E402
from model_support import one_torch_thread  # noqa: E402,F401

LINES = ["Did you see the game last night? It was unbelievable.",
         "You have to watch the replay. Really, you do, it is worth it."]


def _print(x: np.ndarray) -> np.ndarray:
    """The mean voice print over a clip's voiced frames, as a unit vector."""
    v = voiceprint.embed(x)
    level = np.array([np.sqrt(np.mean(x[k * 640:(k + 1) * 640] ** 2)) for k in range(len(v))])
    m = v[level > 0.1 * level.max()].mean(0)
    return m / np.linalg.norm(m)


def test_one_unit_vector_per_frame_whatever_the_level(tmp_path):
    x = espeak(LINES[0], "en-us+m3", tmp_path / "a.wav")
    v = voiceprint.embed(x)
    assert v.shape == (len(x) // 640, voiceprint.DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert np.array_equal(v, voiceprint.embed(x))
    quiet = voiceprint.embed(0.05 * x)  # level-normalized before the network
    assert np.min(np.sum(v * quiet, 1)) > 0.99
    assert voiceprint.embed(np.zeros(300, np.float32)).shape == (0, voiceprint.DIM)


def test_a_voice_is_nearer_itself_than_other_voices(tmp_path):
    """Different sentences of one voice against the same sentence in other voices (validation and
    test voices, which the shipped network never heard). Measured: within 0.78, others <= 0.15."""
    same = [_print(espeak(t, "en-us+f4", tmp_path / f"f4-{i}.wav")) for i, t in enumerate(LINES)]
    others = [_print(espeak(LINES[0], v, tmp_path / f"{v}.wav")) for v in ("en-us+m6", "en-029+klatt", "en-us+f5")]
    within = float(same[0] @ same[1])
    between = max(float(same[0] @ o) for o in others)
    assert within > 0.6
    assert between < within - 0.4


def test_a_missing_or_broken_bundle_is_refused_clearly(tmp_path):
    with pytest.raises(DuetError, match="no voice-print weights"):
        voiceprint.load(str(tmp_path / "none.pt"))
    (tmp_path / "bad.pt").write_bytes(b"not a bundle")
    with pytest.raises(DuetError, match="not a voice-print bundle"):
        voiceprint.load(str(tmp_path / "bad.pt"))
    assert not voiceprint.is_bundle(tmp_path / "bad.pt")


def test_cli_refuses_model_options_and_a_missing_corpus(tmp_path, capsys):
    from duet.cli import main

    assert main(["train", "--voiceprint", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "v")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a Duet corpus" in err[0]
    (tmp_path / "manifest.json").write_text("{}")
    assert main(["train", "--voiceprint", "--corpus", str(tmp_path), "--no-cross-attention",
                 "--out", str(tmp_path / "v")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--no-cross-attention" in err[0] and "--voiceprint" in err[0]
    assert not (tmp_path / "v").exists()


@pytest.mark.slow
def test_train_then_ship_a_voiceprint(tmp_path, monkeypatch):
    from duet.cli import train as cli_train
    from duet.corpus.build import synth

    corpus = tmp_path / "corpus"
    synth(corpus, hours=0.03, seed=11, workers=1)
    out = vp_train.train(corpus, tmp_path / "vp" / "voiceprint.pt", steps=3, seed=0, batch=4, threads=1)
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["kind"] == "voiceprint" and card["steps"] == 3 and len(card["voices"]) >= 2
    assert voiceprint.is_bundle(out)
    x = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    trained = voiceprint.embed(x, weights=out)
    assert trained.shape == (25, voiceprint.DIM) and not np.allclose(trained, voiceprint.embed(x))
    again = vp_train.train(corpus, tmp_path / "vp2" / "voiceprint.pt", steps=3, seed=0, batch=4, threads=1)
    assert np.array_equal(voiceprint.embed(x, weights=again), trained)  # seeded: the same network

    monkeypatch.setattr(voiceprint, "WEIGHTS", tmp_path / "weights" / "voiceprint.pt")
    p = argparse.ArgumentParser()
    cli_train.add_arguments(p)
    with pytest.raises(DuetError, match="belong to model bundles"):
        cli_train.run(p.parse_args(["--ship", str(out), "--guidance", "3", "1", "1"]))
    assert not (tmp_path / "weights").exists()
    assert cli_train.run(p.parse_args(["--ship", str(out)])) == 0
    assert np.array_equal(voiceprint.embed(x, weights=tmp_path / "weights" / "voiceprint.pt"), trained)
    assert np.abs(voiceprint.embed(x, weights=tmp_path / "weights" / "voiceprint.onnx") - trained).max() < 1e-4
    assert json.loads((tmp_path / "weights" / "voiceprint.json").read_text())["kind"] == "voiceprint"
