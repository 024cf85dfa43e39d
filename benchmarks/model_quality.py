"""The learned model against the baseline animator on the corpus's test split (mono mix), scored by
duet.eval's own metric code, side by side in one run.

    .venv/bin/python benchmarks/model_quality.py [--corpus data/corpus] [--weights PATH ...] [--clips N]

Rows: the baseline animator, then one row per model bundle (default: the shipped weights). Columns are
the issue-7 targets: bilabial closure rate, open-vowel rate, lip-gap/openness correlation, listener
mouth leakage, listener eye contact, listener head motion (RMS angle of the head's forward direction
from its mean while listening, degrees; 0 is frozen), paired FD and the ground truth's own values for scale.
The models get no emotion or relation labels unless ``--labels`` gives them the script's (docs/eval.md).
``score_models`` is the scoring loop; benchmarks/dual_vs_single.py uses it too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

COLUMNS = (("bilabial_closure", ">=0.9"), ("open_vowel", ">=0.9"), ("openness_r", ">=0.7"),
           ("leakage", "<=0.15"), ("eye_contact_listening", ">=0.6"), ("listener_head_deg", ">0"),
           ("pfd_expression", "low"), ("pfd_jaw", "low"), ("pfd_pose", "low"), ("mse_lip_speaker", "low"),
           ("head_sync", "truth"))


def listener_head_deg(motion, masks) -> float:
    """Std (degrees) of each listener's head direction while listening, mean over A and B."""
    from duet.frames import rotmat

    out = []
    for p, q in (("A", "B"), ("B", "A")):
        m = motion.person(p)
        listening = (masks[p] < 0.5) & (masks[q] >= 0.5)
        if listening.sum() < 10:
            continue
        fwd = (rotmat(m.poses["global"]) @ rotmat(m.poses["neck"]))[..., :, 2][listening]
        centre = fwd.mean(0) / np.linalg.norm(fwd.mean(0))
        dev = np.degrees(np.arccos(np.clip(fwd @ centre, -1.0, 1.0)))  # angle from the mean direction
        out.append(float(np.sqrt(np.mean(dev ** 2))))
    return float(np.mean(out)) if out else float("nan")


def score_models(corpus, ids, weights, seed: int = 0, guidance=None, listener_guidance=None,
                 pose_guidance=None, steps=None, exact_masks: bool = False, baseline: bool = True,
                 labels: bool = False, log=print) -> dict[str, dict]:
    """Score the ground truth, the baseline animator (``baseline``) and each bundle in ``weights``
    (None: the shipped one) on the clips ``ids``: {row name: summary dict of COLUMNS and timing}.
    ``labels``: give the models the script's per-turn emotions and relation (runner.script_labels)."""
    from duet.animators.baseline import animate
    from duet.eval.baselines import first_speaker
    from duet.eval.runner import Tally, face, score_clip, script_labels
    from duet.model.infer import generate

    faces = {p: face(p) for p in ("A", "B")}
    rows = {"ground truth": None}
    if baseline:
        rows["baseline animator"] = "baseline"
    rows.update({f"model {w or 'shipped'}": w for w in weights})
    tallies = {name: Tally() for name in rows}
    head = {name: [] for name in rows}
    for cid in ids:
        clip = corpus.load(cid)
        mix = np.asarray(clip.mix, np.float32)[None]
        masks = {p: clip.motion.person(p).speaking for p in ("A", "B")}
        exact = np.stack([masks["A"], masks["B"]]).astype(np.float32)
        for name, how in rows.items():
            t0 = time.perf_counter()
            if how is None and name == "ground truth":
                pred = clip.motion
            elif how == "baseline":
                pred = animate(mix, "mono", layout=clip.layout, seed=seed, first_speaker=first_speaker(clip))
            else:
                given = script_labels(clip) if labels else {"emotion": None, "relation": None}
                pred = generate(mix, "mono", layout=clip.layout, seed=seed, weights=how, **given,
                                first_speaker=first_speaker(clip), guidance=guidance,
                                listener_guidance=listener_guidance, pose_guidance=pose_guidance,
                                steps=steps, masks=exact if exact_masks else None)
            tallies[name].seconds += time.perf_counter() - t0
            tallies[name].audio_seconds += clip.motion.duration
            score_clip(tallies[name], pred, clip, faces, clip.motion.fps)
            head[name].append(listener_head_deg(pred, masks))
        log(f"scored {cid}")
    out = {}
    for name, tally in tallies.items():
        s = tally.summary(25.0)
        s["listener_head_deg"] = float(np.nanmean(head[name]))
        out[name] = s
    return out


def main() -> None:
    import torch
    from duet.corpus.build import open_corpus
    from duet.eval.runner import pick_clips

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--weights", nargs="*", default=[None])
    ap.add_argument("--clips", type=int, default=None, help="first N test clips (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the bundle's)")
    ap.add_argument("--listener-guidance", type=float, default=None,
                    help="CFG scale on listening frames (default: the same as --guidance)")
    ap.add_argument("--pose-guidance", type=float, default=None,
                    help="CFG scale on head and eye rotations and translation (default: the bundle's)")
    ap.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the bundle's)")
    ap.add_argument("--split", default="test", help="corpus split to score (tune on val, report test)")
    ap.add_argument("--exact-masks", action="store_true",
                    help="give the model the corpus's exact speaking masks instead of diarizing the mix "
                         "(a ceiling: how much of the error is diarization's)")
    ap.add_argument("--labels", action="store_true",
                    help="give the models the script's per-turn emotions and relation (default: none, as "
                         "`duet generate` gets from a user with only audio; the model then assumes neutral)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    corpus = open_corpus(args.corpus)
    ids = pick_clips(corpus, args.split, args.clips)
    summaries = score_models(corpus, ids, args.weights, args.seed, args.guidance, args.listener_guidance,
                             args.pose_guidance, args.steps, args.exact_masks, labels=args.labels,
                             log=lambda line: print(line, flush=True))
    masks_used = "exact masks" if args.exact_masks else "diarized masks"
    given = "the script's per-turn emotions and relation" if args.labels else "no labels"
    print(f"\n{len(ids)} {args.split} clips, mono mix, {masks_used}, {given}, seed {args.seed}, "
          f"guidance {args.guidance or 'default'}, "
          f"listener guidance {args.listener_guidance or 'same'}, pose guidance {args.pose_guidance or 'default'}, "
          f"DDIM steps {args.steps or 'default'}\n")
    print("| method | " + " | ".join(f"{c} ({t})" for c, t in COLUMNS) + " | s per audio s |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    lips = {}
    for name, s in summaries.items():
        cells = [f"{s.get(c, float('nan')):.3f}" for c, _ in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + f" | {s.get('seconds_per_audio_second', 0):.3f} |")
        if name.startswith("model "):
            lips[name] = s["bilabial_closure"] + s["open_vowel"] + s["openness_r"]
    if len(lips) > 1:  # choosing a checkpoint: do it on val, then report test
        best = max(lips, key=lips.get)
        print(f"\nbest lips on {args.split} (closure + open vowel + r = {lips[best]:.3f}): {best}")


if __name__ == "__main__":
    main()
