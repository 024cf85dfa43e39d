"""``duet data synth --hours H --seed S -o DIR [--recorded LINES]``: make (or resume) the conversation
corpus: synthetic voices, and conversations of recorded people from a folder of their lines."""

from __future__ import annotations

import os
import sys


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = sub.add_parser("synth", help="synthesize conversations with ground-truth motion (resumable)")
    s.add_argument("--hours", type=float, default=1.0, help="hours of conversation to make (default 1)")
    s.add_argument("--seed", type=int, default=0, help="the corpus is a pure function of seed and hours")
    s.add_argument("-o", "--out", required=True, help="corpus folder (rerun the same command to resume)")
    s.add_argument("-j", "--workers", type=int, default=os.cpu_count() or 1, help="parallel workers")
    s.add_argument("--recorded", metavar="LINES",
                   help="also make train conversations of recorded people from LINES/<speaker>/<name>.wav + .txt")
    s.add_argument("--recorded-hours", type=float, default=0.25,
                   help="hours of recorded conversations to add with --recorded (default 0.25)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    v = sub.add_parser("voices", help="list the usable voices and the split each belongs to")
    v.add_argument("--synthesizer", choices=("espeak", "flite", "festival", "piper"))


def run(args) -> int:
    from duet.corpus import build as corpus

    if args.action == "voices":
        from duet.speech import voices
        for v in voices(args.synthesizer):
            print(f"{v}\t{corpus.voice_split(v)}")
        return 0
    from duet.progress import Progress
    with Progress("data synth", quiet=args.quiet) as p:
        c = corpus.synth(args.out, args.hours, seed=args.seed, workers=args.workers, progress=p.update,
                         recorded=args.recorded, recorded_hours=args.recorded_hours)
    counts = ", ".join(f"{len(c.ids(s))} {s}" for s in corpus.SPLITS)
    print(f"{args.out}: {c.hours():.2f} h in {len(c.ids())} clips ({counts})", file=sys.stderr)
    return 0
