"""The CPU rasterizer against analytic cases and the per-pixel reference; the binding's formulas."""

import math

import pytest
import torch

from duet.render.binding import matrix_to_quat, quat_to_matrix, to_local, to_world, triangle_frames
from duet.render.raster import rasterize, rasterize_reference, rasterize_tiles

VIEW = torch.eye(4, dtype=torch.float64)


def _k(f, cx, cy):
    return torch.tensor([[f, 0, cx], [0, f, cy], [0, 0, 1]], dtype=torch.float64)


def _random_scene(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.3 + torch.tensor([0, 0, 3.0], dtype=torch.float64)
    rot = quat_to_matrix(torch.randn(n, 4, generator=g, dtype=torch.float64))
    scales = torch.rand(n, 3, generator=g, dtype=torch.float64) * 0.05 + 0.01
    opac = torch.rand(n, generator=g, dtype=torch.float64) * 0.9 + 0.05
    cols = torch.rand(n, 3, generator=g, dtype=torch.float64)
    return means, rot, scales, opac, cols


@pytest.mark.parametrize("size", [(80, 60), (37, 23)])
def test_tiles_match_reference(size):
    w, h = size
    scene = _random_scene(300)
    a, al = rasterize_tiles(*scene, VIEW, _k(80, w / 2, h / 2), w, h, background=[1, 1, 1])
    b, bl = rasterize_reference(*scene, VIEW, _k(80, w / 2, h / 2), w, h, background=[1, 1, 1])
    assert a.shape == (h, w, 3) and al.shape == (h, w)
    assert (a - b).abs().max() < 1e-9 and (al - bl).abs().max() < 1e-9
    assert 0.05 < al.mean() < 0.95  # the scene covers part of the frame, not none or all


def test_single_isotropic_gaussian_is_analytic():
    """A round Gaussian at depth z with world sigma s appears with pixel sigma f*s/z at its centre."""
    f, z, s, w = 100.0, 2.0, 0.05, 64
    means = torch.tensor([[0.0, 0.0, z]], dtype=torch.float64)
    rot = torch.eye(3, dtype=torch.float64)[None]
    scales = torch.full((1, 3), s, dtype=torch.float64)
    rgb, alpha = rasterize(means, rot, scales, torch.tensor([0.8], dtype=torch.float64),
                           torch.ones(1, 3, dtype=torch.float64), VIEW, _k(f, 32.0, 32.0), w, w)
    sigma2 = (f * s / z) ** 2 + 0.3  # plus the anti-aliasing low-pass
    for px, py in [(31, 31), (35, 31), (31, 27), (40, 36)]:
        dx, dy = px + 0.5 - 32.0, py + 0.5 - 32.0
        expected = 0.8 * math.exp(-0.5 * (dx * dx + dy * dy) / sigma2)
        expected = 0.0 if expected < 1 / 255 else expected
        assert alpha[py, px].item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_front_gaussian_occludes_back_one():
    means = torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 1.0]], dtype=torch.float64)  # red behind, blue in front
    rot = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    scales = torch.full((2, 3), 0.2, dtype=torch.float64)
    cols = torch.tensor([[1.0, 0, 0], [0, 0, 1.0]], dtype=torch.float64)
    rgb, _ = rasterize(means, rot, scales, torch.tensor([0.99, 0.99], dtype=torch.float64), cols,
                       VIEW, _k(50, 16, 16), 32, 32)
    centre = rgb[16, 16]
    assert centre[2] > 0.95 and centre[0] < 0.02


def test_gradients_flow_to_every_parameter():
    means, rot, scales, opac, cols = _random_scene(50)
    for t in (means, scales, opac, cols):
        t.requires_grad_(True)
    rgb, _ = rasterize_tiles(means, rot, scales, opac, cols, VIEW, _k(80, 20, 20), 40, 40)
    rgb.sum().backward()
    for t in (means, scales, opac, cols):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_triangle_frame_formula():
    v = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 3, 0]], dtype=torch.float64)
    rot, k, centre = triangle_frames(v, torch.tensor([[0, 1, 2]]))
    # a0 along the first edge, a1 the normal (+Z here), a2 = -(a1 x a0) = -(+Y) ... in-plane.
    torch.testing.assert_close(rot[0][:, 0], torch.tensor([1.0, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(rot[0][:, 1], torch.tensor([0.0, 0, 1], dtype=torch.float64))
    torch.testing.assert_close(rot[0][:, 2], torch.tensor([0.0, -1, 0], dtype=torch.float64))
    assert k.item() == pytest.approx((2 + 3) / 2)
    torch.testing.assert_close(centre[0], torch.tensor([2 / 3, 1.0, 0], dtype=torch.float64))


def test_bound_gaussians_follow_a_moving_mesh():
    g = torch.Generator().manual_seed(1)
    verts = torch.randn(30, 3, generator=g, dtype=torch.float64)
    faces = torch.randint(0, 30, (40, 3), generator=g)
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    binding = torch.randint(0, len(faces), (100,), generator=g)
    mu = torch.randn(100, 3, generator=g, dtype=torch.float64) * 0.1
    log_s = torch.randn(100, 3, generator=g, dtype=torch.float64) * 0.1 - 3
    quat = torch.nn.functional.normalize(torch.randn(100, 4, generator=g, dtype=torch.float64), dim=-1)
    # A rigid motion of the mesh (rotation + translation + uniform scale) moves Gaussians the same way.
    r = quat_to_matrix(torch.tensor([0.9, 0.1, -0.3, 0.2], dtype=torch.float64))
    moved = 1.5 * verts @ r.T + torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    m0, s0, r0 = to_world(verts, faces, binding, mu, log_s, quat)
    m1, s1, r1 = to_world(moved, faces, binding, mu, log_s, quat)
    torch.testing.assert_close(m1, 1.5 * m0 @ r.T + torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(s1, 1.5 * s0)
    torch.testing.assert_close(r1, r @ r0)
    back = to_local(moved, faces, binding, m1, s1, r1)
    torch.testing.assert_close(back[0], mu)
    torch.testing.assert_close(back[1], log_s)
    torch.testing.assert_close(quat_to_matrix(back[2]), quat_to_matrix(quat))


def test_quaternion_round_trip():
    q = torch.nn.functional.normalize(torch.randn(500, 4, generator=torch.Generator().manual_seed(2),
                                                  dtype=torch.float64), dim=-1)
    q = torch.where(q[:, :1] < 0, -q, q)
    torch.testing.assert_close(matrix_to_quat(quat_to_matrix(q)), q)


