"""Sampling the dual-stream model for a whole conversation: audio features and speaking masks,
overlapping windows sampled together (DDIM + classifier-free guidance), stitched with the Gaussian
boundary blend, unpacked into a DyadicMotion placed at the layout (numpy; the network runs in ONNX
Runtime for an exported .onnx bundle, the shipped default, or in torch for a .pt training bundle)."""

from __future__ import annotations

import numpy as np

from duet.constants import DEFAULT_LAYOUT
from duet.errors import DuetError
from duet.emotion.labels import SENIOR_B
from duet.model.config import GUIDANCE_PAIRS
from duet.model.packing import layout_features, unpack
from duet.model.windows import chain_offsets, stitch, window_starts
from duet.motion import DyadicMotion

_loaded: dict = {}


def _bundle(weights):
    """The bundle at ``weights`` (default: the shipped ONNX model): .onnx runs without torch, .pt with it."""
    from duet.model import exported

    key = str(weights or exported.SHIPPED)
    if key not in _loaded:
        if key.endswith(".onnx"):
            _loaded[key] = exported.load(key)
        else:
            from duet.model import bundle

            _loaded[key] = bundle.load(key)
    return _loaded[key]


def _labels(value, vocab: tuple[str, ...], what: str) -> list[int]:
    """None, one label, or {"A": ..., "B": ...} -> ids for A and B (0 = neutral/unknown)."""
    if value is None:
        return [0, 0]
    per = value if isinstance(value, dict) else {"A": value, "B": value}
    out = []
    for p in ("A", "B"):
        v = per.get(p)
        if v is None:
            out.append(0)
        elif v in vocab:
            out.append(vocab.index(v))
        else:
            raise DuetError(f"unknown {what} {v!r} (one of: {', '.join(vocab)})")
    return out


def _person_emotions(value, vocab: tuple[str, ...]) -> tuple[list[int], list[float]]:
    """None, one label, or {"A": v, "B": v} with v a label, None or {"emotion": label, "intensity": w}
    -> (ids for A and B, intensities for A and B)."""
    from duet.emotion.labels import intensity

    per = value if isinstance(value, dict) else {"A": value, "B": value}
    labels, weights = {}, []
    for p in ("A", "B"):
        v = per.get(p) if per is not None else None
        if isinstance(v, dict):
            labels[p] = v.get("emotion")
            weights.append(intensity(v.get("intensity"), f"person {p}'s emotion intensity"))
        else:
            labels[p] = v
            weights.append(1.0)
    return _labels(None if value is None else labels, vocab, "emotion"), weights


def _turn_labels(turns, vocab: tuple[str, ...], n_frames: int, fps: float) -> tuple:
    """Per-turn emotions -> ([2, T] ids as in training, the turns as [speaker, start, label] rows,
    [2, T] intensities, each turn's intensity).

    Each turn is a dict or an object with ``speaker`` ("A"/"B"), ``start`` (seconds), ``emotion`` and
    optionally ``intensity`` (default 1); each person shows the label of their own most recent turn
    at that turn's intensity (id 0, neutral, before their first)."""
    from types import SimpleNamespace

    from duet.emotion.labels import intensity
    from duet.model.packing import emotion_frames

    rows, weights = [], []
    for t in turns:
        get = t.get if isinstance(t, dict) else (lambda k, t=t: getattr(t, k, None))
        speaker, start, label = get("speaker"), get("start"), get("emotion")
        weights.append(intensity(get("intensity"), "an emotion turn's intensity"))
        if speaker not in ("A", "B"):
            raise DuetError(f"an emotion turn needs speaker 'A' or 'B', got {speaker!r}")
        try:
            start = float(start)
        except (TypeError, ValueError):
            raise DuetError(f"an emotion turn needs a start time in seconds, got {start!r}") from None
        if not np.isfinite(start):
            raise DuetError(f"an emotion turn needs a finite start time, got {start!r}")
        if label not in vocab:
            raise DuetError(f"unknown emotion {label!r} (one of: {', '.join(vocab)})")
        rows.append([speaker, start, label])
    ids = emotion_frames([SimpleNamespace(speaker=a, start=b, emotion=c) for a, b, c in rows], n_frames, vocab, fps)
    strength = np.ones((2, n_frames), np.float32)  # as emotion_frames: each person's latest turn from its start
    times = np.arange(n_frames) / fps
    for (speaker, start, _), w in sorted(zip(rows, weights), key=lambda r: r[0][1]):
        strength["AB".index(speaker), times >= start] = w
    return ids, rows, strength, weights


