"""Each relation's own effect: the same clips' audio given under each of the four relations, so only
the relation differs between the rows (no emotion labels). Prints each person's eye contact by role,
smiles, head motion and mutual gaze per relation; in an unequal relation A is the senior, and again
with B the senior (`--senior B`). Then, for each unequal relation, each statistic as the junior
against as the senior, for the same person with the same audio (so neither the voice nor the turns
differ): the corpus's rules say the junior moves the head less and looks away more while speaking.

    .venv/bin/python benchmarks/relations.py [--corpus data/corpus-v4] [--split val] [--clips 8] [--weights B]

The per-relation tables of benchmarks/behaviour.py --relations --labels pool different clips in each
row (3-8 of them on a split of 21), so their differences are partly the clips'; here they are not.
"""

from __future__ import annotations

import argparse

import numpy as np

KEYS = ("eye_contact_speaking_A", "eye_contact_speaking_B", "eye_contact_listening_A", "eye_contact_listening_B",
        "smile_A", "smile_B", "head_std_A", "head_std_B", "mutual_gaze")


def main() -> None:
    from duet.corpus.build import open_corpus
    from duet.emotion.labels import RELATIONS, with_senior
    from duet.eval import behaviour as B
    from duet.eval.baselines import first_speaker
    from duet.model.infer import generate
    from behaviour import reanimate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="data/corpus-v4")
    ap.add_argument("--split", default="val")
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--weights", default=None, help="a model bundle (default: the shipped one)")
    ap.add_argument("--truth", action="store_true",
                    help="the corpus animator re-run under each relation instead of the model: the rules' own effect")
    args = ap.parse_args()
    corpus = open_corpus(args.corpus)
    ids = sorted(corpus.ids(args.split))[: args.clips]
    rows = list(dict.fromkeys([*RELATIONS, *(with_senior(r, "B") for r in RELATIONS)]))
    tallies = {r: B.Tally() for r in rows}
    for cid in ids:
        clip = corpus.load(cid)
        masks = {p: clip.motion.person(p).speaking for p in "AB"}
        for r in rows:
            if args.truth:
                B.add_clip(tallies[r], reanimate(clip, r), B.backchannels_of(clip.timings.turns), masks)
                continue
            pred = generate(np.asarray(clip.mix, np.float32)[None], "mono", layout=clip.layout, seed=0,
                            weights=args.weights, first_speaker=first_speaker(clip), relation=r)
            B.add_clip(tallies[r], pred, B.backchannels_of(clip.timings.turns), masks)
    what = "the corpus animator" if args.truth else f"weights {args.weights or 'shipped'}"
    print(f"{len(ids)} {args.split} clips of {args.corpus}, the same audio under each relation, {what}\n")
    print("| relation | " + " | ".join(KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    summary = {r: tallies[r].summary() for r in rows}
    for r in rows:
        print(f"| {r} | " + " | ".join(f"{summary[r][k]:.3f}" for k in KEYS) + " |")
    stats = ("eye_contact_speaking", "eye_contact_listening", "smile", "head_std")
    print("\nThe same person as the junior / as the senior (mean of A and B), and the junior's change:\n")
    print("| relation | " + " | ".join(stats) + " |")
    print("|---|" + "---|" * len(stats))
    for r in RELATIONS:
        if with_senior(r, "B") == r:
            continue
        cells = []
        for k in stats:  # A is the junior when B is the senior, and B when A is
            junior = (summary[with_senior(r, "B")][f"{k}_A"] + summary[r][f"{k}_B"]) / 2
            senior = (summary[r][f"{k}_A"] + summary[with_senior(r, "B")][f"{k}_B"]) / 2
            cells.append(f"{junior:.3f} / {senior:.3f} ({100 * (junior / senior - 1):+.0f}%)")
        print(f"| {r} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
