"""Model bundles: network weights + motion statistics + the ModelConfig, saved together so a
checkpoint is always sampled with the configuration it was trained with (torch; the
ONNX bundles, duet.model.exported, are exported from these)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from duet.errors import DuetError
from duet.model.config import ModelConfig

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
SHIPPED = WEIGHTS_DIR / "duet-dual.pt"


class Network(NamedTuple):
    """The denoiser in two calls on numpy arrays, so a sampler computes the conditioning once:
    ``conditioning(audio, masks, layout, emotion, relation, drop) -> c`` and ``denoise(x, lsnr, c) -> x0``."""

    conditioning: Callable
    denoise: Callable


class Bundle:
    """A ready-to-sample model: ``net`` (eval mode), standardization ``mean``/``std``, ``cfg``, ``meta``."""

    def __init__(self, net, cfg: ModelConfig, mean: np.ndarray, std: np.ndarray, meta: dict):
        self.net, self.cfg, self.mean, self.std, self.meta = net, cfg, mean, std, meta

    @property
    def model_id(self) -> str:
        return str(self.meta.get("id", "duet-dual"))

    @contextmanager
    def denoiser(self, threads: int | None = 1):
        """The network as a ``Network`` on numpy arrays, with ``threads`` torch threads meanwhile (None:
        one, since contending torch threads wait on each other at every operation), as an exported
        bundle's is."""
        import torch

        def call(f):
            return lambda *arrays: f(*map(torch.from_numpy, arrays)).numpy()

        before = torch.get_num_threads()
        torch.set_num_threads(threads or 1)
        try:
            with torch.inference_mode():
                yield Network(call(self.net.conditioning), call(self.net.denoise))
        finally:
            torch.set_num_threads(before)


def save(path: str | Path, net, cfg: ModelConfig, mean, std, meta: dict, half: bool = True) -> Path:
    """Write the bundle and its config as JSON beside it (atomically)."""
    import torch

    from duet.files import atomic_output

    path = Path(path)
    state = {k: (v.half() if half and v.is_floating_point() else v).clone() for k, v in net.state_dict().items()}
    payload = {"config": cfg.to_dict(), "state": state, "mean": np.asarray(mean, np.float32),
               "std": np.asarray(std, np.float32), "meta": meta}
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    with atomic_output(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps({"config": cfg.to_dict(), "meta": meta}, indent=1))
    return path


def load(path: str | Path | None = None) -> Bundle:
    """Load a bundle (default: the shipped weights) as float32 in eval mode."""
    path = Path(path) if path else SHIPPED
    if not path.is_file():
        raise DuetError(f"{path}: no model weights there (train with 'duet train' or use --animator baseline)")
    try:
        import torch
    except ImportError:
        raise DuetError(f"{path}: a torch bundle needs torch (pip install 'duet[train]'); "
                        f"its ONNX export ({path.with_suffix('.onnx').name}) does not") from None

    from duet.model.network import DualStreamUNet

    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
        cfg = ModelConfig.from_dict(payload["config"])
        net = DualStreamUNet(cfg)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state"].items()})
    except (KeyError, RuntimeError, EOFError, OSError) as e:
        raise DuetError(f"{path}: not a Duet model bundle ({type(e).__name__})") from None
    net.eval()
    return Bundle(net, cfg, np.asarray(payload["mean"]), np.asarray(payload["std"]), dict(payload.get("meta", {})))
