"""Body-language statistics of a DyadicMotion: head motion by role, listener nods at backchannels,
eye contact by role, mutual gaze, blinks, smiles and brow raises (pure numpy; docs/corpus.md gives
the human figures they are compared with).

Roles as in duet.eval.metrics.eye_contact: a person speaks on frames where their mask is >= 0.5 and
listens where their own mask is < 0.5 and the partner's is >= 0.5. Each function returns sums and
counts so that ``Tally`` pools clips and people before dividing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from duet.eval import metrics as M
from duet.frames import axis_angle, rotmat

NOD_DEG = 3.0            # a nod: head pitch swings by more than this ...
NOD_WINDOW_S = 0.5       # ... within this many seconds
NOD_SEARCH_S = (0.25, 0.5)  # looked for from this long before a backchannel starts to this long after it ends
FAST_S = 2.0             # head_fast: motion about a running mean over this many seconds (no slow drift)
BLINK_LEVEL = 0.5        # the eyes count as shut while the mean of eyeBlinkLeft/Right is at least this
SMILE = ("mouthSmileLeft", "mouthSmileRight")
BROW_RAISE = ("browInnerUp", "browOuterUpLeft", "browOuterUpRight")
PERSONS = ("A", "B")


def head_rotation(person) -> np.ndarray:
    """[T,3,3] the head's world rotation (global joint, then neck)."""
    return rotmat(person.poses["global"]) @ rotmat(person.poses["neck"])


def head_pitch_deg(person) -> np.ndarray:
    """[T] head pitch in degrees, positive looking down: elevation of the head's forward (+Z) axis."""
    fwd = head_rotation(person)[..., :, 2]
    return -np.degrees(np.arcsin(np.clip(fwd[:, 1], -1.0, 1.0)))


def mean_rotation(r: np.ndarray) -> np.ndarray:
    """The chordal mean of rotations [N,3,3]: their average projected back onto SO(3)."""
    u, _, vt = np.linalg.svd(r.mean(0))
    m = u @ vt
    if np.linalg.det(m) < 0:
        m = u @ np.diag([1.0, 1.0, -1.0]) @ vt
    return m


def rotation_spread(r: np.ndarray) -> tuple[float, int]:
    """(sum of squared angles in degrees^2, frames) of rotations [N,3,3] from their mean rotation;
    sqrt(sum / frames) is the head's rotation std, every axis together."""
    if len(r) == 0:
        return 0.0, 0
    dev = np.einsum("ji,njk->nik", mean_rotation(r), r)
    ang = np.degrees(np.linalg.norm(axis_angle(dev), axis=-1))
    return float(np.sum(ang ** 2)), len(r)


def fast_head_deg(rot: np.ndarray, fps: float) -> np.ndarray:
    """[T] degrees between the head and a running mean of its rotation over FAST_S seconds: the
    nods, beats and turns of conversation, without the slow drift or a constant misaim."""
    aa = axis_angle(np.einsum("ji,tjk->tik", mean_rotation(rot), rot))
    k = max(1, int(round(FAST_S * fps / 2)))
    pad = np.pad(aa, ((k, k), (0, 0)), mode="edge")
    run = np.cumsum(np.vstack([np.zeros((1, 3)), pad]), 0)
    local = (run[2 * k + 1:] - run[:-2 * k - 1]) / (2 * k + 1)
    return np.degrees(np.linalg.norm(aa - local, axis=-1))


def roles(masks: dict[str, np.ndarray], p: str) -> dict[str, np.ndarray]:
    """{"speaking", "listening"} frame masks of person ``p``."""
    q = "B" if p == "A" else "A"
    me, other = masks[p] >= 0.5, masks[q] >= 0.5
    return {"speaking": me, "listening": ~me & other}


def nod_swing(pitch: np.ndarray, fps: float, start_s: float, end_s: float) -> float:
    """The largest head-pitch change (degrees) within any NOD_WINDOW_S stretch of [start_s, end_s]."""
    k0 = max(0, int(np.floor(start_s * fps)))
    k1 = min(len(pitch), int(np.ceil(end_s * fps)) + 1)
    w = int(round(NOD_WINDOW_S * fps))
    best = 0.0
    for i in range(k0, k1):
        seg = pitch[i:min(k1, i + w + 1)]
        best = max(best, float(seg.max() - seg.min()))
    return best


def backchannel_nods(motion, backchannels) -> M.Count:
    """Of the backchannels ``backchannels`` [(person, start_s, end_s)], how many come with a nod of
    their speaker: head pitch swinging by more than NOD_DEG within NOD_WINDOW_S, somewhere from
    NOD_SEARCH_S[0] before the backchannel starts to NOD_SEARCH_S[1] after it ends."""
    pitch = {p: head_pitch_deg(motion.person(p)) for p in PERSONS}
    hits = 0
    for p, a, b in backchannels:
        hits += int(nod_swing(pitch[p], motion.fps, a - NOD_SEARCH_S[0], b + NOD_SEARCH_S[1]) > NOD_DEG)
    return M.Count(hits, len(backchannels))


def blink_onsets(person, expr_names) -> int:
    """Blinks: frames where the mean of eyeBlinkLeft and eyeBlinkRight rises to BLINK_LEVEL."""
    idx = [list(expr_names).index(n) for n in ("eyeBlinkLeft", "eyeBlinkRight")]
    shut = person.expr[:, idx].mean(1) >= BLINK_LEVEL
    return int(np.sum(shut[1:] & ~shut[:-1]) + int(shut[0])) if len(shut) else 0


