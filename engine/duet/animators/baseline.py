"""The baseline animator: honest signal processing, no learning.

Who speaks comes from per-track energy (two tracks or stereo) or an energy split of a mono mix
(voice activity, then two clusters of per-segment spectral shape). The speaker's jaw opens with the
smoothed loudness of their voice; everyone blinks, sways a little and looks at the partner's eyes.
Kept for good: the evaluation compares the learned model against it.
"""

from __future__ import annotations

import numpy as np

from duet.constants import DEFAULT_LAYOUT, FPS, SAMPLE_RATE
from duet.arkit import ARKIT_52, INDEX
from duet.layout import kinds as layouts
from duet.frames import axis_angle, facing_yaw, rotation_between, rotmat, yaw
from duet.motion import DyadicMotion, PersonMotion
from duet.rigs import kinematics

HOP = SAMPLE_RATE // FPS  # samples per frame
JAW_MAX = 0.25  # radians of jaw opening at full loudness


def frame_rms_db(x: np.ndarray, n_frames: int) -> np.ndarray:
    """RMS level in dB of each 40 ms frame (frame k covers samples [k*HOP, (k+1)*HOP))."""
    x = np.asarray(x, np.float64)[: n_frames * HOP]
    x = np.pad(x, (0, n_frames * HOP - len(x)))
    rms = np.sqrt(np.mean(x.reshape(n_frames, HOP) ** 2, axis=1))
    return 20 * np.log10(rms + 1e-7)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x
    k = np.hanning(width + 2)[1:-1]
    return np.convolve(x, k / k.sum(), mode="same")


def _activity(db: np.ndarray) -> np.ndarray:
    """Frames whose level stands clearly above the track's own noise floor."""
    floor, loud = np.percentile(db, 10), np.percentile(db, 98)
    thr = max(floor + 12.0, loud - 30.0)
    active = (db > thr).astype(np.float64)
    # Close short gaps inside words and drop isolated clicks.
    active = (_smooth(active, 5) > 0.3).astype(np.float64)
    return active


def masks_from_tracks(tracks: np.ndarray, n_frames: int) -> np.ndarray:
    """[2, N] tracks (one voice each) -> [2, T] speaking masks; the louder track wins bleed."""
    db = np.stack([frame_rms_db(t, n_frames) for t in tracks])
    act = np.stack([_activity(d) for d in db])
    bleed = db < (db[::-1] - 20.0)  # much quieter than the other track: crosstalk, not speech
    return np.where(bleed, 0.0, act)


def _segment_features(mix: np.ndarray, start: int, end: int) -> np.ndarray:
    """Mean log spectrum shape (level removed) of frames [start, end): a crude voice print."""
    seg = mix[start * HOP: end * HOP]
    n = max(1, len(seg) // 512)
    frames = seg[: n * 512].reshape(n, 512) * np.hanning(512)
    spec = np.log(np.abs(np.fft.rfft(frames, axis=1))[:, 4:160] ** 2 + 1e-9)
    edges = np.geomspace(1, spec.shape[1], 25).astype(int)
    bands = np.stack([spec[:, a:b].mean(1) for a, b in zip(edges[:-1], edges[1:]) if b > a], 1)
    v = bands.mean(0)
    return v - v.mean()


def masks_from_mix(mix: np.ndarray, n_frames: int) -> np.ndarray:
    """Mono mix -> [2, T] masks: voice activity, then two clusters of segment voice prints."""
    act = _activity(frame_rms_db(mix, n_frames)) > 0.5
    edges = np.flatnonzero(np.diff(np.concatenate([[0], act.astype(int), [0]])))
    segments = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= 3]
    masks = np.zeros((2, n_frames))
    if not segments:
        return masks
    feats = np.stack([_segment_features(mix, a, b) for a, b in segments])
    weights = np.array([b - a for a, b in segments], np.float64)
    far = int(np.argmax(np.linalg.norm(feats - feats[0], axis=1)))
    centres = feats[[0, far]]
    labels = np.zeros(len(segments), int)
    for _ in range(20):
        labels = np.argmin(np.linalg.norm(feats[:, None] - centres[None], axis=2), axis=1)
        for c in range(2):
            if np.any(labels == c):
                centres[c] = np.average(feats[labels == c], axis=0, weights=weights[labels == c])
    if np.linalg.norm(centres[0] - centres[1]) < 1.0:
        labels[:] = 0  # one voice only: the second person never speaks
    labels = labels if labels[0] == 0 else 1 - labels  # A is whoever speaks first
    for (a, b), c in zip(segments, labels):
        masks[c, a:b] = 1.0
    return masks


