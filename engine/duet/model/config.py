"""The model's configuration: one dataclass, saved beside every checkpoint and reloaded to sample."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from duet.arkit import ARKIT_52
from duet.errors import DuetError

EMOTIONS_DEFAULT = ("neutral",)
RELATIONS_DEFAULT = ("unknown",)
# The channel groups with their own (speaking, listening) guidance pair, ModelConfig.guidance_<name>:
# shipped with ``duet train --ship ... --<name>-guidance S L`` and recorded as <name>_guidance in the meta.
GUIDANCE_PAIRS = ("gaze", "head", "expression", "blink")


@dataclass
class ModelConfig:
    """Network size, conditioning vocabularies and sampling defaults of the dual-stream model."""

    expr_names: tuple[str, ...] = tuple(ARKIT_52)
    audio_dim: int = 517            # 133 log-mel (duet.audio.features.FEATURE_DIM) + 384 Whisper
    audio_features: str = "both"    # "logmel" (duet.audio.features), "whisper" or "both" (duet.audio.whisper)
    channels: tuple[int, int] = (64, 128)   # level 1 (full rate) and level 2 (stride 2)
    blocks_per_level: int = 2
    heads: int = 4
    cond_dim: int = 96              # per-frame conditioning c(k) after its encoder
    role_dim: int = 16              # e_speak / e_listen
    emotion_dim: int = 16
    relation_dim: int = 8
    cross_attention: bool = True    # False: the single-stream ablation (no partner motion at all)
    layout_body: bool = True        # the layout conditioning says how each body is turned from the partner
                                    # (packing.layout_features); False: eye positions only (bundles before it)
    emotions: tuple[str, ...] = EMOTIONS_DEFAULT    # id 0 is neutral/unknown
    relations: tuple[str, ...] = RELATIONS_DEFAULT  # id 0 is unknown
    window: int = 200               # frames per window (8 s at 25 fps)
    blend: int = 10                 # W of the Gaussian boundary blend (sigma = W / 3)
    steps: int = 8                  # DDIM steps
    guidance: float = 3.0           # classifier-free guidance scale (on speaking frames)
    guidance_listen: float = 1.0    # ... on listening frames (see infer.role_guidance; tuned on val)
    guidance_pose: float | None = None  # on head/eye rotations and translation (None: as the face)
    guidance_gaze: tuple[float, float] | None = None  # on the eye rotations, speaking and listening (None: as pose)
    guidance_head: tuple[float, float] | None = None  # on head rotations and translation, by role (None: as pose)
    guidance_expression: tuple[float, float] | None = None  # on infer.EXPRESSIVE channels, by role (None: as the face)
    guidance_blink: tuple[float, float] | None = None  # on the eyeBlink channels, by role (None: as the expressive ones)
    intensity_power: float = 1.0    # an emotion's intensity w blends its conditioning by w ** power (chosen on val)
    mouth_power: float = 1.0        # the jaw's opening as a share u of the rig's full opening becomes u ** power
                                    # (infer.open_mouth; below 1 small openings open more; chosen on recorded people)
    guidance_relation: str | None = None  # the relation the unconditional branch hears in place of a known one
                                    # (None: the same): guidance then scales the relation's effect too (infer)
    logsnr_min: float = -15.0
    logsnr_max: float = 15.0
    fps: float = 25.0

    def __post_init__(self):
        dims = {"logmel": 133, "whisper": 384, "both": 517}  # duet.audio.whisper.model_features
        if dims.get(self.audio_features, self.audio_dim) != self.audio_dim:
            raise DuetError(f"audio_features {self.audio_features!r} gives {dims[self.audio_features]} "
                            f"values a frame, but audio_dim is {self.audio_dim}")
        if self.audio_features not in dims:
            raise DuetError(f"unknown audio_features {self.audio_features!r} (logmel, whisper or both)")

    @property
    def n_expr(self) -> int:
        return len(self.expr_names)

    @property
    def layout_dim(self) -> int:
        """Layout conditioning numbers per person (packing.layout_features)."""
        return 6 if self.layout_body else 4

    @property
    def motion_dim(self) -> int:
        """Per person: expression, 5 joints x 3 (global, neck, jaw, eye_L, eye_R), translation delta."""
        return self.n_expr + 15 + 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known}
        if "audio_features" not in kw and kw.get("audio_dim") == 133:  # saved before the option existed
            kw["audio_features"] = "logmel"
        kw.setdefault("layout_body", False)  # saved before the option existed
        return cls(**kw)


@dataclass
class TrainConfig:
    """One training run: data, two-stage schedule, optimizer, loss weights."""

    corpus: str = "data/corpus"
    out: str = "data/train"
    seed: int = 0
    batch: int = 8
    window: int = 200               # corpus clips are 10-28 s: every clip gives an 8 s window
    stage1_steps: int = 3000
    stage2_steps: int = 1000
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.01
    cond_drop: float = 0.1          # audio dropped for classifier-free guidance
    t_power: float = 2.0            # t = 1 - (1 - u)^p: the first DDIM step (pure noise) decides most
    w_expr: float = 1.0
    w_rot: float = 8.0
    w_transl: float = 1.0
    w_vel: float = 1.0
    w_gaze: float = 5.0
    gaze_boost: float = 2.0         # extra gaze weight on the top 20% head-rotation-variance windows
    w_closure: float = 10.0         # extra weight on the speaker's lip/jaw channels at m/b/p frames
    w_open: float = 4.0             # ... and at open-vowel frames (the model under-opened without it)
    w_gap: float = 10.0             # lip gap on the rig's lip vertices (train.losses.lip_gap)
    stage2_single: float = 0.5      # stage 2: fraction of windows trained on the speaker's lips only
    swap_senior: bool = True        # an unequal relation's senior swaps with the people, so the model can
                                    # tell the senior from the junior (docs/model.md)
    relation_variants: bool = False  # each training window's motion re-animated by the corpus animator under a
                                    # random relation (same audio); tried, not shipped (docs/model.md)
    ckpt_every: int = 100
    keep_every: int = 500           # also keep the sampling bundle as snapshots/model-<step>.pt (pick on val)
    log_every: int = 25
    threads: int = 1                # torch threads: one per process beats oversubscribed cores
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known and k != "model"}
        return cls(model=ModelConfig.from_dict(d.get("model", {})), **kw)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """A config file: TOML (``.toml``) or JSON (a run's ``config.json``), with the model's fields
        in a ``model`` table. Unknown fields are an error, so a misspelt one is never silently ignored."""
        path = Path(path)
        try:
            text = path.read_text()
            d = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as e:
            raise DuetError(f"{path}: not a readable TOML or JSON training config ({e})") from None
        if not isinstance(d, dict) or not isinstance(d.get("model", {}), dict):
            raise DuetError(f"{path}: a training config is a table of fields with a 'model' table")
        unknown = sorted(set(d) - {f.name for f in fields(cls)}) + \
            sorted(f"model.{k}" for k in set(d.get("model", {})) - {f.name for f in fields(ModelConfig)})
        if unknown:
            raise DuetError(f"{path}: unknown training config fields: {', '.join(unknown)}")
        return cls.from_dict(d)

    def differences(self, other: "TrainConfig", ignore=("out", "threads")) -> list[str]:
        """Fields (``model.x`` for the model's) whose values differ, except those that do not change
        what is trained: where it is written and how many threads compute it."""
        a, b = self.to_dict(), other.to_dict()
        out = [k for k in a if k != "model" and k not in ignore and a[k] != b.get(k)]
        out += [f"model.{k}" for k in a["model"] if _norm(a["model"][k]) != _norm(b["model"].get(k))]
        return out


def _norm(v):
    """Tuples and lists compare equal (JSON has only lists)."""
    return [_norm(x) for x in v] if isinstance(v, (list, tuple)) else v
