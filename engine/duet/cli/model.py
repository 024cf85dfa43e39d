"""duet model export [BUNDLE.pt ...]: the torch bundles as the ONNX files the runtime samples."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = sub.add_parser("export", help="write BUNDLE.onnx beside each BUNDLE.pt (a release-build step; needs "
                                      "the train extra: torch, onnx, onnxscript)")
    e.add_argument("bundles", nargs="*", help="model or voice-print bundles (default: every shipped one)")


def run(args) -> int:
    import importlib.util
    import sys
    from pathlib import Path

    from duet.audio.voiceprint import is_bundle
    from duet.errors import DuetError
    from duet.model import export

    missing = [m for m in ("torch", "onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise DuetError(f"exporting needs {', '.join(missing)}: pip install 'duet[train]'")
    if args.bundles:
        paths = [Path(p) for p in args.bundles]
        for p in paths:
            if p.suffix != ".pt" or not p.is_file():
                raise DuetError(f"{p}: not a .pt bundle")
        written = [(export.export_voiceprint if is_bundle(p) else export.export_model)(p) for p in paths]
    else:
        written = export.export_shipped()
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0
