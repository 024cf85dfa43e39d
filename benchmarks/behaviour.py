"""Body language (issue 31) of the corpus's ground truth, of the current animator re-run on the same
clips, and of model bundles, side by side in one run; then each social relation against the others.

    .venv/bin/python benchmarks/behaviour.py [--corpus data/corpus] [--split test] [--clips N]
        [--reanimate] [--neutral] [--weights PATH ...] [--labels] [--motions DIR] [--relations]
        [--input-shape mono|two-track]

Rows: the corpus's ground truth; with --reanimate, duet.corpus.animator re-run on each clip's own
timings, layout, relation and tracks (what a rebuilt corpus would hold: old against new without
rebuilding); with --neutral, the animator re-run with every turn's emotion neutral and scored against
the corpus (the rules given only what the audio carries: the corpus's emotions are drawn at random per
turn and its voices do not act them, so this bounds what a model can do without labels); one row per
--weights bundle ("-" for the shipped one), given the mono mix (diarized masks)
or with --input-shape two-track each person's clean track; with
--motions, the DyadicMotion files DIR/<clip id>.npz (e.g. read back from baked scenes). Columns: the
duet.eval.behaviour statistics with the issue's targets (head_fast: the head std without drift slower
than 2 s, so a slowly wandering or misaimed head does not pass for a lively one), plus motion variance
as a share of the truth's, listener SID and head sync (duet.eval.metrics). --split all pools every split.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

COLUMNS = (("head_std_speaking", "deg >=2.0"), ("head_std_listening", "deg >=1.0"),
           ("head_fast_speaking", "deg"), ("head_fast_listening", "deg"),
           ("pitch_std_speaking", "deg"), ("pitch_std_listening", "deg"), ("backchannel_nod", ">=0.6"),
           ("eye_contact_speaking", "0.35-0.70"), ("eye_contact_listening", "0.65-0.90"),
           ("mutual_gaze", "share"), ("blinks_per_min", "10-25"), ("smile_listening", "mean"),
           ("brow_speaking", "mean"), ("variance_ratio", ">=0.75"), ("sid_listener", ">=2.5"),
           ("head_sync", "truth +-0.05"))


def clip_ids(corpus, split: str, limit: int | None) -> list[str]:
    from duet.eval.runner import pick_clips

    if split != "all":
        return pick_clips(corpus, split, limit)
    ids = sorted(corpus.ids())
    return ids if limit is None else ids[:limit]


def reanimate(clip, relation: str | None = None, neutral: bool = False):
    """The clip's ground truth as the current animator makes it (same timings, layout, tracks, and
    relation unless another is given); ``neutral``: every turn's emotion neutral instead of the script's."""
    from duet.corpus.animator import animate

    seed = int(clip.motion.meta.get("seed", 0))
    emotions = ["neutral"] * len(clip.timings.turns) if neutral else None
    return animate(clip.timings, clip.layout, emotions=emotions, relation=relation or clip.relation,
                   fps=clip.motion.fps, seed=seed, tracks=np.asarray(clip.tracks, np.float32))


def score(corpus, ids, weights=(), reanimated: bool = False, labels: bool = False, motions=None,
          seed: int = 0, log=print, input_shape: str = "mono", neutral: bool = False) -> tuple[dict, dict]:
    """({row: summary}, {row: {relation: summary}}) over the clips ``ids``; the models hear the
    ``input_shape`` ("mono": the clip's mix; "two-track": its two clean tracks). ``neutral`` adds the
    animator re-run with every emotion neutral, scored against the corpus: the rules themselves given
    only what the audio carries (the corpus's emotions are drawn at random per turn, and its voices
    do not act them)."""
    from pathlib import Path

    from duet.eval import behaviour as B
    from duet.eval import metrics as M
    from duet.eval.baselines import first_speaker
    from duet.eval.runner import script_labels
    from duet.motion import DyadicMotion

    rows = {"ground truth (corpus)": "truth"}
    if reanimated:
        rows["animator, re-run (new ground truth)"] = "reanimate"
    if neutral:
        rows["animator, re-run, every emotion neutral"] = "neutral"
    rows.update({f"model {w}": w for w in weights})
    if motions:
        rows[f"motions in {motions}"] = "files"
    tallies = {r: B.Tally() for r in rows}
    by_rel = {r: {} for r in rows}
    extra = {r: {"variance": [], "truth_variance": [], "sid_listener": [], "head_sync": []} for r in rows}
    for cid in ids:
        clip = corpus.load(cid)
        masks = {p: clip.motion.person(p).speaking for p in ("A", "B")}
        backchannels = B.backchannels_of(clip.timings.turns)
        truth = None
        for name, how in rows.items():
            t0 = time.perf_counter()
            if how == "truth":
                pred = clip.motion
            elif how in ("reanimate", "neutral"):
                pred = reanimate(clip, neutral=how == "neutral")
            elif how == "files":
                pred = DyadicMotion.load(Path(motions) / f"{cid}.npz")
            else:
                from duet.model.infer import generate

                given = script_labels(clip) if labels else {"emotion": None, "relation": None}
                audio = clip.tracks if input_shape == "two-track" else np.asarray(clip.mix)[None]
                # a mono mix cannot say who is A, so the truth's first speaker is given; with tracks A is row 0
                first = first_speaker(clip) if input_shape == "mono" else "A"
                pred = generate(np.asarray(audio, np.float32), input_shape, layout=clip.layout, seed=seed,
                                weights=None if how == "-" else how, first_speaker=first, **given)
            # a row's own truth: the re-run animator is scored against itself, every other row against the corpus
            ref = pred if how == "reanimate" else clip.motion
            truth = ref if how == "truth" else truth
            B.add_clip(tallies[name], pred, backchannels, masks)
            B.add_clip(by_rel[name].setdefault(clip.relation, B.Tally()), pred, backchannels, masks)
            n = M.same_timeline(pred, ref)
            extra[name]["variance"].append(np.mean([M.variance(pred.person(p).expr[:n]) for p in "AB"]))
            extra[name]["truth_variance"].append(np.mean([M.variance(ref.person(p).expr[:n]) for p in "AB"]))
            extra[name]["sid_listener"].append(M.sid_by_role(pred, ref)["listener"])
            extra[name]["head_sync"].append(float(np.mean(M.head_synchrony(pred))))
            log(f"{cid} {name}: {time.perf_counter() - t0:.1f} s")
    out = {}
    for name, tally in tallies.items():
        s = tally.summary()
        e = extra[name]
        s["variance_ratio"] = float(np.mean(e["variance"]) / np.mean(e["truth_variance"]))
        s["sid_listener"] = float(np.nanmean(e["sid_listener"]))
        s["head_sync"] = float(np.mean(e["head_sync"]))
        out[name] = s
    return out, {name: {r: t.summary() for r, t in rels.items()} for name, rels in by_rel.items()}


def relation_table(name: str, rels: dict) -> list[str]:
    """Markdown: each relation's statistics, then which pairs of relations differ in at least two."""
    from duet.eval import behaviour as B

    stats = B.RELATION_STATS + ("eye_contact_speaking_A", "eye_contact_speaking_B", "eye_contact_listening_A",
                                "eye_contact_listening_B", "head_std_speaking", "head_std_listening",
                                "backchannel_nod", "blinks_per_min")
    lines = [f"\n{name}, by relation\n", "| relation | " + " | ".join(stats) + " |", "|---" * (len(stats) + 1) + "|"]
    for r in sorted(rels):
        lines.append(f"| {r} | " + " | ".join(f"{rels[r].get(k, float('nan')):.3f}" for k in stats) + " |")
    lines.append("")
    for (r, s), changed in B.relation_changes(rels).items():
        verdict = "ok" if len(changed) >= 2 else "FEWER THAN TWO"
        which = ", ".join(changed) or "none"
        lines.append(f"- {r} vs {s}: {len(changed)} statistics differ by >=20% ({which}): {verdict}")
    return lines


def main() -> None:
    from duet.corpus.build import open_corpus
    from duet.eval import behaviour as B

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--split", default="test", help="test, val, train or all")
    ap.add_argument("--clips", type=int, default=None, help="first N clips (default: all)")
    ap.add_argument("--reanimate", action="store_true", help="add the current animator re-run on the same clips")
    ap.add_argument("--neutral", action="store_true",
                    help="add the animator re-run with every emotion neutral (what the audio alone carries)")
    ap.add_argument("--weights", nargs="*", default=[], help="model bundles to score ('-': the shipped one)")
    ap.add_argument("--labels", action="store_true", help="give the models the script's emotions and relation")
    ap.add_argument("--motions", help="folder of DyadicMotion files named <clip id>.npz to score")
    ap.add_argument("--relations", action="store_true", help="also print each relation's statistics")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--input-shape", choices=("mono", "two-track"), default="mono",
                    help="what the models hear: the mono mix (default) or each person's own track")
    args = ap.parse_args()
    if args.weights:
        import torch

        torch.set_num_threads(1)
    corpus = open_corpus(args.corpus)
    ids = clip_ids(corpus, args.split, args.clips)
    rows, rels = score(corpus, ids, args.weights, args.reanimate, args.labels, args.motions, args.seed,
                       log=lambda line: print(line, flush=True), input_shape=args.input_shape, neutral=args.neutral)
    print(f"\n{len(ids)} clips of {args.corpus} ({args.split}), roles from the corpus's exact masks, "
          f"{'script labels' if args.labels else 'no labels'} for models, {args.input_shape} input, seed {args.seed}\n")
    print("| row | " + " | ".join(f"{c} ({t})" for c, t in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, s in rows.items():
        cells = []
        for c, _ in COLUMNS:
            v = s.get(c, float("nan"))
            mark = "" if c not in {k for k, _, _ in B.TARGETS} else (" ok" if B.meets(c, v) else " x")
            cells.append(f"{v:.3f}{mark}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.relations:
        for name in rows:
            print("\n".join(relation_table(name, rels[name])))


if __name__ == "__main__":
    import sys

    from duet.errors import DuetError

    try:
        main()
    except DuetError as e:
        sys.exit(f"error: {e}")
