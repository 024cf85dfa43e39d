"""Gaussian avatars: Gaussians bound to a rig's triangles, stored small (npz, fp16) and imported from PLY.

An avatar belongs to one rig topology: ``rig`` is a signature of the triangle list it was fitted on, and
``world`` refuses a head whose triangles differ. Colours are display (sRGB) values in [0, 1].

The common FLAME-bound format (GaussianAvatars' ``point_cloud.ply``) stores per Gaussian the local
offset ``x y z``, log scales ``scale_*``, quaternion ``rot_*`` (w, x, y, z), opacity logit ``opacity``,
the degree-0 spherical-harmonic colour ``f_dc_*`` (colour = 0.5 + SH_C0 * f_dc) and the triangle index
``binding_0``; higher SH bands (``f_rest_*``) are dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from duet.errors import DuetError
from duet.files import atomic_output, read_npz

FORMAT = 1
AVATARS = Path(__file__).resolve().parents[3] / "rigs" / "avatars"
SH_C0 = 0.28209479177387814
CULL_COS = 0.1  # skin triangles turned further than this from the camera are hidden behind the head
_ARRAYS = {"binding": 1, "mu": 2, "log_scale": 2, "quat": 2, "opacity": 1, "color": 2}


@dataclass
class Avatar:
    """N Gaussians, each bound to a triangle of the rig whose ``rig`` signature it carries."""

    binding: np.ndarray     # [N] triangle index
    mu: np.ndarray          # [N,3] offset in the triangle's frame (units of its scale k)
    log_scale: np.ndarray   # [N,3] log of the scales in units of k
    quat: np.ndarray        # [N,4] (w, x, y, z) rotation in the triangle's frame
    opacity: np.ndarray     # [N] in (0, 1)
    color: np.ndarray       # [N,3] sRGB in [0, 1]
    rig: str                # rig_signature of the faces the binding indexes
    person: str = ""
    rest_vertices: np.ndarray | None = None  # [V,3] the rig's rest mesh, to rebind onto a changed rig
    rest_faces: np.ndarray | None = None     # [F,3]

    def __len__(self) -> int:
        return len(self.binding)


def rig_signature(faces: np.ndarray) -> str:
    faces = np.ascontiguousarray(faces, np.int64)
    return f"{len(faces)}:{hashlib.sha1(faces.tobytes()).hexdigest()[:12]}"


def save(avatar: Avatar, path) -> None:
    meta = {"format": FORMAT, "rig": avatar.rig, "person": avatar.person}
    rest = {} if avatar.rest_vertices is None else {"rest_vertices": avatar.rest_vertices.astype(np.float32),
                                                     "rest_faces": avatar.rest_faces.astype(np.int32)}
    with atomic_output(path) as tmp:
        np.savez_compressed(
            tmp, meta=np.array(json.dumps(meta)), binding=avatar.binding.astype(np.int32), **rest,
            **{k: getattr(avatar, k).astype(np.float16) for k in ("mu", "log_scale", "quat", "opacity", "color")})


def load(path) -> Avatar:
    """Read an avatar .npz (``import_ply`` reads GaussianAvatars .ply files); clear errors on bad files."""
    path = Path(path)
    data = read_npz(path, "avatar", "Duet avatar")
    try:
        meta = json.loads(str(data.pop("meta")))
    except (ValueError, KeyError) as e:
        raise DuetError(f"{path}: not a Duet avatar ({type(e).__name__})") from None
    if meta.get("format") != FORMAT:
        raise DuetError(f"{path}: avatar format {meta.get('format')!r} is not known (expected {FORMAT})")
    missing = set(_ARRAYS) - set(data)
    if missing:
        raise DuetError(f"{path}: avatar lacks {', '.join(sorted(missing))}")
    arrays = {k: data[k].astype(np.int64 if k == "binding" else np.float32) for k in _ARRAYS}
    _check(arrays, str(path))
    rest = {}
    if "rest_vertices" in data and "rest_faces" in data:
        rest = {"rest_vertices": data["rest_vertices"].astype(np.float64), "rest_faces": data["rest_faces"].astype(np.int64)}
        if rig_signature(rest["rest_faces"]) != meta["rig"] or arrays["binding"].max() >= len(rest["rest_faces"]):
            raise DuetError(f"{path}: the avatar's rest mesh does not match its binding")
    return Avatar(**arrays, rig=str(meta["rig"]), person=str(meta.get("person", "")), **rest)


def _check(arrays: dict, where: str) -> None:
    n = len(arrays["binding"])
    widths = {"mu": 3, "log_scale": 3, "quat": 4, "color": 3}
    for k, a in arrays.items():
        if a.ndim != _ARRAYS[k] or len(a) != n or (k in widths and a.shape[1] != widths[k]):
            raise DuetError(f"{where}: avatar array {k} has shape {a.shape}, expected {n} rows")
        if not np.all(np.isfinite(a)):
            raise DuetError(f"{where}: avatar array {k} holds NaN or infinite values")
    if n == 0:
        raise DuetError(f"{where}: avatar has no Gaussians")
    if arrays["binding"].min() < 0:
        raise DuetError(f"{where}: avatar binds Gaussians to negative triangle indices")


def shipped(person: str) -> Avatar:
    """The demo avatar fitted to open head ``person`` ("A" or "B")."""
    path = AVATARS / f"{person}.npz"
    if not path.is_file():
        raise DuetError(f"no shipped avatar for person {person!r} (looked for {path})")
    return load(path)


def check_rig(avatar: Avatar, faces: np.ndarray) -> None:
    if avatar.rig != rig_signature(faces):
        raise DuetError(f"the avatar was fitted to a rig with triangles {avatar.rig}, but this head has "
                        f"{rig_signature(faces)}; refit it (python -m duet.render.fit) or pass its own rig")


def bind_to(avatar: Avatar, vertices: np.ndarray, faces: np.ndarray) -> Avatar:
    """The avatar on a rig with triangles ``faces`` (rest ``vertices``): itself when it was fitted to them,
    else moved onto the nearest triangles of the new rest mesh (for a rig whose mesh changed since the
    fit; refitting is better). Without a stored rest mesh a different rig is refused."""
    if avatar.rig == rig_signature(faces):
        return avatar
    if avatar.rest_vertices is None:
        check_rig(avatar, faces)
    import torch

    from duet.render.binding import to_local, to_world

    old_v = torch.as_tensor(avatar.rest_vertices, dtype=torch.float64)
    old_f = torch.as_tensor(avatar.rest_faces, dtype=torch.long)
    t = {k: torch.as_tensor(getattr(avatar, k), dtype=torch.float64) for k in ("mu", "log_scale", "quat")}
    means, scales, rots = to_world(old_v, old_f, torch.as_tensor(avatar.binding), t["mu"], t["log_scale"], t["quat"])
    new_v = torch.as_tensor(np.asarray(vertices), dtype=torch.float64)
    new_f = torch.as_tensor(np.asarray(faces), dtype=torch.long)
    centres = new_v[new_f].mean(1)
    binding = torch.cat([torch.cdist(means[i:i + 4096], centres).argmin(1) for i in range(0, len(means), 4096)])
    mu, log_scale, quat = to_local(new_v, new_f, binding, means, scales, rots)
    return Avatar(binding=binding.numpy(), mu=mu.numpy().astype(np.float32),
                  log_scale=log_scale.numpy().astype(np.float32), quat=quat.numpy().astype(np.float32),
                  opacity=avatar.opacity, color=avatar.color, rig=rig_signature(faces), person=avatar.person,
                  rest_vertices=np.asarray(vertices, np.float64), rest_faces=np.asarray(faces))


def gaussians(avatar: Avatar, vertices, faces, camera_position=None, skin=None):
    """World Gaussians (means, rotations, scales, opacities, colors) as float32 torch tensors.

    ``vertices`` [V,3] is the posed mesh. With ``camera_position`` and the boolean ``skin`` [F] mask of
    closed-surface triangles, Gaussians on skin triangles facing away from the camera are left out.
    """
    import torch

    from duet.render.binding import to_world, triangle_frames

    v = torch.as_tensor(np.asarray(vertices), dtype=torch.float32)
    f = torch.as_tensor(np.asarray(faces), dtype=torch.long)
    keep = slice(None)
    if camera_position is not None:
        rot, _, centre = triangle_frames(v, f)
        away = ((centre - torch.as_tensor(camera_position, dtype=torch.float32)) * rot[:, :, 1]).sum(-1)
        away = away / (centre - torch.as_tensor(camera_position, dtype=torch.float32)).norm(dim=-1)
        hidden = (away > CULL_COS) & torch.as_tensor(skin if skin is not None else np.zeros(len(f), bool))
        keep = ~hidden[torch.as_tensor(avatar.binding)]
    b = torch.as_tensor(avatar.binding)[keep]
    t = {k: torch.as_tensor(getattr(avatar, k), dtype=torch.float32)[keep]
         for k in ("mu", "log_scale", "quat", "opacity", "color")}
    means, scales, rotations = to_world(v, f, b, t["mu"], t["log_scale"], t["quat"])
    return means, rotations, scales, t["opacity"], t["color"]


def import_ply(path, faces: np.ndarray, person: str = "") -> Avatar:
    """Import a FLAME-bound ``point_cloud.ply`` (GaussianAvatars layout) for the rig with triangles ``faces``."""
    path = Path(path)
    props = read_ply_vertices(path)
    need = ["x", "y", "z", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3", "opacity",
            "f_dc_0", "f_dc_1", "f_dc_2"]
    missing = [n for n in need if n not in props]
    if missing:
        raise DuetError(f"{path}: PLY lacks Gaussian attributes {', '.join(missing)}")
    if "binding_0" not in props and "binding" not in props:
        raise DuetError(f"{path}: PLY has no per-Gaussian triangle binding (binding_0); it is not a "
                        f"FLAME-bound avatar")
    binding = np.rint(props.get("binding_0", props.get("binding"))).astype(np.int64)
    if binding.size and (binding.min() < 0 or binding.max() >= len(faces)):
        raise DuetError(f"{path}: binds Gaussians to triangles up to {binding.max()}, but the rig has "
                        f"{len(faces)} triangles; supply the rig it was trained with")
    col = lambda *names: np.stack([props[n] for n in names], -1).astype(np.float32)
    quat = col("rot_0", "rot_1", "rot_2", "rot_3")
    quat /= np.maximum(np.linalg.norm(quat, axis=-1, keepdims=True), 1e-12)
    arrays = {
        "binding": binding, "mu": col("x", "y", "z"), "log_scale": col("scale_0", "scale_1", "scale_2"),
        "quat": quat, "opacity": 1.0 / (1.0 + np.exp(-props["opacity"].astype(np.float32))),
        "color": np.clip(0.5 + SH_C0 * col("f_dc_0", "f_dc_1", "f_dc_2"), 0.0, 1.0)}
    _check(arrays, str(path))
    return Avatar(**arrays, rig=rig_signature(faces), person=person)


_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def read_ply_vertices(path: Path) -> dict[str, np.ndarray]:
    """The ``vertex`` element of a binary little-endian PLY as name -> array (scalar properties only)."""
    if not path.is_file():
        raise DuetError(f"{path}: no such file")
    raw = path.read_bytes()
    end = raw.find(b"end_header\n")
    if not raw.startswith(b"ply") or end < 0:
        raise DuetError(f"{path}: not a PLY file")
    header = raw[:end].decode("ascii", "replace").splitlines()
    if "format binary_little_endian 1.0" not in header:
        raise DuetError(f"{path}: only binary little-endian PLY is supported")
    fields, count, current = [], None, None
    for line in header:
        words = line.split()
        if words[:1] == ["element"]:
            if current == "vertex":
                break
            current = words[1]
            if current == "vertex":
                count = int(words[2])
            else:
                raise DuetError(f"{path}: element {current!r} before the vertices is not supported")
        elif words[:1] == ["property"] and current == "vertex":
            if words[1] == "list" or words[1] not in _PLY_TYPES:
                raise DuetError(f"{path}: unsupported vertex property {' '.join(words[1:])!r}")
            fields.append((words[2], "<" + _PLY_TYPES[words[1]]))
    if count is None or not fields:
        raise DuetError(f"{path}: PLY has no vertex element")
    dtype = np.dtype(fields)
    start = end + len(b"end_header\n")
    if len(raw) - start < count * dtype.itemsize:
        raise DuetError(f"{path}: PLY is truncated ({count} vertices announced)")
    data = np.frombuffer(raw, dtype, count, start)
    return {name: np.asarray(data[name]) for name, _ in fields}
