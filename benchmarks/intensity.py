"""How far an emotion's intensity moves the face: the fraction of the way from neutral to full.

    .venv/bin/python benchmarks/intensity.py [--corpus data/corpus-v7] [--split val] [--clips 4]
        [--weights BUNDLE] [--power P ...]

For each clip (mono mix) and each emotion, both people get the emotion at intensity w; the face's
expression channels at w are projected onto the line from the neutral take (w = 0) to the full one
(w = 1): 0 is neutral, 1 is full, and a face that answers the intensity evenly gives w itself. The
model answers the blend of its conditionings unevenly, so the bundle carries a power
(`ModelConfig.intensity_power`: the blend is w ** power). This prints, per power tried, each
emotion's fraction at w = 0.25 / 0.5 / 0.75 and their mean, and the power that would put the mean
at w (fitted on the first power's curve). Same seed at every intensity, so only the intensity
differs between takes. Choose the power on val; ship it with `duet train --ship ... --intensity-power P`.
"""

from __future__ import annotations

import argparse

import numpy as np

LEVELS = (0.25, 0.5, 0.75)


def fractions(weights, clips, emotions, power: float) -> np.ndarray:
    """[emotions, clips, levels] fraction of the way from neutral to full."""
    from duet.model import infer

    infer._bundle(weights).cfg.intensity_power = power
    out = np.zeros((len(emotions), len(clips), len(LEVELS)))
    for i, emotion in enumerate(emotions):
        for j, clip in enumerate(clips):
            takes = {}
            for w in (0.0, *LEVELS, 1.0):
                label = {"emotion": emotion, "intensity": w}
                m = infer.generate(clip.mix, "mono", emotion={"A": label, "B": label}, weights=weights,
                                   seed=0)
                takes[w] = np.concatenate([m.A.expr, m.B.expr], 1)
            line = (takes[1.0] - takes[0.0]).ravel()
            for k, w in enumerate(LEVELS):
                out[i, j, k] = float((takes[w] - takes[0.0]).ravel() @ line / max(line @ line, 1e-12))
    return out


def fit_power(levels, reached) -> float:
    """The power p with reached(w ** p) = w: the curve inverted at each level, then p from the mean log
    ratio (log of the blend needed over log of the level)."""
    xs = np.array([0.0, *levels, 1.0])
    ys = np.array([0.0, *reached, 1.0])
    order = np.argsort(ys)
    need = np.interp(levels, ys[order], xs[order])
    return float(np.mean(np.log(np.clip(need, 1e-3, 1.0)) / np.log(levels)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="data/corpus-v7")
    ap.add_argument("--split", default="val")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--weights", default=None, help="a model bundle (default: the shipped one)")
    ap.add_argument("--power", type=float, nargs="+", default=[1.0])
    args = ap.parse_args()

    from duet.corpus.build import open_corpus
    from duet.model import infer

    corpus = open_corpus(args.corpus)
    clips = [corpus.load(c) for c in corpus.ids(args.split)[: args.clips]]
    emotions = [e for e in infer._bundle(args.weights).cfg.emotions[1:]]
    print(f"{len(clips)} {args.split} clips of {args.corpus}, mono mix, both people at the same emotion, seed 0\n")
    print("| power | " + " | ".join(emotions) + " | mean |")
    print("|---" * (len(emotions) + 2) + "|")
    first = None
    for p in args.power:
        f = fractions(args.weights, clips, emotions, p)
        per = f.mean(1)  # [emotions, levels]
        cells = [" / ".join(f"{v:.2f}" for v in row) for row in per]
        mean = per.mean(0)
        print(f"| {p:g} | " + " | ".join(cells) + " | **" + " / ".join(f"{v:.2f}" for v in mean) + "** |",
              flush=True)
        if first is None:
            first = (p, mean)
    p0, mean = first
    print(f"\nfractions at w = {' / '.join(f'{w:g}' for w in LEVELS)}; even would be the same numbers")
    print(f"power fitted on power {p0:g}'s mean curve: {p0 * fit_power(np.array(LEVELS), mean):.2f}")


if __name__ == "__main__":
    main()
