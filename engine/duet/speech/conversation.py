"""Assemble single-speaker utterances into a two-person conversation with exact speaking masks.

Each person's track holds only their own speech, so masks and phone timings are exact by construction
(the "synthetic dubbing" of talking-together section 3.6.2). Frame k of a mask is time k / fps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np

from duet.constants import SAMPLE_RATE
from duet.errors import DuetError
from duet.speech import Speech

PERSONS = ("A", "B")
PAUSE_IN_TURN = 0.3  # silences at least this long inside a turn do not count as speaking


@dataclass
class Turn:
    """One utterance to place: after the previous main turn ends plus ``gap`` (negative overlaps it),
    or at absolute time ``at`` (backchannels dropped into the listener's silence)."""

    speaker: str
    speech: Speech
    gap: float = 0.3
    at: float | None = None
    kind: str = "utterance"  # "utterance" or "backchannel"
    emotion: str = "neutral"


@dataclass
class TimedTurn:
    speaker: str
    start: float
    end: float
    text: str
    kind: str = "utterance"
    emotion: str = "neutral"
    voice: str = ""


@dataclass
class Timings:
    """Where everything is in conversation time (seconds): turns, and each person's phones."""

    duration: float
    turns: list[TimedTurn]
    phonemes: dict[str, list[tuple[float, float, str]]] = field(default_factory=dict)

    def speech_spans(self, person: str) -> list[tuple[float, float]]:
        """Intervals where ``person`` is speaking: non-silent phones, bridging pauses under PAUSE_IN_TURN."""
        spans: list[list[float]] = []
        for start, end, phone in self.phonemes.get(person, []):
            if phone == "sil":
                continue
            if spans and start - spans[-1][1] < PAUSE_IN_TURN:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        return [(a, b) for a, b in spans]

    def masks(self, fps: float = 25.0) -> np.ndarray:
        """Speaking masks [2, T] (A, B): frame k is 1 when time k / fps lies inside a speech span."""
        n = n_frames(self.duration, fps)
        t = np.arange(n) / fps
        out = np.zeros((2, n), np.float32)
        for i, p in enumerate(PERSONS):
            for a, b in self.speech_spans(p):
                out[i, (t >= a) & (t < b)] = 1.0
        return out

    def to_json(self) -> dict:
        return {"duration": self.duration, "turns": [asdict(t) for t in self.turns],
                "phonemes": {p: [[round(a, 6), round(b, 6), ph] for a, b, ph in v] for p, v in self.phonemes.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "Timings":
        return cls(duration=float(d["duration"]), turns=[TimedTurn(**t) for t in d["turns"]],
                   phonemes={p: [(float(a), float(b), str(ph)) for a, b, ph in v] for p, v in d["phonemes"].items()})


class Conversation(NamedTuple):
    mix: np.ndarray      # [N] float32 at 16 kHz
    tracks: np.ndarray   # [2, N] each person's own speech
    masks: np.ndarray    # [2, T] speaking masks at fps
    timings: Timings


def n_frames(duration: float, fps: float) -> int:
    return max(1, int(np.floor(duration * fps + 1e-9)))


def assemble(turns: list[Turn], lead_in: float = 0.3, tail: float = 0.5, fps: float = 25.0,
             min_duration: float = 0.0) -> Conversation:
    """Place ``turns`` on two tracks; returns mix, tracks, exact masks and timings.

    Start times are snapped to whole samples and phone times shifted by exactly that amount.
    """
    if not turns:
        raise DuetError("a conversation needs at least one turn")
    placed = []
    cursor = lead_in
    for turn in turns:
        if turn.speaker not in PERSONS:
            raise DuetError(f"turn speaker must be 'A' or 'B', got {turn.speaker!r}")
        if turn.speech.sr != SAMPLE_RATE:
            raise DuetError(f"speech must be at {SAMPLE_RATE} Hz, got {turn.speech.sr}")
        if turn.at is not None:
            start = turn.at
        else:
            start = max(0.0, cursor + turn.gap)
            cursor = start + turn.speech.duration
        placed.append((int(round(start * SAMPLE_RATE)), turn))
    n = max(s + len(t.speech.samples) for s, t in placed) + int(round(tail * SAMPLE_RATE))
    n = max(n, int(round(min_duration * SAMPLE_RATE)))
    tracks = np.zeros((2, n), np.float32)
    busy = {p: [] for p in PERSONS}
    timed, phones = [], {p: [] for p in PERSONS}
    for s0, turn in sorted(placed, key=lambda x: x[0]):
        i = PERSONS.index(turn.speaker)
        x = turn.speech.samples
        e0 = s0 + len(x)
        if any(s0 < b and a < e0 for a, b in busy[turn.speaker]):
            raise DuetError(f"person {turn.speaker} would speak two utterances at once at {s0 / SAMPLE_RATE:.2f} s")
        busy[turn.speaker].append((s0, e0))
        tracks[i, s0:e0] += x
        off = s0 / SAMPLE_RATE
        phones[turn.speaker] += [(a + off, b + off, p) for a, b, p in turn.speech.phonemes]
        timed.append(TimedTurn(turn.speaker, off, e0 / SAMPLE_RATE, turn.speech.text, turn.kind, turn.emotion,
                               turn.speech.voice))
    duration = n / SAMPLE_RATE
    for p in PERSONS:  # fill the gaps so each person's phones tile [0, duration]
        filled, t = [], 0.0
        for a, b, ph in sorted(phones[p]):
            if a > t + 1e-9:
                filled.append((t, a, "sil"))
            filled.append((a, b, ph))
            t = b
        if duration > t + 1e-9:
            filled.append((t, duration, "sil"))
        phones[p] = _merge_silence(filled)
    timings = Timings(duration=duration, turns=timed, phonemes=phones)
    return Conversation(tracks.sum(0), tracks, timings.masks(fps), timings)


def _merge_silence(phones):
    out = []
    for a, b, p in phones:
        if out and p == "sil" and out[-1][2] == "sil":
            out[-1] = (out[-1][0], b, "sil")
        else:
            out.append((a, b, p))
    return out
