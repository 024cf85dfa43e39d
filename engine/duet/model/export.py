"""Torch bundles to the ONNX files the runtime samples (duet.model.exported, duet.runtime): a release-build step,
``duet model export``, that needs torch, onnx and onnxscript (the ``train`` extra).

Batch and time stay symbolic in the graphs (time as 2k for the denoiser, whose U-Net halves it
once), so one file serves every clip length and window count.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from duet.errors import DuetError
from duet.files import atomic_output
from duet.model.exported import CONDITIONING, DENOISE, META_KEY, WEIGHTS_DIR, conditioning_path


def _export(module, example: tuple, dims: dict, inputs: list[str], output: str):
    """torch.onnx.export (the dynamo exporter) without its progress lines and deprecation warnings."""
    import contextlib
    import io
    import logging
    import warnings

    import torch

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return torch.onnx.export(module, example, dynamic_shapes=dims, input_names=inputs, output_names=[output],
                                 dynamo=True, verbose=False)


def _save(program, dst: Path, card: dict | None) -> Path:
    """Write an exported program's model (with ``card`` as its Duet metadata) atomically."""
    import onnx

    model = program.model_proto
    if card is not None:
        onnx.helper.set_model_props(model, {META_KEY: json.dumps(card)})
    with atomic_output(dst) as tmp:
        onnx.save(model, str(tmp))
    return dst


def _halves(net):
    """The network's two calls as modules to export: conditioning, and denoise from it."""
    import torch

    class Conditioning(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, audio, masks, layout, emotion, relation, drop):
            return self.net.conditioning(audio, masks, layout, emotion, relation, drop)

    class Denoise(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, lsnr, c):
            return self.net.denoise(x, lsnr, c)

    return Conditioning(), Denoise()


def export_model(src: str | Path, dst: str | Path | None = None) -> Path:
    """A model bundle (.pt) -> its ONNX bundle (default: beside it, NAME.onnx with config and statistics,
    and NAME-conditioning.onnx); returns the NAME.onnx path."""
    import torch

    from duet.model import bundle

    src = Path(src)
    dst = Path(dst) if dst else src.with_suffix(".onnx")
    b = bundle.load(src)
    cfg = b.cfg
    n, t = 2, 2 * 20
    g = torch.Generator().manual_seed(0)
    cond_in = (torch.randn(n, t, cfg.audio_dim, generator=g), torch.rand(n, 2, t, generator=g),
               torch.randn(n, 2, cfg.layout_dim, generator=g), torch.zeros(n, 2, t, dtype=torch.long),
               torch.zeros(n, dtype=torch.long), torch.tensor([False, True]))
    conditioning, denoise = _halves(b.net)
    with torch.inference_mode():
        c = b.net.conditioning(*cond_in)
    batch = torch.export.Dim("batch", min=1, max=4096)
    time = 2 * torch.export.Dim("half", min=1, max=8192)
    cond_dims = {"audio": {0: batch, 1: time}, "masks": {0: batch, 2: time}, "layout": {0: batch},
                 "emotion": {0: batch, 2: time}, "relation": {0: batch}, "drop": {0: batch}}
    den_dims = {"x": {0: batch, 2: time}, "lsnr": {0: batch}, "c": {0: 2 * batch, 2: time}}
    _save(_export(conditioning, cond_in, cond_dims, list(CONDITIONING), "c"), conditioning_path(dst), None)
    den_in = (torch.randn(n, 2, t, cfg.motion_dim, generator=g), torch.randn(n, generator=g), c.clone())
    card = {"config": cfg.to_dict(), "mean": np.asarray(b.mean, np.float32).tolist(),
            "std": np.asarray(b.std, np.float32).tolist(), "meta": b.meta}
    return _save(_export(denoise, den_in, den_dims, list(DENOISE), "x0"), dst, card)


def export_voiceprint(src: str | Path, dst: str | Path | None = None) -> Path:
    """A voice-print bundle (.pt) -> its ONNX network (default: beside it, .onnx): mel [1, 4T, N_MELS]
    -> unit vectors [1, T, DIM], T symbolic."""
    import torch

    from duet.audio import features as F
    from duet.audio import voiceprint

    src = Path(src)
    dst = Path(dst) if dst else src.with_suffix(".onnx")
    net = voiceprint.load(str(src))
    frames = 4 * torch.export.Dim("frames", min=1, max=1 << 20)
    program = _export(net, (torch.randn(1, 4 * 30, F.N_MELS),), {"mel": {1: frames}}, ["mel"], "prints")
    return _save(program, dst, None)


def export_shipped(weights_dir: Path = WEIGHTS_DIR) -> list[Path]:
    """Every torch bundle in ``weights_dir`` (models and the voice print) beside itself as .onnx."""
    from duet.audio.voiceprint import is_bundle

    sources = sorted(weights_dir.glob("*.pt"))
    if not sources:
        raise DuetError(f"{weights_dir}: no .pt bundles to export")
    return [(export_voiceprint if is_bundle(p) else export_model)(p) for p in sources]
