"""A user's own FLAME model as a Duet head (basis ``flame``): read through smplx's model-file schema.

FLAME is licensed and never shipped; users point Duet at their ``FLAME_NEUTRAL.pkl`` (or
``generic_model.pkl``, or a folder holding one). The file's arrays (``v_template``, ``f``,
``shapedirs``, ``posedirs``, ``J_regressor``, ``weights``, ``kintree_table``) are converted with
smplx's own helpers, split into identity and expression components exactly as ``smplx.FLAME`` does,
and returned as a :class:`duet.rigs.openhead.Head` whose ``forward`` reproduces smplx's output.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from duet.errors import DuetError
from duet.rigs.openhead import Head

SHAPE_SPACE_DIM = 300       # FLAME's identity components; expression components follow them
EXPRESSION_SPACE_DIM = 100
_NAMES = ("FLAME_NEUTRAL.pkl", "FLAME_FEMALE.pkl", "FLAME_MALE.pkl", "generic_model.pkl",
          "FLAME_NEUTRAL.npz")
_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")


def find_model(path: str | os.PathLike) -> Path:
    """The model file itself, or the first FLAME file in a folder."""
    path = Path(path)
    if path.is_dir():
        for name in _NAMES:
            if (path / name).is_file():
                return path / name
        raise DuetError(f"{path}: no FLAME model file here (looked for {', '.join(_NAMES)})")
    if not path.is_file():
        raise DuetError(f"{path}: no such FLAME model file")
    return path


def read_model(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The FLAME file's arrays as numpy (smplx's ``Struct``/``to_np`` conventions)."""
    from smplx.utils import Struct, to_np

    path = find_model(path)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=True) as z:
                raw = {k: z[k] for k in z.files}
        else:
            with open(path, "rb") as fh:
                raw = pickle.load(fh, encoding="latin1")
    except ModuleNotFoundError as e:
        raise DuetError(f"{path}: the file stores {e.name} objects; convert it to plain numpy arrays first "
                        "(FLAME's 'remove chumpy' script does this)") from None
    except (pickle.UnpicklingError, EOFError, ValueError, OSError) as e:
        raise DuetError(f"{path}: not a FLAME model file ({type(e).__name__})") from None
    if not isinstance(raw, dict) or any(k not in raw for k in _KEYS):
        missing = [k for k in _KEYS if not isinstance(raw, dict) or k not in raw]
        raise DuetError(f"{path}: not a FLAME model file (missing {', '.join(missing)})")
    data = Struct(**raw)
    out = {k: to_np(getattr(data, k), np.float64) for k in _KEYS if k not in ("f", "kintree_table")}
    out["f"] = to_np(data.f, np.int64)
    out["kintree_table"] = to_np(data.kintree_table, np.int64)
    v = out["v_template"]
    if v.ndim != 2 or v.shape[1] != 3:
        raise DuetError(f"{path}: v_template has shape {v.shape}, expected (V, 3)")
    n = len(v)
    want = {"shapedirs": (n, 3), "posedirs": (n, 3, 36), "weights": (n, 5), "J_regressor": (5, n)}
    for k, shape in want.items():
        a = out[k]
        if a.shape[: len(shape)] != shape or (k == "shapedirs" and a.ndim != 3):
            raise DuetError(f"{path}: {k} has shape {a.shape}, which does not fit {n} vertices and 5 joints")
    if out["f"].ndim != 2 or out["f"].shape[1] != 3 or out["f"].min() < 0 or out["f"].max() >= n:
        raise DuetError(f"{path}: f must be triangles indexing the {n} vertices")
    return out


def load(path: str | os.PathLike, betas=None, n_expr: int = EXPRESSION_SPACE_DIM, person: str = "A") -> Head:
    """Head from a FLAME model file: identity ``betas`` applied, ``n_expr`` expression components as keys.

    Like smplx, a model with fewer than 400 components is read as 10 identity + 10 expression ones.
    """
    m = read_model(path)
    sd = m["shapedirs"]
    if sd.shape[-1] < SHAPE_SPACE_DIM + EXPRESSION_SPACE_DIM:
        n_shape, start, n_expr = 10, 10, min(n_expr, 10)
    else:
        n_shape, start, n_expr = SHAPE_SPACE_DIM, SHAPE_SPACE_DIM, min(n_expr, EXPRESSION_SPACE_DIM)
    if not 1 <= n_expr:
        raise DuetError("n_expr must be at least 1")
    b = np.zeros(n_shape)
    if betas is not None:
        betas = np.asarray(betas, np.float64).ravel()
        if betas.size > n_shape or not np.all(np.isfinite(betas)):
            raise DuetError(f"betas must be at most {n_shape} finite numbers, got {betas.size}")
        b[: betas.size] = betas
    verts = m["v_template"] + np.einsum("vcb,b->vc", sd[:, :, :n_shape], b)
    expr = np.transpose(sd[:, :, start:start + n_expr], (2, 0, 1))           # [E,V,3]
    parents = m["kintree_table"][0].copy()
    parents[0] = -1
    if tuple(parents) != (-1, 0, 1, 1, 1):
        raise DuetError(f"{path}: kinematic tree {tuple(parents)} is not FLAME's (-1, 0, 1, 1, 1)")
    jreg = m["J_regressor"]
    faces = m["f"].astype(np.int32)
    weights = m["weights"]
    lip_up, lip_lo = _lip_groups(verts, weights)
    return Head(
        name=person, basis="flame", vertices=verts, faces=faces,
        polys=np.concatenate([faces, -np.ones((len(faces), 1), np.int32)], 1),
        expr_names=tuple(f"flame_exp_{i:03d}" for i in range(n_expr)), expr_deltas=expr,
        weights=weights / weights.sum(1, keepdims=True), joints=jreg @ verts,
        lip_upper_mid=lip_up, lip_lower_mid=lip_lo, uv=np.zeros((len(faces), 4, 2), np.float32),
        vertex_part=np.zeros(len(verts), np.int8), poly_material=np.zeros(len(faces), np.int8), betas=b,
        posedirs=np.transpose(m["posedirs"], (2, 0, 1)),                       # [36,V,3]
        expr_joint_deltas=np.einsum("jv,evc->ejc", jreg, expr))


def _lip_groups(verts, weights, k=2):
    """The lips' inner edges at the midline: the closest jaw-bound and head-bound vertices in front."""
    front = verts[:, 2] > np.percentile(verts[:, 2], 70)
    mid = np.abs(verts[:, 0] - np.median(verts[front, 0])) < 0.25 * np.ptp(verts[:, 0])
    jaw = weights[:, 2] > 0.5
    lower = np.nonzero(front & mid & jaw)[0]
    upper = np.nonzero(front & mid & ~jaw & (weights[:, 2] > 0.02))[0]
    if not len(lower) or not len(upper):
        upper = np.nonzero(front & mid & ~jaw)[0]
    if not len(lower) or not len(upper):
        raise DuetError("cannot find the lips: the model has no jaw-weighted vertices at the front of the face")
    d = np.linalg.norm(verts[upper, None] - verts[None, lower], axis=-1)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    centre = (verts[upper[i]] + verts[lower[j]]) / 2
    up = upper[np.argsort(np.linalg.norm(verts[upper] - centre, axis=1))[:k]]
    lo = lower[np.argsort(np.linalg.norm(verts[lower] - centre, axis=1))[:k]]
    return np.sort(up).astype(np.int32), np.sort(lo).astype(np.int32)
