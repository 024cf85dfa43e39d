"""Inference speed of the dual-stream model on 60 s of conversation, side by side.

    .venv/bin/python benchmarks/infer.py [--corpus data/corpus] [--weights PATH] [--seconds 60]

Prints, for the same audio: front end (features, masks), the model part (windows + DDIM + CFG +
stitching + unpacking) and the whole generate call, each as seconds and as x real time, on CPU with
1 and 2 torch threads (sampling runs on the CPU). The audio is the corpus's test mixes laid end to end.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def test_audio(corpus_dir: str, seconds: float) -> np.ndarray:
    from duet.corpus.build import open_corpus

    corpus = open_corpus(corpus_dir)
    parts, total = [], 0
    for cid in sorted(corpus.ids("test")):
        mix = corpus.load(cid).mix
        parts.append(mix)
        total += len(mix)
        if total >= seconds * 16000:
            break
    return np.concatenate(parts)[: int(seconds * 16000)].astype(np.float32)


def timed(f):
    """(result, wall seconds, this process's CPU seconds): on a shared machine the two differ."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    from duet.audio.features import compute
    from duet.audio.masks import speaking_masks
    from duet.model import infer

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    audio = test_audio(args.corpus, args.seconds)
    dur = len(audio) / 16000
    layout = {"A": [-0.45, 1.6, 0.0], "B": [0.45, 1.6, 0.0]}
    infer._bundle(args.weights)  # load once, outside the timings
    feats, t_feat, _ = timed(lambda: compute(audio))
    masks, t_mask, _ = timed(lambda: speaking_masks(audio[None], "mono"))
    print(f"audio {dur:.1f} s | features {t_feat:.2f} s | masks {t_mask:.2f} s (wall)")
    rows = []
    for threads in (1, 2):
        infer.generate(audio[None, :16000 * 9], layout=layout, weights=args.weights, threads=threads)  # warm up
        _, t_model, c_model = timed(lambda: infer.generate(audio[None], layout=layout, masks=masks, features=feats,
                                                           weights=args.weights, threads=threads))
        _, t_all, c_all = timed(lambda: infer.generate(audio[None], layout=layout, weights=args.weights,
                                                       threads=threads))
        rows.append((f"cpu x{threads}", t_model, c_model, t_all, c_all))
    for name, t_model, c_model, t_all, c_all in rows:
        print(f"{name:8s} model part {t_model:6.2f} s wall ({dur / t_model:5.1f}x real time), {c_model:5.2f} s CPU "
              f"({dur / c_model:5.1f}x) | whole generate {t_all:6.2f} s wall, {c_all:5.2f} s CPU")
    best = min(rows, key=lambda r: r[1])
    print(f"target: model part >= 20x real time -> {dur / best[1]:.1f}x wall, {dur / best[2]:.1f}x CPU ({best[0]}); "
          f"whole generate <= 10 s -> {min(r[3] for r in rows):.2f} s wall")


if __name__ == "__main__":
    main()
