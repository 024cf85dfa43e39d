"""The dual-stream denoiser: one 1D temporal U-Net shared by both people, FiLM-conditioned per frame,
with self-attention at the lower level and A<->B cross-attention in the decoder (torch).

Tensors: motion x [B, 2, T, D] (person A then B), audio [B, T, F], masks [B, 2, T], layout
[B, 2, 4], emotion ids [B, 2, T], relation ids [B], logSNR [B], drop [B] (audio dropped for CFG).
Internally both people run as one batch of 2B streams: streams [0, B) are A, [B, 2B) are B, so a
stream's partner is the same index rolled by B. Every per-stream input is ordered (self, partner),
and each stream sees the relation from its own side (an unequal relation's senior is "me" or "the
other"), which makes the network exactly symmetric: swapping A and B (and an unequal relation's
senior with them) swaps the outputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from duet.emotion.labels import swapped_relations
from duet.model.config import ModelConfig


def _groups(c: int) -> int:
    return 8 if c % 8 == 0 else 1


class FiLMBlock(nn.Module):
    """Residual conv block; the middle activation is modulated by (gamma(c) + 1) * h + beta(c)."""

    def __init__(self, cin: int, cout: int, cond: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv1d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.film = nn.Conv1d(cond, 2 * cout, 1)
        self.conv2 = nn.Conv1d(cout, cout, 3, padding=1)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, h, c):
        y = self.conv1(F.silu(self.norm1(h)))
        gamma, beta = self.film(c).chunk(2, dim=1)
        y = (gamma + 1) * self.norm2(y) + beta
        y = self.conv2(F.silu(y))
        return self.skip(h) + y


class Attention(nn.Module):
    """Multi-head attention over frames: queries from h, keys/values from ``other`` (residual)."""

    def __init__(self, c: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm_q = nn.GroupNorm(_groups(c), c)
        self.norm_kv = nn.GroupNorm(_groups(c), c)
        self.q = nn.Linear(c, c)
        self.kv = nn.Linear(c, 2 * c)
        self.out = nn.Linear(c, c)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h, other):
        n, c, t = h.shape
        q = self.q(self.norm_q(h).transpose(1, 2))
        k, v = self.kv(self.norm_kv(other).transpose(1, 2)).chunk(2, dim=-1)
        split = lambda z: z.reshape(n, -1, self.heads, c // self.heads).transpose(1, 2)  # noqa: E731
        y = F.scaled_dot_product_attention(split(q), split(k), split(v))
        y = self.out(y.transpose(1, 2).reshape(n, t, c))
        return h + y.transpose(1, 2)


def partner(h, n_pairs: int):
    """The other person's stream for each stream of a [2B, ...] stack (A half, then B half): the halves
    swapped (a roll by B, written as slices so the ONNX export keeps B symbolic)."""
    return torch.cat([h[n_pairs:], h[:n_pairs]])


def timestep_embedding(lsnr, dim: int):
    """Sinusoidal embedding of logSNR [N] -> [N, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
    arg = (lsnr.float() / 4.0)[:, None] * freqs[None] * 10.0
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


class DualStreamUNet(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        c1, c2 = cfg.channels
        d, cd = cfg.motion_dim, cfg.cond_dim
        self.role = nn.Parameter(torch.randn(2, cfg.role_dim) * 0.5)  # e_speak, e_listen
        self.emotion = nn.Embedding(len(cfg.emotions), cfg.emotion_dim)
        self.relation = nn.Embedding(len(cfg.relations), cfg.relation_dim)
        # B's stream sees the relation from B's side (an unequal relation's senior on the other side), so
        # each stream knows whether it is the senior; identity for a vocabulary without sides
        self.register_buffer("relation_other_side", torch.tensor(swapped_relations(tuple(cfg.relations))),
                             persistent=False)
        self.null_audio = nn.Parameter(torch.zeros(cfg.audio_dim))
        raw = cfg.audio_dim + 2 * cfg.role_dim + 2 + 2 * cfg.layout_dim + 2 * cfg.emotion_dim + cfg.relation_dim
        self.cond_in = nn.Sequential(nn.Conv1d(raw, cd, 5, padding=2), nn.SiLU(),
                                     nn.Conv1d(cd, cd, 5, padding=2))
        self.time = nn.Sequential(nn.Linear(64, cd), nn.SiLU(), nn.Linear(cd, cd))
        self.inp = nn.Conv1d(d + cd, c1, 3, padding=1)
        nb = cfg.blocks_per_level
        self.enc1 = nn.ModuleList([FiLMBlock(c1, c1, cd) for _ in range(nb)])
        self.down = nn.Conv1d(c1, c2, 4, stride=2, padding=1)
        self.enc2 = nn.ModuleList([FiLMBlock(c2, c2, cd) for _ in range(nb)])
        self.enc2_attn = nn.ModuleList([Attention(c2, cfg.heads) for _ in range(nb)])
        self.dec2 = nn.ModuleList([FiLMBlock(c2, c2, cd) for _ in range(nb)])
        self.dec2_attn = nn.ModuleList([Attention(c2, cfg.heads) for _ in range(nb)])
        self.up = nn.Conv1d(c2, c1, 3, padding=1)
        self.dec1 = nn.ModuleList([FiLMBlock(2 * c1 if i == 0 else c1, c1, cd) for i in range(nb)])
        if cfg.cross_attention:  # the two streams meet in every decoder block, at both rates
            self.dec2_cross = nn.ModuleList([Attention(c2, cfg.heads) for _ in range(nb)])
            self.dec1_cross = nn.ModuleList([Attention(c1, cfg.heads) for _ in range(nb)])
        self.out_norm = nn.GroupNorm(_groups(c1), c1)
        self.out = nn.Conv1d(c1, d, 3, padding=1)

    def conditioning(self, audio, masks, layout, emotion, relation, drop):
        """Per-stream, per-frame conditioning c(k): [2B, cond_dim, T] (before the timestep)."""
        b, t, _ = audio.shape
        audio = torch.where(drop[:, None, None], self.null_audio.expand(b, t, -1), audio)
        m = masks.transpose(0, 1).reshape(2 * b, t, 1)                                  # self
        m_other = partner(m, b)
        role = lambda mm: mm * self.role[0] + (1 - mm) * self.role[1]  # noqa: E731  e_role (eq. 5)
        lay = layout.transpose(0, 1).reshape(2 * b, -1)
        emo = self.emotion(emotion.transpose(0, 1).reshape(2 * b, t))                    # [2B, T, E]
        rel = torch.cat([self.relation(relation), self.relation(self.relation_other_side[relation])])
        per_stream = torch.cat([lay, partner(lay, b), rel], dim=1)
        feats = torch.cat([audio.repeat(2, 1, 1), role(m), role(m_other), m, m_other, emo, partner(emo, b),
                           per_stream[:, None, :].expand(-1, t, -1)], dim=2)
        return self.cond_in(feats.transpose(1, 2))

    def forward(self, x, lsnr, audio, masks, layout, emotion, relation, drop):
        """Predict clean motion x0 [B, 2, T, D] from noisy x [B, 2, T, D]; T must be even."""
        return self.denoise(x, lsnr, self.conditioning(audio, masks, layout, emotion, relation, drop))

    def denoise(self, x, lsnr, c):
        """``forward`` from the conditioning c [2B, cond_dim, T], which stays the same through all the
        sampling steps (a sampler computes it once)."""
        b, _, t, d = x.shape
        h = x.transpose(0, 1).reshape(2 * b, t, d).transpose(1, 2)
        cross = self.cfg.cross_attention
        h = self.inp(torch.cat([h, c], dim=1))
        cf = c + self.time(timestep_embedding(lsnr, 64)).repeat(2, 1)[:, :, None]
        cf2 = F.avg_pool1d(cf, 2)
        for blk in self.enc1:
            h = blk(h, cf)
        skip = h
        h = self.down(h)
        for blk, attn in zip(self.enc2, self.enc2_attn):
            h = blk(h, cf2)
            h = attn(h, h)
        for i, (blk, attn) in enumerate(zip(self.dec2, self.dec2_attn)):
            h = blk(h, cf2)
            h = attn(h, h)
            if cross:  # h_A' = Attn(Q_A, K_B, V_B) and vice versa
                h = self.dec2_cross[i](h, partner(h, b))
        h = self.up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = torch.cat([h, skip], dim=1)
        for i, blk in enumerate(self.dec1):
            h = blk(h, cf)
            if cross:
                h = self.dec1_cross[i](h, partner(h, b))
        y = self.out(F.silu(self.out_norm(h)))
        return y.transpose(1, 2).reshape(2, b, t, d).transpose(0, 1)