def emotion_conditioning(net, audio, masks, layout, emotion, relation, drop, intensity=None) -> np.ndarray:
    """The network's conditioning with each person's emotion at an intensity: [2B, cond_dim, T].

    ``intensity`` [B, 2, T] (None: 1 everywhere) weighs each person's emotion per frame: 0 is neutral
    (id 0), 1 the emotion as trained, 2 twice as far from neutral. A stream's conditioning sees its own
    emotion and its partner's, so it is made from four conditioning passes, own and partner's emotion
    each on or off: c = c00 + w_own (c10 - c00) + w_partner (c01 - c00) + min(w_own, w_partner) (c11 -
    c10 - c01 + c00). Each person's emotion follows their own weight; with one weight w for both this
    is c00 + w (c11 - c00), the straight line from neutral through the emotion; at (1, 1) it is c11
    itself, exactly, so full intensity gives the motion as trained, bit for bit."""
    full = net.conditioning(audio, masks, layout, emotion, relation, drop)
    if intensity is None:
        return full
    w = np.asarray(intensity, np.float32)
    if np.all(w == 1.0):
        return full
    emotion = np.asarray(emotion)
    only_a, only_b = emotion.copy(), emotion.copy()
    only_a[:, 1] = 0
    only_b[:, 0] = 0
    neutral = net.conditioning(audio, masks, layout, np.zeros_like(emotion), relation, drop)
    with_a = net.conditioning(audio, masks, layout, only_a, relation, drop)
    with_b = net.conditioning(audio, masks, layout, only_b, relation, drop)
    n = len(emotion)  # streams [0, n) are A (self A, partner B), [n, 2n) are B
    own = np.concatenate([with_a[:n], with_b[n:]])      # own emotion on, partner's neutral
    other = np.concatenate([with_b[:n], with_a[n:]])    # partner's emotion on, own neutral
    w_own = np.concatenate([w[:, 0], w[:, 1]])[:, None]   # [2B, 1, T]
    w_other = np.concatenate([w[:, 1], w[:, 0]])[:, None]
    c = (neutral + w_own * (own - neutral) + w_other * (other - neutral)
         + np.minimum(w_own, w_other) * (full - own - other + neutral))
    return np.where((w_own == 1.0) & (w_other == 1.0), full, c).astype(np.float32)


WINDOWS_AT_ONCE = 12  # 8 s windows sampled in one batch: about 90 s of audio, so memory stays bounded


