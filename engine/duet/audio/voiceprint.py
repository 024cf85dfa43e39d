"""Voice prints: one unit vector per 25 fps frame saying whose voice is heard (torch).

A small 1-D convolutional network over 10 ms log-mel frames, mean-normalized over the clip so that a
microphone's or room's colour cancels. It is trained as a classifier over the corpus's training
voices (additive-margin softmax on cosine scores, so that the vectors of one voice gather around a
direction) on the frames of the mixes where exactly one person speaks. Mono diarization
(`duet.audio.masks`) clusters these vectors. `duet train --voiceprint` trains it.
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
DIM = 32
CHANNELS = 128
CROP_FRAMES = 100  # 4 s of frames per training example
MARGIN = 0.2  # additive cosine margin
LOGIT_SCALE = 20.0


def _network(scale: float, dim: int = DIM, channels: int = CHANNELS):
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
    """[N] samples at 16 kHz -> [N // 640, DIM] float32 unit vectors, one per 25 fps frame."""
    import torch

    net = load(str(weights or WEIGHTS))
    mel = normalized_mel(x)
    if len(mel) == 0:
        return np.zeros((0, DIM), np.float32)
    with torch.inference_mode():
        return net(torch.from_numpy(mel)[None])[0].numpy().astype(np.float32)


@functools.lru_cache(maxsize=2)
def load(path: str):
    """The voice-print network at ``path`` (float32, eval mode)."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise DuetError(f"{p}: no voice-print weights there (train them with 'duet train --voiceprint')")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
        net = _network(float(payload["scale"]), int(payload["dim"]), int(payload["channels"]))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state"].items()})
    except (KeyError, TypeError, RuntimeError, EOFError, OSError, pickle.UnpicklingError) as e:
        raise DuetError(f"{p}: not a voice-print bundle ({type(e).__name__})") from None
    return net.eval()


def training_examples(corpus) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """From the corpus's train split: per clip the normalized log-mel of the mix [4T, N_MELS] and the
    voice index of each frame [T] (-1 where nobody or both speak), and the voice names."""
    mels, labels, voices = [], [], {}
    for clip_id in corpus.ids("train"):
        clip = corpus.load(clip_id)
        mel = normalized_mel(np.asarray(clip.mix, np.float32))
        n = min(len(mel) // 4, clip.masks.shape[1])
        a, b = np.asarray(clip.masks)[:, :n] > 0.5
        ids = [voices.setdefault(clip.voices[p], len(voices)) for p in "AB"]
        lab = np.full(n, -1, np.int64)
        lab[a & ~b], lab[b & ~a] = ids
        mels.append(mel[: 4 * n])
        labels.append(lab)
    return mels, labels, list(voices)


def is_bundle(path: str | Path) -> bool:
    """Whether ``path`` is a voice-print bundle (its JSON card beside it says so)."""
    card = Path(path).with_suffix(".json")
    try:
        return json.loads(card.read_text()).get("kind") == "voiceprint"
    except (OSError, ValueError, AttributeError):
        return False


def train(corpus_dir: str | Path, out: str | Path, steps: int = 1500, seed: int = 0, batch: int = 32,
          threads: int = 0, progress=None) -> Path:
    """Train the voice-print network on ``corpus_dir``'s train split and write the bundle to ``out``
    (threads 0: torch's default). ``progress(fraction, loss)`` is called after each step."""
    import torch

    from duet.data.corpus import open_corpus
    from duet.files import atomic_output

    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    corpus = open_corpus(corpus_dir)
    mels, labels, voices = training_examples(corpus)
    usable = [i for i, lab in enumerate(labels) if len(lab) > CROP_FRAMES and (lab >= 0).sum() > 50]
    if len(voices) < 2 or not usable:
        raise DuetError(f"{corpus_dir}: its train split has too little speech to learn voices from")
    scale = float(np.concatenate([mels[i] for i in usable]).std())
    net = _network(scale)
    centres = torch.nn.Parameter(torch.randn(len(voices), DIM) * 0.1)
    opt = torch.optim.Adam([*net.parameters(), centres], 1e-3)
    net.train()
    for step in range(steps):
        if step == int(0.7 * steps):
            for group in opt.param_groups:
                group["lr"] = 3e-4
        picks = [usable[k] for k in rng.integers(len(usable), size=batch)]
        starts = [int(rng.integers(0, len(labels[i]) - CROP_FRAMES)) for i in picks]
        mel = torch.from_numpy(np.stack([mels[i][4 * s: 4 * (s + CROP_FRAMES)] for i, s in zip(picks, starts)]))
        lab = torch.from_numpy(np.stack([labels[i][s: s + CROP_FRAMES] for i, s in zip(picks, starts)]))
        if rng.random() < 0.5:  # a band of mel channels dropped: no single band may decide the voice
            lo = int(rng.integers(0, F.N_MELS - 8))
            mel[:, :, lo: lo + int(rng.integers(1, 8))] = 0
        cos = net(mel) @ torch.nn.functional.normalize(centres, dim=-1).T
        keep = lab >= 0
        margin = torch.nn.functional.one_hot(lab.clamp(min=0), len(voices)) * MARGIN
        loss = torch.nn.functional.cross_entropy((LOGIT_SCALE * (cos - margin))[keep], lab[keep])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress:
            progress((step + 1) / steps, float(loss.detach()))
    net.eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    payload = {"state": state, "scale": scale, "dim": DIM, "channels": CHANNELS}
    meta = {"kind": "voiceprint", "voices": voices, "steps": steps, "seed": seed, "batch": batch,
            "corpus": str(corpus_dir)}
    with atomic_output(out) as tmp:
        torch.save(payload, tmp)
    with atomic_output(out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    load.cache_clear()
    return out
