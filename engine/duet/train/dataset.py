"""Training windows from the corpus: each clip is prepared once (motion vectors, audio features,
masks, labels, bilabial frames) and cached under the corpus folder, then windows are cropped from
memory (numpy; torch only in ``batch``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from duet.constants import FPS
from duet.speech import phonemes as ph
from duet.model.config import ModelConfig
from duet.model.packing import emotion_frames, layout_features, pack, to_partner_eyes
from duet.motion import JOINTS, PERSONS
from duet.rigs.kinematics import eye_midpoint

CACHE_VERSION = 4


def phone_class_frames(phonemes: dict, n_frames: int, phones: frozenset) -> np.ndarray:
    """[2, T] bool: frames inside one of the person's ``phones``, as duet.speech.phonemes.phone_frames
    assigns them (a phone too short to hold a frame time gets its nearest frame)."""
    from duet.speech.phonemes import phone_frames

    out = np.zeros((2, n_frames), bool)
    for i, p in enumerate(PERSONS):
        for phone, idx in phone_frames(phonemes.get(p, []), FPS, n_frames):
            if phone in phones:
                out[i, idx] = True
    return out


def bilabial_frames(phonemes: dict, n_frames: int) -> np.ndarray:
    """[2, T] bool: frames inside the person's m/b/p."""
    return phone_class_frames(phonemes, n_frames, ph.BILABIAL)


def first_speaker(phonemes: dict) -> int:
    """0 when A's first phone comes first (or together), else 1: speaking_masks' first_speaker."""
    firsts = [min((a for a, _, phone in phonemes.get(p, []) if phone != "sil"), default=np.inf) for p in PERSONS]
    return 0 if firsts[0] <= firsts[1] else 1


def prepare(clip, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """Everything a training window needs from one corpus clip, frame-aligned at 25 fps."""
    from duet.audio.features import compute
    from duet.audio.masks import speaking_masks

    x, rest = pack(clip.motion, cfg.expr_names)
    feats = compute(clip.mix)
    try:  # as at inference, the user says which voice is A (duet generate --first-speaker)
        predicted = speaking_masks(clip.mix[None], "mono", first_speaker(clip.phonemes))
    except Exception:  # diarization can give up on odd clips; the exact masks stand in
        predicted = clip.masks
    n = min(len(x), len(feats), clip.masks.shape[1], predicted.shape[1])
    heads = np.stack([eye_midpoint({j: clip.motion.person(p).poses[j] for j in JOINTS},
                                   clip.motion.person(p).transl) for p in PERSONS], 1)  # [T, 2, 3]
    layouts = np.stack([layout_features({"A": heads[k, 0], "B": heads[k, 1]}) for k in range(n)])
    relation = cfg.relations.index(clip.relation) if clip.relation in cfg.relations else 0
    return {"x": x[:n], "audio": feats[:n], "masks": clip.masks[:, :n].astype(np.float32),
            "masks_pred": predicted[:, :n].astype(np.float32), "layout": layouts.astype(np.float32),
            "rest_layout": layout_features(rest),
            "emotion": emotion_frames(clip.turns, n, cfg.emotions, FPS), "relation": np.int64(relation),
            "bilabial": bilabial_frames(clip.phonemes, n),
            "open_vowel": phone_class_frames(clip.phonemes, n, ph.OPEN_VOWELS)}


def _diarizer_id() -> str:
    """The voice-print weights behind the cached diarized masks: new weights, new masks."""
    import hashlib

    from duet.audio.voiceprint import WEIGHTS

    return hashlib.sha1(WEIGHTS.read_bytes()).hexdigest()[:12] if WEIGHTS.is_file() else "none"


def load_split(corpus_dir: str | Path, split: str, cfg: ModelConfig, progress=None) -> list[dict]:
    """Prepared clips of a split, computed once and cached in <corpus>/model-cache/ (motion packed in
    facing frames). With a ``cfg.head_share`` the motion is turned to that packing on loading, and
    the conditioning layout is the clip's (``packing.layout_heads``) on every frame, as a user's
    layout is at inference, rather than where the eyes happen to be at the window's first frame."""
    from duet.corpus.build import open_corpus
    from duet.files import atomic_output

    corpus = open_corpus(corpus_dir)
    cache = Path(corpus_dir) / "model-cache"
    cache.mkdir(exist_ok=True)
    key = json.dumps([CACHE_VERSION, list(cfg.expr_names), list(cfg.emotions), list(cfg.relations),
                      _diarizer_id()])
    out = []
    ids = corpus.ids(split)
    for k, cid in enumerate(ids):
        path = cache / f"{cid}.npz"
        item = None
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    item = {name: z[name] for name in z.files if name != "key"}
        if item is None:
            item = prepare(corpus.load(cid), cfg)
            with atomic_output(path) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, key=np.asarray(key), **item)
        item["id"] = cid
        if cfg.head_share is not None:  # packed against the layout, which is also the conditioning, as at inference
            item["x"] = to_partner_eyes(item["x"], item["rest_layout"], cfg.n_expr, cfg.head_share)
            item["layout"] = np.repeat(item["rest_layout"][None], len(item["x"]), 0)
        out.append(item)
        if progress:
            progress((k + 1) / len(ids), f"{split} clip {k + 1}/{len(ids)}")
    return out


