"""The numpy GE2E voice encoder: it matches torch's LSTM on the shipped weights (and Resemblyzer's own
encoder where that package is installed), tells voices apart, and diarization never imports torch."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import espeak
from duet.audio import ge2e


def _torch_encoder():
    """torch's LSTM + linear + ReLU with the shipped weights: the network as Resemblyzer defines it."""
    import torch

    with np.load(ge2e.WEIGHTS) as z:
        state = {k: torch.from_numpy(z[k].astype(np.float32)) for k in z.files if k != "mel_basis"}
    lstm = torch.nn.LSTM(ge2e.N_MELS, 256, ge2e.LAYERS, batch_first=True)
    linear = torch.nn.Linear(256, 256)
    lstm.load_state_dict({k[len("lstm_"):]: v for k, v in state.items() if k.startswith("lstm_")})
    linear.load_state_dict({"weight": state["linear_weight"], "bias": state["linear_bias"]})

    def run(mels: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            _, (h, _) = lstm(torch.from_numpy(mels))
            e = torch.relu(linear(h[-1]))
            return (e / e.norm(dim=1, keepdim=True)).numpy()

    return run


def test_numpy_encoder_matches_torch_on_speech(tmp_path):
    x = espeak("Did you see the game last night? It was unbelievable.", "en-us+m3", tmp_path / "a.wav")
    m = ge2e.mel(x * np.float32(0.03 / np.sqrt(np.mean(x ** 2))))
    mels = np.stack([m[:160], m[80:240]]).astype(np.float32)
    ours, theirs = ge2e.encode(mels), _torch_encoder()(mels)
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.all((ours * theirs).sum(1) > 0.99999)


def test_sequences_of_different_lengths_in_one_batch_match_one_by_one():
    rng = np.random.default_rng(0)
    mels = rng.gamma(0.5, 0.2, (3, 90, ge2e.N_MELS)).astype(np.float32)
    lengths = np.array([90, 40, 65])
    batched = ge2e.encode(mels, lengths)
    single = np.concatenate([ge2e.encode(mels[i: i + 1, :n]) for i, n in enumerate(lengths)])
    assert np.abs(batched - single).max() < 1e-5
    # the padding after a short sequence does not leak into its embedding
    assert not np.allclose(ge2e.encode(mels[1:2]), batched[1], atol=1e-3)


def test_matches_resemblyzer_where_installed(tmp_path):
    resemblyzer = pytest.importorskip("resemblyzer")
    import torch

    x = espeak("I missed it, I was working late again.", "en-us+f4", tmp_path / "b.wav")
    mels = ge2e.mel(x * np.float32(0.03 / np.sqrt(np.mean(x ** 2))))[None, :160]
    with torch.no_grad():
        theirs = resemblyzer.VoiceEncoder("cpu", verbose=False)(torch.from_numpy(mels)).numpy()
    assert float((ge2e.encode(mels) * theirs).sum()) > 0.9999


def test_mel_matches_librosa_where_installed(tmp_path):
    librosa = pytest.importorskip("librosa.feature")
    x = espeak("Nobody knows where the keys went.", "en-us+m3", tmp_path / "k.wav")
    theirs = librosa.melspectrogram(y=x, sr=16000, n_fft=ge2e.N_FFT, hop_length=ge2e.STEP, n_mels=ge2e.N_MELS)
    assert np.abs(ge2e.mel(x) - theirs.T).max() < 1e-4 * max(1.0, float(theirs.max()))


def test_a_voice_is_nearer_itself_than_another_voice(tmp_path):
    texts = ["The weather will turn later today.", "Nobody knows where the keys went."]
    man = [espeak(t, "en-us+m3", tmp_path / f"m{i}.wav") for i, t in enumerate(texts)]
    woman = espeak(texts[0], "en-us+f4", tmp_path / "f.wav")
    e = np.concatenate([ge2e.embed_pieces(x, [(0, len(x) // 640)]) for x in (*man, woman)])
    assert e[0] @ e[1] > e[0] @ e[2] + 0.05
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)


def test_a_broken_bundle_is_refused_clearly(tmp_path):
    bad = tmp_path / "ge2e.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(Exception, match="not a GE2E voice-encoder bundle"):
        ge2e.load(str(bad))


def test_mono_diarization_does_not_import_torch(tmp_path):
    x = espeak("Hello there. How are you today? Fine, thanks.", "en-us+m3", tmp_path / "c.wav")
    np.save(tmp_path / "x.npy", np.concatenate([x, x]))
    code = ("import sys, numpy as np; from duet.audio.masks import listen; "
            f"m, v = listen(np.load({str(tmp_path / 'x.npy')!r})[None], 'mono'); "
            "assert m.shape[0] == 2; print(v); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "False"
