"""Duet's open heads: FLAME-compatible rigged meshes with ARKit-52 expression keys (pure numpy).

``load("A")`` / ``load("B")`` / ``load(betas=...)`` give a :class:`Head`; ``forward`` poses it exactly
in FLAME's order (identity + expression offsets, then linear blend skinning over the joints
global/neck/jaw/eye_L/eye_R, then translation). The asset ``duet/rigs/openhead.npz`` is written by
``duet rig build`` (see ``duet.rigs.build``) and rebuilt in memory when it is missing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from duet.arkit import ARKIT_52
from duet.errors import DuetError
from duet.motion import JOINTS
from duet.frames import rotmat
from duet.rigs import kinematics

ASSET = Path(__file__).resolve().with_name("openhead.npz")  # package data: ships in the wheel and the add-on
PARTS = ("skin", "eye_L", "eye_R", "mouth", "teeth", "tongue", "hair", "brow")
MATERIALS = ("skin", "hair", "brow", "lip", "mouth", "teeth", "tongue", "sclera", "iris", "pupil")
BETA_NAMES = ("head_width", "head_length", "head_height", "jaw_width", "nose_size",
              "cheek_fullness", "brow_height", "chin_length", "lip_fullness", "neck_width")
# The two default people: A broad-jawed with a longer nose, B narrower with fuller lips and higher brows.
IDENTITIES = {
    "A": np.array([0.7, 0.5, 0.3, 0.9, 0.8, -0.4, -0.6, 0.6, -0.5, 0.8]),
    "B": np.array([-0.8, -0.3, -0.2, -0.9, -0.7, 0.7, 0.8, -0.6, 0.6, -0.7]),
}
# Per-person looks: how much fuller the haircut is (metres at the crown) and colours (linear RGB).
LOOKS = {
    "A": {"hair_volume": 0.004, "skin": (0.46, 0.28, 0.19), "hair": (0.045, 0.028, 0.018), "lip": (0.52, 0.15, 0.13),
          "iris": (0.10, 0.20, 0.32)},
    "B": {"hair_volume": 0.012, "skin": (0.20, 0.105, 0.06), "hair": (0.012, 0.010, 0.010), "lip": (0.27, 0.075, 0.065),
          "iris": (0.12, 0.06, 0.02)},
}


@dataclass
class Head:
    """A rigged head: rest mesh (identity applied), expression deltas, skinning weights, joints."""

    name: str
    basis: str                      # "arkit" for the open heads, "flame" for a user's FLAME model
    vertices: np.ndarray            # [V,3] rest, identity applied (rig frame, metres)
    faces: np.ndarray               # [F,3] triangles
    polys: np.ndarray               # [P,4] polygons for Blender (-1 pads triangles)
    expr_names: tuple[str, ...]
    expr_deltas: np.ndarray         # [E,V,3]
    weights: np.ndarray             # [V,5] LBS weights over JOINTS (rows sum to 1)
    joints: np.ndarray              # [5,3] rest joint positions
    lip_upper_mid: np.ndarray
    lip_lower_mid: np.ndarray
    uv: np.ndarray                  # [P,4,2] per polygon corner
    vertex_part: np.ndarray         # [V] index into PARTS
    poly_material: np.ndarray       # [P] index into MATERIALS
    betas: np.ndarray = field(default_factory=lambda: np.zeros(0))
    posedirs: np.ndarray | None = None           # FLAME pose correctives [36,V,3]; None on the open heads
    expr_joint_deltas: np.ndarray | None = None  # FLAME joints move with expression [E,5,3]; None on the open heads

    @property
    def face_material(self) -> np.ndarray:
        """[F] material of each triangle in ``faces``."""
        return self.poly_material[_tri_poly(self.polys)]

    @property
    def face_part(self) -> np.ndarray:
        return self.vertex_part[self.faces[:, 0]]

    def vertex_group(self, name: str) -> np.ndarray:
        return {"lip_upper_mid": self.lip_upper_mid, "lip_lower_mid": self.lip_lower_mid}[name]


def _tri_poly(polys: np.ndarray) -> np.ndarray:
    idx = np.arange(len(polys))
    return np.concatenate([idx, idx[polys[:, 3] >= 0]])


@functools.lru_cache(maxsize=1)
def _asset() -> dict[str, np.ndarray]:
    if ASSET.is_file():
        with np.load(ASSET, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    from duet.rigs.build import build_arrays
    return build_arrays()


def load(person: str | None = "A", betas=None) -> Head:
    """Open head for ``person`` ("A"/"B"); explicit identity ``betas`` (len <= 10) replace the person's own
    face shape (the person still sets the haircut; ``person=None`` is the plain head)."""
    a = _asset()
    if person is not None and person not in IDENTITIES:
        raise DuetError(f"unknown person {person!r}; the open heads are 'A' and 'B'")
    if betas is None:
        if person is None:
            raise DuetError("give a person ('A' or 'B') or identity betas")
        betas = IDENTITIES[person]
    betas = np.asarray(betas, np.float64).ravel()
    n = a["shapedirs"].shape[-1]
    if betas.size > n or not np.all(np.isfinite(betas)):
        raise DuetError(f"betas must be at most {n} finite numbers, got {betas.size}")
    b = np.zeros(n)
    b[: betas.size] = betas
    verts = a["template"] + np.einsum("vcb,b->vc", a["shapedirs"], b)
    verts = verts + LOOKS.get(person, LOOKS["A"])["hair_volume"] * a["hair_volume"]
    head = Head(
        name=person if person is not None else "custom", basis="arkit", vertices=verts,
        faces=a["faces"], polys=a["polys"], expr_names=ARKIT_52,
        expr_deltas=a["expr_deltas"].astype(np.float64), weights=_normalized(a["weights"]),
        joints=kinematics.REST_JOINTS.copy(), lip_upper_mid=a["lip_upper_mid"],
        lip_lower_mid=a["lip_lower_mid"], uv=a["uv"], vertex_part=a["vertex_part"],
        poly_material=a["poly_material"], betas=b)
    # jawOpen is the jaw joint's own motion (jawOpen = jaw X-rotation / 0.35 rad): derive it on this identity.
    jaw = replace(head, expr_deltas=np.zeros((0, len(verts), 3)))
    opened = forward(jaw, np.zeros((1, 0)), {"jaw": np.array([[JAW_OPEN_RAD, 0, 0]])}, np.zeros((1, 3)))[0]
    head.expr_deltas[ARKIT_52.index("jawOpen")] = opened - verts
    return head


def _normalized(w):
    w = np.asarray(w, np.float64)
    return w / w.sum(1, keepdims=True)


JAW_OPEN_RAD = 0.35
EYE_LOOK_RAD = 0.5


def forward(head: Head, expr, poses: dict, transl, chunk: int = 64) -> np.ndarray:
    """Posed vertices [T,V,3]: expression offsets, (FLAME pose correctives), skinning, translation.

    ``expr`` [T,E] weights over ``head.expr_names`` (E may be fewer than the head has); ``poses``
    maps joint names to axis-angle [T,3] (missing joints stay at rest); ``transl`` [T,3].
    """
    expr = np.atleast_2d(np.asarray(expr, np.float64))
    transl = np.atleast_2d(np.asarray(transl, np.float64))
    n = max(len(expr), len(transl), *(np.atleast_2d(p).shape[0] for p in poses.values()))
    full = {j: np.broadcast_to(np.atleast_2d(np.asarray(poses.get(j, np.zeros(3)), np.float64)), (n, 3))
            for j in JOINTS}
    expr = np.broadcast_to(expr, (n, expr.shape[1]))
    transl = np.broadcast_to(transl, (n, 3))
    e = expr.shape[1]
    if e > len(head.expr_deltas):
        raise DuetError(f"{e} expression channels given but the head has {len(head.expr_deltas)}")
    out = np.empty((n, len(head.vertices), 3), np.float64)
    for s in range(0, n, chunk):
        sl = slice(s, min(n, s + chunk))
        local = np.stack([rotmat(full[j][sl]) for j in JOINTS], 1)            # [t,5,3,3]
        v = head.vertices + np.einsum("te,evc->tvc", expr[sl], head.expr_deltas[:e])
        joints = np.broadcast_to(head.joints, (len(local), 5, 3))
        if head.expr_joint_deltas is not None:
            joints = joints + np.einsum("te,ejc->tjc", expr[sl], head.expr_joint_deltas[:e])
        if head.posedirs is not None:
            feat = (local[:, 1:] - np.eye(3)).reshape(len(local), -1)  # FLAME: (R - I) of the non-root joints
            v = v + np.einsum("tp,pvc->tvc", feat, head.posedirs)
        rot, pos = _chain(local, joints)
        shift = pos - np.einsum("tjab,tjb->tja", rot, joints)               # [t,5,3]
        a = np.einsum("vj,tjab->tvab", head.weights, rot)
        b = np.einsum("vj,tja->tva", head.weights, shift)
        out[sl] = np.einsum("tvab,tvb->tva", a, v) + b + transl[sl, None, :]
    return out


def _chain(local, joints):
    """World rotations and positions of the joints (FLAME's tree) for local rotations [t,5,3,3], rest joints [t,5,3]."""
    rot = np.empty_like(local)
    pos = np.empty_like(joints)
    for i, parent in enumerate(kinematics.PARENTS):
        if parent < 0:
            rot[:, i], pos[:, i] = local[:, i], joints[:, i]
        else:
            rot[:, i] = rot[:, parent] @ local[:, i]
            pos[:, i] = pos[:, parent] + np.einsum("tab,tb->ta", rot[:, parent], joints[:, i] - joints[:, parent])
    return rot, pos


def lip_gap(head: Head, vertices: np.ndarray) -> np.ndarray:
    """Distance [T] between the centroids of the lip_upper_mid and lip_lower_mid vertices."""
    v = np.asarray(vertices)
    up = v[..., head.lip_upper_mid, :].mean(-2)
    lo = v[..., head.lip_lower_mid, :].mean(-2)
    return np.linalg.norm(up - lo, axis=-1)


def gaze(head: Head, poses: dict, transl):
    """Eye centres [T,2,3] and unit gaze directions [T,2,3] (eye_L, eye_R) for the posed head."""
    transl = np.atleast_2d(np.asarray(transl, np.float64))
    n = max(len(transl), *(np.atleast_2d(p).shape[0] for p in poses.values()))
    full = {j: np.broadcast_to(np.atleast_2d(np.asarray(poses.get(j, np.zeros(3)), np.float64)), (n, 3))
            for j in JOINTS}
    return kinematics.gaze(full, np.broadcast_to(transl, (n, 3)), head.joints)


def look_at(head: Head, target, poses: dict | None = None, transl=None) -> dict[str, np.ndarray]:
    """Eye joint rotations [T,3] (local to the head) that aim both eyes at world point(s) ``target``."""
    target = np.atleast_2d(np.asarray(target, np.float64))
    poses = dict(poses or {})
    transl = np.zeros((1, 3)) if transl is None else transl
    n = max(len(target), len(np.atleast_2d(transl)), *(np.atleast_2d(p).shape[0] for p in poses.values()))
    full = {j: np.broadcast_to(np.atleast_2d(np.asarray(poses.get(j, np.zeros(3)), np.float64)), (n, 3))
            for j in JOINTS}
    rot, pos = kinematics.forward(full, np.broadcast_to(np.atleast_2d(transl), (n, 3)), head.joints)
    from duet.frames import rotation_between
    out = {}
    for k, j in ((3, "eye_L"), (4, "eye_R")):
        parent = rot[:, 1]  # the eyes hang from the neck joint
        d = np.broadcast_to(target, (n, 3)) - pos[:, k]
        local = np.einsum("tba,tb->ta", parent, d)
        out[j] = rotation_between(np.broadcast_to(kinematics.REST_GAZE, (n, 3)), local)
    return out