def vocabularies() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Emotion and relation labels, neutral/unknown first (id 0 is what unknown labels map to)."""
    from duet.corpus.animator import EMOTIONS, RELATIONS

    return tuple(EMOTIONS), ("unknown", *RELATIONS)


@dataclass
class Stats:
    """Per-dimension mean and std of the motion vector: the model works on standardized values."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, clips: list[dict], n_expr: int, pose_scale: str = "corpus") -> "Stats":
        """Corpus mean; scale: the corpus std, except with ``pose_scale="clip"`` for the neck, jaw, eyes
        and translation the std about each clip's own mean. A head's pose in a conversation is mostly a
        fixed turn to the partner, which the layout gives; in corpus-std units the motion about it
        (nods, sway, gaze shifts) is a tenth of a unit, under the noise left at the last sampling step."""
        xs = []
        for c in clips:
            x = c["x"].copy()
            x[..., -3:] -= x[:1, :, -3:]
            xs.append(x)
        allx = np.concatenate([x.reshape(-1, x.shape[-1]) for x in xs])
        mean, std = allx.mean(0), allx.std(0)
        if pose_scale == "clip":
            about = np.sqrt(np.mean(np.concatenate([(x - x.mean(0)).reshape(-1, x.shape[-1]) for x in xs]) ** 2, 0))
            std[n_expr + 3:] = about[n_expr + 3:]  # neck, jaw, eyes, translation (not the global rotation)
        elif pose_scale != "corpus":
            raise ValueError(f"pose_scale {pose_scale!r}: 'clip' or 'corpus'")
        floor = np.full_like(std, 0.02)
        floor[-3:] = 0.002  # metres
        mean[-3:] = 0.0  # deltas start at zero by definition
        return cls(mean=mean.astype(np.float32), std=np.maximum(std, floor).astype(np.float32))


def _mel_centres_hz() -> np.ndarray:
    """Centre frequency (Hz) of each of duet.audio.features' mel bands."""
    from duet.audio.features import mel_edges_hz

    return mel_edges_hz()[1:-1]


def voice_augment(audio: np.ndarray, rng: np.random.Generator, warp: float = 0.12, tilt: float = 0.15,
                  octaves: float = 0.3) -> np.ndarray:
    """Make a window's audio features sound like another voice: [T, FEATURE_DIM] -> a new array.

    Meant to keep a model trained on few voices from learning their particular spectra (on this
    corpus it did not help: docs/model.md). Per window, one random voice change on the cached
    features: vocal-tract length (every mel band's spectrum read at f / alpha, alpha within
    1 +- ``warp``), spectral tilt (up to +- ``tilt`` feature units, about +- 6 dB, from lowest to
    highest band) and pitch (log2 f0 shifted up to +- ``octaves`` on voiced frames). Timing, energy
    and voicing are untouched, so every lip target stays where it was.
    """
    from duet.audio.features import N_MELS

    out = audio.copy()
    centres = _mel_centres_hz()
    alpha = 1 + rng.uniform(-warp, warp)
    src = np.interp(centres / alpha, centres, np.arange(N_MELS))  # band position of f / alpha
    lo = np.clip(np.floor(src).astype(int), 0, N_MELS - 1)
    hi = np.minimum(lo + 1, N_MELS - 1)
    frac = (src - lo).astype(np.float32)
    slope = rng.uniform(-tilt, tilt) * (np.linspace(-0.5, 0.5, N_MELS, dtype=np.float32))
    for half in (slice(0, N_MELS), slice(N_MELS, 2 * N_MELS)):
        bands = audio[:, half]
        out[:, half] = bands[:, lo] * (1 - frac) + bands[:, hi] * frac + slope
    lf = 2 * N_MELS + 2
    voiced = audio[:, 2 * N_MELS + 4] > 0.5
    out[voiced, lf] += np.float32(rng.uniform(-octaves, octaves))
    return out


