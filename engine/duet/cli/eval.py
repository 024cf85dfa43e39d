"""``duet eval SUBCOMMAND``: measurements against ground truth, one subcommand per thing measured.

Add a subcommand by adding one row to SUBCOMMANDS: name -> (add_arguments, run, one-line help).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from duet.errors import DuetError


def _masks_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="corpus folder (duet data make)")
    p.add_argument("--split", default="test", help="which split to score (default: test)")
    p.add_argument("--shape", default="all", choices=["mono", "two-track", "stereo", "all"],
                   help="input shape to score (default: all three)")
    p.add_argument("--json", dest="json_out", help="also write the numbers to this JSON file")


def _masks_run(args) -> int:
    from duet.cli.progress import Progress
    from duet.eval.masks import SHAPES, evaluate

    corpus = _open_corpus(args.corpus)
    shapes = SHAPES if args.shape == "all" else (args.shape,)
    if not list(corpus.ids(args.split)):
        raise DuetError(f"{args.corpus}: split '{args.split}' has no clips")
    with Progress(f"eval masks ({args.split})") as p:
        scores = evaluate(corpus, args.split, shapes, progress=p.update)
    result = {}
    for shape, s in scores.items():
        print(f"{shape:<10} frame F1 {s.f1:.3f}  (clips {s.clips}, swapped A/B {s.swapped}, "
              f"tp {s.tp} fp {s.fp} fn {s.fn})")
        worst = sorted(s.per_clip, key=lambda c: c[1])[:3]
        result[shape] = {"f1": s.f1, "clips": s.clips, "swapped": s.swapped, "tp": s.tp, "fp": s.fp,
                         "fn": s.fn, "worst": [{"id": i, "f1": f} for i, f in worst]}
    if args.json_out:
        from duet.files import atomic_output

        with atomic_output(args.json_out) as tmp:
            Path(tmp).write_text(json.dumps({"split": args.split, "masks": result}, indent=2))
    return 0


def _open_corpus(folder: str):
    if not Path(folder).is_dir():
        raise DuetError(f"{folder}: no such corpus folder")
    try:
        from duet.data.corpus import open_corpus
    except ImportError as e:
        raise DuetError(f"the corpus reader is not available ({e})") from None
    return open_corpus(folder)


SUBCOMMANDS = {
    "masks": (_masks_arguments, _masks_run, "frame F1 of speaking masks for mono, two-track and stereo input"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    for name, (add, _, help_) in SUBCOMMANDS.items():
        add(sub.add_parser(name, help=help_, description=help_))


def run(args) -> int:
    return SUBCOMMANDS[args.what][1](args)
