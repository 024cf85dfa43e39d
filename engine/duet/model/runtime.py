"""The inference runtime without torch: the shipped networks as ONNX files run by ONNX Runtime, and
the sampler's starting noise drawn in numpy exactly as torch draws it (numpy + onnxruntime).

An ONNX model bundle is one file: the denoiser's graph plus, as metadata, the ModelConfig, the motion
statistics and the card's meta, so it samples with the configuration it was trained with, as a
torch bundle (duet.model.bundle) does. ``duet model export`` writes them from the torch bundles
(duet.model.export); both kinds offer ``denoiser(threads)``, and duet.model.infer samples either.
"""

from __future__ import annotations

import functools
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from duet.errors import DuetError
from duet.model.config import ModelConfig

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
SHIPPED = WEIGHTS_DIR / "duet-dual.onnx"
INPUTS = ("x", "lsnr", "audio", "masks", "layout", "emotion", "relation", "drop")
META_KEY = "duet"  # metadata entry holding {"config", "mean", "std", "meta"} as JSON


class OnnxBundle:
    """A ready-to-sample exported model: ``path`` (.onnx), ``cfg``, standardization ``mean``/``std``, ``meta``."""

    def __init__(self, path: Path, cfg: ModelConfig, mean: np.ndarray, std: np.ndarray, meta: dict):
        self.path, self.cfg, self.mean, self.std, self.meta = path, cfg, mean, std, meta

    @property
    def model_id(self) -> str:
        return str(self.meta.get("id", "duet-dual"))

    @contextmanager
    def denoiser(self, threads: int | None = 1):
        """``net(x, lsnr, audio, masks, layout, emotion, relation, drop) -> x0`` on numpy arrays, in a
        session with ``threads`` intra-op threads (None: ONNX Runtime's default)."""
        s = session(str(self.path), self.path.stat().st_mtime_ns, threads)
        yield lambda *arrays: s.run(None, dict(zip(INPUTS, arrays)))[0]


@functools.lru_cache(maxsize=8)
def session(path: str, mtime_ns: int, threads: int | None):
    """An ONNX Runtime CPU session for ``path`` (cached per file version and thread count)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or 0
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: the user sees one line, never ORT's warnings
    try:
        return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT's own exception kinds (InvalidProtobuf, Fail, ...) share no public base
        raise DuetError(f"{path}: not an ONNX model ({type(e).__name__})") from None


def load(path: str | Path | None = None) -> OnnxBundle:
    """Load an exported model bundle (default: the shipped dual-stream model)."""
    path = Path(path) if path else SHIPPED
    if not path.is_file():
        raise DuetError(f"{path}: no model weights there (export them with 'duet model export' or use --engine baseline)")
    s = session(str(path), path.stat().st_mtime_ns, 1)
    try:
        card = json.loads(s.get_modelmeta().custom_metadata_map[META_KEY])
        cfg = ModelConfig.from_dict(card["config"])
        mean, std = np.asarray(card["mean"], np.float32), np.asarray(card["std"], np.float32)
    except (KeyError, TypeError, ValueError):
        raise DuetError(f"{path}: an ONNX file without a Duet model card") from None
    return OnnxBundle(path, cfg, mean, std, dict(card.get("meta", {})))


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
