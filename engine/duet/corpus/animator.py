"""The procedural ground-truth animator: timings + layout -> DyadicMotion.

Lips and jaw from phones (dominance-blended visemes, hard closures on m/b/p); head motion from
prosody (a posture per phrase, beats on pitch accents, falls and rises at phrase ends) and
turn-taking; listener nods at the partner's phrase ends and on backchannels; speaker gaze aversion
at turn starts, pauses and in long turns, listener glances away; smiles and brow raises in reply
to the partner; blinks; emotion offsets; the social relation scaling each person's share of it all
(RELATION_STYLE); gaze solved geometrically so that fixations land exactly on the partner's eyes.
Rules and sources: docs/corpus.md. Given recognized timings it is also an evaluation baseline, so
it needs nothing but ``timings`` and ``layout``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from duet.arkit import ARKIT_52, INDEX
from duet.constants import SAMPLE_RATE
from duet.emotion.labels import SENIOR_B
from duet.speech import phonemes as ph
from duet.speech.conversation import PERSONS, Timings, n_frames
from duet.frames import facing_yaw, rotation_between, wrap_angle, yaw
from duet.motion import DyadicMotion, PersonMotion
from duet.rigs.kinematics import REST_GAZE, eye_midpoint, forward, transl_for_head

JAW_MAX = 0.30  # rad of jaw rotation at openness 1
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted")
RELATIONS = ("blood-equal", "blood-unequal", "nonblood-equal", "nonblood-unequal")


class Style(NamedTuple):
    """How much of each behaviour one person shows (1 = the corpus's equal, non-blood default)."""

    head: float = 1.0           # head motion (every deviation of the neck from facing the partner)
    expression: float = 1.0     # emotion offsets, smiles and brow raises in reply to the partner
    avert_speaking: float = 1.0  # gaze aversion while speaking (turn starts, long turns, pauses)
    avert_listening: float = 1.0  # glances away while listening


# The social relation's effect on each person (RSATalker's blood/non-blood x equal/unequal; in an
# unequal relation A is the senior, B the junior). Sources and directions: docs/corpus.md.
RELATION_STYLE = {
    "blood-equal": (Style(1.15, 1.7, 0.6, 0.6), Style(1.15, 1.7, 0.6, 0.6)),
    "blood-unequal": (Style(1.1, 1.35, 0.7, 1.3), Style(0.6, 1.05, 1.5, 0.8)),
    "nonblood-equal": (Style(), Style()),
    "nonblood-unequal": (Style(0.85, 0.55, 0.75, 1.4), Style(0.5, 0.6, 1.7, 0.85)),
}


def relation_style(relation: str) -> tuple[Style, Style]:
    """(A's Style, B's Style) for a relation; an unequal one named with its senior on B gives the
    senior's Style to B; an unknown relation is the non-blood equal default."""
    if relation.endswith(SENIOR_B):
        a, b = RELATION_STYLE.get(relation[: -len(SENIOR_B)], RELATION_STYLE["nonblood-equal"])
        return b, a
    return RELATION_STYLE.get(relation, RELATION_STYLE["nonblood-equal"])


# Expression offsets of one's own emotion: while speaking (SPEAKER_EXPR) and, softer, between one's
# own turns (HELD_EXPR). Each person's emotion is the label of their own most recent turn, as the
# model's conditioning gives it, so the label a user sets on a person shows on that person.
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
HELD_EXPR = {
    "neutral": {"mouthSmileLeft": 0.08, "mouthSmileRight": 0.08},
    "happy": {"mouthSmileLeft": 0.35, "mouthSmileRight": 0.35, "cheekSquintLeft": 0.15, "cheekSquintRight": 0.15},
    "sad": {"browInnerUp": 0.35, "mouthFrownLeft": 0.15, "mouthFrownRight": 0.15},
    "angry": {"browDownLeft": 0.3, "browDownRight": 0.3, "mouthPressLeft": 0.2, "mouthPressRight": 0.2},
    "surprised": {"browOuterUpLeft": 0.35, "browOuterUpRight": 0.35, "eyeWideLeft": 0.25, "eyeWideRight": 0.25},
    "fearful": {"browInnerUp": 0.4, "eyeWideLeft": 0.2, "eyeWideRight": 0.2},
    "disgusted": {"noseSneerLeft": 0.2, "noseSneerRight": 0.2, "browDownLeft": 0.15, "browDownRight": 0.15},
}
# A listener mirrors this share of the speaker's emotion (HELD_EXPR) during the speaker's turn:
# emotional mimicry is partial and weaker than one's own display (Hess and Fischer 2013).
MIRROR = 0.4

# The mouth takes the schwa as the aligners' 39 phones do, as "ah": a reduced vowel still opens the jaw
# on its syllable, and every forced aligner (the one that times recorded speech for training, and any
# that judges Duet) hears it as "ah". Kept as "ax" (openness 0.45), this animator's own mouth stayed
# under half its opening on 52% of the aligner's "ah" in the synthetic test clips (docs/model.md,
# "The jaw opens on every open vowel"). The metrics keep "ax" apart (duet.speech.phonemes).
LIPS_AS = {"ax": "ah"}
# Viseme parameters per phone class: (round, spread, labiodental, dominance). Open vowels dominate
# their neighbours three to one, so the jaw opens on every open vowel, however short: recorded speech's
# reduced vowels (the aligner's "ah", 50 ms typical) were pulled half shut by the consonants around
# them at dominance 1.
_CLASS_SHAPE = {
    "silence": (0.0, 0.0, 0.0, 0.4), "bilabial": (0.0, 0.0, 0.0, 3.0), "labiodental": (0.0, 0.0, 1.0, 2.5),
    "rounded": (0.9, 0.0, 0.0, 1.6), "open_vowel": (0.0, 0.1, 0.0, 3.0), "mid_vowel": (0.0, 0.3, 0.0, 1.0),
    "close_vowel": (0.0, 0.6, 0.0, 1.1), "dental": (0.0, 0.1, 0.0, 1.2), "alveolar": (0.0, 0.1, 0.0, 0.7),
    "postalveolar": (0.5, 0.0, 0.0, 0.9), "velar": (0.0, 0.0, 0.0, 0.5), "glottal": (0.0, 0.0, 0.0, 0.3),
}


def animate(timings: Timings, layout: dict, emotions=None, relation: str = "nonblood-equal", fps: float = 25.0,
            seed: int = 0, tracks: np.ndarray | None = None) -> DyadicMotion:
    """Ground-truth DyadicMotion for a conversation.

    ``layout``: {"A": [x,y,z], "B": [x,y,z]} eye midpoints (conversation frame), optionally "yaw":
    {"A": rad, "B": rad} body orientations (default: facing each other). ``emotions``: one label per
    turn (default: each turn's own). ``relation`` sets each person's Style (``relation_style``: A is
    the senior in an unequal relation, B where the name ends with duet.emotion.labels.SENIOR_B).
    ``tracks`` [2, N] at 16 kHz, when given, scales lip amplitude by loudness.
    ``meta["gaze_on_partner"]`` lists, per person, the [start, end) frame ranges fixating the partner's eyes.
    """
    rng = np.random.default_rng(seed)
    n = n_frames(timings.duration, fps)
    t = np.arange(n) / fps
    emotions = [tt.emotion for tt in timings.turns] if emotions is None else list(emotions)
    if len(emotions) != len(timings.turns):
        raise ValueError(f"{len(emotions)} emotions for {len(timings.turns)} turns")
    style = dict(zip(PERSONS, relation_style(relation)))
    masks = timings.masks(fps)
    heads = {p: np.asarray(layout[p], np.float64) for p in PERSONS}
    body_yaw = dict(layout.get("yaw") or {})
    for p, q in (("A", "B"), ("B", "A")):
        body_yaw.setdefault(p, float(facing_yaw(heads[p], heads[q])))
    phrases = {p: _phrases(timings, p) for p in PERSONS}

    people, fix, accents = {}, {}, {}
    for i, p in enumerate(PERSONS):
        q = PERSONS[1 - i]
        m = PersonMotion.still(n, len(ARKIT_52), n_betas=10)
        m.speaking = masks[i].copy()
        loud = _loudness(tracks[i], n, fps) if tracks is not None else None
        _lips(m, timings.phonemes.get(p, []), t, fps, loud)
        accents[p] = _accents(timings.phonemes.get(p, []), loud, fps, rng)
        _expressions(m, timings, emotions, p, t, style[p].expression, phrases[q], accents[p], rng)
        fix[p] = _gaze_plan(timings, p, t, fps, rng, style[p], phrases[p])
        _blinks(m, timings, p, t, fps, rng, fix[p][0])
        m.poses["global"][:] = yaw(body_yaw[p])
        m.transl[:] = transl_for_head(heads[p], body_yaw[p]) + _drift(n, fps, rng, 0.008 * style[p].head)
        people[p] = m
    for i, p in enumerate(PERSONS):
        q = PERSONS[1 - i]
        _head(people[p], heads[p], heads[q], body_yaw[p], timings, p, t, fps, rng, style[p].head, fix[p][1],
              phrases, accents[p])
    for i, p in enumerate(PERSONS):
        q = PERSONS[1 - i]
        _eyes(people[p], people[q], fix[p][1], fix[p][0], rng)

    meta = {"source": "procedural", "seed": int(seed), "relation": relation, "emotions": emotions,
            "layout": {p: [float(v) for v in heads[p]] for p in PERSONS},
            "style": {p: style[p]._asdict() for p in PERSONS},
            "gaze_on_partner": {p: _runs(fix[p][0]) for p in PERSONS}}
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=ARKIT_52, fps=fps, meta=meta).validate()