def band_mask(audio: np.ndarray, rng: np.random.Generator, count: int, width: int = 8) -> np.ndarray:
    """SpecAugment's frequency masking on a window's features: ``count`` random runs of up to ``width``
    mel bands (the same bands in both 20 ms halves) replaced by the frame's mean level, so the model
    cannot lean on one voice's particular band for a cue. Time is never masked: every frame keeps
    the audio its lip target came from."""
    from duet.audio.features import N_MELS

    out = audio.copy()
    level = [audio[:, half: half + N_MELS].mean(1, keepdims=True) for half in (0, N_MELS)]
    for _ in range(count):
        w = int(rng.integers(0, width + 1))
        lo = int(rng.integers(0, N_MELS - w + 1))
        for half, mean in zip((0, N_MELS), level):
            out[:, half + lo: half + lo + w] = mean
    return out


class Windows:
    """Random training windows of ``length`` frames, sampled in proportion to clip length; with
    ``augment`` > 0 that fraction of windows gets a random voice change (``voice_augment``), and
    every window ``band_masks`` masked mel-band runs (``band_mask``). ``pose_jitter`` (radians, std):
    each person's neck is turned by its own random constant pitch and yaw for the window and the
    eyes turned back by as much, so the gaze stays put (see TrainConfig.pose_jitter)."""

    def __init__(self, clips: list[dict], length: int, stats: Stats, seed: int, augment: float = 0.0,
                 band_masks: int = 0, pose_jitter: float = 0.0):
        self.clips = [c for c in clips if len(c["x"]) >= length]
        if not self.clips:
            raise ValueError(f"no clip has {length} frames")
        self.length, self.stats, self.augment, self.band_masks = length, stats, augment, band_masks
        self.pose_jitter = pose_jitter
        sizes = np.array([len(c["x"]) - length + 1 for c in self.clips], np.float64)
        self.p = sizes / sizes.sum()
        self.rng = np.random.default_rng(seed)
        e = self.clips[0]["x"].shape[-1] - 18
        rot_var = np.array([c["x"][..., e: e + 6].var(0).sum() for c in self.clips])  # global + neck
        self.busy = (rot_var >= np.quantile(rot_var, 0.8)).astype(np.float32)  # top 20% head motion

    def sample(self, n: int) -> dict[str, np.ndarray]:
        picks = self.rng.choice(len(self.clips), size=n, p=self.p)
        items = [self.window(self.clips[i], self.busy[i]) for i in picks]
        return {k: np.stack([it[k] for it in items]) for k in items[0]}

    def window(self, c: dict, busy: float) -> dict[str, np.ndarray]:
        rng, length = self.rng, self.length
        s = int(rng.integers(0, len(c["x"]) - length + 1))
        x = c["x"][s: s + length].copy()
        x[..., -3:] -= x[:1, :, -3:]
        if self.pose_jitter:
            e = x.shape[-1] - 18
            turn = rng.normal(0.0, self.pose_jitter, (2, 2)).astype(x.dtype)  # person x (pitch, yaw)
            x[..., e + 3: e + 5] += turn                  # neck (small angles: axis-angle components add)
            x[..., e + 9: e + 11] -= turn                 # eye_L back by as much
            x[..., e + 12: e + 14] -= turn                # eye_R
        masks = (c["masks_pred"] if rng.random() < 0.5 else c["masks"])[:, s: s + length]
        audio = c["audio"][s: s + length]
        if self.augment and rng.random() < self.augment:
            audio = voice_augment(audio, rng)
        if self.band_masks:
            audio = band_mask(audio, rng, self.band_masks)
        out = {"x": ((x - self.stats.mean) / self.stats.std).transpose(1, 0, 2), "audio": audio,
               "masks": masks, "layout": c["layout"][s], "emotion": c["emotion"][:, s: s + length],
               "relation": c["relation"], "bilabial": c["bilabial"][:, s: s + length],
               "open_vowel": c["open_vowel"][:, s: s + length],
               "speaking": c["masks"][:, s: s + length],
               "busy_head": np.float32(busy)}
        if rng.random() < 0.5:  # who is "A" carries no meaning: swap the people
            for k in ("x", "masks", "layout", "emotion", "bilabial", "open_vowel", "speaking"):
                out[k] = out[k][::-1].copy()
        return out


def to_torch(batch: dict[str, np.ndarray]):
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}
