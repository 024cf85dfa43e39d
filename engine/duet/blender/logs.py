"""Blender talks a lot on the process's stdout/stderr (saves, exporters, every rendered frame)."""

from __future__ import annotations

import contextlib
import os
import sys

from duet.files import uninterrupted


@contextlib.contextmanager
def quiet(stderr: bool = True):
    """Silence stdout (and stderr) at the file-descriptor level for the block; failures still surface
    as Python exceptions. Keep stderr open when the block reports its own progress there."""
    fds = (1, 2) if stderr else (1,)
    saved, devnull = [], None
    try:
        with uninterrupted():  # a Ctrl-C between the swaps would leave stderr on /dev/null (no last line)
            sys.stdout.flush()
            sys.stderr.flush()
            saved = [os.dup(fd) for fd in fds]
            devnull = os.open(os.devnull, os.O_WRONLY)
            for fd in fds:
                os.dup2(devnull, fd)
        yield
    finally:
        with uninterrupted():
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip(fds, saved):
                os.dup2(copy, fd)
            for fd in saved + ([devnull] if devnull is not None else []):
                os.close(fd)