def _noise(rng: np.random.Generator, n: int, width: int, scale: float) -> np.ndarray:
    x = _smooth(rng.standard_normal(n + 2 * width), width)[width: width + n]
    return scale * x / (x.std() + 1e-9)


def _blinks(rng: np.random.Generator, n: int) -> np.ndarray:
    shape = np.array([0.4, 1.0, 1.0, 0.6, 0.2])
    out = np.zeros(n)
    t = int(rng.uniform(0.5, 3.0) * FPS)
    while t < n - len(shape):
        out[t: t + len(shape)] = np.maximum(out[t: t + len(shape)], shape)
        t += int(rng.uniform(2.0, 6.0) * FPS)
    return out


def animate(tracks: np.ndarray, input_shape: str, layout: dict | None = None, seed: int = 0,
            meta: dict | None = None, first_speaker: str = "A") -> DyadicMotion:
    """Audio at 16 kHz -> DyadicMotion at 25 fps.

    ``tracks`` is [1, N] for a mono mix (input_shape "mono") or [2, N] with person A's voice first
    (input_shape "two-track" or "stereo"). In a mono mix the first voice heard is ``first_speaker``.
    """
    tracks = np.asarray(tracks, np.float32)
    n_frames = tracks.shape[1] // HOP
    if input_shape == "mono":
        mix = tracks.mean(0)
        masks = masks_from_mix(mix, n_frames)
        voices = masks[:, None, :].repeat(HOP, axis=1).reshape(2, -1)  # gate the mix per person
        voices = voices[:, : len(mix)] * mix[None, : voices.shape[1]]
        if first_speaker == "B":
            masks, voices = masks[::-1].copy(), voices[::-1].copy()
    else:
        masks = masks_from_tracks(tracks, n_frames)
        voices = tracks
    layout = layout or DEFAULT_LAYOUT
    rng = np.random.default_rng(seed)
    heads = {p: np.asarray(layout[p], np.float64) for p in "AB"}
    body_yaw = layouts.body_yaw(layout) or {}  # how each body is turned; the neck turns the head to the partner

    people = {}
    for i, (p, q) in enumerate((("A", "B"), ("B", "A"))):
        face = float(facing_yaw(heads[p], heads[q]))
        body = float(body_yaw.get(p, face))
        person = PersonMotion.still(n_frames, len(ARKIT_52), kinematics.transl_for_head(heads[p], body))
        db = frame_rms_db(voices[i], n_frames)
        speech = db[masks[i] > 0.5]
        lo, hi = (np.percentile(speech, 5), np.percentile(speech, 95)) if speech.size > 5 else (-60.0, -20.0)
        level = np.clip((db - lo) / max(hi - lo, 1e-3), 0.0, 1.0) * masks[i]
        person.poses["jaw"][:, 0] = JAW_MAX * _smooth(level, 3) ** 0.8
        blink = _blinks(rng, n_frames)
        person.expr[:, INDEX["eyeBlinkLeft"]] = blink
        person.expr[:, INDEX["eyeBlinkRight"]] = blink
        person.poses["global"][:] = yaw(body)
        sway = np.stack([_noise(rng, n_frames, 40, 0.03), _noise(rng, n_frames, 50, 0.04),
                         _noise(rng, n_frames, 60, 0.02)], 1)
        sway[:, 0] += 0.04 * _smooth(level, 9)  # small nods on loud speech
        person.poses["neck"][:] = axis_angle(rotmat(yaw(face - body)) @ rotmat(sway)) if body != face else sway
        person.speaking[:] = _smooth(masks[i], 3).clip(0, 1)
        people[p] = person
    for p, q in (("A", "B"), ("B", "A")):
        look_at(people[p], kinematics.eye_midpoint(people[q].poses, people[q].transl))
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=ARKIT_52, fps=FPS,
                        meta={"animator": "baseline", "seed": seed, "input_shape": input_shape,
                              "layout": {p: list(map(float, heads[p])) for p in "AB"}, **(meta or {})})


def look_at(person: PersonMotion, target: np.ndarray) -> None:
    """Set both eye rotations so each eye's gaze passes through ``target`` [T,3] (world)."""
    rot, pos = kinematics.forward(person.poses, person.transl)
    neck = rot[:, 1]  # eyes hang from the neck joint
    for j, name in ((3, "eye_L"), (4, "eye_R")):
        world = target - pos[:, j]
        local = np.einsum("tji,tj->ti", neck, world)  # neck^T @ world
        aa = rotation_between(np.broadcast_to(kinematics.REST_GAZE, local.shape), local)
        person.poses[name][:] = aa.astype(np.float32)