def _set(m: PersonMotion, name: str, values) -> None:
    m.expr[:, INDEX[name]] = np.clip(values, 0.0, 1.0)


def _add(m: PersonMotion, name: str, values) -> None:
    m.expr[:, INDEX[name]] = np.clip(m.expr[:, INDEX[name]] + values, 0.0, 1.0)


def _loudness(track: np.ndarray, n: int, fps: float, sr: int = SAMPLE_RATE) -> np.ndarray:
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
        cls, target_open = ph.INVENTORY[LIPS_AS.get(p, p)]
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


def _phrases(timings: Timings, p: str, pause: float = 0.2) -> list[tuple[float, float, bool]]:
    """(start, end, question) of each intonation phrase of ``p``: speech between silences of at least
    ``pause`` seconds; ``question`` when it ends a turn whose text ends with '?'."""
    spans: list[list[float]] = []
    for a, b, phone in timings.phonemes.get(p, []):
        if phone == "sil":
            continue
        if spans and a - spans[-1][1] < pause:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    asks = [tt.end for tt in timings.turns if tt.speaker == p and tt.text.rstrip().endswith("?")]
    return [(a, b, any(abs(b - e) < 0.35 for e in asks)) for a, b in spans]


def _accents(phones, loud: np.ndarray | None, fps: float, rng) -> list[tuple[float, float]]:
    """(time, strength in [0.5, 1]) of pitch accents: vowels of at least 80 ms that are the longest
    within 0.3 s either side (one per stress foot), weighted by loudness when the track is given."""
    vowels = [(a, b) for a, b, phone in phones if ph.is_vowel(phone) and b - a >= 0.08]
    out = []
    for a, b in vowels:
        if any(b2 - a2 > b - a and abs((a2 + b2) / 2 - (a + b) / 2) < 0.3 for a2, b2 in vowels):
            continue
        k0 = int(a * fps)
        level = 1.0 if loud is None else float(np.max(loud[k0:max(int(b * fps), k0 + 1)], initial=0.0))
        if level >= 0.35:
            out.append((a + 0.02, float(np.clip(0.5 + 0.5 * level * rng.uniform(0.6, 1.0), 0.5, 1.0))))
    return out


