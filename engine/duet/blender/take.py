"""A take before it meets Blender (pure numpy): the motion resampled onto the scene's whole frames,
scaled by per-person strengths, and keys thinned to those the curve needs within a tolerance.

Resampling is linear for weights and translations and a slerp for joint rotations, so a 25 fps
motion keyed on a 30 fps scene has a key on every scene frame and none between them. Thinning keeps
a key only where linear interpolation between the kept neighbours would leave the curve by more
than the tolerance, measured on every frame (for rotations: the angle between the two rotations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from duet.frames import axis_angle, rotmat
from duet.motion import JOINTS, PERSONS, DyadicMotion, PersonMotion

SHAPE_KEY_TOLERANCE = 0.02  # weight units
ROTATION_TOLERANCE = math.radians(0.5)
LOCATION_TOLERANCE = 0.0005  # metres


@dataclass
class Strength:
    """One person's polish: 1 is the motion as generated, 0 removes that part, above 1 exaggerates."""

    mouth: float = 1.0  # jaw, mouth and tongue channels and the jaw joint
    expression: float = 1.0  # brows, cheeks, nose, eye squint and wide
    head: float = 1.0  # head rotation (global and neck joints)
    blinks: float = 1.0  # eyeBlink channels


def channel_part(name: str) -> str:
    """Which strength a channel follows: "mouth", "blinks", "gaze" (never scaled) or "expression"."""
    low = name.lower()
    if low.startswith(("jaw", "mouth", "tongue")):
        return "mouth"
    if low.startswith("eyeblink"):
        return "blinks"
    if low.startswith("eyelook"):
        return "gaze"
    return "expression"


def apply_strength(person: PersonMotion, expr_names, strength: Strength | None) -> PersonMotion:
    """``person`` with each part scaled about the neutral face and the rest pose (a copy; None: as is)."""
    if strength is None or strength == Strength():
        return person
    scale = np.array([1.0 if (part := channel_part(n)) == "gaze" else getattr(strength, part) for n in expr_names],
                     np.float32)
    poses = dict(person.poses)
    poses["jaw"] = person.poses["jaw"] * np.float32(strength.mouth)
    poses["neck"] = person.poses["neck"] * np.float32(strength.head)
    g = rotmat(person.poses["global"])  # the head's own motion about its first-frame facing
    rel = axis_angle(g[0].T @ g) * strength.head
    poses["global"] = axis_angle(g[0] @ rotmat(rel)).astype(np.float32)
    return replace(person, expr=person.expr * scale, poses=poses)


def sample_points(n_frames: int, motion_fps: float, scene_fps: float) -> np.ndarray:
    """Motion-frame positions (fractional) of the scene's whole frames 0, 1, ... within the motion."""
    step = scene_fps / motion_fps
    count = int(math.floor((n_frames - 1) * step + 1e-6)) + 1
    return np.minimum(np.arange(count) / step, n_frames - 1)


def _linear(x: np.ndarray, i0: np.ndarray, f: np.ndarray) -> np.ndarray:
    f = f.reshape(-1, *([1] * (x.ndim - 1)))
    return (x[i0] * (1 - f) + x[i0 + 1] * f).astype(np.float32)


def _slerp(aa: np.ndarray, i0: np.ndarray, f: np.ndarray) -> np.ndarray:
    r0, r1 = rotmat(aa[i0]), rotmat(aa[i0 + 1])
    step = axis_angle(np.swapaxes(r0, -1, -2) @ r1) * f[:, None]
    return axis_angle(r0 @ rotmat(step)).astype(np.float32)


def resample(motion: DyadicMotion, fps: float) -> DyadicMotion:
    """``motion`` at ``fps``: one frame per scene frame from t = 0 to the motion's last frame."""
    if abs(fps - motion.fps) < 1e-9 or motion.n_frames < 2:
        return motion
    s = sample_points(motion.n_frames, motion.fps, fps)
    i0 = np.minimum(np.floor(s).astype(int), motion.n_frames - 2)
    f = s - i0
    people = {}
    for p in PERSONS:
        m = motion.person(p)
        people[p] = PersonMotion(expr=_linear(m.expr, i0, f), poses={j: _slerp(m.poses[j], i0, f) for j in JOINTS},
                                 transl=_linear(m.transl, i0, f), speaking=_linear(m.speaking, i0, f),
                                 betas=m.betas)
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=motion.expr_names, fps=fps, meta=motion.meta)


def _max_abs(approx: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.abs(approx - exact).max(-1)


def thin(values: np.ndarray, tolerance: float, error=_max_abs) -> np.ndarray:
    """Indices of the keys to keep from ``values`` [T] or [T,K] (one key per frame): the first and last,
    and wherever linear interpolation between kept keys would miss a frame by more than ``tolerance``
    (``error(approx [m,K], exact [m,K]) -> [m]``; default the largest component difference)."""
    values = np.asarray(values, np.float64).reshape(len(values), -1)
    n = len(values)
    keep = np.zeros(n, bool)
    keep[[0, n - 1]] = True
    stack = [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        t = (np.arange(i + 1, j) - i)[:, None] / (j - i)
        err = error(values[i] + t * (values[j] - values[i]), values[i + 1:j])
        k = int(np.argmax(err))
        if err[k] > tolerance:
            m = i + 1 + k
            keep[m] = True
            stack += [(i, m), (m, j)]
    return np.flatnonzero(keep)


def _angle_between(r_a: np.ndarray, r_b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(axis_angle(np.swapaxes(r_a, -1, -2) @ r_b), axis=-1)


def quaternion_error(approx: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Angle (rad) between quaternions (w, x, y, z), each normalised as Blender does before use."""
    a = approx / np.linalg.norm(approx, axis=-1, keepdims=True)
    b = exact / np.linalg.norm(exact, axis=-1, keepdims=True)
    b = b * np.where(np.sum(a * b, -1) < 0, -1.0, 1.0)[:, None]
    return 4 * np.arctan2(np.linalg.norm(a - b, axis=-1), np.linalg.norm(a + b, axis=-1))


def euler_matrices(angles: np.ndarray, order: str) -> np.ndarray:
    """Rotation matrices [T,3,3] of Blender Euler angles [T,3] (X, Y, Z) in ``order`` (first applied first)."""
    out = np.broadcast_to(np.eye(3), (len(angles), 3, 3))
    for axis in order:
        k = "XYZ".index(axis)
        aa = np.zeros((len(angles), 3))
        aa[:, k] = angles[:, k]
        out = rotmat(aa) @ out
    return out


def euler_error(order: str):
    return lambda approx, exact: _angle_between(euler_matrices(approx, order), euler_matrices(exact, order))


def axis_angle_error(approx: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Angle (rad) between Blender axis-angle values (angle, x, y, z); the axis is normalised."""
    def mats(v):
        axis = v[:, 1:] / np.maximum(np.linalg.norm(v[:, 1:], axis=-1, keepdims=True), 1e-12)
        return rotmat(axis * v[:, :1])
    return _angle_between(mats(approx), mats(exact))


def vector_error(approx: np.ndarray, exact: np.ndarray) -> np.ndarray:
    return np.linalg.norm(approx - exact, axis=-1)
