"""Writing outputs so that a failure never leaves a half-written file or clobbers the user's work."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import tempfile
import zipfile
from pathlib import Path

from duet.errors import DuetError

_interrupted = False
_deferring = 0  # depth of uninterrupted() blocks
_pending = False


def _interrupt(signum, frame):
    global _interrupted, _pending
    if _interrupted:  # a second Ctrl-C (or the SIGTERM a batch sends after it) lets the clean-up finish
        return
    _interrupted = True
    if _deferring:
        _pending = True
        return
    raise KeyboardInterrupt


def interrupt_on_signals() -> None:
    """The first SIGINT or SIGTERM raises KeyboardInterrupt in the main thread, so every atomic
    output's ``finally`` removes its temporary (a cancelled add-on job is a SIGTERM); later ones are
    ignored until the process ends (SIGKILL still stops it, and the next run removes what it left)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)


def interrupted() -> bool:
    """True once a SIGINT or SIGTERM arrived: an error raised after it is the interrupt's doing
    (Blender turns a KeyboardInterrupt inside an operator into a RuntimeError)."""
    return _interrupted


@contextlib.contextmanager
def uninterrupted():
    """Ctrl-C (or SIGTERM) inside the block waits for its end, then raises KeyboardInterrupt. For steps
    that must not be cut in two (a temporary made but not yet known to its ``finally``; an old output
    removed but the new one not yet in place) and for Blender's own work (its start-up, file and
    export operators): an exception raised inside Blender's Python callbacks is printed and swallowed
    there, or crashes it during start-up. Python runs signal handlers in the main thread whichever
    thread the signal reached, so a flag covers them all (and Windows, which has no signal masks)."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if not _deferring and _pending:
        _pending = False
        raise KeyboardInterrupt


def temporary_prefix(name: str) -> str:
    """Temporaries are ``.NAME-PID-XXXXXXXX``: the PID tells a later run whether their writer is gone."""
    return f".{name}-{os.getpid()}-"


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` names one of these temporaries (an error about it is about its folder)."""
    return re.fullmatch(r"\..+-\d+-[a-z0-9_]{8}(\..*)?@?", Path(path).name) is not None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # no safe probe there (os.kill terminates): leave the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(folder: Path, name: str, suffix: str = "") -> None:
    """Remove ``.NAME-PID-XXXXXXXX{suffix}`` left beside an output by a run that was killed (SIGKILL,
    power loss), whose process is gone; Blender's own ``@`` save temporary too."""
    pattern = re.compile(rf"\.{re.escape(name)}-(\d+)-[a-z0-9_]{{8}}{re.escape(suffix)}@?")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m and not _alive(int(m.group(1))):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


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
    remove_stale_temporaries(path.parent, path.stem, path.suffix)
    tmp = None
    try:
        with uninterrupted():
            fd, name = tempfile.mkstemp(prefix=temporary_prefix(path.stem), suffix=path.suffix, dir=path.parent)
            os.close(fd)
            tmp = Path(name)
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise DuetError(f"{path}: nothing was written")
        usual_mode(tmp)
        os.replace(tmp, path)
    finally:
        if tmp is not None:
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
    remove_stale_temporaries(path.parent, path.name)
    tmp = None
    try:
        with uninterrupted():
            tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(path.name), dir=path.parent))
        yield tmp
        usual_mode(tmp)
        with uninterrupted():
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_npz(path: str | os.PathLike, what: str, kind: str, check=None) -> dict:
    """Every array of an .npz file (no pickles), or a one-line DuetError: "<path>: no such <what> file"
    when it is missing, "<path>: not a <kind> (<reason>)" when it cannot be read. ``check(headers)``
    (see load_npz) may refuse the file before any array is read."""
    path = Path(path)
    if not path.is_file():
        raise DuetError(f"{path}: no such {what} file")
    return load_npz(path, str(path), kind, check)


def load_npz(source, where: str, kind: str, check=None) -> dict:
    """Every array of an .npz ``source`` (a path or a binary file object), or "<where>: not a <kind>".

    ``check`` gets {key: (shape, dtype)} read from each member's .npy header (and (size,), uint8 for
    other members) before any array is loaded, so a small file that declares huge arrays is refused
    without allocating them.
    """
    import numpy as np

    try:
        if _head(source, 4) not in (b"PK\x03\x04", b"PK\x05\x06"):  # else np.load reads a bare .npy whole
            raise DuetError(f"{where}: not a {kind} (not a zip archive)")
        with np.load(source, allow_pickle=False) as z:
            if check is not None:
                check(npz_headers(z.zip))
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DuetError(f"{where}: not a {kind} ({type(e).__name__})") from None


def _head(source, n: int) -> bytes:
    if hasattr(source, "read"):
        start = source.tell()
        head = source.read(n)
        source.seek(start)
        return head
    with open(source, "rb") as f:
        return f.read(n)


def npz_headers(archive: zipfile.ZipFile) -> dict:
    """{key: (shape, dtype)} of an .npz archive's members, from their headers alone."""
    import numpy as np

    fmt = np.lib.format
    out = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            out[info.filename] = ((info.file_size,), np.dtype(np.uint8))
            continue
        with archive.open(info) as f:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read(f)
        out[info.filename[:-4]] = (tuple(shape), dtype)
    return out
