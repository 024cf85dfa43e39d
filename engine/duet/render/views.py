"""Cameras and posed views of one head: the source renders an avatar is fitted to (pure numpy).

A view is a pose of the head (ARKit weights and joint rotations, rig frame = conversation frame) and a
pinhole camera given as an OpenCV ``viewmat`` (world -> camera, +Y down, +Z forward) and ``K`` in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from duet.arkit import ARKIT_52

HEAD_CENTRE = np.array([0.0, 0.15, 0.0])  # middle of the open heads' skull, rig frame
HEAD_SPAN = 0.36                          # metres a source view shows across its width
DISTANCE = 0.9
# Channels the engine never drives directly (jaw and gaze live in the joints).
_JOINT_DRIVEN = {"jawOpen"} | {n for n in ARKIT_52 if n.startswith("eyeLook")}
_CHANNELS = [n for n in ARKIT_52 if n not in _JOINT_DRIVEN]


@dataclass
class View:
    """One source render: the head's pose and the camera that sees it."""

    expr: np.ndarray           # [52] ARKit weights
    poses: dict                # joint -> [3] axis-angle
    viewmat: np.ndarray        # [4,4]
    K: np.ndarray              # [3,3]
    size: int                  # square image side in pixels

    def to_json(self) -> dict:
        return {"expr": self.expr.tolist(), "poses": {j: np.asarray(p).tolist() for j, p in self.poses.items()},
                "viewmat": self.viewmat.tolist(), "K": self.K.tolist(), "size": self.size}

    @staticmethod
    def from_json(d: dict) -> View:
        return View(np.asarray(d["expr"]), {j: np.asarray(p) for j, p in d["poses"].items()},
                    np.asarray(d["viewmat"]), np.asarray(d["K"]), int(d["size"]))


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """OpenCV world->camera matrix [4,4] for a camera at ``eye`` looking at ``target`` (+Y up in the world)."""
    eye, target = np.asarray(eye, np.float64), np.asarray(target, np.float64)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, np.float64))  # camera +X is the viewer's right; +Y points down
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    r = np.stack([x, y, z])  # rows: camera axes in world coordinates
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = r, -r @ eye
    return m


def intrinsics(focal_px: float, width: int, height: int) -> np.ndarray:
    return np.array([[focal_px, 0, width / 2], [0, focal_px, height / 2], [0, 0, 1.0]])


def sample_views(n: int, seed: int, size: int = 128) -> list[View]:
    """``n`` views of a head in varied expressions, jaw, gaze and neck poses from cameras all around it.

    Cameras favour the front and the sides (where a conversation sees a face) but include the back.
    """
    rng = np.random.default_rng(seed)
    views = []
    for i in range(n):
        expr = np.zeros(len(ARKIT_52))
        for name in rng.choice(_CHANNELS, size=rng.integers(0, 4), replace=False):
            expr[ARKIT_52.index(name)] = rng.uniform(0.3, 1.0)
        if rng.random() < 0.3:
            expr[ARKIT_52.index("eyeBlinkLeft")] = expr[ARKIT_52.index("eyeBlinkRight")] = rng.uniform(0.5, 1.0)
        eye_rot = [rng.uniform(-0.25, 0.25), rng.uniform(-0.35, 0.35), 0.0]
        poses = {"jaw": np.array([rng.choice([0.0, rng.uniform(0.05, 0.35)]), 0.0, 0.0]),
                 "neck": rng.uniform(-0.15, 0.15, 3), "eye_L": np.array(eye_rot), "eye_R": np.array(eye_rot)}
        # Azimuth: golden-angle spread mapped so the front half gets two thirds of the views.
        u = (i * 0.618034 + rng.uniform(0, 0.1)) % 1.0
        azim = np.sign(u - 0.5) * np.pi * (abs(2 * u - 1) ** 1.5)
        elev = rng.uniform(-0.25, 0.45)
        direction = np.array([np.sin(azim) * np.cos(elev), np.sin(elev), np.cos(azim) * np.cos(elev)])
        eye = HEAD_CENTRE + DISTANCE * direction
        viewmat = look_at(eye, HEAD_CENTRE)
        K = intrinsics(size * DISTANCE / HEAD_SPAN, size, size)
        views.append(View(expr, poses, viewmat, K, size))
    return views
