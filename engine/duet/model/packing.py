"""Motion vectors for the model and back: one [T, D] row block per person, layout-free (numpy).

Per person x = [expression (E ARKit channels), global, neck, jaw, eye_L, eye_R (axis-angle), translation
delta (3)]. The global rotation and the translation delta are expressed in the person's *facing
frame*: the yaw that turns them towards the partner's eyes where the layout put them
(``layout_heads``). A model trained on these never has to learn the layout's yaw; the layout
reaches it as conditioning instead:
[own eye height, partner's eye midpoint relative to own, in the own facing frame] (4 numbers), and with
``body`` how the own body is turned away from the partner (2 more; ``layout_features``).
Jaw opening lives in the jaw joint and gaze in the eye joints (ARKit jawOpen / eyeLook* stay 0).
"""

from __future__ import annotations

import numpy as np

from duet.arkit import ARKIT_52
from duet.frames import axis_angle, facing_yaw, rotmat, wrap_angle, yaw
from duet.motion import DyadicMotion, JOINTS, PERSONS, PersonMotion
from duet.rigs.kinematics import EYE_MID_REST, eye_midpoint, transl_for_head

JOINT_SLICES = {j: slice(3 * i, 3 * i + 3) for i, j in enumerate(JOINTS)}
ZERO_CHANNELS = ("jawOpen", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
                 "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight")


def emotion_frames(turns, n_frames: int, vocab: tuple[str, ...], fps: float = 25.0) -> np.ndarray:
    """[2, T] emotion ids per person and frame: the label of their own most recent turn (id 0 before
    their first, and for a label outside ``vocab``). ``turns``: objects with ``speaker`` ("A"/"B"),
    ``start`` (seconds) and ``emotion``, as the corpus's timed turns have them."""
    out = np.zeros((2, n_frames), np.int64)
    index = {e: i for i, e in enumerate(vocab)}
    starts = np.arange(n_frames) / fps
    for turn in sorted(turns, key=lambda t: t.start):
        row = PERSONS.index(turn.speaker)
        out[row, starts >= turn.start] = index.get(turn.emotion, 0)
    return out


def heads_at(motion: DyadicMotion, frame: int = 0) -> dict[str, np.ndarray]:
    """Each person's eye midpoint (conversation frame) at ``frame``: the layout the clip starts from."""
    out = {}
    for p in PERSONS:
        m = motion.person(p)
        poses = {j: m.poses[j][frame] for j in JOINTS}
        out[p] = eye_midpoint(poses, m.transl[frame])
    return out


def layout_heads(motion: DyadicMotion, frame: int = 0) -> dict[str, np.ndarray]:
    """Each person's eye midpoint with the neck at rest (the body as it is) at ``frame``: where the
    layout put them, as the corpus animator and a user's layout give it. Unlike ``heads_at``, a nod
    or a turn of the head at that frame does not move it, so both people's frames stay free of it."""
    return {p: (motion.person(p).transl[frame].astype(np.float64)
                + rotmat(motion.person(p).poses["global"][frame]) @ EYE_MID_REST) for p in PERSONS}


def facing(heads: dict) -> dict[str, np.ndarray]:
    """Rotation matrix of each person's facing frame (yaw towards the partner's eyes)."""
    h = {p: np.asarray(heads[p], np.float64) for p in PERSONS}
    return {p: rotmat(yaw(facing_yaw(h[p], h[q]))) for p, q in (("A", "B"), ("B", "A"))}


def layout_features(heads: dict, body_yaw: dict | None = None, body: bool = False) -> np.ndarray:
    """[2, 4] per person: own eye height, partner's eye midpoint minus own, in the own facing frame.
    With ``body`` [2, 6]: and sin d, 1 - cos d of d = the body's yaw (``body_yaw[p]``, radians; None:
    facing the partner) minus the yaw that faces the partner. Eye positions alone cannot tell a couch
    (bodies side by side, heads turned) from two people face to face, and the corpus's heads turn only
    part of the way from the body to the partner (the eyes do the rest)."""
    face = facing(heads)
    rows = []
    for p, q in (("A", "B"), ("B", "A")):
        rel = face[p].T @ (np.asarray(heads[q], np.float64) - np.asarray(heads[p], np.float64))
        row = [float(heads[p][1]), *rel]
        if body:
            d = 0.0 if body_yaw is None else float(wrap_angle(body_yaw[p] - facing_yaw(heads[p], heads[q])))
            row += [np.sin(d), 1.0 - np.cos(d)]
        rows.append(row)
    return np.asarray(rows, np.float32)


