"""Per-person behaviour controls: how much head motion, facial expression and gaze aversion each
person shows, applied to any DyadicMotion by scaling its deviations (pure numpy).

- head motion: each frame's neck rotation away from the person's mean neck rotation (axis-angle
  of the difference, times the amount); the eyes counter-rotate so they keep looking where they looked.
- expression: the expressive blendshapes (brows, cheeks, nose, eye widening and squint, smiles,
  frowns, dimples) about the neutral face; lips, jaw and blinks are left alone.
- gaze aversion: the angle between each gaze and the line to the partner's eyes (0: always on the
  partner's eyes; 2: every look away twice as far).
1.0 leaves the motion as made (what people do); amounts lie in [0, MAX_AMOUNT].
"""

from __future__ import annotations

import numpy as np

from duet.errors import DuetError
from duet.frames import axis_angle, rotation_between, rotmat
from duet.motion import PERSONS, DyadicMotion

CONTROLS = ("head_motion", "expression", "gaze_aversion")
MAX_AMOUNT = 3.0
EXPRESSIVE = ("brow", "cheek", "nosesneer", "eyewide", "eyesquint", "mouthsmile", "mouthfrown", "mouthdimple")
_EYES = ("eye_L", "eye_R")


def amounts(value, name: str) -> dict[str, float]:
    """{"A": a, "B": b} from a number (both people), "a,b" text, or {"A": a, "B": b}; a clear
    DuetError for anything else."""
    flag = "--" + name.replace("_", "-")
    if isinstance(value, dict):
        parts = [value.get(p, 1.0) for p in PERSONS]
    elif isinstance(value, str):
        parts = [v.strip() for v in value.split(",")]
    else:
        parts = [value]
    if len(parts) == 1:
        parts = parts * 2
    try:
        out = {p: float(v) for p, v in zip(PERSONS, parts, strict=True)}
    except (TypeError, ValueError):
        raise DuetError(f"{flag} takes one number or two (A,B), e.g. 1.5 or 1.2,0.8; got {value!r}") from None
    for p, v in out.items():
        if not (np.isfinite(v) and 0.0 <= v <= MAX_AMOUNT):
            raise DuetError(f"{flag} for person {p} must lie between 0 and {MAX_AMOUNT:g}, got {v:g}")
    return out


def apply(motion: DyadicMotion, head_motion=1.0, expression=1.0, gaze_aversion=1.0) -> DyadicMotion:
    """``motion`` with each person's head motion, expression and gaze aversion scaled (in place;
    returned for chaining). Amounts as ``amounts`` reads them."""
    head, expr, gaze = (amounts(v, n) for v, n in zip((head_motion, expression, gaze_aversion), CONTROLS))
    channels = [i for i, n in enumerate(motion.expr_names) if n.lower().startswith(EXPRESSIVE)]
    for p in PERSONS:
        person = motion.person(p)
        if head[p] != 1.0:
            _scale_head(person, head[p])
        if expr[p] != 1.0:
            person.expr[:, channels] = np.clip(expr[p] * person.expr[:, channels], 0.0, 1.0)
    for p, q in (("A", "B"), ("B", "A")):
        if gaze[p] != 1.0:
            _scale_aversion(motion.person(p), motion.person(q), gaze[p])
    motion.meta["controls"] = {name: amount for name, amount in zip(CONTROLS, (head, expr, gaze))}
    return motion


def _mean_rotation(r: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(r.mean(0))
    return u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt


def _scale_head(person, amount: float) -> None:
    neck = rotmat(person.poses["neck"])
    mean = _mean_rotation(neck)
    dev = axis_angle(np.einsum("ji,tjk->tik", mean, neck))
    scaled = mean @ rotmat(amount * dev)
    back = np.einsum("tji,tjk->tik", scaled, neck)  # new neck^T old neck: the eyes keep their world direction
    for j in _EYES:
        person.poses[j][:] = axis_angle(back @ rotmat(person.poses[j]))
    person.poses["neck"][:] = axis_angle(scaled)


def _scale_aversion(person, partner, amount: float) -> None:
    from duet.rigs.kinematics import eye_midpoint, forward, gaze

    centres, dirs = gaze(person.poses, person.transl)
    look = dirs.sum(1)
    to = eye_midpoint(partner.poses, partner.transl) - centres.mean(1)
    off = rotation_between(to, look)  # [T,3]: from the line to the partner's eyes to the gaze
    delta = rotmat(amount * off) @ np.swapaxes(rotmat(off), -1, -2)  # world: old gaze -> new gaze
    rot, _ = forward(person.poses, person.transl)
    parent = rot[:, 1]  # the eyes hang from the neck
    local = np.einsum("tji,tjk,tkl->til", parent, delta, parent)
    for j in _EYES:
        person.poses[j][:] = axis_angle(local @ rotmat(person.poses[j]))
