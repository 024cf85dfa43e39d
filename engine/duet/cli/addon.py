"""duet addon build [-o DIR]: the installable Blender extension zip."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = sub.add_parser("build", help="build the extension zip (install it in Blender: Get Extensions > Install from Disk)")
    b.add_argument("-o", "--output-dir", default=".", help="folder for duet-VERSION.zip (default: here)")


def run(args) -> int:
    import sys

    from duet.blender.extension import build

    out = build(args.output_dir)
    print(f"wrote {out}", file=sys.stderr)
    print(out)
    return 0