def body_yaws(motion: DyadicMotion, frame: int = 0) -> dict[str, float]:
    """Each person's body yaw (radians) at ``frame``: where the global rotation turns +Z, in the
    horizontal plane (the corpus's bodies only ever turn about the vertical)."""
    forward = {p: rotmat(motion.person(p).poses["global"][frame].astype(np.float64))[:, 2] for p in PERSONS}
    return {p: float(facing_yaw(np.zeros(3), f)) for p, f in forward.items()}


def pack(motion: DyadicMotion, expr_names=ARKIT_52) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """DyadicMotion -> (x [T, 2, D] float32, the layout's heads: ``layout_heads``). Channels follow
    ``expr_names``."""
    heads = layout_heads(motion)
    face = facing(heads)
    index = {n: i for i, n in enumerate(motion.expr_names)}
    missing = [n for n in expr_names if n not in index]
    if missing:
        raise ValueError(f"motion lacks expression channels {missing[:3]}")
    cols = [index[n] for n in expr_names]
    people = []
    for p in PERSONS:
        m = motion.person(p)
        rots = [m.poses[j].astype(np.float64) for j in JOINTS]
        rots[0] = axis_angle(face[p].T @ rotmat(rots[0]))
        delta = (m.transl - m.transl[0]).astype(np.float64) @ face[p]  # rows: face^T (t - t0)
        people.append(np.concatenate([m.expr[:, cols], *rots, delta], axis=1))
    return np.stack(people, axis=1).astype(np.float32), heads


def unpack(x: np.ndarray, heads: dict, expr_names=ARKIT_52, speaking: np.ndarray | None = None,
           fps: float = 25.0, meta: dict | None = None, body_yaw: dict | None = None) -> DyadicMotion:
    """x [T, 2, D] + first-frame eye midpoints -> DyadicMotion (absolute, conversation frame).

    The body stays put, as it does in every training clip: the global rotation is the constant
    ``body_yaw[p]`` (radians; default: facing the partner) and the neck carries all of the head's
    turn, so the head's orientation (global then neck) is the model's own, frame for frame. The
    model cannot know how a body is turned from eye positions alone, and left to itself it picks a
    different split of the head's turn between body and neck in each window.

    The first-frame translation puts each person's eye midpoint exactly at ``heads[p]``; with a
    ``body_yaw`` it puts it there for the neck at rest, as the corpus animator does.
    """
    x = np.asarray(x, np.float64)
    n_frames, e = x.shape[0], len(expr_names)
    face = facing(heads)
    zero = [i for i, n in enumerate(expr_names) if n in ZERO_CHANNELS]
    people = []
    for i, p in enumerate(PERSONS):
        xp = x[:, i]
        expr = np.clip(xp[:, :e], 0.0, 1.0)
        expr[:, zero] = 0.0
        rot = xp[:, e: e + 15]
        poses = {j: rot[:, JOINT_SLICES[j]].copy() for j in JOINTS}
        # the jaw stops where the lips meet, as the expressions stop at the rig's 0..1: strong guidance
        # can push a closure past it (the lips would pass each other); the corpus's jaw never goes there
        poses["jaw"][:, 0] = np.maximum(poses["jaw"][:, 0], 0.0)
        head = face[p] @ rotmat(poses["global"]) @ rotmat(poses["neck"])
        body = face[p] if body_yaw is None else rotmat(yaw(float(body_yaw[p])))
        poses["neck"] = axis_angle(body.T @ head)
        poses["global"] = np.repeat(axis_angle(body)[None], n_frames, 0)
        if body_yaw is None:
            first = {j: poses[j][0] for j in JOINTS}
            t0 = np.asarray(heads[p], np.float64) - eye_midpoint(first, np.zeros(3))
        else:  # a turned body: as in the corpus, the layout is where the eyes are with the neck at rest
            t0 = transl_for_head(heads[p], float(body_yaw[p]))
        delta = xp[:, e + 15: e + 18] - xp[:1, e + 15: e + 18]  # a delta from the first frame, by definition
        transl = t0 + delta @ face[p].T
        spk = np.zeros(n_frames) if speaking is None else np.clip(speaking[i][:n_frames], 0.0, 1.0)
        people.append(PersonMotion(expr=expr.astype(np.float32),
                                   poses={j: v.astype(np.float32) for j, v in poses.items()},
                                   transl=transl.astype(np.float32), speaking=spk.astype(np.float32),
                                   betas=np.zeros(10, np.float32)))
    return DyadicMotion(A=people[0], B=people[1], expr_names=tuple(expr_names), fps=fps, meta=dict(meta or {}))
