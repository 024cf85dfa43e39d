"""Exported model bundles: the dual-stream network as ONNX files that ONNX Runtime samples without
torch (duet.runtime).

An exported bundle is two files: NAME.onnx, the denoiser from the conditioning with, as metadata,
the ModelConfig, the motion statistics and the card's meta (so it samples with the configuration it
was trained with, as a torch bundle, duet.model.bundle, does), and NAME-conditioning.onnx, the
conditioning encoder, which a sampler runs once rather than at every step. ``duet model export``
(duet.model.export) writes them from the torch bundles; both kinds offer ``denoiser(threads)``, and
duet.model.infer samples either.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from duet.errors import DuetError
from duet.model.bundle import SHIPPED as SHIPPED_PT, Network
from duet.model.config import ModelConfig
from duet.runtime import cpus, session

# From the package's own shipped bundle, not bundle.WEIGHTS_DIR (where `duet train --ship` writes, and
# which a test may point elsewhere while this module is first imported).
WEIGHTS_DIR = SHIPPED_PT.parent
SHIPPED = SHIPPED_PT.with_suffix(".onnx")
CONDITIONING = ("audio", "masks", "layout", "emotion", "relation", "drop")  # -> c
DENOISE = ("x", "lsnr", "c")  # -> x0
META_KEY = "duet"  # metadata entry holding {"config", "mean", "std", "meta"} as JSON
PIECE = 4  # batch items per denoiser run: 4 took 17% less CPU than 16 (benchmarks/infer.py)


class OnnxBundle:
    """A ready-to-sample exported model: ``path`` (.onnx), ``cfg``, standardization ``mean``/``std``, ``meta``."""

    def __init__(self, path: Path, cfg: ModelConfig, mean: np.ndarray, std: np.ndarray, meta: dict):
        self.path, self.cfg, self.mean, self.std, self.meta = path, cfg, mean, std, meta

    @property
    def model_id(self) -> str:
        return str(self.meta.get("id", "duet-dual"))

    @contextmanager
    def denoiser(self, threads: int | None = 1):
        """The network as a ``Network`` on numpy arrays, run by ``threads`` CPU threads (None: every
        CPU this process may use).

        Each thread runs a single-threaded session on its own pieces of the batch (at most PIECE
        items each), never ONNX Runtime's intra-op threads: those wait for each other at every one of
        the graph's operations and fall far behind on a busy machine, while whole pieces need no
        waiting. Items of a batch never see each other, so the pieces give the very same numbers as
        one call (tests/test_runtime.py), and small pieces stay in the cache (17% less CPU than 16)."""
        from concurrent.futures import ThreadPoolExecutor

        def run(path: Path, names: tuple[str, ...]):
            s = session(str(path), path.stat().st_mtime_ns, 1)
            return lambda *arrays: s.run(None, dict(zip(names, arrays)))[0]

        denoise = run(self.path, DENOISE)
        workers = cpus() if threads is None else max(1, int(threads))
        with ThreadPoolExecutor(workers) as pool:
            def pieces(x, lsnr, c):
                n = x.shape[0]
                bounds = np.linspace(0, n, max(workers, -(-n // PIECE)) + 1).astype(int)
                parts = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
                if len(parts) == 1:
                    return denoise(x, lsnr, c)
                # c holds person A's rows for the whole batch, then person B's (the network's layout)
                jobs = [pool.submit(denoise, x[a:b], lsnr[a:b], np.concatenate([c[a:b], c[n + a: n + b]]))
                        for a, b in parts]
                return np.concatenate([j.result() for j in jobs])

            yield Network(run(conditioning_path(self.path), CONDITIONING), pieces)


def conditioning_path(path: Path) -> Path:
    """Where an exported bundle's conditioning encoder lives: NAME-conditioning.onnx beside NAME.onnx."""
    return path.with_name(f"{path.stem}-conditioning.onnx")


def load(path: str | Path | None = None) -> OnnxBundle:
    """Load an exported model bundle (default: the shipped dual-stream model)."""
    path = Path(path) if path else SHIPPED
    if not path.is_file() or not conditioning_path(path).is_file():
        raise DuetError(f"{path}: no model weights there (export them with 'duet model export' "
                        "or use --animator baseline)")
    s = session(str(path), path.stat().st_mtime_ns, 1)
    try:
        card = json.loads(s.get_modelmeta().custom_metadata_map[META_KEY])
        cfg = ModelConfig.from_dict(card["config"])
        mean, std = np.asarray(card["mean"], np.float32), np.asarray(card["std"], np.float32)
    except (KeyError, TypeError, ValueError):
        raise DuetError(f"{path}: an ONNX file without a Duet model card") from None
    return OnnxBundle(path, cfg, mean, std, dict(card.get("meta", {})))
