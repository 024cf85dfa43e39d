"""Speaking masks m_A, m_B at 25 fps from a mono mix, two tracks, or a stereo file.

Two tracks / stereo: WebRTC voice activity per channel, a level gate against the other channel's
bleed, then gap filling; where the voices are only partly apart (panned, or microphones that hear
each other) the gate sits between the two voices' level differences (`channel_balance`), and two
channels that hold the same voices (within BLEED_DB of each other) are heard as the mix they are.
Mono: voice activity on the mix, then diarization on GE2E voice embeddings of real speech
(`duet.audio.diarize`): one voice or two, and each speech frame to one voice. Person A is the first
to speak unless the caller says otherwise, and the assignment holds over the whole clip.
"""

from __future__ import annotations

import numpy as np

from duet.constants import FPS, INPUT_SHAPES, SAMPLE_RATE
from duet.audio import features as F
from duet.errors import DuetError

HOP = F.HOP
GAP_S = 0.50  # pauses shorter than this (sentence breaks) still count as speaking
MIN_RUN_S = 0.10  # speech blips shorter than this are dropped
BLEED_DB = 15.0  # a channel this much quieter than the other while the other talks is bleed
FLOOR_MARGIN_DB = 5.0  # speech must stand this far above the noise floor (10th percentile level)
PAN_SPLIT_DB = 6.0  # a stereo file holds two voices apart when its channels' level difference while
# speaking falls into two groups at least this far apart (a mix recorded on two mics stays within ~3 dB)
PAN_MIN_S = 0.2  # ... each group holding at least this much speech


def speaking_masks(tracks: np.ndarray, input_shape: str, first_speaker: int | None = None,
                   speakers: int | None = None) -> np.ndarray:
    """The masks of `listen` without its verdict."""
    return listen(tracks, input_shape, first_speaker, speakers)[0]


def listen(tracks: np.ndarray, input_shape: str, first_speaker: int | None = None,
           speakers: int | None = None, unsure: list | None = None) -> tuple[np.ndarray, str]:
    """[C, N] samples at 16 kHz -> [2, N // 640] speaking probabilities in [0, 1].

    input_shape: "mono" (C = 1, both voices mixed; several channels are averaged), "two-track" or
    "stereo" (C = 2, one voice per channel). Row 0 is person A. first_speaker picks A: for
    two-track/stereo the channel index that is A; for mono 0 = the first voice heard, 1 = the
    other one. None (default): whoever speaks first is A. ``unsure``, when given, receives the
    stretches (start_s, end_s) of a mono mix where the diarization could not tell the voices apart.
    """
    x = np.asarray(tracks, np.float32)
    if x.ndim == 1:
        x = x[None]
    if input_shape not in INPUT_SHAPES:
        raise DuetError(f"unknown input shape '{input_shape}' (expected one of: {', '.join(INPUT_SHAPES)})")
    if x.ndim != 2 or x.shape[1] < HOP:
        raise DuetError(f"audio of shape {tuple(x.shape)} is too short for one 40 ms frame")
    if not np.all(np.isfinite(x)):
        raise DuetError("the audio holds invalid (NaN or infinite) samples")
    if input_shape != "mono" and x.shape[0] != 2:
        raise DuetError(f"{input_shape} input needs exactly 2 channels, got {x.shape[0]}")
    if first_speaker not in (None, 0, 1):
        raise DuetError(f"first_speaker must be 0, 1 or None, got {first_speaker!r}")
    if speakers not in (None, 1, 2):
        raise DuetError(f"speakers must be 1, 2 or None, got {speakers!r}")
    note, balance = "", None
    if input_shape != "mono":
        diff = level_difference(x)
        balance = channel_balance(diff)
        if balance is None and len(diff) and abs(float(np.median(diff))) < BLEED_DB:
            # both channels carry the same voices, neither the other's bleed: a mix recorded twice
            what = "both channels" if input_shape == "stereo" else "both tracks"
            input_shape, note = "mono", f"{what} hold the same voices, so heard as a mix: "
    if input_shape == "mono":
        masks, result = diarize(x.mean(0), speakers)
        verdict = note + result.verdict()
        if unsure is not None:
            unsure += [(float(a), float(b)) for a, b in result.uncertain]
    else:
        masks = _per_track(x, balance)
        apart = np.inf if balance is None else balance[1] - balance[0]
        if apart >= 2 * BLEED_DB:
            verdict = "one voice per track"
        elif input_shape == "stereo":
            verdict = f"two voices panned {apart:.0f} dB apart"
        else:
            verdict = f"one voice per track, each microphone hearing the other {apart / 2:.0f} dB down"
    order = _first_to_speak(masks, FPS if input_shape == "mono" else 1)
    if first_speaker == 1:
        order = order[::-1]
    if input_shape != "mono" and first_speaker is not None:
        order = [first_speaker, 1 - first_speaker]
    return soften(masks[order]), verdict


