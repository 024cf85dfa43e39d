"""Dual-stream model against its single-stream ablation (no cross-attention), recipe against recipe:
several training seeds of each, every snapshot of each run, scored side by side in one run.

    .venv/bin/python benchmarks/dual_vs_single.py --dual data/train-v2 data/train-v2-s1 ... \
        --single data/train-v2-single data/train-v2-single-s1 ... [--split test] [--at 1000 1500 ...]

One checkpoint of each recipe is one draw from a noisy process: on this corpus two seeds of the same
recipe differ by more than the two recipes do on most metrics (docs/model.md). So this compares
recipes: each training run (a folder written by `duet train`) contributes its snapshots at the steps
``--at``; every snapshot is sampled with the same scales and seed on the same clips. It prints

- per metric, each recipe's mean and spread over its runs (each run first averaged over its steps),
- paired at equal steps: the mean difference dual - single and how many (dual run, single run,
  step) pairs the dual model wins, with every dual run paired with every single run.

Snapshots of one run are correlated, so the win counts are not independent trials; the run-level
means are the conservative view. "Better" is higher for rates and r, lower for leakage and P-FD, and
closer to the ground truth's own value for eye contact, listener head motion and head sync.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

# (summary key, label, direction): +1 higher is better, -1 lower is better, 0 closer to the truth
METRICS = (("bilabial_closure", "m/b/p closed", 1), ("open_vowel", "open vowels open", 1),
           ("openness_r", "gap~openness r", 1), ("leakage", "listener leakage", -1),
           ("eye_contact_listening", "eye contact listening", 0), ("listener_head_deg", "listener head deg", 0),
           ("pfd_expression", "P-FD expr", -1), ("pfd_jaw", "P-FD jaw", -1), ("pfd_pose", "P-FD pose", -1),
           ("gaze_error_deg", "gaze error deg", -1), ("head_sync", "head sync", 0))


def _model_quality():
    spec = importlib.util.spec_from_file_location("model_quality", Path(__file__).with_name("model_quality.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def snapshots(run: str, steps: list[int]) -> dict[int, str]:
    """{step: bundle path} of a training run's snapshots at ``steps`` (a missing one is an error)."""
    from duet.errors import DuetError

    out = {}
    for s in steps:
        p = Path(run) / "snapshots" / f"model-{s}.pt"
        if not p.is_file():
            raise DuetError(f"{run} has no snapshot at step {s} ({p})")
        out[s] = str(p)
    return out


def better(a: float, b: float, direction: int, truth: float) -> bool:
    """Is value ``a`` better than ``b``?"""
    if direction == 0:
        return abs(a - truth) < abs(b - truth)
    return a > b if direction > 0 else a < b


def main() -> None:
    import torch
    from duet.corpus.build import open_corpus
    from duet.errors import DuetError
    from duet.eval.runner import pick_clips

    ap = argparse.ArgumentParser()
    ap.add_argument("--dual", nargs="+", required=True, help="training folders of the dual-stream recipe")
    ap.add_argument("--single", nargs="+", required=True, help="training folders of the ablation")
    ap.add_argument("--at", nargs="+", type=int, default=[1000, 1500, 2000, 2500, 3000, 3500, 4000],
                    help="snapshot steps to score in every run")
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--split", default="test")
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--listener-guidance", type=float, default=0.5)
    ap.add_argument("--pose-guidance", type=float, default=0.5)
    ap.add_argument("--labels", action="store_true",
                    help="give the models the script's per-turn emotions and relation (default: none)")
    args = ap.parse_args()
    try:
        runs = {"dual": {r: snapshots(r, args.at) for r in args.dual},
                "single": {r: snapshots(r, args.at) for r in args.single}}
        corpus = open_corpus(args.corpus)
    except DuetError as e:
        raise SystemExit(f"error: {e}")
    torch.set_num_threads(1)
    ids = pick_clips(corpus, args.split, args.clips)
    weights = [w for recipe in runs.values() for snaps in recipe.values() for w in snaps.values()]
    scores = _model_quality().score_models(corpus, ids, weights, args.seed, args.guidance,
                                           args.listener_guidance, args.pose_guidance, baseline=False,
                                           labels=args.labels, log=lambda line: print(line, flush=True))
    truth = scores["ground truth"]
    value = {recipe: {r: {s: scores[f"model {w}"] for s, w in snaps.items()} for r, snaps in rr.items()}
             for recipe, rr in runs.items()}

    print("\n| snapshot | " + " | ".join(label for _, label, _ in METRICS) + " |")
    print("|---" * (len(METRICS) + 1) + "|")
    for recipe in runs:
        for r, steps in value[recipe].items():
            for s, v in steps.items():
                print(f"| {recipe} {r}@{s} | " + " | ".join(f"{v[k]:.3f}" for k, _, _ in METRICS) + " |")
    given = "the script's per-turn emotions and relation" if args.labels else "no labels"
    print(f"\n{len(ids)} {args.split} clips, mono mix, diarized masks, {given}, sampling seed {args.seed}, "
          f"guidance {args.guidance:g} / {args.listener_guidance:g} / {args.pose_guidance:g}; "
          f"{len(args.dual)} dual runs, {len(args.single)} single-stream runs, steps {args.at}\n")
    print("| metric | truth | dual: mean over runs (run means) | single: mean over runs (run means) "
          "| dual - single, paired | dual better in |")
    print("|---|---:|---|---|---:|---:|")
    for key, label, direction in METRICS:
        run_means = {recipe: [float(np.mean([v[s][key] for s in args.at])) for v in value[recipe].values()]
                     for recipe in runs}
        diffs, wins = [], 0
        for dv in value["dual"].values():
            for sv in value["single"].values():
                for s in args.at:
                    diffs.append(dv[s][key] - sv[s][key])
                    wins += better(dv[s][key], sv[s][key], direction, truth[key])
        cells = [f"{np.mean(m):.3f} ({', '.join(f'{x:.3f}' for x in m)})" for m in run_means.values()]
        print(f"| {label} | {truth[key]:.3f} | {cells[0]} | {cells[1]} | {np.mean(diffs):+.4f} "
              f"| {wins}/{len(diffs)} |")


if __name__ == "__main__":
    main()
