"""Assemble the open head asset: template, skinning weights, identity basis, ARKit keys, materials.

``build_arrays()`` is deterministic; ``duet rig build`` saves it as ``engine/duet/rigs/openhead.npz``.
"""

from __future__ import annotations

import numpy as np

from duet.rigs import expressions, geometry
from duet.rigs.geometry import MOUTH_HALF_WIDTH, MOUTH_Y, REST_JOINTS, bump, eye_frame, lips_sdf, smoothstep


def skin_weights(tpl: geometry.Template) -> np.ndarray:
    """[V,5] LBS weights: neck base on global, head on neck, chin/lower lip/teeth/tongue on jaw, eyeballs on eyes."""
    v, part, side = tpl.vertices, tpl.vertex_part, tpl.lip_side.astype(np.float64)
    x, y, z = v.T
    sharp = np.where(side < 0, 1.0, np.where(side > 0, 0.0, 0.5))
    smooth = smoothstep(MOUTH_Y + 0.02, MOUTH_Y - 0.025, y)
    t = smoothstep(0.0, 0.025, np.abs(x) - MOUTH_HALF_WIDTH)
    jaw = sharp + (smooth - sharp) * t
    jaw = jaw * smoothstep(-0.005, 0.045, z) * (1 - smoothstep(0.05, 0.068, np.abs(x)))
    jaw = jaw * smoothstep(0.035, 0.08, y + 0.5 * np.maximum(z - 0.03, 0))
    inner = np.isin(part, (3, 4, 5))
    jaw = np.where(inner, sharp, jaw)
    jaw = np.where(part == 0, jaw, np.where(inner, jaw, 0.0))
    neck = np.where(part == 0, smoothstep(0.015, 0.10, y + 0.6 * np.maximum(z - 0.02, 0)), 1.0)
    w = np.zeros((len(v), 5))
    w[:, 2] = jaw
    w[:, 1] = (1 - jaw) * neck
    w[:, 0] = (1 - jaw) * (1 - neck)
    for k in (1, 2):
        w[part == k] = 0
        w[part == k, 2 + k] = 1
    w[np.isin(part, (6, 7))] = [0, 1, 0, 0, 0]  # hair and eyebrows ride on the skull
    return w


def _away_from_eyes(v):
    far = np.ones(len(v))
    for s in (0, 1):
        dx, dy = eye_frame(v, s)
        far = far * smoothstep(0.017, 0.032, np.hypot(dx, dy))
    return far


def identity_basis(tpl: geometry.Template) -> np.ndarray:
    """[V,3,10] identity directions (see openhead.BETA_NAMES); each keeps eyes, joints and mouth interior still."""
    v = tpl.vertices
    x, y, z = v.T
    skin = (tpl.vertex_part == 0).astype(np.float64)
    sx = np.sign(x)
    far = _away_from_eyes(v) * skin
    d = np.zeros((len(v), 3, 10))
    d[:, 0, 0] = sx * 0.007 * smoothstep(0.035, 0.07, np.abs(x)) * smoothstep(0.05, 0.13, y) * far
    d[:, 2, 1] = -0.010 * smoothstep(-0.02, -0.09, z) * smoothstep(0.09, 0.17, y) * skin
    d[:, 1, 2] = 0.010 * smoothstep(0.22, 0.29, y) * skin
    jaw_band = bump(v, (0, 0.105, 0.03), (1.0, 0.04, 1.0)) * smoothstep(-0.02, 0.03, z)
    d[:, 0, 3] = sx * 0.0055 * smoothstep(0.025, 0.05, np.abs(x)) * jaw_band * skin
    nose = bump(v, (0, 0.152, 0.105), (0.022, 0.035, 0.03)) * (z > 0.08) * skin
    d[:, :, 4] = nose[:, None] * np.array([0.0, -0.0025, 0.005])
    d[:, 1, 4] += nose * (v[:, 1] - 0.152) * 0.1
    for s in (-1, 1):
        cheek = bump(v, (s * 0.046, 0.142, 0.055), (0.03, 0.03, 0.035)) * skin
        d[:, :, 5] += cheek[:, None] * np.array([s * 0.0045, 0.0, 0.002])
        brow = bump(v, (s * 0.034, 0.212, 0.075), (0.032, 0.02, 0.03)) * skin
        d[:, 1, 6] += brow * 0.0035
    chin = smoothstep(MOUTH_Y - 0.018, MOUTH_Y - 0.04, y) * bump(v, (0, 0.085, 0.07), (0.05, 1.0, 0.06)) * skin
    d[:, 1, 7] = -0.0065 * chin
    d[:, 2, 7] = 0.002 * chin
    lip = smoothstep(0.004, -0.001, lips_sdf(v)) * skin * (np.abs(tpl.lip_side) > 0)
    d[:, 1, 8] = lip * (y - MOUTH_Y) * 0.3
    d[:, 2, 8] = lip * 0.0018
    neck_ring = smoothstep(0.08, 0.05, y) * smoothstep(-0.03, 0.0, y + 0.03) * skin
    radial = np.stack([x, np.zeros_like(x), z - geometry.AXIS_Z], -1)
    radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
    d[:, :, 9] = radial * (0.006 * neck_ring)[:, None]
    on, nearest = _glue(tpl)
    d[on] = d[nearest]  # hair and eyebrows stay on the skin
    return d


