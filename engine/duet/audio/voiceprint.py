"""Voice prints: one unit vector per 25 fps frame saying whose voice is heard (the shipped network
runs from its ONNX export in ONNX Runtime; a torch .pt bundle, as training writes, runs in torch).

A small 1-D convolutional network over 10 ms log-mel frames, mean-normalized over the clip so that a
microphone's or room's colour cancels. It is trained as a classifier over the corpus's training
voices (additive-margin softmax on cosine scores, so that the vectors of one voice gather around a
direction) on the frames of the mixes where exactly one person speaks. Mono diarization
(`duet.audio.masks`) clusters these vectors. `duet train --voiceprint` trains it (duet.train.voiceprint).
"""

from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path

import numpy as np

from duet.audio import features as F
from duet.errors import DuetError

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "voiceprint.pt"
RUNTIME = WEIGHTS.with_suffix(".onnx")  # its export (duet model export): what embed runs by default
DIM = 32
CHANNELS = 128


def build_network(scale: float, dim: int = DIM, channels: int = CHANNELS):
    import torch
    from torch import nn

    def block(i, o, k, dilation):
        return nn.Sequential(nn.Conv1d(i, o, k, dilation=dilation, padding=dilation * (k // 2)), nn.ReLU(),
                             nn.BatchNorm1d(o))

    class VoicePrintNet(nn.Module):
        """[B, 4T, N_MELS] normalized log-mel -> [B, T, dim] unit vectors (receptive field about 0.45 s)."""

        def __init__(self):
            super().__init__()
            self.scale = scale
            self.fine = nn.Sequential(block(F.N_MELS, channels, 5, 1), block(channels, channels, 3, 2),
                                      block(channels, channels, 3, 4))
            self.coarse = nn.Sequential(block(channels, channels, 3, 1), block(channels, channels, 3, 2))
            self.project = nn.Conv1d(channels, dim, 1)

        def forward(self, mel):
            h = self.fine(mel.transpose(1, 2) / self.scale)
            h = torch.nn.functional.avg_pool1d(h, 4)  # 10 ms -> 40 ms frames
            v = self.project(self.coarse(h)).transpose(1, 2)
            return torch.nn.functional.normalize(v, dim=-1)

    return VoicePrintNet()


def normalized_mel(x: np.ndarray) -> np.ndarray:
    """[N] samples -> [4 * (N // 640), N_MELS] level-normalized log-mel, minus its mean over the clip."""
    y = np.asarray(x, np.float32) * np.float32(10 ** (F.loudness_gain_db(x) / 20))
    n = len(y) // F.HOP
    mel = np.concatenate([F.log_mel(y, a, min(n, a + F.CHUNK_FRAMES)) for a in range(0, n, F.CHUNK_FRAMES)]) \
        if n else np.zeros((0, F.N_MELS), np.float32)
    return mel - mel.mean(0) if len(mel) else mel


def embed(x: np.ndarray, weights: str | Path | None = None) -> np.ndarray:
    """[N] samples at 16 kHz -> [N // 640, DIM] float32 unit vectors, one per 25 fps frame, from
    ``weights`` (default: the shipped ONNX network; a .pt bundle runs in torch)."""
    path = Path(weights or RUNTIME)
    forward = _onnx_forward(path) if path.suffix == ".onnx" else _torch_forward(load(str(path)))
    mel = normalized_mel(x)
    if len(mel) == 0:
        return np.zeros((0, DIM), np.float32)
    return forward(mel[None])[0].astype(np.float32)


def _onnx_forward(path: Path):
    from duet.runtime import session

    if not path.is_file():
        raise DuetError(f"{path}: no voice-print network there (export it with 'duet model export')")
    s = session(str(path), path.stat().st_mtime_ns, 1)
    return lambda mel: s.run(None, {"mel": mel})[0]


def _torch_forward(net):
    import torch

    def forward(mel):
        with torch.inference_mode():
            return net(torch.from_numpy(mel)).numpy()

    return forward


@functools.lru_cache(maxsize=2)
def load(path: str):
    """The voice-print network at ``path`` (float32, eval mode)."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise DuetError(f"{p}: no voice-print weights there (train them with 'duet train --voiceprint')")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
        net = build_network(float(payload["scale"]), int(payload["dim"]), int(payload["channels"]))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state"].items()})
    except (KeyError, TypeError, RuntimeError, EOFError, OSError, pickle.UnpicklingError) as e:
        raise DuetError(f"{p}: not a voice-print bundle ({type(e).__name__})") from None
    return net.eval()


def is_bundle(path: str | Path) -> bool:
    """Whether ``path`` is a voice-print bundle (its JSON card beside it says so)."""
    card = Path(path).with_suffix(".json")
    try:
        return json.loads(card.read_text()).get("kind") == "voiceprint"
    except (OSError, ValueError, AttributeError):
        return False
