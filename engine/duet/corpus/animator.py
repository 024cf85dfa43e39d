"""The procedural ground-truth animator: timings + layout -> DyadicMotion.

Lips and jaw from phones (dominance-blended visemes, hard closures on m/b/p), head motion from
prosody and turn-taking, listener nods and smiles, blinks,
emotion offsets, and gaze solved geometrically so that fixations land exactly on the partner's eyes.
Given recognized timings it is also an evaluation baseline, so it needs nothing but ``timings`` and
``layout``.
"""

from __future__ import annotations

import numpy as np

from duet.arkit import ARKIT_52, INDEX
from duet.speech import phonemes as ph
from duet.speech.conversation import PERSONS, Timings, n_frames
from duet.frames import facing_yaw, rotation_between, wrap_angle, yaw
from duet.motion import DyadicMotion, PersonMotion
from duet.rigs.kinematics import REST_GAZE, eye_midpoint, forward, transl_for_head

JAW_MAX = 0.30  # rad of jaw rotation at openness 1
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted")
RELATIONS = ("blood-equal", "blood-unequal", "nonblood-equal", "nonblood-unequal")
RESTRAINT = {"blood-equal": 1.0, "blood-unequal": 0.85, "nonblood-equal": 0.8, "nonblood-unequal": 0.65}

# Expression offsets while speaking with an emotion, and while listening to a partner who shows it.
SPEAKER_EXPR = {
    "neutral": {},
    "happy": {"mouthSmileLeft": 0.45, "mouthSmileRight": 0.45, "cheekSquintLeft": 0.25, "cheekSquintRight": 0.25},
    "sad": {"browInnerUp": 0.5, "mouthFrownLeft": 0.35, "mouthFrownRight": 0.35},
    "angry": {"browDownLeft": 0.55, "browDownRight": 0.55, "noseSneerLeft": 0.2, "noseSneerRight": 0.2},
    "surprised": {"browInnerUp": 0.5, "browOuterUpLeft": 0.5, "browOuterUpRight": 0.5, "eyeWideLeft": 0.4,
                  "eyeWideRight": 0.4},
    "fearful": {"browInnerUp": 0.6, "eyeWideLeft": 0.35, "eyeWideRight": 0.35, "mouthStretchLeft": 0.2,
                "mouthStretchRight": 0.2},
    "disgusted": {"noseSneerLeft": 0.45, "noseSneerRight": 0.45, "mouthUpperUpLeft": 0.2, "mouthUpperUpRight": 0.2},
}
LISTENER_EXPR = {
    "neutral": {"mouthSmileLeft": 0.08, "mouthSmileRight": 0.08},
    "happy": {"mouthSmileLeft": 0.35, "mouthSmileRight": 0.35, "cheekSquintLeft": 0.15, "cheekSquintRight": 0.15},
    "sad": {"browInnerUp": 0.35, "mouthFrownLeft": 0.15, "mouthFrownRight": 0.15},
    "angry": {"browDownLeft": 0.3, "browDownRight": 0.3, "mouthPressLeft": 0.2, "mouthPressRight": 0.2},
    "surprised": {"browOuterUpLeft": 0.35, "browOuterUpRight": 0.35, "eyeWideLeft": 0.25, "eyeWideRight": 0.25},
    "fearful": {"browInnerUp": 0.4, "eyeWideLeft": 0.2, "eyeWideRight": 0.2},
    "disgusted": {"noseSneerLeft": 0.2, "noseSneerRight": 0.2, "browDownLeft": 0.15, "browDownRight": 0.15},
}

