"""FLAME's joint tree and forward kinematics for the joints (pure numpy).

Joints in FLAME order: global (root), neck, jaw, eye_L, eye_R; parents -1, 0, 1, 1, 1.
Rest positions are in the rig frame (metres, +Y up, the face looks along +Z). "eye_L" is the
person's own left eye, which sits at +X when the head faces +Z.
"""

from __future__ import annotations

import numpy as np

from duet.frames import rotmat
from duet.motion import JOINTS

PARENTS = (-1, 0, 1, 1, 1)

# Rest joint positions of the open heads (rig frame). Root at the base of the neck.
REST_JOINTS = np.array([
    [0.0, 0.0, 0.0],        # global / root
    [0.0, 0.09, -0.015],    # neck: the skull's pivot on the spine (atlas)
    [0.0, 0.16, 0.005],     # jaw: the temporomandibular axis, in front of the ears
    [0.032, 0.19, 0.072],   # eye_L: centre of the left eyeball
    [-0.032, 0.19, 0.072],  # eye_R
], np.float64)

EYE_MID_REST = REST_JOINTS[3:5].mean(0)
REST_GAZE = np.array([0.0, 0.0, 1.0])  # the eyes look along +Z at rest


def forward(poses: dict[str, np.ndarray], transl: np.ndarray, rest_joints: np.ndarray = REST_JOINTS):
    """World rotations [T,5,3,3] and positions [T,5,3] of the joints for axis-angle ``poses``.

    ``poses[j]`` is [T,3] (or [3]); ``transl`` [T,3] moves the whole rig, as in FLAME.
    """
    local = np.stack([rotmat(np.asarray(poses[j], np.float64)) for j in JOINTS], -3)  # [T,5,3,3]
    transl = np.asarray(transl, np.float64)
    shape = local.shape[:-3]
    rot = np.zeros(shape + (5, 3, 3))
    pos = np.zeros(shape + (5, 3))
    for i, parent in enumerate(PARENTS):
        if parent < 0:
            rot[..., i, :, :] = local[..., i, :, :]
            pos[..., i, :] = rest_joints[i] + transl
        else:
            rot[..., i, :, :] = rot[..., parent, :, :] @ local[..., i, :, :]
            offset = rest_joints[i] - rest_joints[parent]
            pos[..., i, :] = pos[..., parent, :] + np.einsum("...ij,j->...i", rot[..., parent, :, :], offset)
    return rot, pos


def gaze(poses: dict[str, np.ndarray], transl: np.ndarray, rest_joints: np.ndarray = REST_JOINTS):
    """Eye centres [T,2,3] and unit gaze directions [T,2,3] (left, right) in the world frame."""
    rot, pos = forward(poses, transl, rest_joints)
    dirs = np.einsum("...ij,j->...i", rot[..., 3:5, :, :], REST_GAZE)
    return pos[..., 3:5, :], dirs


def eye_midpoint(poses: dict[str, np.ndarray], transl: np.ndarray) -> np.ndarray:
    """World position [T,3] of the point between the eyes: where a partner looks."""
    _, pos = forward(poses, transl)
    return pos[..., 3:5, :].mean(-2)


def transl_for_head(head: np.ndarray, yaw_angle: float = 0.0) -> np.ndarray:
    """Rig translation that puts the eye midpoint at ``head`` when the rig is turned by ``yaw_angle``."""
    c, s = np.cos(yaw_angle), np.sin(yaw_angle)
    r = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.asarray(head, np.float64) - r @ EYE_MID_REST
