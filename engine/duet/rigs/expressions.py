"""The open head's 52 ARKit expression keys as localized displacement fields (pure numpy).

Each key is a delta [V,3] at weight 1, built from compactly supported falloffs so it moves only its
own region. "Left" is the person's own left (+X in the rig frame). ``jawOpen`` is left empty here:
``openhead.load`` derives it from the jaw joint (jawOpen = jaw X-rotation / 0.35 rad).
"""

from __future__ import annotations

import numpy as np

from duet.arkit import ARKIT_52
from duet.frames import rotmat
from duet.rigs.geometry import (MOUTH_HALF_WIDTH, MOUTH_Y, REST_JOINTS, Template, _sphere_dz, bump, eye_frame,
                                lid_heights, lips_sdf, smoothstep)

EYE_LOOK_RAD = 0.5


def _lid_move(v, skin, side, upper_to, lower_rise=0.0, upper_shift=0.0):
    """Slide eyelid skin over the eye on the lid sphere.

    ``upper_to`` in [0,1]: how far the upper lid margin travels towards the closing line (1 = shut);
    ``upper_shift`` lifts (>0) or lowers the upper lid band; ``lower_rise`` lifts the lower lid.
    """
    c = REST_JOINTS[3 + side]
    dx, dy = eye_frame(v, side)
    up, lo, t = lid_heights(dx)
    inside = (np.abs(t) < 1) & skin & (v[:, 2] > c[2] - 0.004)
    fade = np.clip(1 - t ** 2, 0, 1) ** 0.5
    close = -0.55 * lo
    top = up + 0.008
    new_dy = dy.copy()
    band = inside & (dy >= up) & (dy <= top)
    margin = up + (close - up) * upper_to + upper_shift * fade
    new_dy[band] = margin[band] + (dy[band] - up[band]) * (top[band] - margin[band]) / (top[band] - up[band])
    opening = inside & (dy < up) & (dy > -lo)
    new_dy[opening] = np.maximum(dy[opening], margin[opening] - 0.0005) if upper_to > 0 else dy[opening]
    low_band = inside & (dy <= -lo) & (dy >= -lo - 0.005)
    new_dy[low_band] = dy[low_band] + lower_rise * fade[low_band] * (1 - (-lo[low_band] - dy[low_band]) / 0.005)
    delta = np.zeros_like(v)
    moved = band | low_band | opening
    delta[moved, 1] = new_dy[moved] - dy[moved]
    delta[moved, 2] = _sphere_dz(dx[moved], new_dy[moved]) - _sphere_dz(dx[moved], dy[moved])
    if upper_to > 0:
        # Shut: the opening's recessed skin comes up to sit just under the closed lid.
        target = c[2] + _sphere_dz(dx[opening], new_dy[opening]) - 0.0006
        delta[opening, 2] = target - v[opening, 2]
        delta[opening, 1] = new_dy[opening] - dy[opening]
    return delta


def _eye_rotation(v, part, side, aa):
    c = REST_JOINTS[3 + side]
    on = part == 1 + side
    delta = np.zeros_like(v)
    delta[on] = (v[on] - c) @ rotmat(np.asarray(aa, np.float64)).T + c - v[on]
    return delta