def channel_mean(person, expr_names, names) -> np.ndarray:
    """[T] the mean of the named expression channels."""
    idx = [list(expr_names).index(n) for n in names]
    return person.expr[:, idx].mean(1)


def backchannels_of(turns) -> list[tuple[str, float, float]]:
    """(person, start_s, end_s) of the turns the corpus marks as backchannels (kind "backchannel":
    "uh-huh", "yeah", "mm-hmm" ... dropped into the partner's turn, duet.corpus.scripts)."""
    return [(t.speaker, float(t.start), float(t.end)) for t in turns if t.kind == "backchannel"]


@dataclass
class Tally:
    """Sums and counts pooled over clips; ``summary`` divides. Keys ending in _A/_B keep each person
    apart (in an unequal relation A is the senior, B the junior: duet.corpus.animator)."""

    sums: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)

    def add(self, key: str, value: float, count: float) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.counts[key] = self.counts.get(key, 0.0) + float(count)

    def rate(self, key: str) -> float:
        c = self.counts.get(key, 0.0)
        return self.sums[key] / c if c else float("nan")

    def summary(self) -> dict[str, float]:
        out = {}
        for key in self.sums:
            root = key.startswith(("head_std", "head_fast", "pitch_std"))
            out[key] = float(np.sqrt(self.rate(key))) if root else self.rate(key)
        return out


def add_clip(tally: Tally, motion, backchannels=(), masks: dict | None = None) -> None:
    """Every behaviour statistic of one DyadicMotion, added to ``tally``. ``masks`` give the roles
    (default: the motion's own speaking masks; pass the truth's when scoring a prediction)."""
    n = motion.n_frames
    masks = masks or {p: motion.person(p).speaking for p in PERSONS}
    masks = {p: np.asarray(masks[p])[:n] for p in PERSONS}
    angles = M.partner_gaze_angle(motion)
    look = {p: angles[p][:n] < M.EYE_CONTACT_DEG for p in PERSONS}
    minutes = n / motion.fps / 60.0
    for p in PERSONS:
        person = motion.person(p)
        rot = head_rotation(person)
        pitch = head_pitch_deg(person)
        fast = fast_head_deg(rot, motion.fps)
        smile = channel_mean(person, motion.expr_names, SMILE)
        brow = channel_mean(person, motion.expr_names, BROW_RAISE)
        for role, on in roles(masks, p).items():
            for key in (f"_{role}", f"_{role}_{p}"):
                tally.add("head_std" + key, *rotation_spread(rot[on]))
                tally.add("head_fast" + key, np.sum(fast[on] ** 2), on.sum())
                tally.add("eye_contact" + key, look[p][on].sum(), on.sum())
                tally.add("smile" + key, smile[on].sum(), on.sum())
                tally.add("brow" + key, brow[on].sum(), on.sum())
            if on.sum() > 1:
                tally.add(f"pitch_std_{role}", np.sum((pitch[on] - pitch[on].mean()) ** 2), on.sum())
        blinks = blink_onsets(person, motion.expr_names)
        tally.add("blinks_per_min", blinks, minutes)
        tally.add(f"blinks_per_min_{p}", blinks, minutes)
        tally.add(f"smile_{p}", smile.sum(), n)
        tally.add(f"head_std_{p}", *rotation_spread(rot))
    tally.add("mutual_gaze", np.sum(look["A"] & look["B"]), n)
    nods = backchannel_nods(motion, backchannels)
    tally.add("backchannel_nod", nods.hits, nods.total)


def summarize(motion, backchannels=(), masks=None) -> dict[str, float]:
    """``add_clip`` on one motion, divided out."""
    tally = Tally()
    add_clip(tally, motion, backchannels, masks)
    return tally.summary()


# The issue-31 targets on the statistics above: (key, lowest, highest).
TARGETS = (("head_std_speaking", 2.0, None), ("head_std_listening", 1.0, None), ("backchannel_nod", 0.6, None),
           ("eye_contact_speaking", 0.35, 0.70), ("eye_contact_listening", 0.65, 0.90),
           ("blinks_per_min", 10.0, 25.0))

# What a social relation may change: the statistics compared between relations.
RELATION_STATS = ("eye_contact_speaking", "eye_contact_listening", "mutual_gaze", "smile_A", "smile_B",
                  "head_std_A", "head_std_B")
RELATION_CHANGE = 1.2  # two values differ when the larger is at least 20% above the smaller


def meets(key: str, value: float) -> bool:
    """Whether ``value`` meets the target of ``key`` (TARGETS)."""
    lo, hi = next((lo, hi) for k, lo, hi in TARGETS if k == key)
    return bool(np.isfinite(value) and (lo is None or value >= lo) and (hi is None or value <= hi))


def relation_changes(by_relation: dict[str, dict], stats=RELATION_STATS) -> dict[tuple[str, str], list[str]]:
    """For every pair of relations, the statistics whose values differ by at least RELATION_CHANGE
    (larger / smaller)."""
    names = sorted(by_relation)
    out = {}
    for i, r in enumerate(names):
        for s in names[i + 1:]:
            changed = []
            for key in stats:
                a, b = by_relation[r].get(key, np.nan), by_relation[s].get(key, np.nan)
                lo, hi = min(a, b), max(a, b)
                if np.isfinite(lo) and hi > 0 and (lo <= 0 or hi / lo >= RELATION_CHANGE):
                    changed.append(key)
            out[(r, s)] = changed
    return out
