"""Arbitrary length from fixed windows: overlapping window starts and the symmetric Gaussian
boundary blend of CHAT (Temporal Continuity Refinement), applied with one set of weights to both
people so their mutual timing survives the stitch (numpy).

Consecutive windows overlap by at least 2W frames; the boundary b sits in the middle of the overlap.
For tau = 1..W, frame b - tau takes (1 - a) of the earlier window and a of the later one, frame
b + tau - 1 takes a of the earlier and (1 - a) of the later, a(tau) = exp(-(tau - 1)^2 / 2 sigma^2) / 2,
sigma = W / 3: half and half at the boundary, fading to a clean cut within W frames.
"""

from __future__ import annotations

import numpy as np


def window_starts(n_frames: int, window: int, blend: int) -> list[int]:
    """Start frames of windows of ``window`` frames covering [0, n_frames), overlapping >= 2 * blend."""
    if n_frames <= window:
        return [0]
    stride = window - 2 * blend
    starts = list(range(0, n_frames - window, stride))
    starts.append(n_frames - window)
    return starts


def half_gaussian(blend: int) -> np.ndarray:
    """a(tau) for tau = 1..W."""
    sigma = blend / 3.0
    tau = np.arange(1, blend + 1)
    return 0.5 * np.exp(-((tau - 1) ** 2) / (2 * sigma ** 2))


def blend_weights(starts: list[int], window: int, n_frames: int, blend: int) -> np.ndarray:
    """[n_windows, n_frames] weights of each window's prediction per frame; every column sums to 1."""
    w = np.zeros((len(starts), n_frames))
    bounds = [0]
    for i in range(1, len(starts)):
        lo, hi = starts[i], min(starts[i - 1] + window, n_frames)
        bounds.append((lo + hi) // 2)
    bounds.append(n_frames)
    for i in range(len(starts)):
        w[i, bounds[i]: bounds[i + 1]] = 1.0
    a = half_gaussian(blend)
    for i in range(1, len(starts)):
        b = bounds[i]
        for tau in range(1, blend + 1):
            before, after = b - tau, b + tau - 1
            w[i - 1, before], w[i, before] = 1 - a[tau - 1], a[tau - 1]
            w[i - 1, after], w[i, after] = a[tau - 1], 1 - a[tau - 1]
    return w


def stitch(windows: np.ndarray, starts: list[int], n_frames: int, blend: int) -> np.ndarray:
    """Per-window predictions [n_windows, L, ...] -> one sequence [n_frames, ...] by the blend."""
    length = windows.shape[1]
    w = blend_weights(starts, length, n_frames, blend)
    out = np.zeros((n_frames,) + windows.shape[2:], np.float64)
    for i, s in enumerate(starts):
        span = min(length, n_frames - s)
        ww = w[i, s: s + span].reshape((span,) + (1,) * (windows.ndim - 2))
        out[s: s + span] += ww * windows[i, :span]
    return out


def chain_offsets(windows: np.ndarray, starts: list[int], cols: slice) -> np.ndarray:
    """Make per-window deltas (relative to each window's first frame) continuous: window i's
    ``cols`` are shifted by the value the previous (already shifted) window has at frame starts[i]."""
    out = np.array(windows, np.float64)
    for i in range(1, len(starts)):
        k = starts[i] - starts[i - 1]
        out[i, ..., cols] += out[i - 1, k, ..., cols] - out[i, 0, ..., cols]
    return out
