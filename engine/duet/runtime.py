"""The inference runtime without torch: ONNX Runtime sessions for the exported networks, and the
sampler's starting noise drawn in numpy exactly as torch draws it (numpy + onnxruntime).

duet.model.exported loads the model bundles, duet.audio.voiceprint its network; duet.model.export
(torch, release build) writes them."""

from __future__ import annotations

import functools
import os

import numpy as np

from duet.errors import DuetError


@functools.lru_cache(maxsize=8)
def session(path: str, mtime_ns: int, threads: int | None):
    """An ONNX Runtime CPU session for ``path`` (cached per file version ``mtime_ns`` and thread count;
    ``threads`` None: ONNX Runtime's default)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or 0
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: the user sees one line, never ORT's warnings
    try:
        return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT's own exception kinds (InvalidProtobuf, Fail, ...) share no public base
        raise DuetError(f"{path}: not an ONNX model ({type(e).__name__})") from None


def cpus() -> int:
    """How many CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def torch_normal(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """float32 standard normals equal to ``torch.randn(shape, generator=torch.Generator().manual_seed(seed))``
    on the CPU (to float rounding), so a seed gives the same motion with or without torch.

    torch's CPU generator is MT19937 seeded with the seed's low 32 bits (as numpy's legacy
    RandomState seeds it); each float takes one 32-bit word's low 24 bits as a uniform in [0, 1);
    every block of 16 becomes 16 normals by Box-Muller (u1 = 1 - first eight, u2 = last eight), and
    when the count is not a multiple of 16 the last 16 values are drawn again and redone. Counts under
    16 take another path in torch and are refused here."""
    n = int(np.prod(shape))
    if n < 16:
        raise ValueError("torch_normal needs at least 16 values")
    rest = n % 16
    words = np.random.RandomState(int(seed) & 0xFFFFFFFF).randint(0, 2 ** 32, size=n + (16 if rest else 0),
                                                                   dtype=np.uint32)
    u = (words & 0xFFFFFF).astype(np.float32) * np.float32(2.0 ** -24)

    def box_muller(block):
        block = block.reshape(-1, 2, 8)
        radius = np.sqrt(np.float32(-2.0) * np.log(np.float32(1.0) - block[:, 0]))
        theta = np.float32(2.0 * np.pi) * block[:, 1]
        return np.stack([radius * np.cos(theta), radius * np.sin(theta)], 1).reshape(-1)

    out = u[:n].copy()
    out[: n - rest] = box_muller(out[: n - rest])
    if rest:
        out[n - 16:] = box_muller(u[n:])
    return out.reshape(shape)