def _expressions(m, timings: Timings, emotions, p, t, amount, partner_phrases, accents, rng) -> None:
    """Emotion offsets (one's own emotion from one's own turn on: full while speaking, held softer
    until one's next turn; a share of the partner's while they speak), brow raises on some of one's
    own pitch accents, and, in reply to the partner, smiles at their phrase ends and brow raises at
    their questions; ``amount`` scales all of it (the relation)."""
    fps = 1.0 / (t[1] - t[0]) if len(t) > 1 else 25.0
    target = np.zeros_like(m.expr)

    def show(on, table, emo, share=1.0):
        for name, w in table.get(emo, {}).items():
            target[on, INDEX[name]] = np.maximum(target[on, INDEX[name]], min(1.0, w * share * amount))

    turns = sorted(zip(timings.turns, emotions), key=lambda te: te[0].start)
    own = [(turn, emo) for turn, emo in turns if turn.speaker == p]
    show(t < (own[0][0].start if own else np.inf), HELD_EXPR, "neutral")  # no turn yet: neutral, as labelled
    for k, (turn, emo) in enumerate(own):
        until = own[k + 1][0].start if k + 1 < len(own) else np.inf
        show((t >= turn.start) & (t < min(turn.end + 0.8, until)), SPEAKER_EXPR, emo)
        show((t >= turn.start) & (t < until), HELD_EXPR, emo)
    for turn, emo in turns:
        if turn.speaker != p:
            show((t >= turn.start) & (t < turn.end + 0.8), HELD_EXPR, emo, MIRROR)
    m.expr[:] = np.clip(m.expr + _smooth(target, fps, 0.3), 0, 1)
    brow = np.zeros(len(t))
    for c, strength in accents:
        if rng.random() < 0.3:
            brow = np.maximum(brow, strength * rng.uniform(0.25, 0.45) * _pulse(t, c, 0.15))
    smile = np.zeros(len(t))
    for a, b, question in partner_phrases:
        if rng.random() < min(0.9, 0.35 * amount):
            smile = np.maximum(smile, rng.uniform(0.25, 0.4) * _pulse(t, b + 0.35, 0.4))
        if question and rng.random() < 0.6:
            brow = np.maximum(brow, rng.uniform(0.3, 0.5) * _pulse(t, b + 0.15, 0.2))
    _add(m, "browInnerUp", np.minimum(1.0, amount) * brow)
    _add(m, "browOuterUpLeft", np.minimum(1.0, amount) * 0.8 * brow)
    _add(m, "browOuterUpRight", np.minimum(1.0, amount) * 0.8 * brow)
    _add(m, "mouthSmileLeft", np.minimum(1.0, amount * smile))
    _add(m, "mouthSmileRight", np.minimum(1.0, amount * smile))
    _add(m, "cheekSquintLeft", 0.4 * np.minimum(1.0, amount * smile))
    _add(m, "cheekSquintRight", 0.4 * np.minimum(1.0, amount * smile))


