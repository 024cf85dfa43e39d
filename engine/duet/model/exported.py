"""Exported model bundles: the dual-stream network as an ONNX file that ONNX Runtime samples without
torch (duet.runtime).

An exported bundle is one file: the denoiser's graph plus, as metadata, the ModelConfig, the motion
statistics and the card's meta, so it samples with the configuration it was trained with, as a
torch bundle (duet.model.bundle) does. ``duet model export`` writes them from the torch bundles
(duet.model.export); both kinds offer ``denoiser(threads)``, and duet.model.infer samples either.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from duet.errors import DuetError
from duet.model.bundle import WEIGHTS_DIR
from duet.model.config import ModelConfig
from duet.runtime import session

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