def sample_windows(b, audio, masks, layout, emotion, relation, seed: int, guidance: float, steps: int,
                   threads: int | None = None, listener_guidance: float | None = None,
                   pose_guidance: float | None = None, progress=None, intensity=None, groups=()):
    """Standardized x0 for a batch of windows: [N, 2, L, D], sampled WINDOWS_AT_ONCE at a time.

    ``groups``: role_guidance's per-role scales on groups of dimensions (guidance_groups).

    ``progress(fraction)``, when given, is called after each DDIM step (a cancelled job raises there).
    ``intensity`` [N, 2, L]: each person's emotion intensity per frame (None: 1, as trained;
    emotion_conditioning).

    ``threads``: the network's CPU threads while sampling (None: for an exported bundle every CPU,
    each running whole pieces of the batch, which a busy machine does not slow down; for a torch
    bundle one, because two contending torch threads ran 5x slower on a shared 2-core machine).

    The starting noise is torch's for ``seed`` (duet.runtime.torch_normal), with or without torch."""
    from duet.model.diffusion import ddim_sample, guided
    from duet.runtime import torch_normal

    cfg = b.cfg
    n, length = audio.shape[0], audio.shape[1]
    scale = role_guidance(masks, guidance, listener_guidance, pose_guidance, pose_dims(cfg), groups)
    noise = torch_normal(int(seed), (n, 2, length, cfg.motion_dim))
    starts = range(0, n, WINDOWS_AT_ONCE)
    calls = 0
    out = []
    with b.denoiser(threads) as net:
        for first in starts:  # windows never see each other: sampling them in groups bounds memory only
            part = slice(first, first + WINDOWS_AT_ONCE)
            cond = tuple(c[part] for c in (audio, masks, layout, emotion, relation))
            strength = None if intensity is None else intensity[part]
            conditioning = {}  # per drop pattern (guided runs both branches as one batch): the same every step

            def denoise(x_t, lsnr, drop, cond=cond, strength=strength, conditioning=conditioning):
                nonlocal calls
                key = drop.tobytes()
                if key not in conditioning:
                    k = x_t.shape[0] // len(cond[0])
                    audio_k, masks_k, layout_k, emotion_k, relation_k = [np.concatenate([c] * k) for c in cond]
                    conditioning[key] = emotion_conditioning(
                        net, audio_k, masks_k, layout_k, emotion_k, unconditional_relation(cfg, relation_k, drop),
                        drop, None if strength is None else np.concatenate([strength] * k))
                result = net.denoise(x_t, lsnr, conditioning[key])
                calls += 1
                if progress is not None:
                    progress(min(1.0, calls / (steps * len(starts))))
                return result

            s = scale if np.ndim(scale) == 0 else scale[part]
            out.append(ddim_sample(guided(denoise, s), noise[part], steps, cfg.logsnr_min, cfg.logsnr_max))
    return np.concatenate(out)