def masks_from_turns(turns, n_frames: int) -> np.ndarray:
    """Exact masks from known timings: turns = [(person "A"|"B", start_s, end_s), ...] -> [2, T].

    Frame k is speaking when its centre, (k + 0.5) / 25 s, lies inside a turn.
    """
    masks = np.zeros((2, n_frames), np.float32)
    centres = (np.arange(n_frames) + 0.5) / F.FPS
    for person, start, end in turns:
        if person not in ("A", "B"):
            raise DuetError(f"turn speaker must be 'A' or 'B', got {person!r}")
        masks["AB".index(person), (centres >= start) & (centres < end)] = 1.0
    return masks


def soften(masks: np.ndarray) -> np.ndarray:
    """Binary [2, T] -> soft probabilities: ramps of one frame either side of each edge."""
    m = masks.astype(np.float32)
    if m.shape[1] < 3:
        return m
    pad = np.pad(m, ((0, 0), (1, 1)), mode="edge")
    soft = 0.25 * pad[:, :-2] + 0.5 * pad[:, 1:-1] + 0.25 * pad[:, 2:]
    return np.where(m > 0.5, np.maximum(soft, 0.75), np.minimum(soft, 0.25)).astype(np.float32)


def voice_activity(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N] -> (soft speech fraction per 25 fps frame [T], frame level dB after normalization [T]).

    WebRTC VAD (mode 2) on 10 ms frames of the level-normalized signal, gated by energy: a frame
    must be within 35 dB of the speech level and FLOOR_MARGIN_DB above the noise floor (10th
    percentile), so steady noise that WebRTC lets through does not count.
    """
    import webrtcvad

    gain = 10 ** (F.loudness_gain_db(x) / 20)
    y = np.clip(x * gain, -1, 1)
    n = len(y) // HOP
    pcm = (y[: n * HOP] * 32767).astype("<i2")
    vad = webrtcvad.Vad(2)
    sub = F.SUB
    raw = pcm.tobytes()
    flags = np.fromiter((vad.is_speech(raw[2 * i: 2 * (i + sub)], SAMPLE_RATE) for i in range(0, n * HOP, sub)),
                        bool, count=n * 4)
    db = F.frame_db(y)
    floor = np.percentile(db, 10) if n else 0.0
    frac = flags.reshape(n, 4).mean(1) * (db > max(F.TARGET_DBFS - 35, floor + FLOOR_MARGIN_DB))
    return frac.astype(np.float32), db


def clean(active: np.ndarray, gap_s: float = GAP_S, min_run_s: float = MIN_RUN_S, fps: float = F.FPS) -> np.ndarray:
    """Fill pauses shorter than gap_s between speech, then drop runs shorter than min_run_s (frames at fps)."""
    a = active.astype(bool).copy()
    for value, limit in ((False, gap_s), (True, min_run_s)):
        for s, e in _runs(a == value):
            inner = s > 0 and e < len(a) if not value else True
            if inner and (e - s) < limit * fps:
                a[s:e] = not value
    return a


def _runs(b: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    d = np.diff(np.concatenate([[0], b.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def level_difference(x: np.ndarray) -> np.ndarray:
    """[2, N] -> channel 0's level less channel 1's in dB on each speech frame of the channels' mix,
    a median over 0.2 s."""
    frac, _ = voice_activity(x.mean(0))
    diff = (F.frame_db(x[0]) - F.frame_db(x[1]))[frac >= 0.5]
    if len(diff) < 5:
        return diff
    return np.median(np.lib.stride_tricks.sliding_window_view(np.pad(diff, 2, mode="edge"), 5), 1)


def channel_balance(diff: np.ndarray) -> tuple[float, float] | None:
    """Two channels' `level_difference` -> its two groups' means (1-D two-means), low first; None
    when they are under PAN_SPLIT_DB apart or a group holds under PAN_MIN_S of speech: then the
    channels do not hold one voice each (a mix, however recorded, or one voice alone)."""
    if len(diff) < 2 * PAN_MIN_S * FPS:
        return None
    centres = np.percentile(diff, [10.0, 90.0])
    for _ in range(50):
        high = np.abs(diff - centres[1]) < np.abs(diff - centres[0])
        if high.all() or not high.any():
            return None
        new = np.array([diff[~high].mean(), diff[high].mean()])
        if np.allclose(new, centres):
            break
        centres = new
    if centres[1] - centres[0] < PAN_SPLIT_DB or min(high.sum(), (~high).sum()) < PAN_MIN_S * FPS:
        return None
    return float(centres[0]), float(centres[1])


def _per_track(x: np.ndarray, balance: tuple[float, float] | None = None) -> np.ndarray:
    """One voice per channel. A channel's speech is the other's bleed when it is BLEED_DB quieter;
    with ``balance`` (the channels' `channel_balance`) under 2 x BLEED_DB apart, when its level
    difference lies a third of the groups' distance beyond halfway towards the other voice's group."""
    frac0, db0 = voice_activity(x[0])
    frac1, db1 = voice_activity(x[1])
    # levels before per-track normalization decide bleed: compare raw frame levels
    diff = F.frame_db(x[0]) - F.frame_db(x[1])
    middle, gate = 0.0, BLEED_DB
    if balance is not None and balance[1] - balance[0] < 2 * BLEED_DB:
        middle, gate = (balance[0] + balance[1]) / 2, (balance[1] - balance[0]) / 3
    act0, act1 = frac0 >= 0.5, frac1 >= 0.5
    keep0 = act0 & ~(act1 & (diff - middle < -gate))
    keep1 = act1 & ~(act0 & (diff - middle > gate))
    return np.stack([clean(keep0), clean(keep1)]).astype(np.float32)


def _first_to_speak(masks: np.ndarray, frames: int = 1) -> list[int]:
    """Row order with A first: A holds most of the first `frames` speech frames (ties: who starts).
    Mono looks at a second of speech, so one misheard opening frame does not swap the whole clip."""
    on = masks > 0.5
    heard = np.flatnonzero(on.any(0))[:frames]
    count = on[:, heard].sum(1)
    if count[0] != count[1]:
        return [0, 1] if count[0] > count[1] else [1, 0]
    firsts = [np.flatnonzero(m)[0] if m.any() else len(m) for m in on]
    return [0, 1] if firsts[0] <= firsts[1] else [1, 0]


# ---- mono diarization ---------------------------------------------------------------------------

def diarize(mix: np.ndarray, speakers: int | None = None):
    """Mono [N] -> (binary [2, T] masks in clustering order, the `duet.audio.diarize.Diarization`)."""
    from duet.audio.diarize import diarize as who_speaks

    x = np.asarray(mix, np.float32)
    frac, _ = voice_activity(x)
    speech = clean(frac >= 0.5, gap_s=0.1)  # fine runs: a turn change needs only a short pause
    result = who_speaks(x, speech, speakers)
    return np.stack([clean(m) for m in result.masks]).astype(np.float32), result
