"""Each relation's own effect: the same clips' audio given under each of the four relations, so only
the relation differs between the rows (no emotion labels). Prints each person's eye contact by role,
smiles, head motion and mutual gaze per relation; in an unequal relation A is the senior, and again
with B the senior (`--senior B`). Then, for each unequal relation, each statistic as the junior
against as the senior, for the same person with the same audio (so neither the voice nor the turns
differ): the corpus's rules say the junior moves the head less and looks away more while speaking.

    .venv/bin/python benchmarks/relations.py [--corpus data/corpus-v7] [--split val] [--clips 8] [--weights B]

The per-relation tables of benchmarks/behaviour.py --relations --labels pool different clips in each
row (3-8 of them on a split of 21), so their differences are partly the clips'; here they are not.
"""

from __future__ import annotations

import argparse

import numpy as np

STATS = ("eye_contact_speaking", "eye_contact_listening", "smile", "head_std")
BASE = "nonblood-equal"
CHANGE = 0.2  # issue 31: a relation changes a statistic by at least 20%
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
    ap.add_argument("--corpus", default="data/corpus-v7")
    ap.add_argument("--split", default="val")
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--weights", default=None, help="a model bundle (default: the shipped one)")
    ap.add_argument("--plot", metavar="PNG", help="also draw the junior-against-senior changes, the corpus "
                    "animator's beside the model's")
    ap.add_argument("--truth", action="store_true",
                    help="only the corpus animator, re-run under each relation: the rules' own effect")
    args = ap.parse_args()
    corpus = open_corpus(args.corpus)
    ids = sorted(corpus.ids(args.split))[: args.clips]
    rows = list(dict.fromkeys([*RELATIONS, *(with_senior(r, "B") for r in RELATIONS)]))
    tallies = {(who, r): B.Tally() for who in ("truth", "model") for r in rows}
    for cid in ids:
        clip = corpus.load(cid)
        masks = {p: clip.motion.person(p).speaking for p in "AB"}
        backchannels = B.backchannels_of(clip.timings.turns)
        for r in rows:
            B.add_clip(tallies["truth", r], reanimate(clip, r), backchannels, masks)
            if not args.truth:
                pred = generate(np.asarray(clip.mix, np.float32)[None], "mono", layout=clip.layout, seed=0,
                                weights=args.weights, first_speaker=first_speaker(clip), relation=r)
                B.add_clip(tallies["model", r], pred, backchannels, masks)
    who = "truth" if args.truth else "model"
    what = "the corpus animator" if args.truth else f"weights {args.weights or 'shipped'}"
    print(f"{len(ids)} {args.split} clips of {args.corpus}, the same audio under each relation, {what}\n")
    summary = {key: t.summary() for key, t in tallies.items()}
    print("| relation | " + " | ".join(KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    for r in rows:
        print(f"| {r} | " + " | ".join(f"{summary[who, r][k]:.3f}" for k in KEYS) + " |")
    print("\nThe same person as the junior / as the senior (mean of A and B), the junior's change, and "
          "the corpus animator's change on the same audio:\n")
    print("| relation | " + " | ".join(STATS) + " |")
    print("|---|" + "---|" * len(STATS))
    changes = {}  # {relation: {"truth"/who: [% per STATS]}}
    for r in RELATIONS:
        if with_senior(r, "B") == r:
            continue
        cells = []
        for k in STATS:
            j, s_ = as_junior(summary, who, r, k, True), as_junior(summary, who, r, k, False)
            truth = as_junior(summary, "truth", r, k, True) / as_junior(summary, "truth", r, k, False) - 1
            changes.setdefault(r, {}).setdefault("corpus animator (the rules)", []).append(100 * truth)
            changes[r].setdefault(what, []).append(100 * (j / s_ - 1))
            cells.append(f"{j:.3f} / {s_:.3f} ({100 * (j / s_ - 1):+.0f}%; truth {100 * truth:+.0f}%)")
        print(f"| {r} | " + " | ".join(cells) + " |")
    print(f"\nEach relation against {BASE} (the corpus's default Style) for each person, the corpus "
          f"animator's change / {who}'s; a rule counts where the animator changes a statistic by >= "
          f"{100 * CHANGE:.0f}%, and is followed where {who} changes it by >= {100 * CHANGE:.0f}% the same way:\n")
    cols = [f"{k}_{p}" for k in STATS for p in "AB"]
    print("| relation | " + " | ".join(cols) + " | rules followed |")
    print("|---|" + "---|" * (len(cols) + 1))
    for r in RELATIONS:
        if r == BASE:
            continue
        cells, followed, rules = [], 0, 0
        for k in cols:
            t = summary["truth", r][k] / summary["truth", BASE][k] - 1
            m = summary[who, r][k] / summary[who, BASE][k] - 1
            if abs(t) >= CHANGE:
                rules += 1
                followed += int(np.sign(m) == np.sign(t) and abs(m) >= CHANGE)
            cells.append(f"{100 * t:+.0f}% / {100 * m:+.0f}%")
        print(f"| {r} | " + " | ".join(cells) + f" | {followed} of {rules} |")
    if args.plot:
        plot(changes, args.plot,
             f"the same audio under each relation, {len(ids)} {args.split} clips, no emotion labels")


def as_junior(summary: dict, who: str, relation: str, key: str, junior: bool) -> float:
    """A statistic of the same person as the junior (or as the senior) of an unequal relation, the mean
    of A and B: A is the junior when B is the senior, and B when A is."""
    from duet.emotion.labels import with_senior

    a, b = (with_senior(relation, "B"), relation) if junior else (relation, with_senior(relation, "B"))
    return (summary[who, a][f"{key}_A"] + summary[who, b][f"{key}_B"]) / 2


def plot(changes: dict, path: str, title: str) -> None:
    """Bars: for each unequal relation, each statistic's change for the junior against the senior."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(changes), figsize=(5.5 * len(changes), 4.2), sharey=True, squeeze=False)
    x = np.arange(len(STATS))
    for ax, (r, rows) in zip(axes[0], changes.items()):
        width = 0.8 / len(rows)
        for i, (name, values) in enumerate(rows.items()):
            ax.bar(x + (i - (len(rows) - 1) / 2) * width, values, width, label=name,
                   color=("#555555", "#1f77b4")[i % 2])
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, [k.replace("_", " ").replace("eye contact ", "eye contact\n") for k in STATS])
        ax.set_title(f"{r}: the junior against the senior", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("change (%), same person, same audio")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