# Viseme parameters per phone class: (round, spread, labiodental, dominance).
_CLASS_SHAPE = {
    "silence": (0.0, 0.0, 0.0, 0.4), "bilabial": (0.0, 0.0, 0.0, 3.0), "labiodental": (0.0, 0.0, 1.0, 2.5),
    "rounded": (0.9, 0.0, 0.0, 1.6), "open_vowel": (0.0, 0.1, 0.0, 1.0), "mid_vowel": (0.0, 0.3, 0.0, 1.0),
    "close_vowel": (0.0, 0.6, 0.0, 1.1), "dental": (0.0, 0.1, 0.0, 1.2), "alveolar": (0.0, 0.1, 0.0, 0.7),
    "postalveolar": (0.5, 0.0, 0.0, 0.9), "velar": (0.0, 0.0, 0.0, 0.5), "glottal": (0.0, 0.0, 0.0, 0.3),
}


def animate(timings: Timings, layout: dict, emotions=None, relation: str = "nonblood-equal", fps: float = 25.0,
            seed: int = 0, tracks: np.ndarray | None = None) -> DyadicMotion:
    """Ground-truth DyadicMotion for a conversation.

    ``layout``: {"A": [x,y,z], "B": [x,y,z]} eye midpoints (conversation frame), optionally "yaw":
    {"A": rad, "B": rad} body orientations (default: facing each other). ``emotions``: one label per
    turn (default: each turn's own). ``tracks`` [2, N] at 16 kHz, when given, scales lip amplitude by loudness.
    ``meta["gaze_on_partner"]`` lists, per person, the [start, end) frame ranges fixating the partner's eyes.
    """
    rng = np.random.default_rng(seed)
    n = n_frames(timings.duration, fps)
    t = np.arange(n) / fps
    emotions = [tt.emotion for tt in timings.turns] if emotions is None else list(emotions)
    if len(emotions) != len(timings.turns):
        raise ValueError(f"{len(emotions)} emotions for {len(timings.turns)} turns")
    restraint = RESTRAINT.get(relation, 0.8)
    masks = timings.masks(fps)
    heads = {p: np.asarray(layout[p], np.float64) for p in PERSONS}
    body_yaw = dict(layout.get("yaw") or {})
    for p, q in (("A", "B"), ("B", "A")):
        body_yaw.setdefault(p, float(facing_yaw(heads[p], heads[q])))

    people = {}
    for i, p in enumerate(PERSONS):
        m = PersonMotion.still(n, len(ARKIT_52), n_betas=10)
        m.speaking = masks[i].copy()
        loud = _loudness(tracks[i], n, fps) if tracks is not None else None
        _lips(m, timings.phonemes.get(p, []), t, fps, loud)
        _expressions(m, timings, emotions, p, t, restraint, rng)
        _blinks(m, timings, p, t, fps, rng)
        m.poses["global"][:] = yaw(body_yaw[p])
        m.transl[:] = transl_for_head(heads[p], body_yaw[p]) + _drift(n, fps, rng, 0.008 * restraint)
        people[p] = m

    fix = {}
    for i, p in enumerate(PERSONS):
        q = PERSONS[1 - i]
        fix[p] = _gaze_plan(timings, p, t, fps, rng)
        _head(people[p], heads[p], heads[q], body_yaw[p], timings, p, t, fps, rng, restraint, fix[p][1])
    for i, p in enumerate(PERSONS):
        q = PERSONS[1 - i]
        _eyes(people[p], people[q], fix[p][1], fix[p][0], rng)

    meta = {"source": "procedural", "seed": int(seed), "relation": relation, "emotions": emotions,
            "layout": {p: [float(v) for v in heads[p]] for p in PERSONS},
            "gaze_on_partner": {p: _runs(fix[p][0]) for p in PERSONS}}
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=ARKIT_52, fps=fps, meta=meta).validate()


def _set(m: PersonMotion, name: str, values) -> None:
    m.expr[:, INDEX[name]] = np.clip(values, 0.0, 1.0)


def _add(m: PersonMotion, name: str, values) -> None:
    m.expr[:, INDEX[name]] = np.clip(m.expr[:, INDEX[name]] + values, 0.0, 1.0)


