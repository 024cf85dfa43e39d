"""GE2E voice embeddings of real speech, in numpy (no torch at inference).

The network is Resemblyzer's voice encoder (Apache-2.0; trained with the generalized end-to-end
loss on thousands of recorded speakers): 40-band power mel at 10 ms -> a 3-layer LSTM (256 units)
-> its last hidden state -> linear 256 -> ReLU -> unit length. Its weights, with the mel filterbank
it was trained on, ship as ``weights/ge2e.npz`` (float16), made once from the PyPI package's
``pretrained.pt`` by :func:`export`; `tests/test_ge2e.py` checks this numpy network against torch.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from duet.constants import SAMPLE_RATE
from duet.errors import DuetError
from duet.runtime import cpus

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "ge2e.npz"
N_FFT = 400  # 25 ms window
STEP = 160  # 10 ms hop: four mel frames per 25 fps frame
N_MELS = 40
LAYERS = 3
LEVEL_DBFS = -30.0  # the encoder heard its training speech at this RMS level


def export(pretrained: str | Path, out: str | Path = WEIGHTS) -> Path:
    """Resemblyzer's ``pretrained.pt`` -> the numpy bundle (needs torch and librosa; run once)."""
    import librosa
    import torch

    state = torch.load(str(pretrained), map_location="cpu", weights_only=True)["model_state"]
    arrays = {k.replace(".", "_"): v.numpy().astype(np.float16) for k, v in state.items()
              if k.startswith(("lstm.", "linear."))}
    arrays["mel_basis"] = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)
    out = Path(out)
    np.savez_compressed(out, **arrays)
    load.cache_clear()
    return out


@functools.lru_cache(maxsize=2)
def load(path: str = str(WEIGHTS)) -> dict[str, np.ndarray]:
    """The bundle as float32 arrays; per layer the input and recurrent weights transposed for x @ W."""
    p = Path(path)
    try:
        with np.load(p) as z:
            raw = {k: z[k].astype(np.float32) for k in z.files}
        net = {"mel_basis": raw["mel_basis"].T.copy(), "linear_w": raw["linear_weight"].T.copy(),
               "linear_b": raw["linear_bias"]}
        for k in range(LAYERS):
            net[f"wi{k}"] = raw[f"lstm_weight_ih_l{k}"].T.copy()
            net[f"wh{k}"] = raw[f"lstm_weight_hh_l{k}"].T.copy()
            net[f"b{k}"] = raw[f"lstm_bias_ih_l{k}"] + raw[f"lstm_bias_hh_l{k}"]
    except (OSError, KeyError, ValueError) as e:
        raise DuetError(f"{p}: not a GE2E voice-encoder bundle ({type(e).__name__})") from None
    return net


def mel(x: np.ndarray, net: dict | None = None) -> np.ndarray:
    """[N] samples -> [N // 160 + 1, 40] power mel (frame j centred on sample 160 j, zero padded)."""
    from scipy import fft

    net = net or load()
    y = np.pad(np.asarray(x, np.float32), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::STEP]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spec = fft.rfft(frames * window, axis=1)
    return ((spec.real ** 2 + spec.imag ** 2) @ net["mel_basis"]).astype(np.float32)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


def encode(mels: np.ndarray, lengths: np.ndarray | None = None, net: dict | None = None) -> np.ndarray:
    """[B, T, 40] mel (sequence b uses its first lengths[b] frames) -> [B, 256] unit embeddings.

    Longest sequences first, each step runs only the rows still inside their sequence (a finished
    one keeps its last state), so the padding after a short sequence costs nothing."""
    net = net or load()
    mels = np.asarray(mels, np.float32)
    b, t, _ = mels.shape
    lengths = np.full(b, t) if lengths is None else np.asarray(lengths)
    order = np.argsort(-lengths, kind="stable")
    live = np.searchsorted(-lengths[order], -np.arange(t), side="left")  # rows inside their sequence at each step
    seq = mels[order]
    for k in range(LAYERS):
        hidden = net[f"wh{k}"].shape[0]
        wh = net[f"wh{k}"]
        pre = seq @ net[f"wi{k}"] + net[f"b{k}"]  # input part of every gate, all steps at once
        h = np.zeros((b, hidden), np.float32)
        c = np.zeros((b, hidden), np.float32)
        outs = np.zeros((b, t, hidden), np.float32)
        for s in range(t):
            n = live[s]
            z = pre[:n, s] + h[:n] @ wh
            i, f = _sigmoid(z[:, :hidden]), _sigmoid(z[:, hidden: 2 * hidden])
            g, o = np.tanh(z[:, 2 * hidden: 3 * hidden]), _sigmoid(z[:, 3 * hidden:])
            c[:n] = f * c[:n] + i * g
            h[:n] = o * np.tanh(c[:n])
            outs[:n, s] = h[:n]
        seq = outs
    e = np.maximum(h @ net["linear_w"] + net["linear_b"], 0.0)
    out = np.empty_like(e)
    out[order] = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-9)
    return out


def embed_pieces(x: np.ndarray, pieces: list[tuple[int, int]], hop: int = 640) -> np.ndarray:
    """One embedding per piece [a, b) of hops (25 fps frames by default) of the signal x:
    each piece brought to LEVEL_DBFS on its own, so a voice is heard at the level it was trained on."""
    net = load()
    if not pieces:
        return np.zeros((0, net["linear_w"].shape[1]), np.float32)
    mels = []
    for a, b in pieces:
        seg = np.asarray(x[a * hop: b * hop], np.float32)
        rms = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if len(seg) else 0.0
        gain = 10 ** (LEVEL_DBFS / 20) / max(rms, 1e-6)
        mels.append(mel(seg * np.float32(gain), net)[:-1])
    lengths = np.array([len(m) for m in mels])
    batch = np.zeros((len(mels), lengths.max(), N_MELS), np.float32)
    for i, m in enumerate(mels):
        batch[i, : len(m)] = m
    order = np.argsort(-lengths)  # similar lengths together: each batch stops at its own longest
    out = np.empty((len(mels), net["linear_w"].shape[1]), np.float32)
    groups = [order[s: s + 64] for s in range(0, len(order), 64)]
    workers = min(cpus(), -(-len(order) // 8))  # a thread per CPU, each with a share of every batch
    groups = [g[w::workers] for g in groups for w in range(workers)]

    def run(idx):
        out[idx] = encode(batch[idx, : lengths[idx].max()], lengths[idx], net)

    if workers == 1:
        for idx in groups:
            run(idx)
    else:  # numpy lets go of the GIL inside its loops and matrix products: the sequences run side by side
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, groups))
    return out