def _blinks(m, timings: Timings, p, t, fps, rng, looking) -> None:
    """Random blinks (about 11 a minute, never closer than 1 s), blinks at turn boundaries, and
    blinks with some of the gaze shifts away from the partner."""
    times, cur = [], float(rng.uniform(0.3, 2.5))
    while cur < t[-1] + 1e-9:
        times.append(cur)
        cur += max(1.0, rng.exponential(5.5))
    for turn in timings.turns:
        if turn.kind == "utterance" and rng.random() < (0.5 if turn.speaker == p else 0.3):
            times.append(turn.start if turn.speaker == p else turn.end)
    shifts = np.flatnonzero(looking[:-1] & ~looking[1:]) + 1
    times += [k / fps for k in shifts if rng.random() < 0.3]
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


def _gaze_plan(timings: Timings, p, t, fps, rng, style: Style, phrases):
    """Per frame: fixating the partner's eyes (bool) and the aversion offsets (yaw, pitch) in radians.

    Speakers look away as a turn starts, at hesitation pauses and in stretches of long turns, and
    look back for the turn's last 0.7 s; listeners look at the speaker with shorter glances away;
    during backchannels and the partner's turn ends the eyes stay on the partner."""
    n = len(t)
    away = np.zeros((n, 2))
    looking = np.ones(n, bool)
    held = np.zeros(n, bool)  # on the partner: one's own backchannels and turn ends
    yielding = np.zeros(n, bool)  # on the partner: the end of the partner's turn

    def avert(start, dur, size, listening=False):
        k0, k1 = max(0, int(round(start * fps))), min(n, int(round((start + dur) * fps)))
        if k1 - k0 < 3 or held[k0:k1].any() or (listening and yielding[k0:k1].any()):
            return
        side = rng.choice([-1.0, 1.0])
        away[k0:k1] = [side * rng.uniform(*size), rng.uniform(-0.05, 0.2)]
        looking[k0:k1] = False

    for turn in timings.turns:
        if turn.speaker == p and turn.kind == "backchannel":
            held[max(0, int(turn.start * fps)):int((turn.end + 0.2) * fps)] = True
        elif turn.kind == "utterance":
            mask = held if turn.speaker == p else yielding
            mask[max(0, int((turn.end - 0.6) * fps)):max(0, int((turn.end + 0.1) * fps))] = True
    s = np.sqrt(style.avert_speaking)
    big = (0.26, 0.45)
    for turn in timings.turns:
        if turn.speaker != p or turn.kind != "utterance":
            continue
        length = turn.end - turn.start
        cur = turn.start + rng.uniform(-0.15, 0.1)
        if length > 0.9 and rng.random() < min(1.0, 0.85 * s):  # Kendon: away as the turn starts
            dur = min(s * rng.uniform(1.0, 2.2), length - 0.7)
            avert(cur, dur, big)
            cur += max(dur, 0.0)
        cur += rng.uniform(0.8, 1.8) / s
        while cur < turn.end - 1.1:  # stretches away during long turns
            dur = s * rng.uniform(0.8, 1.6)
            avert(cur, min(dur, turn.end - 0.6 - cur), big)
            cur += dur + rng.uniform(0.8, 1.8) / s
    for a, b, _ in phrases:  # looking away while thinking at a hesitation pause
        if rng.random() < min(1.0, 0.4 * s):
            avert(b + 0.05, s * rng.uniform(0.4, 0.9), big)
    g = style.avert_listening
    cur = rng.exponential(2.0 / g)
    while cur < t[-1]:  # the listener's glances away
        k = min(n - 1, int(cur * fps))
        if looking[k] and not any(tt.speaker == p and tt.start <= cur < tt.end for tt in timings.turns):
            dur = rng.uniform(0.5, 1.4)
            avert(cur, dur, (0.24, 0.4), listening=True)
            cur += dur
        cur += 0.6 + rng.exponential(1.8 / g)
    return looking, away


