"""duet addon build [-o DIR] [--platform P ...]: the installable Blender extension, one zip per platform."""

from __future__ import annotations

import argparse



def add_arguments(p: argparse.ArgumentParser) -> None:
    from duet.blender.extension import PLATFORMS

    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = sub.add_parser("build", help="build the extension zips (install one in Blender: Get Extensions > "
                                     "Install from Disk)")
    b.add_argument("-o", "--output-dir", default=".",
                   help="folder for duet-VERSION-PLATFORM.zip and the engine wheel (default: here)")
    b.add_argument("--platform", action="append", choices=list(PLATFORMS),
                   help="build only this platform's zip (repeatable; default: all three)")


def run(args) -> int:
    import sys

    from duet.blender.extension import build

    for out in build(args.output_dir, args.platform):
        print(f"wrote {out}", file=sys.stderr)
        print(out)
    return 0
