"""DyadicMotion: the one object that flows from the engine to Blender (docs/formats.md lists every key).

A .npz with, for T frames and E expression channels (float32 unless noted):
``fps``, ``expr_names`` [E], ``meta`` (JSON string), and for P in A, B: ``P_expr`` [T,E],
``P_global``/``P_neck``/``P_jaw``/``P_eye_L``/``P_eye_R`` [T,3] axis-angle radians,
``P_transl`` [T,3] metres, ``P_speaking`` [T] in [0,1], ``P_betas`` [S].
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from duet.errors import DuetError

FORMAT_VERSION = 1
PERSONS = ("A", "B")
JOINTS = ("global", "neck", "jaw", "eye_L", "eye_R")  # FLAME joint order
PERSON_KEYS = ("expr", *JOINTS, "transl", "speaking", "betas")
FPS_RANGE = (1.0, 240.0)
MAX_FRAMES = 216_000  # an hour at 60 fps
MAX_ARRAY_BYTES = 256 * 2**20  # all arrays of one file together, as its headers declare them
KIND = "DyadicMotion .npz file"


@dataclass
class PersonMotion:
    """One person's track: expression weights, joint rotations, translation, speaking mask, identity."""

    expr: np.ndarray
    poses: dict[str, np.ndarray]
    transl: np.ndarray
    speaking: np.ndarray
    betas: np.ndarray

    @classmethod
    def still(cls, n_frames: int, n_expr: int, transl=(0.0, 0.0, 0.0), n_betas: int = 10) -> "PersonMotion":
        """A neutral, motionless person at ``transl``: the starting point animators add to."""
        zeros3 = lambda: np.zeros((n_frames, 3), np.float32)  # noqa: E731
        return cls(
            expr=np.zeros((n_frames, n_expr), np.float32),
            poses={j: zeros3() for j in JOINTS},
            transl=np.tile(np.asarray(transl, np.float32), (n_frames, 1)),
            speaking=np.zeros(n_frames, np.float32),
            betas=np.zeros(n_betas, np.float32),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {"expr": self.expr, **self.poses, "transl": self.transl,
                "speaking": self.speaking, "betas": self.betas}


@dataclass
class DyadicMotion:
    """Both people's motion at ``fps`` frames per second, absolute in the conversation frame."""

    A: PersonMotion
    B: PersonMotion
    expr_names: tuple[str, ...]
    fps: float = 25.0
    meta: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.A.expr.shape[0])

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    def person(self, name: str) -> PersonMotion:
        return {"A": self.A, "B": self.B}[name]

    def to_arrays(self) -> dict[str, np.ndarray]:
        meta = {"version": FORMAT_VERSION, **self.meta}
        meta["version"] = FORMAT_VERSION
        out = {"fps": np.float32(self.fps), "expr_names": np.asarray(self.expr_names, dtype=str),
               "meta": np.asarray(json.dumps(meta, sort_keys=True))}
        for p in PERSONS:
            for k, v in self.person(p).arrays().items():
                out[f"{p}_{k}"] = np.asarray(v, np.float32)
        return out

    def validate(self) -> "DyadicMotion":
        """Raise DuetError with one clear line if anything breaks the format (docs/formats.md)."""
        validate_arrays(self.to_arrays(), "motion")
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Validate, then write atomically: a failed save never leaves a half-written file."""
        arrays = self.to_arrays()
        validate_arrays(arrays, str(path))
        from duet.files import atomic_output

        path = Path(path)
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DyadicMotion":
        from duet.files import read_npz

        where = str(path)
        return cls.from_arrays(read_npz(path, "motion", KIND, lambda h: check_headers(h, where)), where)

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "motion") -> "DyadicMotion":
        from duet.files import load_npz

        return cls.from_arrays(load_npz(io.BytesIO(data), where, KIND, lambda h: check_headers(h, where)), where)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], where: str = "motion") -> "DyadicMotion":
        meta = validate_arrays(arrays, where)
        people = []
        for p in PERSONS:
            a = {k: np.asarray(arrays[f"{p}_{k}"], np.float32) for k in PERSON_KEYS}
            people.append(PersonMotion(expr=a["expr"], poses={j: a[j] for j in JOINTS},
                                       transl=a["transl"], speaking=a["speaking"], betas=a["betas"]))
        meta.pop("version", None)
        return cls(A=people[0], B=people[1], expr_names=tuple(str(n) for n in arrays["expr_names"]),
                   fps=float(arrays["fps"]), meta=meta)


def required_keys() -> list[str]:
    return ["fps", "expr_names", "meta"] + [f"{p}_{k}" for p in PERSONS for k in PERSON_KEYS]


def check_headers(headers: dict, where: str) -> None:
    """Refuse an archive whose headers declare too many frames or too many bytes, before loading it
    (a small compressed file can declare gigabytes)."""
    for p in PERSONS:
        for k in PERSON_KEYS[:-1]:
            shape = headers.get(f"{p}_{k}", ((),))[0]
            if shape and shape[0] > MAX_FRAMES:
                raise DuetError(f"{where}: '{p}_{k}' declares {shape[0]} frames (the limit is {MAX_FRAMES}, "
                                "an hour at 60 fps)")
    total = sum(int(np.prod(shape, dtype=np.float64)) * dtype.itemsize for shape, dtype in headers.values())
    if total > MAX_ARRAY_BYTES:
        raise DuetError(f"{where}: declares {total / 2**20:.0f} MiB of arrays (the limit is "
                        f"{MAX_ARRAY_BYTES // 2**20} MiB)")


def validate_arrays(arrays: dict[str, np.ndarray], where: str) -> dict:
    """Check a DyadicMotion's raw arrays; return the parsed meta. Errors name the file and key."""
    for key in required_keys():
        if key not in arrays:
            raise DuetError(f"{where}: missing key '{key}'")
    try:
        meta = json.loads(str(np.asarray(arrays["meta"])[()]))
    except (json.JSONDecodeError, TypeError):
        raise DuetError(f"{where}: 'meta' is not valid JSON") from None
    if not isinstance(meta, dict):
        raise DuetError(f"{where}: 'meta' must be a JSON object")
    version = meta.get("version")
    if version != FORMAT_VERSION:
        raise DuetError(f"{where}: format version {version!r} is not supported "
                        f"(this Duet reads version {FORMAT_VERSION})")
    for name in _audio_names(meta):
        if not plain_file_name(name):
            raise DuetError(f"{where}: meta names audio {name!r}, which is not a plain file name "
                            "(store the names of files beside the motion only)")

    fps = np.asarray(arrays["fps"])
    if fps.shape != () or not np.issubdtype(fps.dtype, np.number) or not np.isfinite(fps):
        raise DuetError(f"{where}: 'fps' must be one number")
    if not FPS_RANGE[0] <= float(fps) <= FPS_RANGE[1]:
        raise DuetError(f"{where}: 'fps' is {float(fps):g}; it must lie between {FPS_RANGE[0]:g} and {FPS_RANGE[1]:g}")
    names = np.asarray(arrays["expr_names"])
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise DuetError(f"{where}: 'expr_names' must be a 1-D array of strings")
    n_expr = names.shape[0]

    n_frames = None
    for p in PERSONS:
        for k in PERSON_KEYS:
            key = f"{p}_{k}"
            a = np.asarray(arrays[key])
            if a.dtype.kind not in "fiu":
                raise DuetError(f"{where}: '{key}' must be numeric")
            if k == "betas":
                if a.ndim != 1:
                    raise DuetError(f"{where}: '{key}' must be 1-D, got shape {a.shape}")
            else:
                want = {"expr": (n_expr,), "speaking": ()}.get(k, (3,))
                if a.ndim != 1 + len(want) or a.shape[1:] != want:
                    raise DuetError(f"{where}: '{key}' has shape {a.shape}, expected (T, {', '.join(map(str, want))})"
                                    if want else f"{where}: '{key}' has shape {a.shape}, expected (T,)")
                if n_frames is None:
                    n_frames, first = a.shape[0], key
                elif a.shape[0] != n_frames:
                    raise DuetError(f"{where}: '{key}' has {a.shape[0]} frames but '{first}' has {n_frames}")
            if not np.all(np.isfinite(a)):
                raise DuetError(f"{where}: '{key}' contains NaN or infinite values")
            if a.dtype != np.float32:
                with np.errstate(over="ignore"):
                    if not np.all(np.isfinite(a.astype(np.float32))):
                        raise DuetError(f"{where}: '{key}' holds values too large for float32")
            if k == "speaking" and a.size and (a.min() < 0 or a.max() > 1):
                raise DuetError(f"{where}: '{key}' must lie in [0, 1]")
    if n_frames == 0:
        raise DuetError(f"{where}: the motion has no frames")
    if n_frames > MAX_FRAMES:
        raise DuetError(f"{where}: {n_frames} frames (the limit is {MAX_FRAMES}, an hour at 60 fps)")
    return meta


def plain_file_name(name: str) -> bool:
    """A name that can only mean a file in the motion's own folder: no folder, drive, '..' or NUL."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0:")


def _audio_names(meta: dict) -> list[str]:
    audio = meta.get("audio", [])
    if isinstance(audio, str):
        audio = [audio]
    if isinstance(audio, dict):
        audio = list(audio.values())
    return [a for a in audio if isinstance(a, str)]
