"""Audio features at 25 fps for the motion model: log-mel halves, energy, pitch and voicing.

Frame k covers samples [640k, 640k + 640) and is centred at (k + 0.5) / 25 s. Each frame carries
two 64-band log-mel spectra (its first and second 20 ms, so the model sees the within-frame change
that lips follow), log energy and its delta, log pitch and its delta, and a voicing probability.
Before anything is measured the clip is brought to a fixed speech level, so the scales the model
sees do not depend on how loud the recording was. Long audio is processed in chunks (bounded
memory, identical output to one pass).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from duet.constants import FPS, SAMPLE_RATE
from duet.errors import DuetError

HOP = SAMPLE_RATE // FPS  # 640 samples per frame
N_MELS = 64
FEATURE_DIM = 2 * N_MELS + 5
NAMES = ([f"mel_a{i}" for i in range(N_MELS)] + [f"mel_b{i}" for i in range(N_MELS)]
         + ["energy", "d_energy", "log_f0", "d_log_f0", "voicing"])

TARGET_DBFS = -20.0  # speech level every clip is normalized to
SUB = 160  # 10 ms sub-frames: four per 25 fps frame
WIN = 400  # 25 ms analysis window
N_FFT = 512
F0_MIN, F0_MAX = 60.0, 400.0
YIN_W = 512  # 32 ms integration window for pitch
CHUNK_FRAMES = 1500  # 60 s per chunk keeps memory bounded on long clips


def compute(samples: np.ndarray) -> np.ndarray:
    """[N] float32 at 16 kHz -> [N // 640, FEATURE_DIM] float32, deterministic and level-normalized."""
    x = as_mono(samples)
    x = x * np.float32(10 ** (loudness_gain_db(x) / 20))
    n_frames = len(x) // HOP
    out = np.zeros((n_frames, FEATURE_DIM), np.float32)
    for a in range(0, n_frames, CHUNK_FRAMES):
        b = min(n_frames, a + CHUNK_FRAMES)
        out[a:b] = _frames(x, a, b)
    _add_deltas(out)
    return out


def loudness_gain_db(x: np.ndarray) -> float:
    """The gain (dB) that brings the clip's speech level (95th percentile frame RMS) to TARGET_DBFS.

    Silent clips get 0 dB; the gain is clipped to [-30, +40] dB so noise is never blown up to speech.
    """
    db = frame_db(x)
    if db.size == 0:
        return 0.0
    level = float(np.percentile(db, 95))
    if level < -80:
        return 0.0
    return float(np.clip(TARGET_DBFS - level, -30.0, 40.0))


def frame_db(x: np.ndarray) -> np.ndarray:
    """RMS level (dBFS) of each 25 fps frame: [N] -> [N // 640]."""
    n = len(x) // HOP
    frames = np.asarray(x[: n * HOP], np.float32).reshape(n, HOP)
    return 10 * np.log10(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / HOP + 1e-12)


def log_mel(x: np.ndarray, a: int, b: int) -> np.ndarray:
    """Log-mel power of the 10 ms sub-frames of frames [a, b): [(b - a) * 4, N_MELS].

    Sub-frame i of frame k is centred at 640k + 80 + 160i, so the four are symmetric about the
    frame centre.
    """
    centres = np.arange(a * HOP, b * HOP, SUB) + SUB // 2

    def compute():
        from scipy import fft

        windows = _windows(x, centres, WIN)
        spec = fft.rfft(windows * _hann(WIN), n=N_FFT)  # single precision: half the time of numpy's
        power = spec.real ** 2 + spec.imag ** 2
        return np.log10(power @ _mel_basis() + 1e-10).astype(np.float32)

    return _remembered("log_mel", x, centres, WIN, compute)


def pitch(x: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """YIN pitch at the centres of frames [a, b): (f0 Hz, 0 where unvoiced; voicing in [0, 1])."""
    tau_min, tau_max = int(SAMPLE_RATE / F0_MAX), int(SAMPLE_RATE / F0_MIN)
    length = YIN_W + tau_max
    centres = np.arange(a, b) * HOP + HOP // 2
    return _remembered("pitch", x, centres, length, lambda: _yin(x, centres, length, tau_min, tau_max))


def _yin(x: np.ndarray, centres: np.ndarray, length: int, tau_min: int, tau_max: int):
    from scipy import fft

    w = _windows(x, centres, length)
    n_fft = 1 << int(np.ceil(np.log2(length)))
    lag = fft.irfft(np.conj(fft.rfft(w[:, :YIN_W], n_fft)) * fft.rfft(w, n_fft), n_fft).astype(np.float64)
    r = lag[:, : tau_max + 1]  # r[t] = sum_j<W x[j] x[j + t]
    sq = np.concatenate([np.zeros((len(w), 1)), np.cumsum(w.astype(np.float64) ** 2, axis=1)], axis=1)
    taus = np.arange(tau_max + 1)
    e_shift = sq[:, taus + YIN_W] - sq[:, taus]  # energy of x[t : t + W]
    d = r[:, :1] + e_shift - 2 * r
    d[:, 0] = 0
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cum, 1e-12)
    cmnd = cmnd[:, tau_min:]
    # YIN: the first dip under the threshold, then the bottom of that dip (within half an octave)
    below = cmnd < 0.2
    first = np.where(below.any(1), below.argmax(1), cmnd.argmin(1))
    span = np.arange(cmnd.shape[1])
    inside = (span >= first[:, None]) & (span <= first[:, None] * 1.5 + 2)
    best = np.where(inside, cmnd, np.inf).argmin(1)
    depth = cmnd[np.arange(len(cmnd)), best]
    voicing = np.clip(1.0 - depth, 0.0, 1.0)
    silent = r[:, 0] < YIN_W * 1e-7  # below about -70 dBFS there is no pitch to speak of
    voicing[silent] = 0.0
    f0 = np.where(voicing > 0.5, SAMPLE_RATE / (best + tau_min), 0.0)
    return f0.astype(np.float32), voicing.astype(np.float32)


def _frames(x: np.ndarray, a: int, b: int) -> np.ndarray:
    n = b - a
    mel = log_mel(x, a, b).reshape(n, 4, N_MELS)
    out = np.zeros((n, FEATURE_DIM), np.float32)
    # log10 power of normalized speech spans about -8..2; map it to roughly [-1, 1]
    out[:, :N_MELS] = (mel[:, :2].mean(1) + 3.0) / 4.0
    out[:, N_MELS: 2 * N_MELS] = (mel[:, 2:].mean(1) + 3.0) / 4.0
    out[:, 2 * N_MELS] = (np.maximum(frame_db(x[a * HOP: b * HOP]), -90.0) + 40.0) / 30.0
    f0, voicing = pitch(x, a, b)
    out[:, 2 * N_MELS + 2] = np.where(f0 > 0, np.log2(np.maximum(f0, 1.0) / 150.0), 0.0)
    out[:, 2 * N_MELS + 4] = voicing
    return out


def _add_deltas(out: np.ndarray) -> None:
    """Central differences of energy and log pitch (pitch deltas only between voiced frames)."""
    e, lf, d_e, d_lf = 2 * N_MELS, 2 * N_MELS + 2, 2 * N_MELS + 1, 2 * N_MELS + 3
    if len(out) < 2:
        return
    out[:, d_e] = np.gradient(out[:, e])
    voiced = out[:, 2 * N_MELS + 4] > 0.5
    both = voiced[2:] & voiced[:-2]
    out[1:-1, d_lf] = np.where(both, (out[2:, lf] - out[:-2, lf]) / 2, 0.0)


_memo: OrderedDict = OrderedDict()
_memo_lock = threading.Lock()
MEMO_BYTES = 32 << 20  # the front end's results kept: about ten minutes of audio's log-mel and pitch


def _remembered(kind: str, x: np.ndarray, centres: np.ndarray, length: int, compute):
    """``compute()`` of the windows of ``length`` at ``centres`` of x, or its earlier result when
    the samples those windows read are the same bytes (one hash). A mono clip is analysed at the
    same level three times (the model's features, the voice prints, the timbre diarization refines
    with), so two of the three log-mel passes and one of the two pitch passes are saved; results
    come back read-only, and the memo keeps at most MEMO_BYTES of them, the newest."""
    import hashlib

    if len(centres) == 0:
        return compute()
    lo, hi = int(centres[0]) - length // 2, int(centres[-1]) - length // 2 + length
    seg = np.ascontiguousarray(x[max(lo, 0): min(hi, len(x))], np.float32)
    key = (kind, lo, hi, len(x), length, len(centres), hashlib.sha256(seg.data).digest())
    with _memo_lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]
    out = compute()
    for a in out if isinstance(out, tuple) else (out,):
        a.setflags(write=False)
    size = lambda v: sum(a.nbytes for a in v) if isinstance(v, tuple) else v.nbytes  # noqa: E731
    with _memo_lock:
        _memo[key] = out
        while len(_memo) > 1 and sum(size(v) for v in _memo.values()) > MEMO_BYTES:
            _memo.popitem(last=False)
    return out


