"""Training windows from the corpus: each clip is prepared once (motion vectors, audio features,
masks, labels, bilabial frames) and cached under the corpus folder, then windows are cropped from
memory (numpy; torch only in ``batch``)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from duet.constants import FPS
from duet.corpus.animator import LIPS_AS
from duet.corpus.recorded import is_recorded
from duet.emotion.labels import SENIOR_B, swapped_relations
from duet.speech import phonemes as ph
from duet.model.config import ModelConfig
from duet.model.packing import body_yaws, emotion_frames, layout_features, layout_heads, pack
from duet.motion import PERSONS

CACHE_VERSION = 7
# The frames the lips' open-vowel weight covers: the open vowels, and the phones the animator's mouth
# opens as one (the schwa, animator.LIPS_AS)
OPENED = ph.OPEN_VOWELS | {p for p, q in LIPS_AS.items() if q in ph.OPEN_VOWELS}


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

    x, _ = pack(clip.motion, cfg.expr_names)
    feats = compute(clip.mix)
    try:  # as at inference, the user says which voice is A (duet generate --first-speaker)
        predicted = speaking_masks(clip.mix[None], "mono", first_speaker(clip.phonemes))
    except Exception:  # diarization can give up on odd clips; the exact masks stand in
        predicted = clip.masks
    n = min(len(x), len(feats), clip.masks.shape[1], predicted.shape[1])
    # as `duet generate` hears a layout: the eyes with the neck at rest and how the bodies are turned,
    # the same for the whole clip (the eyes' own motion is the model's to make, not its input)
    layout = layout_features(layout_heads(clip.motion), body_yaws(clip.motion), cfg.layout_body)
    layouts = np.repeat(layout[None], n, 0)
    relation = cfg.relations.index(clip.relation) if clip.relation in cfg.relations else 0
    return {"x": x[:n], "audio": feats[:n], "masks": clip.masks[:, :n].astype(np.float32),
            "masks_pred": predicted[:, :n].astype(np.float32), "layout": layouts.astype(np.float32),
            "emotion": emotion_frames(clip.turns, n, cfg.emotions, FPS), "relation": np.int64(relation),
            "bilabial": bilabial_frames(clip.phonemes, n),
            "open_vowel": phone_class_frames(clip.phonemes, n, OPENED)}


def _diarizer_id() -> str:
    """The voice-print weights behind the cached diarized masks: new weights, new masks."""
    import hashlib

    from duet.audio.voiceprint import WEIGHTS

    return hashlib.sha1(WEIGHTS.read_bytes()).hexdigest()[:12] if WEIGHTS.is_file() else "none"


def relation_variants(clip, cfg: ModelConfig, x: np.ndarray) -> dict[str, np.ndarray]:
    """The clip's motion under each of the corpus's relations, as the corpus animator makes it from the
    clip's own timings, layout, seed and tracks (only the people's Styles differ): {"x_variants" [V, T, 2,
    D] packed like ``x`` (the clip's own relation is ``x`` itself), "relation_variants" [V] ids}. Given
    the same audio under every relation, the model learns what the relation does instead of which clips
    had it."""
    from duet.corpus.animator import RELATIONS, animate

    xs, ids = [], []
    for r in RELATIONS:
        if r == clip.relation:
            v = x
        else:
            motion = animate(clip.timings, clip.layout, relation=r, fps=clip.motion.fps,
                             seed=int(clip.motion.meta.get("seed", 0)), tracks=np.asarray(clip.tracks, np.float32))
            v = pack(motion, cfg.expr_names)[0][: len(x)]
        xs.append(v)
        ids.append(cfg.relations.index(r))
    return {"x_variants": np.stack(xs).astype(np.float32), "relation_variants": np.asarray(ids, np.int64)}


def _animator_id() -> str:
    """The corpus animator's code behind the cached relation variants: a new animator, new variants."""
    import hashlib

    from duet.corpus import animator

    return hashlib.sha1(Path(animator.__file__).read_bytes()).hexdigest()[:12]


def load_split(corpus_dir: str | Path, split: str, cfg: ModelConfig, progress=None,
               variants: bool = False) -> list[dict]:
    """Prepared clips of a split, computed once and cached in <corpus>/model-cache/ (motion packed in
    facing frames); ``variants``: each clip's motion under every relation too (`relation_variants`,
    cached in <corpus>/model-cache-relations/)."""
    from duet.corpus.build import open_corpus

    corpus = open_corpus(corpus_dir)
    cache = Path(corpus_dir) / "model-cache"
    cache.mkdir(exist_ok=True)
    key = json.dumps([CACHE_VERSION, list(cfg.expr_names), list(cfg.emotions), list(cfg.relations),
                      cfg.layout_body, _diarizer_id()])
    whisper_cache = Path(corpus_dir) / "model-cache-whisper"
    whisper_key = _whisper_id() if cfg.audio_features != "logmel" else None
    variants_key = json.dumps([key, _animator_id()]) if variants else None
    load = functools.lru_cache(maxsize=1)(corpus.load)  # a clip missing from several caches is read once
    out = []
    ids = corpus.ids(split)
    for k, cid in enumerate(ids):
        path = cache / f"{cid}.npz"
        item = _read_cached(path, key)
        if item is None:
            item = _write_cached(path, key, prepare(load(cid), cfg))
        if whisper_key is not None:  # the encoder's frames are cached beside the log-mel's
            from duet.audio.whisper import combine, compute

            path = whisper_cache / f"{cid}.npz"
            enc = _read_cached(path, whisper_key) or _write_cached(
                path, whisper_key, {"whisper": compute(load(cid).mix)})
            item["audio"] = combine(item["audio"], enc["whisper"], cfg.audio_features)
        if variants:
            path = Path(corpus_dir) / "model-cache-relations" / f"{cid}.npz"
            item.update(_read_cached(path, variants_key) or _write_cached(
                path, variants_key, relation_variants(load(cid), cfg, item["x"])))
        item["id"] = cid
        out.append(item)
        if progress:
            progress((k + 1) / len(ids), f"{split} clip {k + 1}/{len(ids)}")
    return out


def _read_cached(path: Path, key: str) -> dict | None:
    """The arrays cached at ``path`` when they were made under ``key``, else None."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {name: z[name] for name in z.files if name != "key"} if str(z["key"]) == key else None


def _write_cached(path: Path, key: str, arrays: dict) -> dict:
    """Cache ``arrays`` at ``path`` under ``key`` (atomically); returns them."""
    from duet.files import atomic_output

    path.parent.mkdir(exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, key=np.asarray(key), **arrays)
    return arrays


def _whisper_id() -> str:
    """The Whisper encoder's weights behind the cached frames: new weights, new frames."""
    import hashlib

    from duet.audio.whisper import WEIGHTS

    return hashlib.sha1(WEIGHTS.read_bytes()).hexdigest()[:12]


def vocabularies(swap_senior: bool = False) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Emotion and relation labels, neutral/unknown first (id 0 is what unknown labels map to). With
    ``swap_senior`` an unequal relation also comes with its senior on B: training swaps the people,
    and without it the relation stays "A is the senior" when they swap, so the model cannot tell the
    senior from the junior."""
    from duet.corpus.animator import EMOTIONS, RELATIONS

    senior_b = tuple(r + SENIOR_B for r in RELATIONS if "unequal" in r) if swap_senior else ()
    return tuple(EMOTIONS), ("unknown", *RELATIONS, *senior_b)


@dataclass
class Stats:
    """Per-dimension mean and std of the motion vector: the model works on standardized values."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, clips: list[dict]) -> "Stats":
        """Corpus mean and std of each dimension (translation as a delta from each clip's first frame)."""
        xs = []
        for c in clips:
            x = c["x"].copy()
            x[..., -3:] -= x[:1, :, -3:]
            xs.append(x)
        allx = np.concatenate([x.reshape(-1, x.shape[-1]) for x in xs])
        mean, std = allx.mean(0), allx.std(0)
        floor = np.full_like(std, 0.02)
        floor[-3:] = 0.002  # metres
        mean[-3:] = 0.0  # deltas start at zero by definition
        return cls(mean=mean.astype(np.float32), std=np.maximum(std, floor).astype(np.float32))


class Windows:
    """Random training windows of ``length`` frames, sampled in proportion to clip length."""

    def __init__(self, clips: list[dict], length: int, stats: Stats, seed: int, relations: tuple[str, ...] = ()):
        self.clips = [c for c in clips if len(c["x"]) >= length]
        self.swap_relation = np.array(swapped_relations(tuple(relations))) if relations else None
        if not self.clips:
            raise ValueError(f"no clip has {length} frames")
        self.length, self.stats = length, stats
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
        relation = c["relation"]
        if "x_variants" in c:  # the same audio under a relation drawn at random (relation_variants)
            v = int(rng.integers(len(c["relation_variants"])))
            x, relation = c["x_variants"][v, s: s + length].copy(), c["relation_variants"][v]
        else:
            x = c["x"][s: s + length].copy()
        x[..., -3:] -= x[:1, :, -3:]
        diarized = rng.random() < 0.5 and not is_recorded(c.get("id", ""))  # their alike voices are heard as one
        masks = (c["masks_pred"] if diarized else c["masks"])[:, s: s + length]
        audio = c["audio"][s: s + length]
        out = {"x": ((x - self.stats.mean) / self.stats.std).transpose(1, 0, 2), "audio": audio,
               "masks": masks, "layout": c["layout"][s], "emotion": c["emotion"][:, s: s + length],
               "relation": relation, "bilabial": c["bilabial"][:, s: s + length],
               "open_vowel": c["open_vowel"][:, s: s + length],
               "speaking": c["masks"][:, s: s + length],
               "busy_head": np.float32(busy)}
        if rng.random() < 0.5:  # who is "A" carries no meaning: swap the people
            for k in ("x", "masks", "layout", "emotion", "bilabial", "open_vowel", "speaking"):
                out[k] = out[k][::-1].copy()
            if self.swap_relation is not None:  # the senior of an unequal relation swaps too
                out["relation"] = self.swap_relation[out["relation"]]
        return out


def to_torch(batch: dict[str, np.ndarray]):
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}
