"""Blender talks a lot on the process's stdout/stderr (saves, exporters, every rendered frame)."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet():
    """Silence file descriptors 1 and 2 for the block; failures still surface as Python exceptions."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
