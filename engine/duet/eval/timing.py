"""Lip timing against phone times: how many frames a mouth-opening curve trails (or leads) the phones.

A lag curve is ``metrics.lagged_correlation`` of a lip gap against the phone-openness target over
lags of -``max_lag``..+``max_lag`` frames; its best lag is where r peaks (positive: the mouth is late).
Phone times come from the corpus's own labels or from an independent forced alignment of the audio
(``turn_phones``: PocketSphinx through duet.speech.align), so a label that trails its own sound cannot hide.
"""

from __future__ import annotations

import numpy as np

from duet.constants import FPS, SAMPLE_RATE
from duet.eval import metrics as M

MAX_LAG = 3  # frames either way


def lag_curve(gap: np.ndarray, phones, fps: float = FPS, max_lag: int = MAX_LAG) -> np.ndarray:
    """[2 * max_lag + 1] r between the phone-openness target at frame k and ``gap`` at k + lag."""
    gap = np.asarray(gap, np.float64)
    return M.lagged_correlation(gap, M.openness_track(phones, fps, len(gap)), max_lag)


def best_lag(curve: np.ndarray) -> int:
    """The lag (frames) where a curve centred on lag 0 peaks."""
    curve = np.nan_to_num(np.asarray(curve, np.float64), nan=-np.inf)
    return int(np.argmax(curve)) - (len(curve) - 1) // 2


def fine_lag_ms(gap: np.ndarray, phones, fps: float = FPS, step_ms: float = 5.0, max_ms: float = 80.0) -> float:
    """The lag (ms) at ``step_ms`` resolution: the gap read between frames as Blender's linear keys
    read it, against the openness target sampled at the same resolution."""
    gap = np.asarray(gap, np.float64)
    rate = 1000.0 / step_ms
    t = np.arange(int((len(gap) - 1) / fps * rate) + 1) / rate
    fine = np.interp(t, np.arange(len(gap)) / fps, gap)
    curve = M.lagged_correlation(fine, M.openness_track(phones, rate, len(fine)), int(round(max_ms / step_ms)))
    return best_lag(curve) * step_ms


def mouth_gap(motion, person: str, faces: dict) -> np.ndarray:
    """[T] the open head's lip gap (metres) for one person of a DyadicMotion, as duet.eval scores it."""
    from duet.eval.runner import head_frame_vertices

    f = faces[person]
    v = head_frame_vertices(f, motion.person(person), motion.expr_names)
    return M.lip_gap(v, f.upper_mid, f.lower_mid)


def turn_phones(track: np.ndarray, turns, sr: int = SAMPLE_RATE,
                pad: float = 0.2) -> tuple[list[tuple[float, float, str]], int]:
    """Phones (start_s, end_s, phone) of one person's ``track``: each turn's text (``turns``: objects
    with start, end, text) force-aligned (duet.speech.align) in [start - pad, end + pad]. Returns
    (phones, how many turns could not be aligned: a word outside the dictionary or no path)."""
    from duet.errors import DuetError
    from duet.speech.align import forced_phones

    out, failed = [], 0
    for turn in turns:
        a, b = max(0, int((turn.start - pad) * sr)), min(len(track), int((turn.end + pad) * sr))
        try:
            out += forced_phones(np.asarray(track[a:b]), turn.text, offset_s=a / sr)
        except DuetError:
            failed += 1
    return out, failed


def feature_centre_ms() -> float:
    """Where frame k's audio features are centred, in ms after k / 25 s, measured: a 5 ms click is swept
    across frame k and the mel power frame k reports is averaged over the click positions. A steady
    louder tone later in the clip fixes the level normalization, so the click does not move it."""
    from duet.audio.features import HOP, N_MELS, compute

    k, shifts = 5, np.arange(-HOP, 2 * HOP + 1, 20)
    n = 40 * HOP
    click = 0.1 * np.hanning(80).astype(np.float32) * np.sin(np.arange(80) * 0.9).astype(np.float32)
    base = 1e-4 * np.random.default_rng(0).standard_normal(n).astype(np.float32)
    base[20 * HOP:] += 0.3 * np.sin(np.arange(n - 20 * HOP) * 2 * np.pi * 200 / SAMPLE_RATE).astype(np.float32)
    power = []
    for s in shifts:
        x = base.copy()
        c = k * HOP + s
        x[c - 40: c + 40] += click
        mel = compute(x)[k, : 2 * N_MELS] * 4.0 - 3.0  # back to log10 power (features.py's mapping)
        power.append(float(np.sum(10.0 ** mel)))
    w = np.asarray(power) / np.sum(power)
    return float(np.sum(w * shifts) / SAMPLE_RATE * 1000.0)


def masked_lag_curve(gap: np.ndarray, phones, keep: np.ndarray, fps: float = FPS,
                     max_lag: int = MAX_LAG) -> np.ndarray:
    """Sums for pooling a lag curve over the frames ``keep`` [T] bool only (e.g. the window boundary
    blends): per lag, [n, sum x, sum y, sum xx, sum yy, sum xy] of (target[k], gap[k + lag]) for kept k.
    ``pooled_r`` turns summed rows into r per lag."""
    gap = np.asarray(gap, np.float64)
    target = M.openness_track(phones, fps, len(gap))
    rows = np.zeros((2 * max_lag + 1, 6))
    k = np.flatnonzero(keep)
    for i, lag in enumerate(range(-max_lag, max_lag + 1)):
        kk = k[(k + lag >= 0) & (k + lag < len(gap))]
        x, y = target[kk], gap[kk + lag]
        rows[i] = [len(kk), x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]
    return rows


def pooled_r(rows: np.ndarray) -> np.ndarray:
    """Pearson r per lag from summed ``masked_lag_curve`` rows."""
    n, sx, sy, sxx, syy, sxy = np.asarray(rows, np.float64).T
    cov = sxy - sx * sy / np.maximum(n, 1)
    var = (sxx - sx * sx / np.maximum(n, 1)) * (syy - sy * sy / np.maximum(n, 1))
    return np.where(var > 0, cov / np.sqrt(np.maximum(var, 1e-30)), np.nan)


def make_test_split(folder, seed: int = 0, clips: int = 21):
    """The first ``clips`` clips of the test split of the corpus ``duet data synth --seed SEED`` makes
    (indices 0, 10, 20, ...: the split comes from the index), written to ``folder`` as a corpus of
    their own unless it already holds them. Returns the opened corpus."""
    import json
    from pathlib import Path

    from duet.corpus.build import CORPUS_VERSION, SPLITS, clip_id, clip_split, make_clip, open_corpus, write_clip
    from duet.files import atomic_output

    folder = Path(folder)
    indices = [i for i in range(10 * clips) if clip_split(i) == "test"][:clips]
    manifest = folder / "manifest.json"
    if manifest.is_file():
        have = json.loads(manifest.read_text())
        if have.get("seed") == seed and [c["id"] for c in have["clips"]] == [clip_id(i) for i in indices]:
            return open_corpus(folder)
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    entries = [write_clip(folder / "clips", make_clip(seed, i)) for i in indices]
    made = {"version": CORPUS_VERSION, "seed": seed, "hours": 0.0, "sr": SAMPLE_RATE, "fps": FPS,
            "total_seconds": round(sum(e["duration"] for e in entries), 3), "clips": entries,
            "splits": {s: sum(e["split"] == s for e in entries) for s in SPLITS}}
    with atomic_output(manifest) as tmp:
        tmp.write_text(json.dumps(made, indent=1))
    return open_corpus(folder)