def unconditional_relation(cfg, relation: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """Relation ids [N] for a guided batch: where the audio is dropped (the unconditional branch), a
    known relation becomes ``cfg.guidance_relation`` (the corpus's default, non-blood equals), so that
    guidance scales the relation's effect as it scales the audio's. Otherwise both branches hear the
    same relation, its effect is not scaled while the audio's is (3 to 12 times), and it all but vanishes
    (docs/model.md). Unknown (id 0) stays unknown: without a relation there is nothing to scale."""
    if cfg.guidance_relation is None or cfg.guidance_relation not in cfg.relations:
        return relation
    relation = np.asarray(relation)
    return np.where(np.asarray(drop, bool) & (relation != 0), cfg.relations.index(cfg.guidance_relation), relation)


def pose_dims(cfg) -> np.ndarray:
    """[D] bool: the motion-vector dimensions of head pose: global, neck and eye rotations, translation."""
    out = np.zeros(cfg.motion_dim, bool)
    e = cfg.n_expr
    out[e: e + 6] = True          # global, neck
    out[e + 9: e + 15] = True     # eye_L, eye_R (the jaw, e + 6..e + 9, articulates)
    out[e + 15:] = True           # translation delta
    return out


# The expression channels that do not articulate speech: blinks, eye squint and widening, brows,
# cheek squint, nose, and the mouth's expression (smile, frown, dimple). A listener's lips must stay
# still, but these are how a listener answers (docs/model.md, "Guidance per channel group").
EXPRESSIVE = ("eyeBlink", "eyeSquint", "eyeWide", "brow", "cheekSquint", "noseSneer", "mouthSmile",
              "mouthFrown", "mouthDimple")


def expressive_dims(cfg) -> np.ndarray:
    """[D] bool: the motion-vector dimensions of the EXPRESSIVE expression channels."""
    out = np.zeros(cfg.motion_dim, bool)
    out[: cfg.n_expr] = [name.startswith(EXPRESSIVE) for name in cfg.expr_names]
    return out


def blink_dims(cfg) -> np.ndarray:
    """[D] bool: the motion-vector dimensions of the eyeBlink channels."""
    out = np.zeros(cfg.motion_dim, bool)
    out[: cfg.n_expr] = [name.startswith("eyeBlink") for name in cfg.expr_names]
    return out


def head_dims(cfg) -> np.ndarray:
    """[D] bool: the head's pose without the eyes: global and neck rotations, translation."""
    return pose_dims(cfg) & ~eye_dims(cfg)


def guidance_groups(cfg, head: bool = True) -> list[tuple[np.ndarray, tuple[float, float]]]:
    """The bundle's per-role scales on groups of dimensions, for role_guidance: the expressive
    channels (``guidance_expression``), the blinks among them (``guidance_blink``: a speaker's blink
    rate follows its scale closely), the head (``guidance_head``; left out when ``head`` is False,
    i.e. when a caller set the pose scale itself) and the eyes (``guidance_gaze``)."""
    groups = [(expressive_dims(cfg), cfg.guidance_expression), (blink_dims(cfg), cfg.guidance_blink),
              (head_dims(cfg), cfg.guidance_head if head else None), (eye_dims(cfg), cfg.guidance_gaze)]
    return [(dims, tuple(float(v) for v in scales)) for dims, scales in groups if scales is not None]


def eye_dims(cfg) -> np.ndarray:
    """[D] bool: the motion-vector dimensions of the eye rotations."""
    out = np.zeros(cfg.motion_dim, bool)
    out[cfg.n_expr + 9: cfg.n_expr + 15] = True
    return out


def role_guidance(masks: np.ndarray, speaker: float, listener: float | None, pose: float | None = None,
                  posed: np.ndarray | None = None, groups=()):
    """Guidance per person, frame and dimension, broadcasting against x0 [N, 2, L, D].

    On the face (expression channels and jaw): ``speaker`` where the person speaks, ``listener``
    where they listen (None: the same everywhere). Strong guidance sharpens a speaker's articulation
    but also makes a listener's mouth echo the partner's audio; each role gets the scale that suits
    it. On the ``posed`` dimensions (head and eye rotations, translation): ``pose`` (None: as the
    face). Guidance pushes what it scales away from the unconditional average, and on head pose
    that meant a head swinging wider than people's heads do (see docs/model.md).

    ``groups``: (dims [D] bool, (speaking, listening)) pairs, each replacing the scale on its own
    dimensions by role, in order. The unconditional average is a still, staring face: the eyes
    need strong guidance to look away and a listener's head to nod; each pair was chosen on val
    (docs/model.md, which also says why the expressive channels' pair is not shipped)."""
    listener = speaker if listener is None else listener
    pose_apart = pose is not None and posed is not None
    if listener == speaker and not pose_apart and not groups:
        return speaker
    m = np.asarray(masks, np.float32)[..., None]

    def by_role(speaking, listening):
        return np.float32(listening) + np.float32(speaking - listening) * m

    out = by_role(speaker, listener)
    if pose_apart:
        out = np.where(posed, np.float32(pose), out)
    for dims, scales in groups:
        out = np.where(dims, by_role(*scales), out)
    return out


def generate(tracks: np.ndarray, input_shape: str = "mono", layout: dict | None = None, emotion=None,
             relation: str | None = None, seed: int = 0, guidance: float | None = None,
             steps: int | None = None, masks: np.ndarray | None = None, weights=None,
             features: np.ndarray | None = None, first_speaker: str | None = None,
             threads: int | None = None, listener_guidance: float | None = None,
             pose_guidance: float | None = None, progress=None) -> DyadicMotion:
    """Animate a conversation with the learned model.

    tracks [C, N] float32 at 16 kHz ("mono": the mix; "two-track"/"stereo": one voice per channel);
    layout {"A": [x,y,z], "B": [x,y,z]} eye midpoints in the conversation frame; emotion: a label,
    {"A": label, "B": label}, or per-turn labels (a list of {"speaker", "start" (s), "emotion"}: each
    person shows their own most recent turn's, as in training); relation: a social-relation label.
    masks [2, T] overrides the speaking masks (e.g. exact ones from a script); first_speaker "A"/"B"
    says which voice is A (default: whoever speaks first). The model always hears the mono mix of the
    channels. ``progress(fraction)`` is called after each sampling step.
    """
    from duet.audio.features import HOP
    from duet.audio.masks import speaking_masks
    from duet.layout.kinds import body_yaw as layout_body_yaw

    b = _bundle(weights)
    cfg = b.cfg
    x = np.asarray(tracks, np.float32)
    x = x[None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] < 2 * HOP:
        raise DuetError("audio is too short to animate (need at least two 40 ms frames)")
    if features is None:
        from duet.audio.whisper import model_features

        features = model_features(x.mean(0), cfg.audio_features)
    feats = np.asarray(features, np.float32)
    if feats.ndim != 2 or feats.shape[1] != cfg.audio_dim:
        raise DuetError(f"the model hears {cfg.audio_dim} audio features a frame ({cfg.audio_features}), "
                        f"got an array of shape {feats.shape}")
    if first_speaker not in (None, "A", "B"):
        raise DuetError(f"first_speaker must be 'A' or 'B', got {first_speaker!r}")
    first = None if first_speaker is None else "AB".index(first_speaker)
    m = speaking_masks(x, input_shape, first) if masks is None else np.asarray(masks, np.float32)
    n_frames = min(len(feats), m.shape[1])
    feats, m = feats[:n_frames], m[:, :n_frames]
    body_yaw = layout_body_yaw(layout)
    layout = {p: np.asarray((layout or DEFAULT_LAYOUT)[p], np.float64) for p in ("A", "B")}
    if np.linalg.norm(layout["A"] - layout["B"]) < 0.1:
        raise DuetError("the layout puts the two heads less than 10 cm apart")
    if isinstance(emotion, (list, tuple)):
        emo_frames, emotion_turns, strength, weights = _turn_labels(emotion, cfg.emotions, n_frames, cfg.fps)
    else:
        ids, weights = _person_emotions(emotion, cfg.emotions)
        emo_frames = np.repeat(np.asarray(ids, np.int64)[:, None], n_frames, 1)
        strength = np.repeat(np.asarray(weights, np.float32)[:, None], n_frames, 1)
    strength = np.where(emo_frames == 0, np.float32(1.0), strength)  # neutral is neutral at any intensity
    # the motion answers the blend of conditionings unevenly (half the blend is under half the smile):
    # the bundle's power, chosen on val, makes intensity 0.5 about half of the way (0 and 1 stay put)
    strength = (strength ** np.float32(cfg.intensity_power)).astype(np.float32)
    weighted = not np.all(strength == 1.0)
    if isinstance(relation, str) and relation.endswith(SENIOR_B) and relation not in cfg.relations:
        relation = relation[: -len(SENIOR_B)]  # a bundle without sides: both streams hear one relation
    rel = _labels(relation, cfg.relations, "relation")[0]

    length = min(cfg.window, n_frames + (n_frames % 2))  # the U-Net halves time once: keep it even
    starts = window_starts(n_frames, length, cfg.blend)
    pad = max(0, starts[-1] + length - n_frames)
    feats_p = np.concatenate([feats, np.repeat(feats[-1:], pad, 0)]) if pad else feats
    m_p = np.concatenate([m, np.repeat(m[:, -1:], pad, 1)], 1) if pad else m
    emo_p = np.concatenate([emo_frames, np.repeat(emo_frames[:, -1:], pad, 1)], 1) if pad else emo_frames
    strength_p = np.concatenate([strength, np.repeat(strength[:, -1:], pad, 1)], 1) if pad else strength
    audio = np.stack([feats_p[s: s + length] for s in starts]).astype(np.float32)
    win_masks = np.stack([m_p[:, s: s + length] for s in starts]).astype(np.float32)
    lay = np.repeat(layout_features(layout, body_yaw, cfg.layout_body)[None], len(starts), 0)
    emos = np.stack([emo_p[:, s: s + length] for s in starts])
    rels = np.full(len(starts), rel, np.int64)
    z = sample_windows(b, audio, win_masks, lay, emos, rels, seed,
                       cfg.guidance if guidance is None else float(guidance), steps or cfg.steps, threads,
                       cfg.guidance_listen if listener_guidance is None else float(listener_guidance),
                       cfg.guidance_pose if pose_guidance is None else float(pose_guidance), progress,
                       np.stack([strength_p[:, s: s + length] for s in starts]) if weighted else None,
                       guidance_groups(cfg, head=pose_guidance is None))
    raw = z.transpose(0, 2, 1, 3) * b.std + b.mean                               # [N, L, 2, D]
    raw = chain_offsets(raw, starts, slice(-3, None))
    seq = stitch(raw, starts, n_frames, cfg.blend)
    meta = {"model": b.model_id, "seed": int(seed), "layout": {p: [float(v) for v in layout[p]] for p in layout},
            "guidance": cfg.guidance if guidance is None else float(guidance)}
    meta["listener_guidance"] = cfg.guidance_listen if listener_guidance is None else float(listener_guidance)
    if (cfg.guidance_pose if pose_guidance is None else pose_guidance) is not None:
        meta["pose_guidance"] = cfg.guidance_pose if pose_guidance is None else float(pose_guidance)
    for group in GUIDANCE_PAIRS:  # the head's pair is replaced by a caller's own pose scale
        pair = getattr(cfg, f"guidance_{group}")
        if pair is not None and (group != "head" or pose_guidance is None):
            meta[f"{group}_guidance"] = [float(g) for g in pair]
    if isinstance(emotion, (list, tuple)):
        meta["emotion_turns"] = emotion_turns
        if weighted:  # one per turn, beside emotion_turns (whose rows stay [speaker, start, label])
            meta["emotion_turn_intensity"] = weights
    elif emotion is not None:
        meta["emotions"] = {p: cfg.emotions[int(i)] for p, i in zip("AB", emo_frames[:, 0])}
        if weighted:
            meta["emotion_intensity"] = {p: float(w) for p, w in zip("AB", weights)}
    if relation is not None:
        meta["relation"] = relation
    if body_yaw is not None:
        meta["body_yaw"] = body_yaw
    if cfg.mouth_power != 1.0:
        meta["mouth_power"] = float(cfg.mouth_power)
    motion = unpack(seq, layout, cfg.expr_names, speaking=m, fps=cfg.fps, meta=meta, body_yaw=body_yaw)
    return open_mouth(motion, cfg.mouth_power).validate()


MOUTH_RAMP = 5  # frames over which open_mouth's power eases in and out at a turn (odd)
MOUTH_KNEE = 0.15  # open_mouth leaves openings under this share alone and applies its power fully from twice
# it (a smoothstep between): the nearly shut jaw of an m, b or p stays as the model made it


def open_mouth(motion: DyadicMotion, power: float) -> DyadicMotion:
    """Both people's jaw opening u, as a share of the rig's full opening (the jaw joint's rotation about
    x over JAW_OPEN_RAD plus the jawOpen channel, as duet.arkit reads them), becomes u ** power while
    they speak, in place, the two scaled together. A jaw nearly shut (under MOUTH_KNEE) or open fully
    stays put, and so does a listener's (the power eases in and out over MOUTH_RAMP frames at a turn).
    Trained on synthetic speech, the model opens recorded people's short, quiet vowels less than its
    own training animator would (docs/model.md); a power below 1 opens those more, and the mapping
    stays monotone, so no opening overtakes a wider one."""
    if power == 1.0:
        return motion
    from duet.arkit import JAW_OPEN_RAD
    from duet.rigs.geometry import smoothstep

    k = motion.expr_names.index("jawOpen") if "jawOpen" in motion.expr_names else None
    for p in ("A", "B"):
        person = motion.person(p)
        jaw = person.poses["jaw"][:, 0]
        channel = person.expr[:, k] if k is not None else np.zeros_like(jaw)
        u = np.maximum(jaw, 0.0) / JAW_OPEN_RAD + np.maximum(channel, 0.0)
        speaking = np.convolve(np.pad(np.asarray(person.speaking, np.float64) >= 0.5, MOUTH_RAMP // 2, mode="edge"),
                               np.full(MOUTH_RAMP, 1.0 / MOUTH_RAMP), mode="valid")
        scale = np.ones_like(u)
        part = (u > 1e-9) & (u < 1.0)
        ease = smoothstep(MOUTH_KNEE, 2 * MOUTH_KNEE, u)
        scale[part] = u[part] ** ((power - 1.0) * speaking[part] * ease[part])
        jaw[jaw > 0] *= scale[jaw > 0]
        if k is not None:
            channel[channel > 0] *= scale[channel > 0]
    return motion