def arkit_deltas(tpl: Template, jaw_weight: np.ndarray) -> np.ndarray:
    """[52,V,3] deltas in ARKIT_52 order."""
    v = tpl.vertices
    x, y, z = v.T
    part = tpl.vertex_part
    skin = part == 0
    side = tpl.lip_side
    mouthish = (skin | (part == 3)).astype(np.float64)
    keys: dict[str, np.ndarray] = {}
    zero = lambda: np.zeros_like(v)  # noqa: E731

    for s, lr in ((0, "Left"), (1, "Right")):
        sx = 1.0 if s == 0 else -1.0
        keys[f"eyeBlink{lr}"] = _lid_move(v, skin, s, upper_to=1.0, lower_rise=0.0012)
        keys[f"eyeWide{lr}"] = _lid_move(v, skin, s, upper_to=0.0, upper_shift=0.0022)
        squint = _lid_move(v, skin, s, upper_to=0.0, upper_shift=-0.0012, lower_rise=0.0022)
        under = bump(v, (sx * 0.034, 0.172, 0.07), (0.018, 0.010, 0.02)) * skin
        squint[:, 1] += 0.0015 * under
        keys[f"eyeSquint{lr}"] = squint
        # Eye looks (for ARKit-only consumers; the engine turns the eye joints instead).
        inward = -sx  # "in" turns the eye towards the nose
        look = {"Down": (EYE_LOOK_RAD, 0, 0), "Up": (-EYE_LOOK_RAD, 0, 0),
                "In": (0, inward * EYE_LOOK_RAD, 0), "Out": (0, -inward * EYE_LOOK_RAD, 0)}
        for direction, aa in look.items():
            d = _eye_rotation(v, part, s, aa)
            if direction in ("Down", "Up"):
                d += _lid_move(v, skin, s, upper_to=0.0, upper_shift=-0.002 if direction == "Down" else 0.0015)
            keys[f"eyeLook{direction}{lr}"] = d

        corner = (sx * MOUTH_HALF_WIDTH, MOUTH_Y, 0.082)
        near_corner = bump(v, corner, (0.028, 0.026, 0.03)) * mouthish
        half = smoothstep(-0.004, 0.006, sx * x)
        keys[f"mouthSmile{lr}"] = near_corner[:, None] * np.array([sx * 0.0055, 0.0065, -0.003])
        cheek = bump(v, (sx * 0.042, 0.15, 0.065), (0.022, 0.02, 0.025)) * skin
        keys[f"mouthSmile{lr}"] += cheek[:, None] * np.array([sx * 0.001, 0.0025, 0.0015])
        keys[f"mouthFrown{lr}"] = near_corner[:, None] * np.array([sx * 0.001, -0.006, -0.001])
        keys[f"mouthDimple{lr}"] = near_corner[:, None] * np.array([sx * 0.003, 0.0, -0.004])
        keys[f"mouthStretch{lr}"] = near_corner[:, None] * np.array([sx * 0.007, -0.0025, -0.002])
        lips = bump(v, (0, MOUTH_Y, 0.09), (0.04, 0.022, 0.04)) * mouthish * half
        keys[f"mouthPress{lr}"] = np.zeros_like(v)
        keys[f"mouthPress{lr}"][:, 1] = -lips * (y - MOUTH_Y) * 0.35
        keys[f"mouthPress{lr}"][:, 2] = -lips * 0.0008
        lower = lips * (side < 0)
        upper = lips * (side > 0)
        keys[f"mouthLowerDown{lr}"] = lower[:, None] * np.array([0, -0.0055, 0.0005])
        keys[f"mouthUpperUp{lr}"] = upper[:, None] * np.array([0, 0.0050, 0.0005])
        keys[f"cheekSquint{lr}"] = (bump(v, (sx * 0.04, 0.168, 0.066), (0.024, 0.016, 0.024)) * skin)[:, None] \
            * np.array([0, 0.0038, 0.0012])
        sneer = bump(v, (sx * 0.012, 0.152, 0.095), (0.014, 0.02, 0.02)) * skin
        sneer_brow = bump(v, (sx * 0.012, 0.205, 0.083), (0.014, 0.012, 0.02)) * skin
        keys[f"noseSneer{lr}"] = sneer[:, None] * np.array([sx * 0.001, 0.0042, 0.0006]) \
            + sneer_brow[:, None] * np.array([0, -0.0015, 0])
        brow = bump(v, (sx * 0.03, 0.212, 0.076), (0.03, 0.018, 0.03)) * skin
        inner_more = 1 + 0.6 * smoothstep(0.03, 0.01, sx * x)
        keys[f"browDown{lr}"] = (brow * inner_more)[:, None] * np.array([-sx * 0.0012, -0.004, 0.0008])
        outer = bump(v, (sx * 0.042, 0.212, 0.066), (0.022, 0.02, 0.03)) * skin
        keys[f"browOuterUp{lr}"] = outer[:, None] * np.array([0, 0.006, 0.0])

    inner = sum(bump(v, (sx * 0.016, 0.212, 0.083), (0.022, 0.02, 0.025)) for sx in (-1, 1))
    keys["browInnerUp"] = (np.clip(inner, 0, 1) * skin)[:, None] * np.array([0, 0.0065, 0.0])

    keys["jawOpen"] = zero()
    keys["jawForward"] = jaw_weight[:, None] * np.array([0, 0, 0.007])
    keys["jawLeft"] = jaw_weight[:, None] * np.array([0.006, 0, 0])
    keys["jawRight"] = jaw_weight[:, None] * np.array([-0.006, 0, 0])

    lips = bump(v, (0, MOUTH_Y, 0.09), (0.04, 0.024, 0.045)) * mouthish
    core = smoothstep(0.006, 0.0, lips_sdf(v)) * lips
    up, lo = side > 0, side < 0
    toward = np.where(lo[:, None], [0, 0.010, 0.001], np.where(up[:, None], [0, -0.004, 0.0], 0.0))
    keys["mouthClose"] = lips[:, None] * toward
    funnel = zero()
    funnel[:, 0] = -x * 0.18 * lips
    funnel[:, 1] = lips * np.where(up, 0.0028, np.where(lo, -0.0028, 0.0))
    funnel[:, 2] = 0.007 * lips
    keys["mouthFunnel"] = funnel
    pucker = zero()
    pucker[:, 0] = -x * 0.42 * lips
    pucker[:, 2] = 0.013 * lips * smoothstep(0.0, 1.0, lips + core)
    keys["mouthPucker"] = pucker
    keys["mouthLeft"] = lips[:, None] * np.array([0.008, 0, 0])
    keys["mouthRight"] = lips[:, None] * np.array([-0.008, 0, 0])
    roll_lo = core * lo
    roll_up = core * up
    for key, w in (("mouthRollLower", roll_lo), ("mouthRollUpper", roll_up)):
        # Rolling in: the lip turns over its inner edge, so its surface folds back towards the mouth line.
        keys[key] = np.stack([np.zeros_like(w), -0.45 * (y - MOUTH_Y) * w, -0.0045 * w], -1)
    chin = bump(v, (0, 0.094, 0.085), (0.03, 0.03, 0.035)) * skin
    keys["mouthShrugLower"] = (lips * lo + chin)[:, None].clip(0, 1) * np.array([0, 0.0035, 0.002])
    keys["mouthShrugUpper"] = (lips * up)[:, None] * np.array([0, 0.003, 0.001])

    puff = zero()
    for sx in (-1, 1):
        b = bump(v, (sx * 0.045, 0.128, 0.058), (0.026, 0.026, 0.03)) * skin
        puff += b[:, None] * np.array([sx * 0.008, 0, 0.004])
    keys["cheekPuff"] = puff

    tongue = part == 5
    tz = z[tongue]
    tip = smoothstep(tz.min(), tz.max(), tz)
    out = zero()
    out[tongue] = np.stack([np.zeros_like(tz), -0.004 * tip, 0.020 + 0.012 * tip], -1)
    keys["tongueOut"] = out
    assert set(keys) == set(ARKIT_52)
    return np.stack([keys[n] for n in ARKIT_52])
