"""Coordinate frames and rotations shared by every stage (pure numpy).

Conversation frame: origin at the conversation's centre, metres, +X right, +Y up, +Z forward.
A rig in its rest pose faces +Z with +Y up (as FLAME does).
"""

from __future__ import annotations

import numpy as np

_CONV_TO_BLENDER = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], np.float64)


def conv_to_blender(v: np.ndarray) -> np.ndarray:
    """(x, y, z) in the conversation frame -> (x, -z, y) in Blender's Z-up frame; works on [..., 3]."""
    return np.asarray(v) @ _CONV_TO_BLENDER.T


def blender_to_conv(v: np.ndarray) -> np.ndarray:
    """The inverse of conv_to_blender: (x, y, z) in Blender's frame -> (x, z, -y); works on [..., 3]."""
    return np.asarray(v) @ _CONV_TO_BLENDER


def rotmat(aa: np.ndarray) -> np.ndarray:
    """Axis-angle [..., 3] (radians) -> rotation matrices [..., 3, 3] (Rodrigues)."""
    aa = np.asarray(aa, np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.where(theta < 1e-12, 1.0, theta)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*aa.shape[:-1], 3, 3)
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1 - c) * (k @ k)


def axis_angle(r: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] -> axis-angle [..., 3]; stable near 0 and pi."""
    r = np.asarray(r, np.float64)
    cos = np.clip((np.trace(r, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    theta = np.arccos(cos)
    v = np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    sin = np.sin(theta)
    out = np.where((sin > 1e-6)[..., None], v * (theta / np.maximum(2 * sin, 1e-12))[..., None], v / 2)
    near_pi = cos < -0.999
    if np.any(near_pi):
        # Near pi the antisymmetric part vanishes; take the axis from the symmetric part instead.
        sym = (r[near_pi] + np.eye(3)) / 2
        idx = np.argmax(np.diagonal(sym, axis1=-2, axis2=-1), -1)
        axis = sym[np.arange(len(idx)), :, idx]
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        out[near_pi] = axis * theta[near_pi][..., None]
    return out


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Axis-angle [..., 3] of the shortest rotation taking unit vector(s) a onto b."""
    a = np.asarray(a, np.float64) / np.linalg.norm(a, axis=-1, keepdims=True)
    b = np.asarray(b, np.float64) / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    c = np.sum(a * b, -1, keepdims=True)
    angle = np.arctan2(s, c)
    return axis / np.where(s < 1e-12, 1.0, s) * angle


def wrap_angle(angle: np.ndarray | float) -> np.ndarray:
    """Angle(s) in radians brought into [-pi, pi)."""
    return (np.asarray(angle, np.float64) + np.pi) % (2 * np.pi) - np.pi


def yaw(angle: np.ndarray | float) -> np.ndarray:
    """Axis-angle for a rotation of ``angle`` radians about +Y (turning the head left/right)."""
    angle = np.asarray(angle, np.float64)
    return np.stack([np.zeros_like(angle), angle, np.zeros_like(angle)], -1)


def facing_yaw(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Yaw (radians) that turns a rig facing +Z at ``src`` towards ``dst`` in the horizontal plane."""
    d = np.asarray(dst, np.float64) - np.asarray(src, np.float64)
    return np.arctan2(d[..., 0], d[..., 2])
