"""Where the two people are: a varied distribution of conversational layouts (conversation frame).

Positions are each person's eye midpoint in metres; y is eye height above the floor; the pair is
centred on x = z = 0. ``yaw`` is each body's orientation (0 faces +Z).
"""

from __future__ import annotations

import numpy as np

from duet.errors import DuetError
from duet.frames import facing_yaw, wrap_angle

KINDS = ("face_to_face_standing", "face_to_face_sitting", "table_across", "table_corner", "side_by_side",
         "standing_and_sitting", "whispering", "across_room")
_STAND, _SIT = (1.5, 1.75), (1.1, 1.3)


def sample_layout(rng: np.random.Generator, relation: str = "nonblood-equal") -> dict:
    """{"A": [x,y,z], "B": [x,y,z], "yaw": {"A": rad, "B": rad}, "kind": str}."""
    kind = KINDS[rng.integers(len(KINDS))]
    near = 0.85 if relation.startswith("blood") else 1.0  # family stands a little closer
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    h_a, h_b = u(*_STAND), u(*_STAND)
    if kind in ("face_to_face_sitting", "table_across", "table_corner", "side_by_side"):
        h_a, h_b = u(*_SIT), u(*_SIT)
    elif kind == "standing_and_sitting":
        h_b = u(*_SIT)
    dist = {"face_to_face_standing": u(0.8, 1.6), "face_to_face_sitting": u(1.0, 1.7), "table_across": u(1.0, 1.5),
            "table_corner": u(0.8, 1.1), "side_by_side": u(0.5, 0.8), "standing_and_sitting": u(0.9, 1.5),
            "whispering": u(0.25, 0.45), "across_room": u(2.5, 4.0)}[kind] * near
    theta = u(0, 2 * np.pi)  # the pair's axis in the horizontal plane
    axis = np.array([np.cos(theta), 0.0, np.sin(theta)])
    a = np.array([0.0, h_a, 0.0]) - axis * dist / 2
    b = np.array([0.0, h_b, 0.0]) + axis * dist / 2
    if kind == "whispering":
        b[1] = a[1] + u(-0.08, 0.08)
    yaw_a, yaw_b = float(facing_yaw(a, b)), float(facing_yaw(b, a))
    if kind == "side_by_side":  # both face the same way, turned a little towards each other
        front = float(facing_yaw(a, b)) - np.pi / 2 * (1 if rng.random() < 0.5 else -1)
        turn = u(0.1, 0.45)
        yaw_a = front + turn * np.sign(np.sin(yaw_a - front))
        yaw_b = front + turn * np.sign(np.sin(yaw_b - front))
    elif kind == "table_corner":  # bodies face the table's corner, 90 degrees apart
        yaw_a, yaw_b = yaw_a - np.pi / 4, yaw_b + np.pi / 4
    elif kind != "whispering":
        yaw_a, yaw_b = yaw_a + u(-0.15, 0.15), yaw_b + u(-0.15, 0.15)
    return {"A": [float(v) for v in a], "B": [float(v) for v in b],
            "yaw": {"A": float(wrap_angle(yaw_a)), "B": float(wrap_angle(yaw_b))},
            "kind": kind}


def body_yaw(layout: dict | None) -> dict[str, float] | None:
    """A layout's optional "yaw": {"A": rad, "B": rad}, how each body is turned, checked: None when
    the layout does not say (bodies then face the partner), a one-line DuetError when malformed."""
    given = (layout or {}).get("yaw")
    if given is None:
        return None
    try:
        out = {p: float(given[p]) for p in ("A", "B")}
    except (KeyError, TypeError, ValueError):
        raise DuetError('the layout\'s "yaw" must give a number of radians for each of "A" and "B"') from None
    if not all(np.isfinite(v) for v in out.values()):
        raise DuetError('the layout\'s "yaw" must be finite')
    return out
