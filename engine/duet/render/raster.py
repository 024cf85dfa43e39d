"""Gaussian splat rasterization behind one function: gsplat on CUDA, pure torch on the CPU.

Camera convention (as gsplat): ``viewmat`` [4,4] maps world to camera coordinates with +X right,
+Y down, +Z forward (OpenCV); ``K`` [3,3] holds fx, fy, cx, cy in pixels.
"""

from __future__ import annotations

import torch

from duet.render.binding import matrix_to_quat

TILE = 4  # small tiles: splats here cover a few pixels, so less wasted work per pair
NEAR = 0.01
LOWPASS = 0.3  # pixels^2 added to every 2D covariance (anti-aliasing, as in 3DGS)
ALPHA_MIN, ALPHA_MAX = 1.0 / 255.0, 0.99
PAIRS_PER_CHUNK = 150_000


def rasterize(means, rotations, scales, opacities, colors, viewmat, K, width: int, height: int,
              background=None):
    """Render Gaussians; returns (rgb [H,W,3], alpha [H,W]). ``rotations`` are [N,3,3] matrices."""
    if means.is_cuda:
        return _gsplat(means, rotations, scales, opacities, colors, viewmat, K, width, height, background)
    return rasterize_tiles(means, rotations, scales, opacities, colors, viewmat, K, width, height, background)


def project(means, rotations, scales, viewmat, K):
    """Camera-space depth [N], 2D means [N,2], 2D covariances [N,2,2] (EWA: J W Sigma W^T J^T)."""
    w, t = viewmat[:3, :3], viewmat[:3, 3]
    cam = means @ w.T + t
    z = cam[:, 2].clamp(min=NEAR)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    uv = torch.stack([fx * cam[:, 0] / z + cx, fy * cam[:, 1] / z + cy], -1)
    rs = rotations * scales[:, None, :]
    cov_cam = w @ (rs @ rs.transpose(1, 2)) @ w.T
    zero = torch.zeros_like(z)
    jac = torch.stack([torch.stack([fx / z, zero, -fx * cam[:, 0] / z**2], -1),
                       torch.stack([zero, fy / z, -fy * cam[:, 1] / z**2], -1)], -2)  # [N,2,3]
    cov2d = jac @ cov_cam @ jac.transpose(1, 2) + LOWPASS * torch.eye(2, dtype=means.dtype)
    return cam[:, 2], uv, cov2d


def _conics(cov2d):
    a, b, c = cov2d[:, 0, 0], cov2d[:, 0, 1], cov2d[:, 1, 1]
    det = (a * c - b * b).clamp(min=1e-12)
    return torch.stack([c / det, -b / det, a / det], -1), det


