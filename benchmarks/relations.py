"""Each relation's own effect: the same clips' audio given under each of the four relations, so only
the relation differs between the rows (no emotion labels). Prints each person's eye contact by role,
smiles, head motion and mutual gaze per relation; in an unequal relation A is the senior.

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
    from duet.emotion.labels import RELATIONS
    from duet.eval import behaviour as B
    from duet.eval.baselines import first_speaker
    from duet.model.infer import generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="data/corpus-v4")
    ap.add_argument("--split", default="val")
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--weights", default=None, help="a model bundle (default: the shipped one)")
    args = ap.parse_args()
    corpus = open_corpus(args.corpus)
    ids = sorted(corpus.ids(args.split))[: args.clips]
    tallies = {r: B.Tally() for r in RELATIONS}
    for cid in ids:
        clip = corpus.load(cid)
        masks = {p: clip.motion.person(p).speaking for p in "AB"}
        for r in RELATIONS:
            pred = generate(np.asarray(clip.mix, np.float32)[None], "mono", layout=clip.layout, seed=0,
                            weights=args.weights, first_speaker=first_speaker(clip), relation=r)
            B.add_clip(tallies[r], pred, B.backchannels_of(clip.timings.turns), masks)
    print(f"{len(ids)} {args.split} clips of {args.corpus}, the same audio under each relation, "
          f"weights {args.weights or 'shipped'}\n")
    print("| relation | " + " | ".join(KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    for r in RELATIONS:
        s = tallies[r].summary()
        print(f"| {r} | " + " | ".join(f"{s[k]:.3f}" for k in KEYS) + " |")


if __name__ == "__main__":
    main()
