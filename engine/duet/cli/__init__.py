"""The ``duet`` command: a table of subcommands, each imported only when it runs.

Each entry names a module under ``duet.cli`` with ``add_arguments(parser)`` and ``run(args) -> int``.
``duet --help`` imports nothing heavy.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from duet import __version__
from duet.errors import DuetError

# name: (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("duet.cli.generate", "audio (+ prompt) -> DyadicMotion .npz"),
    "bake": ("duet.cli.bake", "DyadicMotion -> .blend (+ .glb, .fbx, Live Link CSV)"),
    "run": ("duet.cli.run", "generate + bake in one go (or from a prompt alone)"),
    "demo": ("duet.cli.demo", "the quickstart demo: two people talking -> .blend, .glb, preview video"),
    "layout": ("duet.cli.layout", "scene prompt -> where the two heads are"),
    "dialogue": ("duet.cli.dialogue", "scene prompt -> script, speech audio and exact timings"),
    "batch": ("duet.cli.batch", "generate + bake many clips from a manifest, resumable"),
    "serve": ("duet.cli.serve", "the local engine service the Blender add-on talks to"),
    "train": ("duet.cli.train", "train the dual-stream diffusion model"),
    "model": ("duet.cli.model", "export the trained networks to ONNX for the torch-free runtime"),
    "eval": ("duet.cli.eval", "measure motion against ground truth and baselines"),
    "data": ("duet.cli.data", "make the synthetic conversation corpus"),
    "render": ("duet.cli.render", "render Gaussian avatars from a DyadicMotion"),
    "addon": ("duet.cli.addon", "build the Blender extension zip"),
    "rig": ("duet.cli.rig", "build and picture the open heads"),
}


def _top_parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    p = argparse.ArgumentParser(
        prog="duet",
        description="Animate two people talking: audio or a scene prompt -> two animated heads in Blender.",
        epilog="commands:\n" + "\n".join(lines) + "\n\n'duet COMMAND --help' explains each one.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"duet {__version__}")
    p.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    return p


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0] not in COMMANDS:
        if argv and not argv[0].startswith("-"):
            top.print_usage(sys.stderr)
            print(f"duet: error: unknown command '{argv[0]}' (see 'duet --help')", file=sys.stderr)
            return 2
        top.parse_args(argv)
        top.print_help()
        return 0
    name = argv[0]
    module_name, help_ = COMMANDS[name]
    signal.signal(signal.SIGTERM, _interrupt)  # a cancelled job cleans up its partial outputs
    try:
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser(prog=f"duet {name}", description=help_)
        module.add_arguments(parser)
        args = parser.parse_args(argv[1:])
        return int(module.run(args) or 0)
    except DuetError as e:
        print(f"duet {name}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"duet {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: still one line unless asked for the traceback
        if os.environ.get("DUET_DEBUG"):
            raise
        print(f"duet {name}: internal error: {type(e).__name__}: {e} (set DUET_DEBUG=1 for details)",
              file=sys.stderr)
        return 3
