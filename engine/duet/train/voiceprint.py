"""Training the voice-print network (duet.audio.voiceprint) on the synthetic corpus's train split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from duet.audio import features as F
from duet.audio.voiceprint import CHANNELS, DIM, build_network, load, normalized_mel
from duet.corpus.build import open_corpus
from duet.errors import DuetError
from duet.files import atomic_output

CROP_FRAMES = 100  # 4 s of frames per training example
MARGIN = 0.2  # additive cosine margin
LOGIT_SCALE = 20.0


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


def train(corpus_dir: str | Path, out: str | Path, steps: int = 1500, seed: int = 0, batch: int = 32,
          threads: int = 0, progress=None) -> Path:
    """Train the voice-print network on ``corpus_dir``'s train split and write the bundle to ``out``
    (threads 0: torch's default). ``progress(fraction, loss)`` is called after each step."""
    import torch

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
    net = build_network(scale)
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
