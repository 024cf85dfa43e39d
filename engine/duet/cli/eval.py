"""``duet eval SUBCOMMAND``: measurements against ground truth, one subcommand per thing measured.

Add a subcommand by adding one row to SUBCOMMANDS: name -> (add_arguments, run, one-line help).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from duet.errors import DuetError


def _masks_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", help="corpus folder (duet data synth)")
    p.add_argument("--split", default="test", help="which split to score (default: test)")
    p.add_argument("--input-shape", default="all", choices=["mono", "two-track", "stereo", "all"],
                   help="input shape to score (default: all three)")
    p.add_argument("--real", metavar="DIR",
                   help="also score mono mixes of real voices (benchmarks/real_voices.py build -o DIR)")
    p.add_argument("--real-split", default="heldout", choices=["dev", "heldout"],
                   help="which part of the real-voice set (default: heldout; tune on dev)")
    p.add_argument("--json", dest="json_out", help="also write the numbers to this JSON file")


def _real_run(folder: str, split: str) -> dict:
    from duet.eval.real_voices import evaluate

    r = evaluate(Path(folder), split)
    print(f"real voices ({split}): monologue frames on one head {r['monologue_one_head']:.3f}, two-person "
          f"attribution {r['attribution']:.3f} (best A/B naming), dialogue mask F1 {r['dialogue_f1']:.3f}")
    return r


def _masks_run(args) -> int:
    from duet.progress import Progress
    from duet.constants import INPUT_SHAPES
    from duet.eval.masks import evaluate

    if not args.corpus and not args.real:
        raise DuetError("give --corpus (synthetic corpus) and/or --real (real-voice set)")
    real = _real_run(args.real, args.real_split) if args.real else None
    if not args.corpus:
        if args.json_out:
            from duet.files import atomic_output

            with atomic_output(args.json_out) as tmp:
                Path(tmp).write_text(json.dumps({"real": real}, indent=2))
        return 0
    corpus = _open_corpus(args.corpus)
    shapes = INPUT_SHAPES if args.input_shape == "all" else (args.input_shape,)
    if not list(corpus.ids(args.split)):
        raise DuetError(f"{args.corpus}: split '{args.split}' has no clips")
    with Progress(f"eval masks ({args.split})") as p:
        scores = evaluate(corpus, args.split, shapes, progress=p.update)
    result = {}
    for shape, s in scores.items():
        print(f"{shape:<10} frame F1 {s.f1:.3f}  (clips {s.clips}, swapped A/B {s.swapped}, "
              f"tp {s.tp} fp {s.fp} fn {s.fn})")
        if s.solo:
            print(f"{'':<10} one voice alone: {s.solo_split} of {s.solo} tracks split into two voices")
        worst = sorted(s.per_clip, key=lambda c: c[1])[:3]
        result[shape] = {"f1": s.f1, "clips": s.clips, "swapped": s.swapped, "tp": s.tp, "fp": s.fp,
                         "fn": s.fn, "worst": [{"id": i, "f1": f} for i, f in worst]}
        if s.solo:
            result[shape].update(solo=s.solo, solo_split=s.solo_split)
    if args.json_out:
        from duet.files import atomic_output

        with atomic_output(args.json_out) as tmp:
            Path(tmp).write_text(json.dumps({"split": args.split, "masks": result, "real": real}, indent=2))
    return 0


def _open_corpus(folder: str):
    if not Path(folder).is_dir():
        raise DuetError(f"{folder}: no such corpus folder")
    try:
        from duet.corpus.build import open_corpus
    except ImportError as e:
        raise DuetError(f"the corpus reader is not available ({e})") from None
    return open_corpus(folder)


def _report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", nargs="?", default="docs/RESULTS.md", help="markdown page to write (default: docs/RESULTS.md)")
    _run_arguments(p)
    p.add_argument("--layout-results", default="docs/layout-results.md",
                   help="layout evaluation page to include (default: docs/layout-results.md)")
    p.add_argument("--render-results", default="docs/render-results.md",
                   help="Gaussian avatar results page to include (default: docs/render-results.md)")


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="data/corpus", help="corpus folder (default: data/corpus)")
    p.add_argument("--split", default="test", help="which split to score (default: test)")
    p.add_argument("--clips", type=int, default=20, help="score the first N clips of the split (default: 20)")
    p.add_argument("--all", action="store_true", help="score every clip of the split")
    p.add_argument("--input-shape", default="all", choices=["mono", "two-track", "stereo", "all"],
                   help="input shape (default: all three)")
    p.add_argument("--rhubarb", help="folder of Rhubarb Lip Sync JSON cue files, CLIPID_A.json and CLIPID_B.json")
    p.add_argument("--seed", type=int, default=0)


def _report_run(args) -> int:
    from duet.eval import report

    report.plots_folder(args.output)  # a taken name is refused before the evaluation's minutes
    results = _evaluate(args)
    sections = {"Layout from prompts": args.layout_results, "Gaussian avatars": args.render_results}
    path = report.write(results, args.output, _command(args), sections)
    print(f"wrote {path} and {path.with_suffix('')}/")
    return 0


def _command(args) -> str:
    """The exact command that reproduces the page, with every setting spelled out."""
    import shlex

    parts = ["duet", "eval", "report", args.output, "--corpus", args.corpus, "--split", args.split]
    parts += ["--all"] if args.all else ["--clips", str(args.clips)]
    parts += ["--input-shape", args.input_shape, "--seed", str(args.seed)]
    if args.rhubarb:
        parts += ["--rhubarb", args.rhubarb]
    return " ".join(shlex.quote(p) for p in parts)


def _evaluate(args) -> dict:
    from duet.progress import Progress
    from duet.constants import INPUT_SHAPES
    from duet.eval.runner import evaluate

    if args.clips < 1:
        raise DuetError("--clips must be at least 1")
    rhubarb = None
    if args.rhubarb:
        rhubarb = Path(args.rhubarb)
        if not rhubarb.is_dir():
            raise DuetError(f"{rhubarb}: no such folder of Rhubarb cue files")
    corpus = _open_corpus(args.corpus)
    shapes = INPUT_SHAPES if args.input_shape == "all" else (args.input_shape,)
    with Progress(f"eval ({args.split})") as p:
        return evaluate(corpus, args.split, None if args.all else args.clips, shapes, seed=args.seed,
                        rhubarb=rhubarb, progress=p.update)


def _metrics_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("motion", help="DyadicMotion .npz to score")
    p.add_argument("--truth", required=True, help="ground-truth DyadicMotion .npz (same fps and length)")
    p.add_argument("--json", dest="json_out", help="also write the numbers to this JSON file")


def _metrics_run(args) -> int:
    from duet.eval.runner import score_motion
    from duet.motion import DyadicMotion

    numbers = score_motion(DyadicMotion.load(args.motion), DyadicMotion.load(args.truth))
    for key, value in numbers.items():
        print(f"{key:<28} {value:.6g}")
    if args.json_out:
        from duet.files import atomic_output

        with atomic_output(args.json_out) as tmp:
            Path(tmp).write_text(json.dumps(numbers, indent=2))
    return 0


SUBCOMMANDS = {
    "masks": (_masks_arguments, _masks_run, "frame F1 of speaking masks for mono, two-track and stereo input"),
    "report": (_report_arguments, _report_run,
               "every method x metric on the test split -> markdown tables and plots (docs/RESULTS.md)"),
    "metrics": (_metrics_arguments, _metrics_run, "score one DyadicMotion against a ground-truth one"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", metavar="PAGE", help="same as 'duet eval report PAGE'")
    sub = parser.add_subparsers(dest="what", metavar="WHAT")
    for name, (add, _, help_) in SUBCOMMANDS.items():
        add(sub.add_parser(name, help=help_, description=help_))


def run(args) -> int:
    if args.what is not None:
        return SUBCOMMANDS[args.what][1](args)
    if args.report is None:
        raise DuetError("say what to evaluate: " + ", ".join(SUBCOMMANDS) + " (or --report PAGE)")
    parser = argparse.ArgumentParser(prog="duet eval --report")
    _report_arguments(parser)
    return _report_run(parser.parse_args([args.report]))
