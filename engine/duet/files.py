"""Writing outputs so that a failure never leaves a half-written file or clobbers the user's work."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from duet.errors import DuetError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = True):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The temporary keeps ``path``'s suffix so writers that look at extensions behave.
    """
    path = Path(path)
    if path.is_dir():
        raise DuetError(f"{path}: is a folder, expected a file name")
    if not overwrite and path.exists():
        raise DuetError(f"{path}: exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise DuetError(f"{path}: nothing was written")
        usual_mode(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@functools.cache
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def usual_mode(path: Path) -> None:
    """Temporary files and folders start private (0600/0700); outputs get the user's usual mode."""
    path.chmod((0o777 if path.is_dir() else 0o666) & ~_umask())


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike):
    """Like atomic_output for a folder: build it beside ``path``, then swap it in whole."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DuetError(f"{path}: exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        yield tmp
        usual_mode(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_npz(path: str | os.PathLike, what: str, kind: str) -> dict:
    """Every array of an .npz file (no pickles), or a one-line DuetError: "<path>: no such <what> file"
    when it is missing, "<path>: not a <kind> (<reason>)" when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise DuetError(f"{path}: no such {what} file")
    return load_npz(path, str(path), kind)


def load_npz(source, where: str, kind: str) -> dict:
    """Every array of an .npz ``source`` (a path or a binary file object), or "<where>: not a <kind>"."""
    import numpy as np

    try:
        with np.load(source, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DuetError(f"{where}: not a {kind} ({type(e).__name__})") from None
