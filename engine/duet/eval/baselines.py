"""Baselines that run through the same evaluation as the model (see docs/eval.md).

- recognized timings: pocketsphinx's phone recognizer on the audio, its phones given to the
  corpus's procedural animator (the animator that made the ground truth, but without the truth's timings);
- Listen-R: the baseline animator's speaker motion with every listening stretch replaced by a random
  listening stretch of a training-split clip (talking-together's random listener retrieval);
- Rhubarb Lip Sync: mouth-shape cue files (its JSON export) mapped to lip opening, so a user can
  compare an external tool's output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from duet.constants import FPS, SAMPLE_RATE
from duet.errors import DuetError

LISTENER_JOINTS = ("jaw", "neck", "eye_L", "eye_R")

# Rhubarb's mouth shapes -> (openness in [0, 1], extra ARKit channels): its documented shapes are
# A closed (m/b/p), B slightly open, C open, D wide open, E rounded, F puckered, G f/v, H l, X idle.
RHUBARB_SHAPES = {
    "A": (0.0, {"mouthClose": 0.3, "mouthPressLeft": 0.3, "mouthPressRight": 0.3}),
    "B": (0.15, {}),
    "C": (0.5, {}),
    "D": (1.0, {}),
    "E": (0.45, {"mouthFunnel": 0.4}),
    "F": (0.2, {"mouthPucker": 0.8}),
    "G": (0.08, {"mouthRollLower": 0.5, "mouthUpperUpLeft": 0.2, "mouthUpperUpRight": 0.2}),
    "H": (0.35, {}),
    "X": (0.0, {}),
}


# ---------------------------------------------------------------- recognized timings


def recognize_phones(samples: np.ndarray) -> list[tuple[float, float, str]]:
    """Phones (start_s, end_s, phone) that pocketsphinx's all-phone decoder hears in 16 kHz ``samples``,
    mapped onto Duet's inventory (duet.speech.phonemes); silences and noises become "sil"."""
    import os

    from pocketsphinx import Decoder, get_model_path

    from duet.speech.phonemes import INVENTORY, from_arpabet

    model = get_model_path()
    dec = Decoder(hmm=os.path.join(model, "en-us", "en-us"),
                  allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"),
                  lw=2.0, beam=1e-20, pbeam=1e-20, logfn=os.devnull)
    pcm = (np.clip(np.asarray(samples, np.float64), -1, 1) * 32767).astype(np.int16).tobytes()
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    phones = []
    for seg in dec.seg():
        name = seg.word.strip("+").lower()
        try:
            phone = from_arpabet(name) if name not in ("sil", "nsn", "spn") else "sil"
        except KeyError:
            phone = "sil"
        if phone in INVENTORY:
            phones.append((seg.start_frame / 100.0, (seg.end_frame + 1) / 100.0, phone))
    return phones


def gate_phones(phones, mask: np.ndarray, fps: float = FPS):
    """Keep the phones whose frames lie mostly where ``mask`` says the person speaks."""
    from duet.speech.phonemes import phone_frames

    kept = []
    for (start, end, phone), (_, idx) in zip(phones, phone_frames(phones, fps, len(mask))):
        if phone != "sil" and mask[idx].mean() >= 0.5:
            kept.append((start, end, phone))
    return kept


