"""Training losses (torch): weighted L2 on expression (1), rotation (8), translation (1), velocity (1),
the eye-gaze cosine loss (5, boosted on busy-head windows), explicit weight on lip closures and open
vowels, and a lip-gap term on the rig's own lip vertices.

All L2 terms work on standardized motion (each dimension divided by its corpus std), so small but
visible channels (a lip press) count as much as large ones. Gaze and the lip gap use physical values.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from duet.model.config import ModelConfig, TrainConfig

LIP_JAW_PREFIXES = ("mouth", "jaw")


def lip_jaw_dims(cfg: ModelConfig) -> list[int]:
    """Motion-vector dimensions of lip and jaw articulation: mouth*/jaw* channels and the jaw joint."""
    e = cfg.n_expr
    chans = [i for i, n in enumerate(cfg.expr_names) if n.startswith(LIP_JAW_PREFIXES)]
    return chans + [e + 6, e + 7, e + 8]  # jaw is the third joint (global, neck, jaw, ...)


def rotmat(aa):
    """Axis-angle [..., 3] -> rotation matrices [..., 3, 3] (Rodrigues; smooth at zero)."""
    theta2 = (aa * aa).sum(-1, keepdim=True)
    theta = torch.sqrt(theta2 + 1e-12)
    k = aa / theta
    x, y, z = k.unbind(-1)
    zero = torch.zeros_like(x)
    kmat = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*aa.shape[:-1], 3, 3)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    eye = torch.eye(3, dtype=aa.dtype).expand_as(kmat)
    return eye + s * kmat + (1 - c) * (kmat @ kmat)


def gaze_direction(raw, n_expr: int):
    """Mean forward vector of both eyes in the facing frame: R_global R_neck R_eye (0, 0, 1)."""
    rot = raw[..., n_expr: n_expr + 15].reshape(*raw.shape[:-1], 5, 3)
    head = rotmat(rot[..., 0, :]) @ rotmat(rot[..., 1, :])
    fwd = [(head @ rotmat(rot[..., i, :]))[..., :, 2] for i in (3, 4)]
    return (fwd[0] + fwd[1]) / 2


GAP_SCALE = 0.005  # metres: the corpus's lip-gap std, so the gap term is about 1 when it is as wrong as chance


@lru_cache(maxsize=4)
def _lip_rig(expr_names: tuple[str, ...]):
    """The open heads' inner-lip midpoints as tensors, averaged over heads A and B (one topology).

    Returns template [S,3], expression deltas [E,S,3] in ``expr_names`` order, jaw skinning weight [S],
    jaw joint [3] and the number of upper-lip points (the first ones)."""
    from duet.rigs import openhead
    from duet.motion import JOINTS

    jaw = JOINTS.index("jaw")
    parts = []
    for person in ("A", "B"):
        head = openhead.load(person)
        sel = np.concatenate([head.lip_upper_mid, head.lip_lower_mid])
        order = [list(head.expr_names).index(n) if n in head.expr_names else -1 for n in expr_names]
        deltas = np.stack([head.expr_deltas[i, sel] if i >= 0 else np.zeros((len(sel), 3)) for i in order])
        parts.append((head.vertices[sel], deltas, head.weights[sel, jaw], head.joints[jaw], len(head.lip_upper_mid)))
    mean = [torch.tensor(np.mean([p[i] for p in parts], 0), dtype=torch.float64) for i in range(4)]
    return (*mean, parts[0][4])


def lip_gap(raw, cfg: ModelConfig):
    """[...] lip gap in metres (duet.eval.metrics.lip_gap) of unstandardized motion vectors [..., D]:
    expression deltas on the inner-lip midpoints, then the jaw joint's rotation skinned onto them.
    The head's own frame, as the evaluation measures it (no head rotation or translation)."""
    template, deltas, w_jaw, joint, n_upper = (t.to(raw.device, raw.dtype) if torch.is_tensor(t) else t
                                               for t in _lip_rig(tuple(cfg.expr_names)))
    e = cfg.n_expr
    v = template + torch.einsum("...e,esc->...sc", raw[..., :e], deltas)          # [..., S, 3]
    r = rotmat(raw[..., e + 6: e + 9])                                             # jaw (global, neck, jaw, ...)
    jawed = torch.einsum("...ij,...sj->...si", r, v - joint) + joint
    v = v + w_jaw[:, None] * (jawed - v)
    return v[..., :n_upper, 1].mean(-1) - v[..., n_upper:, 1].mean(-1)


def motion_loss(pred, target, batch, cfg: ModelConfig, tc: TrainConfig, mean, std, lips_only=None):
    """Total loss and its parts. pred/target: standardized [B, 2, T, D]; ``lips_only`` [B] bool marks
    windows trained only on lip/jaw channels (stage 2)."""
    b, _, t, d = pred.shape
    e = cfg.n_expr
    lips = torch.zeros(d, dtype=torch.bool)
    lips[lip_jaw_dims(cfg)] = True

    weight = torch.ones(b, 2, t, d)
    if lips_only is not None and lips_only.any():
        # lip/jaw dimensions of both people on every frame: the listener's closed mouth is lip data too
        weight = torch.where(lips_only[:, None, None, None], lips.float().expand(b, 2, t, d), weight)
    speaking = batch["speaking"] > 0.5
    # [B, 2, T]: the speaker's m/b/p and open-vowel frames count extra, in the L2 and in the lip gap
    frame_w = 1 + tc.w_closure * (batch["bilabial"] & speaking).float() \
        + tc.w_open * (batch["open_vowel"] & speaking).float()
    weight = weight * torch.where(lips, frame_w[..., None], torch.ones(()))

    err = (pred - target) ** 2
    norm = weight.sum().clamp(min=1.0) / d
    parts = {"expr": (err * weight)[..., :e].sum() / norm,
             "rot": (err * weight)[..., e: e + 15].sum() / norm,
             "transl": (err * weight)[..., e + 15:].sum() / norm}
    recon = parts["expr"] * tc.w_expr + parts["rot"] * tc.w_rot + parts["transl"] * tc.w_transl

    vel_w = weight[:, :, 1:] * weight[:, :, :-1]
    vel_err = ((pred[:, :, 1:] - pred[:, :, :-1]) - (target[:, :, 1:] - target[:, :, :-1])) ** 2
    parts["vel"] = (vel_err * vel_w).sum() / (vel_w.sum().clamp(min=1.0) / d)

    raw_p, raw_t = pred * std + mean, target * std + mean
    cos = torch.nn.functional.cosine_similarity(gaze_direction(raw_p, e), gaze_direction(raw_t, e), dim=-1)
    gaze_w = 1 + tc.gaze_boost * batch["busy_head"].float()
    if lips_only is not None:
        gaze_w = gaze_w * (~lips_only).float()
    parts["gaze"] = ((1 - cos).mean(dim=(1, 2)) * gaze_w).sum() / gaze_w.sum().clamp(min=1.0)

    # the lip gap itself, on every frame of both people
    gap_err = ((lip_gap(raw_p, cfg) - lip_gap(raw_t, cfg)) / GAP_SCALE) ** 2
    parts["gap"] = (gap_err * frame_w).sum() / frame_w.sum()
    total = recon + tc.w_vel * parts["vel"] + tc.w_gaze * parts["gaze"] + tc.w_gap * parts["gap"]
    return total, {k: float(v.detach()) for k, v in parts.items()}