def _loudness(track: np.ndarray, n: int, fps: float, sr: int = 16000) -> np.ndarray:
    """Per-frame RMS over a 40 ms window, normalised by the 95th percentile of voiced frames."""
    hop = sr / fps
    win = int(0.04 * sr)
    out = np.zeros(n, np.float32)
    for k in range(n):
        c = int(k * hop)
        seg = track[max(0, c - win // 2):c + win // 2]
        out[k] = np.sqrt(np.mean(seg ** 2)) if len(seg) else 0.0
    ref = np.percentile(out[out > 1e-4], 95) if np.any(out > 1e-4) else 1.0
    return np.clip(out / max(ref, 1e-6), 0.0, 1.5)


def _lips(m: PersonMotion, phones, t: np.ndarray, fps: float, loud: np.ndarray | None) -> None:
    """Coarticulated visemes: each phone pulls the mouth towards its target with an exponential
    dominance around its centre (look-ahead and carry-over), then m/b/p are forced shut."""
    n = len(t)
    num = np.zeros((n, 4))
    den = np.full(n, 1e-6)
    for a, b, p in phones:
        cls, target_open = ph.INVENTORY[p]
        rnd, spread, lab, dom = _CLASS_SHAPE[cls]
        c, half = (a + b) / 2, max((b - a) / 2, 0.02)
        if cls == "silence" and b - a > 0.4:  # long pauses: the mouth settles shut
            dom = 2.0
        d = dom * np.exp(-np.maximum(np.abs(t - c) - half, 0.0) / 0.045)
        d[np.abs(t - c) > half + 0.3] = 0.0
        num += d[:, None] * np.array([target_open, rnd, spread, lab])
        den += d
    params = num / den[:, None]
    openness, rnd, spread, lab = params.T
    if loud is not None:
        openness = openness * np.clip(0.65 + 0.45 * loud, 0.5, 1.15)
    closed = np.zeros(n, bool)
    for a, b, p in phones:
        if p in ph.BILABIAL:
            k = np.flatnonzero((t >= a) & (t < b))
            closed[k] = True
            closed[min(n - 1, int(round((a + b) / 2 * fps)))] = True
    openness = np.where(closed, 0.0, openness)
    jaw = JAW_MAX * openness
    m.poses["jaw"][:, 0] = jaw
    # ARKit mouthClose seals the lips against the jaw's opening; full seal on m/b/p.
    _set(m, "mouthClose", np.where(closed, 1.0, 0.0) * jaw / 0.35)
    _set(m, "mouthPressLeft", 0.35 * closed)
    _set(m, "mouthPressRight", 0.35 * closed)
    _set(m, "mouthPucker", 0.8 * rnd)
    _set(m, "mouthFunnel", 0.5 * rnd * np.clip(openness * 2, 0, 1))
    _set(m, "mouthRollLower", 0.6 * lab)
    _set(m, "mouthUpperUpLeft", 0.15 * lab + 0.1 * openness)
    _set(m, "mouthUpperUpRight", 0.15 * lab + 0.1 * openness)
    _set(m, "mouthLowerDownLeft", 0.3 * openness * (1 - lab))
    _set(m, "mouthLowerDownRight", 0.3 * openness * (1 - lab))
    _set(m, "mouthStretchLeft", 0.25 * spread)
    _set(m, "mouthStretchRight", 0.25 * spread)


def _smooth(x: np.ndarray, fps: float, seconds: float) -> np.ndarray:
    k = max(1, int(round(seconds * fps)))
    w = np.hanning(2 * k + 1)
    w /= w.sum()
    pad = np.pad(x, [(k, k)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    return np.apply_along_axis(lambda v: np.convolve(v, w, mode="valid"), 0, pad)


def _pulse(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


def _expressions(m, timings: Timings, emotions, p, t, restraint, rng) -> None:
    """Emotion offsets (own emotion while speaking, listener dictionary while the partner speaks),
    plus smiles at the partner's pauses."""
    fps = 1.0 / (t[1] - t[0]) if len(t) > 1 else 25.0
    target = np.zeros_like(m.expr)
    for turn, emo in zip(timings.turns, emotions):
        table = SPEAKER_EXPR if turn.speaker == p else LISTENER_EXPR
        on = (t >= turn.start) & (t < turn.end + 0.8)
        for name, w in table.get(emo, {}).items():
            target[on, INDEX[name]] = np.maximum(target[on, INDEX[name]], w * restraint)
    m.expr[:] = np.clip(m.expr + _smooth(target, fps, 0.3), 0, 1)
    for turn in timings.turns:
        if turn.speaker != p and turn.kind == "utterance" and rng.random() < 0.4 * restraint:
            smile = 0.3 * restraint * _pulse(t, turn.end + 0.3, 0.35)
            _add(m, "mouthSmileLeft", smile)
            _add(m, "mouthSmileRight", smile)


def _blinks(m, timings: Timings, p, t, fps, rng) -> None:
    """Random blinks (about 17 a minute, never closer than 1 s) plus blinks at turn boundaries."""
    times, cur = [], float(rng.uniform(0.3, 2.5))
    while cur < t[-1] + 1e-9:
        times.append(cur)
        cur += max(1.0, rng.exponential(3.5))
    for turn in timings.turns:
        if turn.kind == "utterance" and rng.random() < (0.5 if turn.speaker == p else 0.3):
            times.append(turn.start if turn.speaker == p else turn.end)
    shape = np.array([0.5, 1.0, 1.0, 0.6, 0.2])
    blink = np.zeros(len(t))
    for b in times:
        k0 = int(round(b * fps))
        for j, v in enumerate(shape):
            if 0 <= k0 + j < len(t):
                blink[k0 + j] = max(blink[k0 + j], v)
    _add(m, "eyeBlinkLeft", blink)
    _add(m, "eyeBlinkRight", blink)


def _drift(n: int, fps: float, rng, amplitude: float) -> np.ndarray:
    """Small, smooth sway of the whole head (metres)."""
    walk = np.cumsum(rng.normal(0, 1, (n, 3)), 0)
    walk = _smooth(walk - walk.mean(0), fps, 1.0)
    scale = np.abs(walk).max(0)
    return amplitude * walk / np.where(scale < 1e-9, 1.0, scale)


def _gaze_plan(timings: Timings, p, t, fps, rng):
    """Per frame: fixating the partner's eyes (bool) and the aversion offsets (yaw, pitch) in radians.

    Listeners look at the speaker most of the time; speakers often look away as a turn starts and
    come back before it ends."""
    n = len(t)
    away = np.zeros((n, 2))
    looking = np.ones(n, bool)

    def avert(start, dur):
        k0, k1 = int(round(start * fps)), int(round((start + dur) * fps))
        k0, k1 = max(0, k0), min(n, k1)
        if k1 <= k0:
            return
        side = rng.choice([-1.0, 1.0])
        away[k0:k1] = [side * rng.uniform(0.17, 0.4), rng.uniform(-0.2, 0.1)]
        looking[k0:k1] = False

    for turn in timings.turns:
        if turn.speaker != p or turn.kind != "utterance":
            continue
        length = turn.end - turn.start
        if rng.random() < 0.7 and length > 1.2:
            avert(turn.start + rng.uniform(0.0, 0.2), min(rng.uniform(0.6, 2.0), length - 1.0))
        cur = turn.start + 2.5
        while cur < turn.end - 1.5:  # further glances away in long turns, back before the end
            if rng.random() < 0.5:
                avert(cur, min(rng.uniform(0.4, 1.2), turn.end - 1.0 - cur))
            cur += rng.uniform(2.0, 4.0)
    cur = rng.exponential(6.0)
    while cur < t[-1]:  # the listener's rarer, shorter aversions
        k = min(n - 1, int(cur * fps))
        if not any(tt.speaker == p and tt.start <= cur < tt.end for tt in timings.turns) and looking[k]:
            avert(cur, rng.uniform(0.3, 0.9))
        cur += rng.exponential(6.0) + 1.0
    return looking, away


def _head(m, head, partner, body, timings: Timings, p, t, fps, rng, restraint, away) -> None:
    """Neck rotation: turn towards the partner (the eyes do the rest), part of each gaze aversion,
    beats on stressed vowels while speaking, turn-final tilts, listener nods, slow sway."""
    n = len(t)
    d = partner - head
    rel_yaw = wrap_angle(np.arctan2(d[0], d[2]) - body)
    pitch = -np.arctan2(d[1], np.hypot(d[0], d[2]))  # positive X rotation looks down
    rot = np.zeros((n, 3))
    rot[:, 0] = 0.6 * pitch
    rot[:, 1] = 0.75 * rel_yaw
    rot[:, :2] += _smooth(np.stack([0.35 * away[:, 1], 0.35 * away[:, 0]], 1), fps, 0.15)
    for a, b, phone in timings.phonemes.get(p, []):
        if ph.is_vowel(phone) and b - a > 0.09 and rng.random() < 0.35:
            rot[:, 0] += restraint * rng.uniform(0.02, 0.06) * _pulse(t, (a + b) / 2, 0.09)
            rot[:, 2] += restraint * rng.normal(0, 0.01) * _pulse(t, (a + b) / 2, 0.12)
    for turn in timings.turns:
        if turn.kind == "backchannel" and turn.speaker == p:
            rot[:, 0] += restraint * 0.06 * _pulse(t, (turn.start + turn.end) / 2, 0.12)
        elif turn.speaker == p:
            tilt = rng.choice([-1, 1]) * rng.uniform(0.03, 0.07) * restraint
            ramp = np.clip((t - (turn.end - 0.8)) / 0.6, 0, 1) * np.exp(-np.maximum(t - turn.end, 0) / 0.8)
            rot[:, 2] += tilt * ramp
        elif rng.random() < 0.6:  # the listener nods at the partner's turn end
            for k in range(1 + int(rng.random() < 0.4)):
                rot[:, 0] += restraint * rng.uniform(0.04, 0.08) * _pulse(t, turn.end + 0.15 + 0.35 * k, 0.1)
    sway = _smooth(np.cumsum(rng.normal(0, 1, (n, 3)), 0), fps, 1.2)
    sway -= sway.mean(0)
    sway /= max(np.abs(sway).max(), 1e-9)
    rot += sway * np.array([0.03, 0.04, 0.02]) * restraint
    m.poses["neck"][:] = rot


def _eyes(m, partner, away, looking, rng) -> None:
    """Solve each eye's rotation to look exactly at its target: the partner's eye midpoint (plus a
    tiny fixation jitter) or the averted point at the same distance."""
    target = eye_midpoint(partner.poses, partner.transl)
    rot, pos = forward(m.poses, m.transl)
    own_mid = pos[:, 3:5].mean(1)
    to_partner = target - own_mid
    dist = np.linalg.norm(to_partner, axis=-1, keepdims=True)
    fwd = to_partner / dist
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.maximum(np.linalg.norm(right, axis=-1, keepdims=True), 1e-9)
    up = np.cross(right, fwd)
    jitter = np.clip(rng.normal(0, 0.0025, (len(away), 2)), -0.006, 0.006)  # radians, under 0.35 degree
    off = np.tan(away + jitter)
    point = target - dist * (off[:, :1] * right + off[:, 1:] * up)  # +yaw: own left, +pitch: down
    neck = rot[:, 1]
    for j, name in ((3, "eye_L"), (4, "eye_R")):
        d = np.einsum("tji,tj->ti", neck, point - pos[:, j])
        aa = rotation_between(np.broadcast_to(REST_GAZE, d.shape), d)
        m.poses[name][:] = aa


def _runs(mask: np.ndarray) -> list[list[int]]:
    """[start, end) frame ranges where ``mask`` is true."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [[int(a), int(b)] for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]