def rasterize_tiles(means, rotations, scales, opacities, colors, viewmat, K, width, height, background=None):
    """The CPU path: project, bin into small tiles, depth-sort, alpha-composite tile by tile."""
    dtype = means.dtype
    depth, uv, cov2d = project(means, rotations, scales, viewmat, K)
    conic, _ = _conics(cov2d)
    a, c = cov2d[:, 0, 0], cov2d[:, 1, 1]
    mid = (a + c) / 2
    lam = mid + torch.sqrt(((a - c) / 2) ** 2 + cov2d[:, 0, 1] ** 2)
    radius = torch.ceil(3 * torch.sqrt(lam)).detach()
    tiles_x, tiles_y = (width + TILE - 1) // TILE, (height + TILE - 1) // TILE
    u, v = uv.detach()[:, 0], uv.detach()[:, 1]
    x0 = ((u - radius) // TILE).clamp(0, tiles_x - 1).long()
    x1 = ((u + radius) // TILE).clamp(0, tiles_x - 1).long()
    y0 = ((v - radius) // TILE).clamp(0, tiles_y - 1).long()
    y1 = ((v + radius) // TILE).clamp(0, tiles_y - 1).long()
    visible = (depth.detach() > NEAR) & (u + radius >= 0) & (u - radius < width) & (v + radius >= 0) \
        & (v - radius < height)
    nx, ny = (x1 - x0 + 1) * visible, (y1 - y0 + 1) * visible
    counts = nx * ny
    gauss = torch.repeat_interleave(torch.arange(len(means)), counts)
    first = torch.cumsum(counts, 0) - counts
    within = torch.arange(len(gauss)) - first[gauss]
    tx = x0[gauss] + within % nx[gauss]
    ty = y0[gauss] + within // nx[gauss]
    tile = ty * tiles_x + tx
    rank = torch.empty(len(means), dtype=torch.long)
    rank[torch.argsort(depth.detach())] = torch.arange(len(means))
    order = torch.argsort(tile * len(means) + rank[gauss])
    gauss, tile = gauss[order], tile[order]

    n_tiles = tiles_x * tiles_y
    py, px = torch.meshgrid(torch.arange(TILE), torch.arange(TILE), indexing="ij")
    local = torch.stack([px.reshape(-1), py.reshape(-1)], -1).to(dtype) + 0.5  # pixel centres
    rgb = torch.zeros(n_tiles, TILE * TILE, 3, dtype=dtype)
    log_t = torch.zeros(n_tiles, TILE * TILE, dtype=torch.float64)
    tile_counts = torch.bincount(tile, minlength=n_tiles)
    bounds = _chunk_bounds(tile_counts)
    for start, end in bounds:
        g, t = gauss[start:end], tile[start:end]
        origin = torch.stack([t % tiles_x, t // tiles_x], -1).to(dtype) * TILE
        d = origin[:, None, :] + local[None] - uv[g][:, None, :]  # [P,256,2]
        cg = conic[g]
        power = -0.5 * (cg[:, None, 0] * d[..., 0] ** 2 + 2 * cg[:, None, 1] * d[..., 0] * d[..., 1]
                        + cg[:, None, 2] * d[..., 1] ** 2)
        alpha = (opacities[g][:, None] * torch.exp(power.clamp(max=0))).clamp(max=ALPHA_MAX)
        alpha = torch.where(alpha < ALPHA_MIN, torch.zeros_like(alpha), alpha)
        log1m = torch.log1p(-alpha).to(torch.float64)
        cs = torch.cumsum(log1m, 0)
        seg_start = _segment_starts(t)
        offset = torch.where(seg_start[:, None] > 0, cs[(seg_start - 1).clamp(min=0)], torch.zeros_like(cs[:1]))
        # Transmittance before each Gaussian within its own tile (chunks never split a tile).
        trans = torch.exp(cs - log1m - offset).to(dtype)
        weight = trans * alpha
        rgb = rgb.index_add(0, t, weight[..., None] * colors[g][:, None, :])
        seg_total = torch.zeros(n_tiles, TILE * TILE, dtype=torch.float64).index_add(0, t, log1m)
        log_t = log_t + seg_total
    alpha_img = 1 - torch.exp(log_t).to(dtype)
    if background is not None:
        rgb = rgb + torch.exp(log_t).to(dtype)[..., None] * torch.as_tensor(background, dtype=dtype)
    image = rgb.reshape(tiles_y, tiles_x, TILE, TILE, 3).permute(0, 2, 1, 3, 4).reshape(tiles_y * TILE, tiles_x * TILE, 3)
    alpha_img = alpha_img.reshape(tiles_y, tiles_x, TILE, TILE).permute(0, 2, 1, 3).reshape(tiles_y * TILE, tiles_x * TILE)
    return image[:height, :width], alpha_img[:height, :width]


def _segment_starts(sorted_keys: torch.Tensor) -> torch.Tensor:
    """For each entry of a sorted key array, the index where its run of equal keys begins."""
    n = len(sorted_keys)
    is_start = torch.ones(n, dtype=torch.bool)
    is_start[1:] = sorted_keys[1:] != sorted_keys[:-1]
    idx = torch.where(is_start, torch.arange(n), torch.zeros(n, dtype=torch.long))
    return torch.cummax(idx, 0).values


def _chunk_bounds(tile_counts: torch.Tensor) -> list[tuple[int, int]]:
    """Split the sorted pair list at tile boundaries into chunks of about PAIRS_PER_CHUNK pairs."""
    ends = torch.cumsum(tile_counts, 0).tolist()
    bounds, start = [], 0
    for e in ends:
        if e - start >= PAIRS_PER_CHUNK:
            bounds.append((start, e))
            start = e
    if ends and ends[-1] > start:
        bounds.append((start, ends[-1]))
    return bounds


def rasterize_reference(means, rotations, scales, opacities, colors, viewmat, K, width, height, background=None):
    """Slow and obviously correct: every pixel against every Gaussian, sorted by depth."""
    depth, uv, cov2d = project(means, rotations, scales, viewmat, K)
    conic, _ = _conics(cov2d)
    order = torch.argsort(depth)
    keep = order[depth[order] > NEAR]
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    pix = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1).to(means.dtype) + 0.5
    d = pix[:, None, :] - uv[keep][None]
    cg = conic[keep]
    power = -0.5 * (cg[:, 0] * d[..., 0] ** 2 + 2 * cg[:, 1] * d[..., 0] * d[..., 1] + cg[:, 2] * d[..., 1] ** 2)
    alpha = (opacities[keep] * torch.exp(power.clamp(max=0))).clamp(max=ALPHA_MAX)
    alpha = torch.where(alpha < ALPHA_MIN, torch.zeros_like(alpha), alpha)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
    rgb = (trans * alpha) @ colors[keep]
    t_final = trans[:, -1] * (1 - alpha[:, -1]) if alpha.shape[1] else torch.ones(len(pix), dtype=means.dtype)
    if background is not None:
        rgb = rgb + t_final[:, None] * torch.as_tensor(background, dtype=means.dtype)
    return rgb.reshape(height, width, 3), (1 - t_final).reshape(height, width)


def _gsplat(means, rotations, scales, opacities, colors, viewmat, K, width, height, background):
    from gsplat import rasterization

    bg = None if background is None else torch.as_tensor(background, dtype=means.dtype, device=means.device)[None]
    rgb, alpha, _ = rasterization(means, matrix_to_quat(rotations), scales, opacities, colors,
                                  viewmat[None], K[None], width, height, backgrounds=bg)
    return rgb[0], alpha[0, ..., 0]
