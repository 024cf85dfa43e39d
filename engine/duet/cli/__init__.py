"""The ``duet`` command: a table of subcommands, each imported only when it runs.

Each entry names a module under ``duet.cli`` with ``add_arguments(parser)`` and ``run(args) -> int``.
``duet --help`` imports nothing heavy.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from duet import __version__, one_blas_thread
from duet.errors import DuetError
from duet.files import interrupt_on_signals, interrupted, is_temporary

EXIT_CODES = """exit codes:
  0    done
  1    bad input or environment (one line says why: a missing file, permission denied, disk full)
  2    bad command line
  3    internal error (a bug; DUET_DEBUG=1 shows the traceback)
  130  interrupted (Ctrl-C, or SIGTERM from a cancelled job); partial outputs are removed"""
# commands whose numpy work is many small matrix products (the GE2E voice encoder): numpy's BLAS
# threads only wait on each other there, and Duet runs its own threads (ONNX Runtime's pieces, the
# encoder's sequences) beside them; one BLAS thread gave the same numbers for a quarter less CPU
ONE_BLAS_THREAD = ("generate", "run", "batch", "serve", "demo")
# errors the user's machine causes, not the input or a bug: one line, exit 1
ENVIRONMENT_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

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
        epilog="commands:\n" + "\n".join(lines) + "\n\n'duet COMMAND --help' explains each one.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"duet {__version__}")
    p.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    return p


def environment_error(e: Exception) -> str | None:
    """One line for a permission, read-only or disk-full failure (an OSError, or Blender's RuntimeError
    that carries the system's message), else None."""
    if isinstance(e, OSError) and e.errno in ENVIRONMENT_ERRNOS:
        where = ""
        if e.filename:
            where = f"{os.path.dirname(e.filename) or '.'}: " if is_temporary(e.filename) else f"{e.filename}: "
        return f"{where}{e.strerror or os.strerror(e.errno)}"
    if isinstance(e, RuntimeError):
        text = str(e)
        for code in ENVIRONMENT_ERRNOS:
            if os.strerror(code).lower() in text.lower():
                return os.strerror(code)
    return None


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
    if name in ONE_BLAS_THREAD:
        one_blas_thread()
    interrupt_on_signals()  # Ctrl-C or a cancelled job: partial outputs are cleaned up, one line, 130
    try:
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser(prog=f"duet {name}", description=help_)
        module.add_arguments(parser)
        args = parser.parse_args(argv[1:])
        return int(module.run(args) or 0)
    except KeyboardInterrupt as e:
        print(f"duet {name}: interrupted" + (f": {e}" if str(e) else ""), file=sys.stderr)
        return 130
    except Exception as e:
        if interrupted():  # e.g. Blender turned the KeyboardInterrupt inside an operator into a RuntimeError
            print(f"duet {name}: interrupted", file=sys.stderr)
            return 130
        if isinstance(e, DuetError):
            print(f"duet {name}: error: {e}", file=sys.stderr)
            return e.exit_code
        if (line := environment_error(e)) is not None:
            print(f"duet {name}: error: {line}", file=sys.stderr)
            return 1
        if os.environ.get("DUET_DEBUG"):  # a bug, not bad input: still one line unless asked for the traceback
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        print(f"duet {name}: internal error: {type(e).__name__}: {first} (set DUET_DEBUG=1 for details)",
              file=sys.stderr)
        return 3