def recognized_timings(audio: np.ndarray, shape: str, duration: float, first_speaker: str = "A"):
    """Timings for both people from recognition alone: phones per channel (or on the mix), each
    phone given to the person the baseline's speaking masks say is talking then."""
    from duet.animators.baseline import masks_from_mix, masks_from_tracks
    from duet.speech.conversation import Timings, TimedTurn, n_frames

    n = n_frames(duration, FPS)
    hop = int(SAMPLE_RATE / FPS)
    if shape == "mono":
        masks = masks_from_mix(audio[0], audio.shape[1] // hop)
        if first_speaker == "B":
            masks = masks[::-1]
        heard = recognize_phones(audio[0])
        per_person = [gate_phones(heard, _fit(m, n)) for m in masks]
    else:
        masks = masks_from_tracks(audio, audio.shape[1] // hop)
        per_person = [gate_phones(recognize_phones(audio[i]), _fit(masks[i], n)) for i in range(2)]
    timings = Timings(duration=duration, turns=[], phonemes={p: ph for p, ph in zip("AB", per_person)})
    timings.turns = sorted((TimedTurn(p, a, b, "") for p in "AB" for a, b in timings.speech_spans(p)),
                           key=lambda t: t.start)
    return timings


def _fit(mask: np.ndarray, n: int) -> np.ndarray:
    return np.pad(mask, (0, max(0, n - len(mask))))[:n]


def procedural_recognized(audio: np.ndarray, shape: str, clip, seed: int = 1):
    """The corpus's procedural animator driven by recognized instead of true timings."""
    from duet.corpus.animator import animate

    timings = recognized_timings(audio, shape, clip.timings.duration, first_speaker(clip))
    tracks = audio if audio.shape[0] == 2 else None
    return animate(timings, clip.layout, relation=clip.relation, fps=FPS, seed=seed, tracks=tracks)


def first_speaker(clip) -> str:
    """Who speaks first in the truth: a mono mix cannot say, so the user gives it (as in duet generate)."""
    firsts = {p: min((a for a, _, ph in clip.phonemes.get(p, []) if ph != "sil"), default=np.inf) for p in "AB"}
    return "A" if firsts["A"] <= firsts["B"] else "B"


# ---------------------------------------------------------------- Listen-R


class ListenerBank:
    """Listening stretches (frames where a person is silent and the partner speaks) from training clips."""

    def __init__(self, motions, min_frames: int = 25):
        self.segments = []
        for m in motions:
            for p, q in (("A", "B"), ("B", "A")):
                me, other = m.person(p), m.person(q)
                listening = (me.speaking < 0.5) & (other.speaking >= 0.5)
                turn = _head_from_facing(me, other)
                for a, b in _runs(listening):
                    if b - a >= min_frames:
                        self.segments.append({"expr": me.expr[a:b], "expr_names": m.expr_names, "turn": turn[a:b],
                                              **{j: me.poses[j][a:b] for j in LISTENER_JOINTS}})
        if not self.segments:
            raise DuetError("Listen-R: the training clips hold no listening stretch to retrieve")

    def fill(self, motion, rng: np.random.Generator):
        """Replace each person's listening frames (by ``motion``'s own masks) with random retrieved
        stretches, tiled when a stretch is shorter than the gap it fills. The head's turn is retrieved
        relative to facing the partner and set through the neck, so it suits any body yaw."""
        from duet.eval import metrics as M
        from duet.frames import axis_angle, rotmat

        facings = {p: _facing(motion.person(p), motion.person(q)) for p, q in (("A", "B"), ("B", "A"))}
        for p in ("A", "B"):
            me, facing = motion.person(p), facings[p]
            listening = me.speaking < 0.5
            for a, b in _runs(listening):
                seg = self.segments[rng.integers(len(self.segments))]
                n = b - a
                start = int(rng.integers(0, len(seg["expr"])))
                idx = (start + np.arange(n)) % len(seg["expr"])
                expr = M.reorder(seg["expr"], seg["expr_names"], motion.expr_names)
                me.expr[a:b] = expr[idx]
                for j in LISTENER_JOINTS:
                    me.poses[j][a:b] = seg[j][idx]
                # the retrieved head turn is relative to facing the partner there; keep it so here,
                # whatever this layout's body yaw (the neck carries it, as in the corpus)
                head = facing[a:b] @ rotmat(seg["turn"][idx])
                me.poses["neck"][a:b] = axis_angle(rotmat(me.poses["global"][a:b]).transpose(0, 2, 1) @ head)
        return motion


def _facing(me, other) -> np.ndarray:
    """[T, 3, 3]: the yaw that turns ``me`` towards ``other``'s eyes on each frame."""
    from duet.frames import facing_yaw, rotmat, yaw
    from duet.rigs import kinematics

    eyes = kinematics.eye_midpoint(me.poses, me.transl), kinematics.eye_midpoint(other.poses, other.transl)
    return rotmat(yaw(facing_yaw(*eyes)))


def _head_from_facing(me, other) -> np.ndarray:
    """[T, 3] axis-angle: ``me``'s head orientation (global then neck) relative to facing ``other``."""
    from duet.frames import axis_angle, rotmat

    head = rotmat(me.poses["global"]) @ rotmat(me.poses["neck"])
    return axis_angle(_facing(me, other).transpose(0, 2, 1) @ head)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2]))


# ---------------------------------------------------------------- Rhubarb Lip Sync


def read_rhubarb(path: str | Path) -> list[tuple[float, float, str]]:
    """Mouth cues (start_s, end_s, shape) from a Rhubarb Lip Sync JSON export (``-f json``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        cues = [(float(c["start"]), float(c["end"]), str(c["value"])) for c in data["mouthCues"]]
    except FileNotFoundError:
        raise DuetError(f"{path}: no such Rhubarb cue file") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise DuetError(f"{path}: not a Rhubarb Lip Sync JSON file (needs mouthCues with start, end, value)") from None
    for start, end, shape in cues:
        if shape not in RHUBARB_SHAPES:
            raise DuetError(f"{path}: unknown mouth shape {shape!r} (Rhubarb uses A-H and X)")
        if end < start:
            raise DuetError(f"{path}: a cue ends before it starts ({start} > {end})")
    return cues


def rhubarb_motion(cues: dict[str, list], layout: dict, n_frames: int, fps: float = FPS):
    """DyadicMotion from each person's mouth cues: jaw opening = openness x the procedural animator's
    full jaw angle, the shape's extra channels, speaking where a cue other than X is shown; heads at
    ``layout``, facing and looking at each other, otherwise still."""
    from duet.arkit import ARKIT_52, INDEX
    from duet.animators.baseline import look_at
    from duet.corpus.animator import JAW_MAX
    from duet.frames import facing_yaw, yaw
    from duet.motion import DyadicMotion, PersonMotion
    from duet.rigs import kinematics

    heads = {p: np.asarray(layout[p], np.float64) for p in "AB"}
    t = np.arange(n_frames) / fps
    people = {}
    for p, q in (("A", "B"), ("B", "A")):
        face = float(facing_yaw(heads[p], heads[q]))
        m = PersonMotion.still(n_frames, len(ARKIT_52), kinematics.transl_for_head(heads[p], face))
        m.poses["global"][:] = yaw(face)
        for start, end, shape in cues.get(p, []):
            on = (t >= start) & (t < end)
            openness, extra = RHUBARB_SHAPES[shape]
            m.poses["jaw"][on, 0] = JAW_MAX * openness
            for name, w in extra.items():
                m.expr[on, INDEX[name]] = w
            m.speaking[on] = float(shape != "X")
        people[p] = m
    for p, q in (("A", "B"), ("B", "A")):
        look_at(people[p], kinematics.eye_midpoint(people[q].poses, people[q].transl))
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=ARKIT_52, fps=fps,
                        meta={"animator": "rhubarb", "layout": {p: list(map(float, heads[p])) for p in "AB"}})
