"""wav2vec 2.0 features at 25 fps from a local checkpoint (the paper's audio encoder), via transformers.

Optional: the built-in features (duet.audio.features) need nothing, this needs a checkpoint folder
the user already has (config.json + weights, e.g. a saved facebook/wav2vec2-base-960h). Nothing is
ever downloaded. Pick the folder per call, or for every run with DUET_WAV2VEC=/path/to/folder.

Alignment: the convolutional encoder emits one vector per 20 ms (stride S = 320 samples, window
R = 400). The input is padded by (R - S) / 2 samples on the left so that wav2vec frame j is centred
at sample S * j + S / 2; 25 fps frame k is then the mean of the two wav2vec frames centred at
640k + 160 and 640k + 480, i.e. centred exactly at (k + 0.5) / 25 s and covering the frame's 40 ms.
Long audio runs in chunks of CHUNK_FRAMES with CONTEXT_FRAMES of real audio either side (bounded
memory; the transformer sees 2 s of context past each chunk edge).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from duet.errors import DuetError

ENV = "DUET_WAV2VEC"
SR = 16000
HOP = SR // 25  # 640 samples per 25 fps frame
CHUNK_FRAMES = 750  # 30 s of output frames per forward pass
CONTEXT_FRAMES = 50  # 2 s of audio either side of a chunk, seen but not kept

_models: dict[tuple[str, float], object] = {}


def checkpoint_dir(path: str | os.PathLike | None = None) -> Path | None:
    """The checkpoint folder to use: ``path`` if given, else $DUET_WAV2VEC, else None (not used)."""
    chosen = path if path is not None else os.environ.get(ENV) or None
    return None if chosen is None else Path(chosen).expanduser()


def feature_dim(checkpoint: str | os.PathLike) -> int:
    """Width D of wav2vec_features for this checkpoint (its hidden size), without loading weights."""
    return int(_read_config(Path(checkpoint))["hidden_size"])


def wav2vec_features(samples: np.ndarray, checkpoint: str | os.PathLike) -> np.ndarray:
    """[N] (or [C, N], averaged) float32 at 16 kHz -> [N // 640, D] float32 last hidden states at 25 fps.

    Deterministic (inference mode, no dropout). Raises DuetError for a missing or unusable checkpoint.
    """
    from duet.audio.features import as_mono

    x = as_mono(samples)
    model, do_normalize = _load(Path(checkpoint))
    if do_normalize:  # what the checkpoint's feature extractor does: zero mean, unit variance per clip
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    import torch

    window, stride = _geometry(model.config)
    per_frame = HOP // stride
    left = (window - stride) // 2
    right = window - stride - left
    n_frames = len(x) // HOP
    out = np.zeros((n_frames, model.config.hidden_size), np.float32)
    for a in range(0, n_frames, CHUNK_FRAMES):
        b = min(n_frames, a + CHUNK_FRAMES)
        s0 = max(0, (a - CONTEXT_FRAMES) * HOP)
        s1 = min(len(x), (b + CONTEXT_FRAMES) * HOP)
        seg = np.concatenate([np.zeros(left, np.float32), x[s0:s1], np.zeros(right, np.float32)])
        with torch.inference_mode():
            hidden = model(torch.from_numpy(seg)[None]).last_hidden_state[0].numpy()
        first = (a * HOP - s0) // stride  # wav2vec frame centred at sample 640a + stride / 2
        sub = hidden[first: first + (b - a) * per_frame]
        out[a:b] = sub.reshape(b - a, per_frame, -1).mean(1)
    return out


def _geometry(config) -> tuple[int, int]:
    """(receptive field, stride) in samples of the convolutional feature encoder."""
    window, stride = 1, 1
    for k, s in zip(config.conv_kernel, config.conv_stride):
        window += (k - 1) * stride
        stride *= s
    if HOP % stride:
        raise DuetError(f"wav2vec 2.0 checkpoint has a frame stride of {stride} samples, "
                        f"which does not divide the 40 ms frame (640 samples)")
    return window, stride


def _read_config(folder: Path) -> dict:
    if not folder.is_dir():
        raise DuetError(f"{folder}: no such wav2vec 2.0 checkpoint folder (set {ENV} or pass a folder)")
    path = folder / "config.json"
    if not path.is_file():
        raise DuetError(f"{folder}: not a wav2vec 2.0 checkpoint (no config.json)")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DuetError(f"{path}: unreadable checkpoint config ({e})") from None
    if not isinstance(config, dict) or config.get("model_type") != "wav2vec2":
        kind = config.get("model_type") if isinstance(config, dict) else None
        raise DuetError(f"{folder}: not a wav2vec 2.0 checkpoint (model_type {kind!r}, expected 'wav2vec2')")
    return config


def _load(folder: Path):
    """(model in eval mode, whether to normalize the waveform); cached per folder and config mtime."""
    _read_config(folder)
    key = (str(folder.resolve()), (folder / "config.json").stat().st_mtime)
    if key not in _models:
        _models[key] = (_from_pretrained(folder), _do_normalize(folder))
    return _models[key]


def _from_pretrained(folder: Path):
    from transformers import Wav2Vec2Model
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        model, info = Wav2Vec2Model.from_pretrained(str(folder), local_files_only=True, output_loading_info=True)
    except Exception as e:  # transformers raises many types for bad folders; all mean the same here
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DuetError(f"{folder}: cannot load the wav2vec 2.0 checkpoint ({reason})") from None
    # masked_spec_embed only serves pre-training; any other missing weight means random features
    missing = [k for k in info.get("missing_keys", []) if "masked_spec_embed" not in k]
    if missing:
        raise DuetError(f"{folder}: the checkpoint lacks {len(missing)} weights of the wav2vec 2.0 "
                        f"model (e.g. {missing[0]}); refusing to use random features")
    return model.eval()


def _do_normalize(folder: Path) -> bool:
    """The feature extractor's do_normalize (preprocessor_config.json; True when the file is absent)."""
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return True
    try:
        pre = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DuetError(f"{path}: unreadable preprocessor config ({e})") from None
    if int(pre.get("sampling_rate", SR)) != SR:
        raise DuetError(f"{path}: the checkpoint expects {pre['sampling_rate']} Hz audio, Duet gives 16000 Hz")
    return bool(pre.get("do_normalize", True))
