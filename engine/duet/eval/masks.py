"""Frame-level F1 of estimated speaking masks against a corpus's exact masks.

Both sides follow the front end's convention (row 0 = the first to speak), so a clip whose voices
are swapped scores as wrong. Frames count as speaking at probability >= 0.5; true positives, false
positives and false negatives are pooled over both people and all clips (overlaps count for both).
Mono also gets a one-voice check: each clip's two tracks alone (one person talking, coloured noise
12-45 dB below), which should come out as one voice; the count split into two is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CROSSTALK_DB = -20.0  # stereo clips: each channel also hears the other person this much quieter


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    clips: int = 0
    swapped: int = 0  # clips that score better with A and B exchanged
    per_clip: list = field(default_factory=list)
    solo: int = 0  # one-voice tracks checked (mono)
    solo_split: int = 0  # of those, given to two voices

    @property
    def f1(self) -> float:
        return 2 * self.tp / max(2 * self.tp + self.fp + self.fn, 1)

    def add(self, clip_id: str, pred: np.ndarray, ref: np.ndarray) -> None:
        counts = confusion(pred, ref)
        self.tp, self.fp, self.fn = self.tp + counts[0], self.fp + counts[1], self.fn + counts[2]
        self.clips += 1
        self.swapped += int(f1(pred[::-1], ref) > f1(pred, ref))
        self.per_clip.append((clip_id, f1(pred, ref)))


def confusion(pred: np.ndarray, ref: np.ndarray) -> tuple[int, int, int]:
    """(tp, fp, fn) over [2, T] masks thresholded at 0.5; lengths are cut to the shorter one."""
    n = min(pred.shape[1], ref.shape[1])
    p, r = pred[:, :n] >= 0.5, ref[:, :n] >= 0.5
    return int((p & r).sum()), int((p & ~r).sum()), int((~p & r).sum())


def f1(pred: np.ndarray, ref: np.ndarray) -> float:
    tp, fp, fn = confusion(pred, ref)
    return 2 * tp / max(2 * tp + fp + fn, 1)


def first_speaker_order(masks: np.ndarray) -> np.ndarray:
    """Reorder [2, T] masks so that row 0 is whoever speaks first."""
    on = [np.flatnonzero(m >= 0.5) for m in masks]
    firsts = [o[0] if len(o) else masks.shape[1] for o in on]
    return masks if firsts[0] <= firsts[1] else masks[::-1]


def shape_input(tracks: np.ndarray, mix: np.ndarray, shape: str) -> np.ndarray:
    """The audio a user would give for this shape: [1, N] mix, [2, N] tracks, or stereo channels
    with crosstalk (each microphone hears the other person CROSSTALK_DB quieter)."""
    if shape == "mono":
        return mix[None]
    if shape == "two-track":
        return tracks
    leak = np.float32(10 ** (CROSSTALK_DB / 20))
    return np.stack([tracks[0] + leak * tracks[1], tracks[1] + leak * tracks[0]])


def evaluate(corpus, split: str, shapes, progress=None) -> dict[str, Score]:
    """Score speaking_masks on every clip of ``split`` for each input shape."""
    from duet.audio.masks import speaking_masks
    from duet.corpus.augment import noise

    ids = list(corpus.ids(split))
    scores = {s: Score() for s in shapes}
    for i, clip_id in enumerate(ids):
        clip = corpus.load(clip_id)
        ref = np.stack([np.asarray(clip.motion.A.speaking), np.asarray(clip.motion.B.speaking)])
        ref = first_speaker_order(ref)
        for shape in shapes:
            audio = shape_input(np.asarray(clip.tracks, np.float32), np.asarray(clip.mix, np.float32), shape)
            mode = "stereo" if shape == "stereo" else shape
            scores[shape].add(clip_id, speaking_masks(audio, mode), ref)
        if "mono" in scores:
            rng = np.random.default_rng(i)
            for track in np.asarray(clip.tracks, np.float32):
                alone = noise(track, rng, rng.uniform(12, 45))
                scores["mono"].solo += 1
                scores["mono"].solo_split += int(speaking_masks(alone[None], "mono")[1].max() >= 0.5)
        if progress:
            progress((i + 1) / len(ids), clip_id)
    return scores
