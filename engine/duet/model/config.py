"""The model's configuration: one dataclass, saved beside every checkpoint and reloaded to sample."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from duet.arkit import ARKIT_52

EMOTIONS_DEFAULT = ("neutral",)
RELATIONS_DEFAULT = ("unknown",)


@dataclass
class ModelConfig:
    """Network size, conditioning vocabularies and sampling defaults of the dual-stream model."""

    expr_names: tuple[str, ...] = tuple(ARKIT_52)
    audio_dim: int = 133            # duet.audio.features.FEATURE_DIM
    channels: tuple[int, int] = (64, 128)   # level 1 (full rate) and level 2 (stride 2)
    blocks_per_level: int = 2
    heads: int = 4
    cond_dim: int = 96              # per-frame conditioning c(k) after its encoder
    role_dim: int = 16              # e_speak / e_listen
    emotion_dim: int = 16
    relation_dim: int = 8
    cross_attention: bool = True    # False: the single-stream ablation (no partner motion at all)
    partner_input: bool = False     # with cross_attention: the partner's noisy motion also joins the input
    cross_levels: tuple[int, ...] = (2, 1)  # decoder levels with cross-attention (2: stride 2, 1: full rate)
    head_share: tuple[float, float] | None = None  # (yaw, pitch): heads and eyes packed relative to
                                                    # looking at the partner (packing.to_partner_eyes)
    dropout: float = 0.0            # training-time dropout in every FiLM block and on c(k) (0: none)
    emotions: tuple[str, ...] = EMOTIONS_DEFAULT    # id 0 is neutral/unknown
    relations: tuple[str, ...] = RELATIONS_DEFAULT  # id 0 is unknown
    window: int = 200               # frames per window (8 s at 25 fps)
    blend: int = 10                 # W of the Gaussian boundary blend (sigma = W / 3)
    steps: int = 8                  # DDIM steps
    guidance: float = 3.0           # classifier-free guidance scale (on speaking frames)
    guidance_listen: float = 1.0    # ... on listening frames (see infer.role_guidance; tuned on val)
    guidance_pose: float | None = None  # on head/eye rotations and translation (None: as the face)
    logsnr_min: float = -15.0
    logsnr_max: float = 15.0
    fps: float = 25.0

    @property
    def n_expr(self) -> int:
        return len(self.expr_names)

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
    pose_scale: str = "corpus"      # "clip": neck, jaw, eyes, translation scaled about each clip's mean
    t_power: float = 2.0            # t = 1 - (1 - u)^p: the first DDIM step (pure noise) decides most
    w_expr: float = 1.0
    w_rot: float = 8.0              # (2 with pose_scale "clip", whose units are smaller)
    w_transl: float = 1.0
    w_vel: float = 1.0
    w_gaze: float = 5.0
    gaze_boost: float = 2.0         # extra gaze weight on the top 20% head-rotation-variance windows
    w_closure: float = 10.0         # extra weight on the speaker's lip/jaw channels at m/b/p frames
    w_open: float = 4.0             # ... and at open-vowel frames (the model under-opened without it)
    w_gap: float = 10.0             # lip gap on the rig's lip vertices (train.losses.lip_gap)
    gap_power: float = 2.0          # |error| ** power in that term: 2 seeks the mean, 1 the median
    augment: float = 0.0            # fraction of windows given a random voice change (dataset.voice_augment)
    band_masks: int = 0             # masked mel-band runs per window (dataset.band_mask)
    pose_jitter: float = 0.0        # rad: per window and person, neck turned (eyes back) at random
    partner_drop: float = 0.0       # fraction of training pairs run without cross-attention (dual model)
    stage2_single: float = 0.5      # stage 2: fraction of windows trained on the speaker's lips only
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
