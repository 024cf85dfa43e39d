"""Head synchrony between the two people: ground truth against generated motion, side by side.

For each clip, the best Pearson correlation between A's and B's neck rotation (pitch, then yaw) over
lags of up to 0.6 s either way; averaged over the split's clips. A model that mirrors its partner's
head motion scores near the truth; one that moves each head on its own scores near zero.

Run: .venv/bin/python benchmarks/head_synchrony.py [--corpus data/corpus] [--split val]
     [--weights W ...] [--steps N]
"""

from __future__ import annotations

import argparse

import numpy as np

MAX_LAG = 15  # frames: 0.6 s at 25 fps


def synchrony(motion) -> tuple[float, float]:
    """(pitch, yaw): the best A-B correlation of neck rotation over lags -MAX_LAG..MAX_LAG."""
    a, b = motion.A.poses["neck"], motion.B.poses["neck"]
    out = []
    for axis in (0, 1):
        best = 0.0
        for lag in range(-MAX_LAG, MAX_LAG + 1):
            x, y = (a[lag:, axis], b[:len(b) - lag, axis]) if lag >= 0 else (a[:lag, axis], b[-lag:, axis])
            if x.std() > 1e-6 and y.std() > 1e-6:
                best = max(best, float(np.corrcoef(x, y)[0, 1]))
        out.append(best)
    return out[0], out[1]


def main() -> None:
    import torch

    from duet.data.corpus import open_corpus
    from duet.eval.baselines import first_speaker
    from duet.model.infer import generate

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--split", default="val")
    ap.add_argument("--weights", nargs="*", default=["engine/duet/weights/duet-dual.pt",
                                                     "engine/duet/weights/duet-single.pt"])
    ap.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the bundle's)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    corpus = open_corpus(args.corpus)
    rows = {"ground truth": [], **{w: [] for w in args.weights}}
    for cid in corpus.ids(args.split):
        clip = corpus.load(cid)
        mix = np.asarray(clip.mix, np.float32)[None]
        rows["ground truth"].append(synchrony(clip.motion))
        for w in args.weights:
            motion = generate(mix, "mono", layout=clip.layout, seed=0, weights=w, first_speaker=first_speaker(clip),
                              guidance=4, listener_guidance=0.5, pose_guidance=0.5, steps=args.steps)
            rows[w].append(synchrony(motion))
    print(f"{args.corpus}, {args.split} split, mono mix, scales 4 / 0.5 / 0.5\n")
    print("| motion | head synchrony, pitch | yaw |\n|---|---|---|")
    for name, values in rows.items():
        v = np.array(values)
        print(f"| {name} | {v[:, 0].mean():.3f} | {v[:, 1].mean():.3f} |")


if __name__ == "__main__":
    main()