def _glue(tpl: geometry.Template) -> tuple[np.ndarray, np.ndarray]:
    """Hair and eyebrow vertices, and the skin vertex each one copies its displacements from."""
    v = tpl.vertices
    on = np.nonzero(np.isin(tpl.vertex_part, (6, 7)))[0]
    skin = np.nonzero((tpl.vertex_part == 0) & (v[:, 1] > 0.1))[0]
    nearest = skin[np.argmin(((v[on, None] - v[None, skin]) ** 2).sum(-1), axis=1)]
    return on, nearest


def poly_materials(tpl: geometry.Template) -> np.ndarray:
    """[P] material index per polygon (see openhead.MATERIALS)."""
    mat = np.zeros(len(tpl.polys), np.int8)
    v = tpl.vertices
    idx = np.where(tpl.polys >= 0, tpl.polys, tpl.polys[:, :1])
    c = v[idx].mean(1)
    part = tpl.vertex_part[idx[:, 0]]
    x = c[:, 0]
    mat[part == 6] = 1
    mat[part == 7] = 2
    lip = (lips_sdf(c) < 0.0012) & (np.abs(x) < MOUTH_HALF_WIDTH + 0.002)
    mat[(part == 0) & lip] = 3
    mat[part == 3] = 4
    mat[part == 4] = 5
    mat[part == 5] = 6
    eye = np.isin(part, (1, 2))
    polar = np.where(np.isnan(tpl.eye_polar[idx]), -1.0, tpl.eye_polar[idx]).max(1)
    mat[eye] = 7
    mat[eye & (polar < 0.56)] = 8
    mat[eye & (polar < 0.24)] = 9
    return mat


def build_arrays() -> dict[str, np.ndarray]:
    """Every array of the open head asset (float32 geometry, int indices)."""
    tpl = geometry.build_template()
    weights = skin_weights(tpl)
    deltas = expressions.arkit_deltas(tpl, weights[:, 2])
    on, nearest = _glue(tpl)
    deltas[:, on] = deltas[:, nearest]  # hair and eyebrows stay on the skin
    return {
        "template": tpl.vertices.astype(np.float64),
        "polys": tpl.polys.astype(np.int32),
        "faces": geometry.triangulate(tpl.polys).astype(np.int32),
        "uv": tpl.poly_uv.astype(np.float32),
        "weights": weights.astype(np.float32),
        "shapedirs": identity_basis(tpl).astype(np.float32),
        "expr_deltas": deltas.astype(np.float32),
        "vertex_part": tpl.vertex_part.astype(np.int8),
        "lip_side": tpl.lip_side.astype(np.int8),
        "lip_upper_mid": tpl.lip_upper_mid.astype(np.int32),
        "lip_lower_mid": tpl.lip_lower_mid.astype(np.int32),
        "poly_material": poly_materials(tpl),
        "hair_volume": tpl.hair_volume.astype(np.float32),
        "rest_joints": REST_JOINTS.astype(np.float64),
    }