def forget() -> None:
    """Empty the memo (benchmarks time each call as a new clip; tests start clean)."""
    with _memo_lock:
        _memo.clear()


def _windows(x: np.ndarray, centres: np.ndarray, length: int) -> np.ndarray:
    """[len(centres), length] windows of x centred at the given samples, zero outside the signal."""
    half = length // 2
    lo, hi = int(centres[0]) - half, int(centres[-1]) - half + length
    pad_l, pad_r = max(0, -lo), max(0, hi - len(x))
    seg = np.asarray(x[max(lo, 0): min(hi, len(x))], np.float32)
    if pad_l or pad_r:
        seg = np.concatenate([np.zeros(pad_l, np.float32), seg, np.zeros(pad_r, np.float32)])
    view = np.lib.stride_tricks.sliding_window_view(seg, length)
    return view[centres - centres[0]]


def as_mono(samples: np.ndarray) -> np.ndarray:
    """[N] or [C, N] samples -> [N] float32, refusing other shapes and non-finite values."""
    x = np.asarray(samples, np.float32)
    if x.ndim == 2:
        x = x.mean(0)
    if x.ndim != 1:
        raise DuetError(f"expected audio samples of shape [N] or [C, N], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DuetError("the audio holds invalid (NaN or infinite) samples")
    return x


_cache: dict[str, np.ndarray] = {}


def _hann(n: int) -> np.ndarray:
    key = f"hann{n}"
    if key not in _cache:
        _cache[key] = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
    return _cache[key]


def mel_edges_hz() -> np.ndarray:
    """[N_MELS + 2] band edges (Hz), HTK mel scale, 60 Hz - 7.6 kHz: band i peaks at edge i + 1."""
    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    edges_mel = np.linspace(mel(60.0), mel(7600.0), N_MELS + 2)
    return 700 * (10 ** (edges_mel / 2595) - 1)


def _mel_basis() -> np.ndarray:
    """[N_FFT // 2 + 1, N_MELS] triangular filters, HTK mel scale, 60 Hz - 7.6 kHz, unit area."""
    if "mel" not in _cache:
        edges = mel_edges_hz()
        freqs = np.arange(N_FFT // 2 + 1) * SAMPLE_RATE / N_FFT
        lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        tri = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
        tri /= np.maximum(tri.sum(1, keepdims=True), 1e-9)
        _cache["mel"] = tri.T.astype(np.float32)
    return _cache["mel"]
