"""Shared helpers for the bake, export and Live Link tests: a deterministic two-person motion with
every channel moving, and a user-style head (armature + mesh with shape keys) built in Blender."""

from __future__ import annotations

import numpy as np

from duet.arkit import ARKIT_52
from duet.frames import facing_yaw, yaw
from duet.motion import JOINTS, DyadicMotion, PersonMotion
from duet.rigs.kinematics import transl_for_head

LAYOUT = {"A": [-0.45, 1.55, 0.1], "B": [0.45, 1.6, -0.1]}


def smooth(rng, n_frames: int, n: int, scale: float) -> np.ndarray:
    """[T, n] smooth random curves: a few sines per channel with random phases."""
    t = np.arange(n_frames)[:, None] / 25.0
    out = np.zeros((n_frames, n))
    for _ in range(3):
        f = rng.uniform(0.1, 2.0, n)
        out += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, n)) / 3
    return scale * out


def synthetic_motion(seconds: float = 4.0, fps: float = 25.0, seed: int = 0,
                     expr_names=ARKIT_52) -> DyadicMotion:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    people = {}
    for p, q in (("A", "B"), ("B", "A")):
        m = PersonMotion.still(n, len(expr_names))
        m.expr = (0.5 + 0.6 * smooth(rng, n, len(expr_names), 1.0)).astype(np.float32)  # a bit outside [0,1]
        face = facing_yaw(LAYOUT[p], LAYOUT[q])
        m.poses["global"] = (yaw(face) + smooth(rng, n, 3, 0.08)).astype(np.float32)
        m.poses["neck"] = smooth(rng, n, 3, 0.1).astype(np.float32)
        jaw = np.zeros((n, 3))
        jaw[:, 0] = 0.15 + smooth(rng, n, 1, 0.15)[:, 0]
        m.poses["jaw"] = jaw.astype(np.float32)
        for eye in ("eye_L", "eye_R"):
            m.poses[eye] = np.concatenate([smooth(rng, n, 2, 0.3), np.zeros((n, 1))], 1).astype(np.float32)
        m.transl = (transl_for_head(LAYOUT[p], face) + smooth(rng, n, 3, 0.02)).astype(np.float32)
        m.speaking = np.clip(0.5 + smooth(rng, n, 1, 1.0)[:, 0], 0, 1).astype(np.float32)
        people[p] = m
    assert set(people["A"].poses) == set(JOINTS)
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=tuple(expr_names), fps=fps,
                        meta={"layout": LAYOUT, "audio": []}).validate()