def _nod(t, centre, size, rng, count=1) -> np.ndarray:
    """Head pitch (rad, positive down) of ``count`` nods of about ``size`` rad from ``centre`` seconds."""
    out = np.zeros(len(t))
    for k in range(count):
        out += size * rng.uniform(0.85, 1.1) * (0.7 ** k) * _pulse(t, centre + 0.3 * k, 0.09)
    return out


def _head(m, head, partner, body, timings: Timings, p, t, fps, rng, amount, away, phrases, accents) -> None:
    """Neck rotation: turn towards the partner (the eyes do the rest) plus, scaled by ``amount``:
    a posture per phrase of one's own, beats on pitch accents, a fall (statements) or rise
    (questions) at phrase ends, turn-final tilts, part of each gaze aversion, listener nods at the
    partner's phrase ends and on one's own backchannels, slow sway."""
    n = len(t)
    q = "B" if p == "A" else "A"
    d = partner - head
    rel_yaw = wrap_angle(np.arctan2(d[0], d[2]) - body)
    pitch = -np.arctan2(d[1], np.hypot(d[0], d[2]))  # positive X rotation looks down
    rest = np.array([0.6 * pitch, 0.75 * rel_yaw, 0.0])
    rot = np.zeros((n, 3))
    rot[:, :2] += _smooth(np.stack([0.35 * away[:, 1], 0.35 * away[:, 0]], 1), fps, 0.15)
    posture = np.zeros((n, 3))
    for a, b, question in phrases[p]:  # a new head posture for each phrase (Hadar et al. 1983)
        on = (t >= a - 0.1) & (t < b + 0.3)
        posture[on] = rng.normal(0, [0.035, 0.05, 0.03])
        fall = -rng.uniform(0.04, 0.07) if question else rng.uniform(0.03, 0.07)
        rot[:, 0] += fall * _pulse(t, b - 0.05, 0.15)
    rot += _smooth(posture, fps, 0.25)
    for c, strength in accents:  # beats on pitch accents
        rot[:, 0] += strength * rng.uniform(0.03, 0.065) * _pulse(t, c, 0.09)
        rot[:, 1] += strength * rng.normal(0, 0.015) * _pulse(t, c, 0.12)
        rot[:, 2] += strength * rng.normal(0, 0.012) * _pulse(t, c, 0.12)
    for turn in timings.turns:
        if turn.kind == "backchannel" and turn.speaker == p:  # nodding while saying "mm-hm"
            rot[:, 0] += _nod(t, turn.start + 0.12, rng.uniform(0.09, 0.13), rng, 1 + int(rng.integers(3)))
        elif turn.speaker == p:
            tilt = rng.choice([-1, 1]) * rng.uniform(0.03, 0.07)
            ramp = np.clip((t - (turn.end - 0.8)) / 0.6, 0, 1) * np.exp(-np.maximum(t - turn.end, 0) / 0.8)
            rot[:, 2] += tilt * ramp
    own = [(tt.start, tt.end) for tt in timings.turns if tt.speaker == p and tt.kind == "backchannel"]
    for a, b, _ in phrases[q]:  # listener nods at the partner's phrase ends (not over one's own backchannel)
        if rng.random() < 0.55 and not any(s - 0.6 < b < e + 0.3 for s, e in own):
            rot[:, 0] += _nod(t, b + 0.15, rng.uniform(0.05, 0.09), rng, 1 + int(rng.random() < 0.4))
    sway = _smooth(np.cumsum(rng.normal(0, 1, (n, 3)), 0), fps, 1.2)
    sway -= sway.mean(0)
    sway /= max(np.abs(sway).max(), 1e-9)
    rot += sway * np.array([0.03, 0.04, 0.02])
    m.poses["neck"][:] = rest + amount * rot


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
