"""Gaussians bound to mesh triangles (the GaussianAvatars binding; rsatalker.txt section 3.4).

Each triangle (v0, v1, v2) defines a frame:
    a0 = normalize(v1 - v0), a1 = normalize(a0 x (v2 - v0)) (the normal), a2 = -normalize(a1 x a0),
    R = [a0 a1 a2] (columns), k = (|v1 - v0| + |a2 . (v2 - v0)|) / 2, centre = mean of the vertices.
A Gaussian stored as (mu, s, q) in that frame lives in the world at
    position = k R mu + centre, scale = k s, rotation = R * rot(q).
"""

from __future__ import annotations

import torch


def triangle_frames(vertices: torch.Tensor, faces: torch.Tensor):
    """Per-triangle rotation [F,3,3] (columns a0, a1, a2), scale k [F] and centre [F,3]."""
    v = vertices[faces]  # [F,3,3]
    v0, v1, v2 = v[:, 0], v[:, 1], v[:, 2]
    e1, e2 = v1 - v0, v2 - v0
    a0 = torch.nn.functional.normalize(e1, dim=-1)
    a1 = torch.nn.functional.normalize(torch.cross(a0, e2, dim=-1), dim=-1)
    a2 = -torch.nn.functional.normalize(torch.cross(a1, a0, dim=-1), dim=-1)
    rot = torch.stack([a0, a1, a2], dim=-1)
    k = (e1.norm(dim=-1) + (a2 * e2).sum(-1).abs()) / 2
    return rot, k, v.mean(1)


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternions [..., 4] (w, x, y, z) -> rotation matrices [..., 3, 3]."""
    q = torch.nn.functional.normalize(q, dim=-1)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], -1).reshape(*q.shape[:-1], 3, 3)


def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4] (w, x, y, z), w >= 0."""
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cands = torch.stack([
        torch.stack([1 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2], m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 + m[..., 1, 1] - m[..., 0, 0] - m[..., 2, 2], m[..., 1, 2] + m[..., 2, 1]], -1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 + m[..., 2, 2] - m[..., 0, 0] - m[..., 1, 1]], -1),
    ], -2)  # each row is 4 * q_i * q for the largest component i
    diag = torch.stack([1 + trace, 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                        1 + m[..., 1, 1] - m[..., 0, 0] - m[..., 2, 2], 1 + m[..., 2, 2] - m[..., 0, 0] - m[..., 1, 1]], -1)
    best = diag.argmax(-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = torch.nn.functional.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def to_world(vertices: torch.Tensor, faces: torch.Tensor, binding: torch.Tensor, mu: torch.Tensor,
             log_scale: torch.Tensor, quat: torch.Tensor):
    """World means [N,3], scales [N,3] and rotation matrices [N,3,3] of triangle-bound Gaussians.

    ``binding`` [N] holds each Gaussian's triangle; mu, log_scale [N,3] and quat [N,4] are local.
    """
    rot, k, centre = triangle_frames(vertices, faces)
    r, kk, c = rot[binding], k[binding], centre[binding]
    means = kk[:, None] * torch.einsum("nij,nj->ni", r, mu) + c
    scales = kk[:, None] * torch.exp(log_scale)
    return means, scales, r @ quat_to_matrix(quat)


def to_local(vertices: torch.Tensor, faces: torch.Tensor, binding: torch.Tensor, means: torch.Tensor,
             scales: torch.Tensor, rotations: torch.Tensor):
    """Inverse of to_world: world Gaussians -> (mu, log_scale, quat) in their triangles' frames."""
    rot, k, centre = triangle_frames(vertices, faces)
    r, kk, c = rot[binding], k[binding], centre[binding]
    mu = torch.einsum("nji,nj->ni", r, means - c) / kk[:, None]
    log_scale = torch.log(scales / kk[:, None])
    return mu, log_scale, matrix_to_quat(r.transpose(-1, -2) @ rotations)
