"""The open head's geometry: a closed head-and-neck mesh built from analytic parts (pure numpy).

The skin is sampled on a grid of rings (rows top to bottom, columns around the vertical axis) by
casting rays onto a smooth signed-distance head; the crown is fanned from one centre so rows stay
even. The mouth row is split into an upper and a lower lip edge and a mouth bag is sewn into the
slit, so the skin stays one closed surface. Eyeballs, teeth and tongue are separate closed parts.
All positions are in the rig frame of ``duet.rigs.kinematics`` (metres, +Y up, face along +Z).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from duet.rigs.kinematics import REST_JOINTS

EYE_RADIUS = 0.0120
LID_RADIUS = 0.0138      # eyelid skin rests just outside the eyeball
MOUTH_Y = 0.121          # height of the lips' meeting line
MOUTH_HALF_WIDTH = 0.024
AXIS_Z = -0.012          # the rings' centre line
NECK_Z = -0.020          # the neck's centre line, set back under the skull
CROWN_Y = 0.235          # above: rows fan over the crown from one centre; below: horizontal rings
NECK_BOTTOM = -0.03
N_COLS = 112

PARTS = ("skin", "eye_L", "eye_R", "mouth", "teeth", "tongue", "hair", "brow")
MATERIALS = ("skin", "hair", "brow", "lip", "mouth", "teeth", "tongue", "sclera", "iris", "pupil")


# ---------------------------------------------------------------- signed distance of the head


def _smin(a, b, k):
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _ellipsoid(p, c, r):
    q = (p - np.asarray(c)) / np.asarray(r)
    k0 = np.linalg.norm(q, axis=-1)
    k1 = np.linalg.norm(q / np.asarray(r), axis=-1)
    return k0 * (k0 - 1) / np.maximum(k1, 1e-9)


def _capsule(p, a, b, r):
    a, b = np.asarray(a, float), np.asarray(b, float)
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1) - r


def lips_sdf(p):
    upper = _ellipsoid(p, (0, 0.1278, 0.0912), (0.0235, 0.0070, 0.0095))
    lower = _ellipsoid(p, (0, 0.1136, 0.0898), (0.0215, 0.0078, 0.0102))
    return np.minimum(upper, lower)


def head_sdf(p):
    """Negative inside the head: cranium, face, jaw, neck, nose, cheekbones, brow, lips, ears."""
    d = _ellipsoid(p, (0, 0.205, -0.012), (0.073, 0.097, 0.100))
    d = _smin(d, _ellipsoid(p, (0, 0.150, 0.020), (0.060, 0.082, 0.072)), 0.02)
    d = _smin(d, _ellipsoid(p, (0, 0.110, 0.022), (0.049, 0.036, 0.064)), 0.014)
    d = _smin(d, _ellipsoid(p, (0, 0.089, 0.068), (0.025, 0.015, 0.016)), 0.016)  # a rounded chin
    for s in (-1, 1):  # the jawline, from below the ear to the chin's side
        d = _smin(d, _capsule(p, (s * 0.047, 0.118, -0.006), (s * 0.022, 0.087, 0.062), 0.011), 0.02)
    d = _smin(d, _capsule(p, (0, -0.2, NECK_Z), (0, 0.14, NECK_Z - 0.004), 0.044), 0.016)
    nose = _capsule(p, (0, 0.193, 0.083), (0, 0.152, 0.106), 0.0056)
    nose = _smin(nose, _ellipsoid(p, (0, 0.147, 0.104), (0.0095, 0.0092, 0.0100)), 0.004)
    for s in (-1, 1):
        nose = _smin(nose, _ellipsoid(p, (s * 0.0122, 0.1438, 0.0935), (0.0070, 0.0064, 0.0078)), 0.004)
    d = _smin(d, nose, 0.007)
    for s in (-1, 1):
        d = _smin(d, _ellipsoid(p, (s * 0.040, 0.168, 0.055), (0.018, 0.013, 0.018)), 0.02)
        d = _smin(d, _ear(p, s), 0.005)
    d = _smin(d, _capsule(p, (-0.044, 0.207, 0.070), (0.044, 0.207, 0.070), 0.010), 0.012)
    d = _smin(d, lips_sdf(p), 0.004)
    return d


def _smax(a, b, k):
    return -_smin(-a, -b, k)


def _ear(p, s):
    """An ear on side ``s``: a flat shell with a rim (helix) around a hollow (concha) and a lobe."""
    shell = _ellipsoid(p, (s * 0.073, 0.186, -0.014), (0.010, 0.029, 0.018))
    shell = _smin(shell, _ellipsoid(p, (s * 0.0725, 0.161, -0.008), (0.007, 0.009, 0.008)), 0.004)  # the lobe
    hollow = _ellipsoid(p, (s * 0.0835, 0.184, -0.011), (0.006, 0.016, 0.010))
    return _smax(shell, -hollow, 0.003)


def _raycast(origins, dirs, far=0.26, step=0.002):
    """Outermost crossing of head_sdf along origin + t*dir, searching t from ``far`` inwards."""
    ts = np.arange(far, 0, -step)
    pts = origins[:, None, :] + ts[None, :, None] * dirs[:, None, :]
    inside = head_sdf(pts) < 0
    first = np.argmax(inside, axis=1)
    hi, lo = ts[first] + step, ts[first]  # hi is outside, lo inside
    for _ in range(30):
        mid = (hi + lo) / 2
        out = head_sdf(origins + mid[:, None] * dirs) >= 0
        hi, lo = np.where(out, mid, hi), np.where(out, lo, mid)
    return origins + ((hi + lo) / 2)[:, None] * dirs


# ---------------------------------------------------------------- the eyes' surroundings


def eye_frame(p, side):
    """(dx, dy) of points around eye ``side`` (0 = eye_L at +X): dx grows towards the outer corner."""
    c = REST_JOINTS[3 + side]
    sign = 1.0 if side == 0 else -1.0
    return (p[..., 0] - c[0]) * sign, p[..., 1] - c[1]


def lid_heights(dx):
    """Upper and lower lid margins (metres above/below the eye centre) and the opening's t."""
    t = (dx - 0.0005) / 0.0140
    inside = np.clip(1 - t ** 2, 0, 1)
    up = 0.0049 * inside ** 0.55 * (1 - 0.12 * t)
    lo = 0.0042 * inside ** 0.7
    return up, lo, t


def _sphere_dz(dx, dy, radius=LID_RADIUS):
    rho = np.minimum(np.hypot(dx, dy), 0.85 * radius)
    return np.sqrt(radius ** 2 - rho ** 2)


def smoothstep(e0, e1, x):
    """0 at e0, 1 at e1 (either order), smooth in between."""
    t = np.clip((np.asarray(x, np.float64) - e0) / (e1 - e0), 0, 1)
    return t * t * (3 - 2 * t)


def bump(p, center, radius):
    """Compactly supported falloff: 1 at ``center``, exactly 0 beyond ``radius`` (per-axis radii allowed)."""
    d2 = np.sum(((p - np.asarray(center, np.float64)) / np.asarray(radius, np.float64)) ** 2, -1)
    return np.clip(1 - d2, 0, 1) ** 3


def _shape_eye_region(v):
    """Lay the skin around each eye onto the lid sphere and recess the eye opening behind the eyeball."""
    v = v.copy()
    for side in (0, 1):
        c = REST_JOINTS[3 + side]
        dx, dy = eye_frame(v, side)
        rho = np.hypot(dx, dy)
        w = 1 - smoothstep(0.85 * LID_RADIUS, 0.023, rho)
        w = w * (v[:, 2] > c[2] - 0.01)
        target_z = c[2] + _sphere_dz(dx, dy)
        # beyond the lids, skin far behind the lid sphere (the outer corner, towards the temple) stays put
        beyond = smoothstep(0.85 * LID_RADIUS, 1.3 * LID_RADIUS, rho)
        w = w * (1 - beyond * smoothstep(0.003, 0.008, target_z - v[:, 2]))
        v[:, 2] = v[:, 2] + w * (target_z - v[:, 2])
        up, lo, t = lid_heights(dx)
        opening = (np.abs(t) < 1) & (dy < up) & (dy > -lo) & (v[:, 2] > c[2])
        d = v[opening] - c
        v[opening] = c + d / np.linalg.norm(d, axis=1, keepdims=True) * (EYE_RADIUS - 0.003)
    return v


# ---------------------------------------------------------------- closed parts


def _uv_sphere(center, radii, n_seg, n_ring, axis="z"):
    """Closed UV sphere with poles on ``axis``; returns verts, polys [P,4] (-1 pads triangles), polar angle."""
    theta = np.linspace(0, np.pi, n_ring + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, n_seg, endpoint=False)
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    a = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1).reshape(-1, 3)
    a = np.vstack([[0, 0, 1], a, [0, 0, -1]])
    polar = np.concatenate([[0], th.ravel(), [np.pi]])
    if axis == "y":
        a = a[:, [1, 2, 0]]
    verts = np.asarray(center) + a * np.asarray(radii)
    polys = []
    ring = lambda i, j: 1 + i * n_seg + (j % n_seg)  # noqa: E731
    for j in range(n_seg):
        polys.append([0, ring(0, j), ring(0, j + 1), -1])
        for i in range(n_ring - 2):
            polys.append([ring(i, j), ring(i + 1, j), ring(i + 1, j + 1), ring(i, j + 1)])
        last = len(verts) - 1
        polys.append([last, ring(n_ring - 2, j + 1), ring(n_ring - 2, j), -1])
    uv = np.stack([np.concatenate([[0.5], ph.ravel() / (2 * np.pi), [0.5]]), 1 - polar / np.pi], -1)
    return verts, np.array(polys), polar, uv


def _bent_box(x_half, z_of_x, y0, y1, thickness, n=12):
    """A closed box bent along the dental arch: x from -x_half..x_half, front face at z_of_x(x)."""
    xs = np.linspace(-x_half, x_half, n + 1)
    zf = z_of_x(xs)
    verts = []
    for x, z in zip(xs, zf):
        verts += [[x, y0, z], [x, y1, z], [x, y1, z - thickness], [x, y0, z - thickness]]
    verts = np.array(verts)
    polys = []
    for i in range(n):
        a, b = 4 * i, 4 * (i + 1)
        for k in range(4):
            polys.append([a + k, b + k, b + (k + 1) % 4, a + (k + 1) % 4])
    polys.append([0, 1, 2, 3])
    e = 4 * n
    polys.append([e + 3, e + 2, e + 1, e])
    return verts, np.array(polys)


# ---------------------------------------------------------------- assembly


@dataclass
class Template:
    """The neutral open head before identity: geometry plus what later stages need to find regions."""

    vertices: np.ndarray        # [V,3]
    polys: np.ndarray           # [P,4] vertex indices, -1 pads triangles
    poly_uv: np.ndarray         # [P,4,2]
    vertex_part: np.ndarray     # [V] index into PARTS
    lip_side: np.ndarray        # [V] +1 upper lip side / upper mouth, -1 lower, 0 elsewhere
    grid_row: np.ndarray        # [V] skin row (-1 off the grid)
    mouth_row: int
    lip_upper_mid: np.ndarray
    lip_lower_mid: np.ndarray
    eye_polar: np.ndarray       # [V] angle from the eyeball's front pole (nan off the eyes)
    hair_volume: np.ndarray     # [V,3] direction in which a fuller haircut grows (0 off the hair)


def _rows():
    """(origin, direction-elevation) per skin row: crown fan, then horizontal rings down the neck."""
    elev = np.deg2rad(np.linspace(84, 5, 17))
    crown = [((0.0, CROWN_Y, AXIS_Z), e) for e in elev]
    face = np.arange(CROWN_Y, 0.07, -0.0026)
    face = face - (face[np.argmin(np.abs(face - MOUTH_Y))] - MOUTH_Y)  # one ring exactly on the mouth line
    face = face[face <= CROWN_Y - 0.004]
    neck = np.linspace(face[-1] - 0.007, NECK_BOTTOM, 12)
    rings = [((0.0, y, AXIS_Z), 0.0) for y in np.concatenate([face, neck])]
    return crown + rings


def _columns():
    s = np.linspace(-1, 1, N_COLS, endpoint=False) + 1.0 / N_COLS
    return np.pi * (0.45 * s + 0.55 * s ** 3)


def build_template() -> Template:
    rows = _rows()
    phi = _columns()
    origins, dirs = [], []
    for (o, e) in rows:
        for p in phi:
            origins.append(o)
            dirs.append((np.cos(e) * np.sin(p), np.sin(e), np.cos(e) * np.cos(p)))
    grid = _raycast(np.array(origins), np.array(dirs)).reshape(len(rows), N_COLS, 3)
    grid[-1, :, 1] = NECK_BOTTOM
    n_rows = len(rows)
    mouth_row = int(np.argmin([abs(o[1] - MOUTH_Y) if e == 0 else 9 for o, e in rows]))

    verts = list(grid.reshape(-1, 3))
    grid_idx = np.arange(n_rows * N_COLS).reshape(n_rows, N_COLS)
    row_of = list(np.repeat(np.arange(n_rows), N_COLS))
    side = [0] * len(verts)
    for i in range(mouth_row):
        for j in range(N_COLS):
            side[grid_idx[i, j]] = 1
    for i in range(mouth_row + 1, n_rows):
        for j in range(N_COLS):
            side[grid_idx[i, j]] = -1

    # Split the mouth row: columns inside the mouth get an upper and a lower copy.
    mouth_cols = np.where((np.abs(grid[mouth_row, :, 0]) < MOUTH_HALF_WIDTH) & (grid[mouth_row, :, 2] > 0))[0]
    ja, jb = mouth_cols[0] - 1, mouth_cols[-1] + 1   # corners stay shared
    below_idx = grid_idx.copy()   # the row's vertex as used by faces below it
    for j in mouth_cols:
        upper = grid_idx[mouth_row, j]
        side[upper] = 1
        below_idx[mouth_row, j] = len(verts)
        verts.append(grid[mouth_row, j].copy())
        row_of.append(mouth_row)
        side.append(-1)

    polys = []
    top = len(verts)
    verts.append([0.0, grid[0, :, 1].max() + 0.0015, grid[0, :, 2].mean()])
    row_of.append(-1)
    side.append(1)
    for j in range(N_COLS):
        polys.append([top, grid_idx[0, (j + 1) % N_COLS], grid_idx[0, j], -1])
    for i in range(n_rows - 1):
        for j in range(N_COLS):
            k = (j + 1) % N_COLS
            polys.append([below_idx[i, j], below_idx[i, k], grid_idx[i + 1, k], grid_idx[i + 1, j]])
    bottom = len(verts)
    verts.append([0.0, NECK_BOTTOM, float(grid[-1, :, 2].mean())])
    row_of.append(-1)
    side.append(-1)
    for j in range(N_COLS):
        polys.append([bottom, grid_idx[-1, j], grid_idx[-1, (j + 1) % N_COLS], -1])
    n_skin = len(verts)

    # The mouth bag: a pocket sewn into the slit, opening up behind the lips, closing at the throat.
    loop = ([grid_idx[mouth_row, ja]] + [grid_idx[mouth_row, j] for j in mouth_cols]
            + [grid_idx[mouth_row, jb]] + [below_idx[mouth_row, j] for j in mouth_cols[::-1]])
    loop_sign = [0] + [1] * len(mouth_cols) + [0] + [-1] * len(mouth_cols)
    loop_pts = np.array([verts[i] for i in loop])
    z_front = float(grid[mouth_row, mouth_cols, 2].max())
    depth = [0.002, 0.006, 0.020, 0.038, 0.054]
    opening = [0.005, 0.013, 0.016, 0.015, 0.009]
    xscale = [0.97, 0.95, 0.92, 0.80, 0.55]
    prev = loop
    width = np.abs(loop_pts[:, 0]).max()
    for d, o, s in zip(depth, opening, xscale):
        ring = []
        for p, sg in zip(loop_pts, loop_sign):
            profile = np.sqrt(max(0.0, 1 - (p[0] / (width * 1.02)) ** 4))
            ring.append(len(verts))
            verts.append([p[0] * s, MOUTH_Y + sg * o * profile, p[2] - d])
            row_of.append(-1)
            side.append(sg)
        n = len(loop)
        for q in range(n):
            polys.append([prev[q], prev[(q + 1) % n], ring[(q + 1) % n], ring[q]])
        prev = ring
    back = len(verts)
    verts.append([0.0, MOUTH_Y, z_front - depth[-1] - 0.004])
    row_of.append(-1)
    side.append(0)
    for q in range(len(prev)):
        polys.append([prev[q], prev[(q + 1) % len(prev)], back, -1])
    n_bag = len(verts) - n_skin

    parts = [0] * n_skin + [3] * n_bag
    polar = [np.nan] * len(verts)
    uvs = {}

    def add(vs, ps, part, uv, pol=None, sg=0):
        base = len(verts)
        verts.extend(vs)
        polys.extend(np.where(ps >= 0, ps + base, -1).tolist())
        parts.extend([part] * len(vs))
        row_of.extend([-1] * len(vs))
        side.extend([sg] * len(vs))
        polar.extend(pol if pol is not None else [np.nan] * len(vs))
        for k, u in enumerate(uv):
            uvs[base + k] = u

    for e in (0, 1):
        vs, ps, pol, uv = _uv_sphere(REST_JOINTS[3 + e], (EYE_RADIUS,) * 3, 24, 16)
        add(vs, ps, 1 + e, uv * 0.24 + [0.005 + 0.25 * e, 0.005], pol)
    arch = lambda dz: (lambda x: z_front - dz - 0.012 * (x / 0.018) ** 2)  # noqa: E731
    vs, ps = _bent_box(0.018, arch(0.0072), MOUTH_Y + 0.0004, MOUTH_Y + 0.0090, 0.0035)
    add(vs, ps, 4, _box_uv(vs, 0.5), sg=1)
    vs, ps = _bent_box(0.0165, arch(0.0112), MOUTH_Y - 0.0085, MOUTH_Y + 0.0002, 0.0035)
    add(vs, ps, 4, _box_uv(vs, 0.625), sg=-1)
    vs, ps, _, uv = _uv_sphere((0, MOUTH_Y - 0.0078, z_front - 0.034), (0.0150, 0.0048, 0.018), 16, 10)
    add(vs, ps, 5, uv * 0.12 + [0.755, 0.005], sg=-1)

    hair_start = len(verts)
    vs, ps, uv, lift = _hair(grid, rows, phi)
    add(vs, ps, 6, uv)

    v = np.array(verts, np.float64)
    v[:n_skin] = _shape_eye_region(v[:n_skin])
    skin_tris = triangulate(np.array(polys))
    skin_tris = skin_tris[np.all(skin_tris < n_skin, axis=1)]
    for side_ in (0, 1):
        vs, ps, uv = _brow(v, skin_tris, side_)
        add(vs, ps, 7, uv)
    v = np.vstack([v, np.array(verts[len(v):], np.float64)])
    polys = _orient(np.array(polys), v)

    mid = np.abs(grid[mouth_row, mouth_cols, 0]) < 0.005
    tpl = Template(
        vertices=v, polys=polys, poly_uv=np.zeros((len(polys), 4, 2)),
        vertex_part=np.array(parts, np.int8), lip_side=np.array(side, np.int8),
        grid_row=np.array(row_of, np.int32), mouth_row=mouth_row,
        lip_upper_mid=np.sort(grid_idx[mouth_row, mouth_cols[mid]]),
        lip_lower_mid=np.sort(below_idx[mouth_row, mouth_cols[mid]]),
        eye_polar=np.array(polar, np.float64), hair_volume=np.zeros((len(v), 3)))
    tpl.hair_volume[hair_start:hair_start + len(lift)] = lift
    tpl.poly_uv = _poly_uvs(tpl, phi, n_rows, uvs)
    return tpl


HAIRLINE = ((0.0, 0.252), (0.45, 0.250), (0.8, 0.237), (1.1, 0.226), (1.35, 0.222), (1.75, 0.222),
            (2.2, 0.170), (2.6, 0.132), (np.pi, 0.126))  # (angle from the front, height) along the hair's edge


def _hair(grid, rows, phi, n_rows=12, step=2):
    """A closed hair shell over the scalp: thick at the crown, thin at a smooth hairline."""
    cols = np.arange(0, len(phi), step)
    edge = np.interp(np.abs(phi[cols]), *zip(*HAIRLINE))
    origins = np.array([o for o, _ in rows])
    elev = np.array([e for _, e in rows])
    origins_, dirs_, fracs = [], [], []
    for jj, j in enumerate(cols):
        heights = grid[:, j, 1]
        r_end = np.interp(-edge[jj], -heights, np.arange(len(rows)))  # fractional row at the hairline
        for s in np.linspace(0, 1, n_rows + 1)[1:]:
            r = r_end * s ** 0.85
            k = min(int(r), len(rows) - 2)
            f = r - k
            e = elev[k] * (1 - f) + elev[k + 1] * f
            origins_.append(origins[k] * (1 - f) + origins[k + 1] * f)
            dirs_.append([np.cos(e) * np.sin(phi[j]), np.sin(e), np.cos(e) * np.cos(phi[j])])
            fracs.append(s)
    p = _raycast(np.array(origins_), np.array(dirs_))
    n = _normal(p)
    fracs = np.array(fracs)[:, None]
    outer = p + n * (0.0012 + 0.0125 * (1 - fracs ** 2.2))
    inner = p - n * 0.0006
    volume = n * (1 - fracs ** 2)  # where fuller hair grows: most at the crown, none at the hairline
    top = _raycast(np.array([[0.0, CROWN_Y, AXIS_Z]]), np.array([[0.0, 1.0, 0.0]]))[0]
    nc = len(cols)
    outer = np.array(outer).reshape(nc, n_rows, 3).transpose(1, 0, 2)
    inner = np.array(inner).reshape(nc, n_rows, 3).transpose(1, 0, 2)
    verts = np.vstack([[top + [0, 0.0084, 0]], outer.reshape(-1, 3), [top - [0, 0.0006, 0]], inner.reshape(-1, 3)])
    o_idx = 1 + np.arange(n_rows * nc).reshape(n_rows, nc)
    i_idx = o_idx + n_rows * nc + 1
    polys = []
    for j in range(nc):
        k = (j + 1) % nc
        polys.append([0, o_idx[0, k], o_idx[0, j], -1])
        polys.append([n_rows * nc + 1, i_idx[0, j], i_idx[0, k], -1])
        for r in range(n_rows - 1):
            polys.append([o_idx[r, j], o_idx[r, k], o_idx[r + 1, k], o_idx[r + 1, j]])
            polys.append([i_idx[r, k], i_idx[r, j], i_idx[r + 1, j], i_idx[r + 1, k]])
        polys.append([o_idx[-1, j], o_idx[-1, k], i_idx[-1, k], i_idx[-1, j]])
    u = np.concatenate([[0.5], np.tile((phi[cols] + np.pi) / (2 * np.pi), n_rows)])
    w = np.concatenate([[1.0], np.repeat(1 - np.linspace(0, 1, n_rows + 1)[1:], nc)])
    uv = np.tile(np.stack([0.88 + 0.115 * u, 0.005 + 0.24 * w], -1), (2, 1))
    volume = volume.reshape(nc, n_rows, 3).transpose(1, 0, 2).reshape(-1, 3)
    lift = np.vstack([[0, 1, 0], volume, np.zeros((1 + len(volume), 3))])
    return verts, np.array(polys), uv, lift


def _brow(v, tris, side, n=15):
    """A thin closed eyebrow on the skin above eye ``side``: thick at the inner end, tapering outwards."""
    c = REST_JOINTS[3 + side]
    sign = 1.0 if side == 0 else -1.0
    dx = np.linspace(-0.0165, 0.021, n)
    t = (dx - dx[0]) / (dx[-1] - dx[0])
    arc = 0.0168 + 0.0034 * (1 - ((dx - 0.003) / 0.019) ** 2)
    half = (0.0027 - 0.0013 * t) * np.sqrt(np.clip(1 - (2 * t - 1) ** 8, 0.12, 1))
    across = np.array([1.0, 0.0, -1.0])
    xy = np.stack([np.broadcast_to((c[0] + sign * dx)[:, None], (n, 3)),
                   c[1] + arc[:, None] + half[:, None] * across], -1).reshape(-1, 2)
    surface = _project_z(xy, v, tris)
    lift = np.tile([0.0007, 0.0012, 0.0007], n)[:, None] * [0, 0, 1]
    top = (surface + lift).reshape(n, 3, 3)
    bottom = (surface - [0, 0, 0.0005]).reshape(n, 3, 3)
    verts, polys = _slab(top, bottom)
    uv = np.concatenate([np.stack([0.755 + 0.12 * np.repeat(t, 3), 0.13 + 0.05 * np.tile([1, 0.5, 0], n)], -1)] * 2)
    return verts, polys, uv + [0, 0.06 * side]


def _project_z(xy, v, tris):
    """Front-most point of the triangle mesh straight behind each (x, y): a ray along -Z (Moller-Trumbore)."""
    a, b, c = v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]]
    near = (np.abs(a[:, 0, None] - xy[None, :, 0]).min(1) < 0.01) & (a[:, 2] > 0.02)
    a, b, c = a[near], b[near], c[near]
    origin = np.concatenate([xy, np.full((len(xy), 1), 0.3)], 1)
    d = np.array([0.0, 0.0, -1.0])
    e1, e2 = b - a, c - a
    pvec = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, pvec)
    ok = np.abs(det) > 1e-14
    inv = np.where(ok, 1 / np.where(ok, det, 1), 0)
    tvec = origin[:, None] - a[None]
    u = np.einsum("pij,ij->pi", tvec, pvec) * inv
    qvec = np.cross(tvec, e1[None])
    w = np.einsum("pij,j->pi", qvec, d) * inv
    dist = np.einsum("pij,ij->pi", qvec, e2) * inv
    hit = ok & (u >= 0) & (w >= 0) & (u + w <= 1) & (dist > 0)
    dist = np.where(hit, dist, np.inf).min(1)
    if not np.all(np.isfinite(dist)):
        raise AssertionError("an eyebrow point misses the skin")
    return origin + dist[:, None] * d


def _slab(top, bottom):
    """Closed mesh between two [n, m, 3] grids: both faces plus the walls around their rim."""
    n, m = top.shape[:2]
    verts = np.concatenate([top.reshape(-1, 3), bottom.reshape(-1, 3)])
    t = np.arange(n * m).reshape(n, m)
    b = t + n * m
    polys = []
    for i in range(n - 1):
        for j in range(m - 1):
            polys.append([t[i, j], t[i + 1, j], t[i + 1, j + 1], t[i, j + 1]])
            polys.append([b[i, j], b[i, j + 1], b[i + 1, j + 1], b[i + 1, j]])
    rim = ([(0, j) for j in range(m)] + [(i, m - 1) for i in range(1, n)]
           + [(n - 1, j) for j in range(m - 2, -1, -1)] + [(i, 0) for i in range(n - 2, 0, -1)])
    for k in range(len(rim)):
        p, q = rim[k], rim[(k + 1) % len(rim)]
        polys.append([t[p], t[q], b[q], b[p]])
    return verts, np.array(polys)


def _normal(p, h=1e-4):
    """Unit outward normals [N,3] of head_sdf at points [N,3] (central differences)."""
    g = np.stack([head_sdf(p + dp) - head_sdf(p - dp) for dp in np.eye(3) * h], -1)
    return g / np.linalg.norm(g, axis=-1, keepdims=True)


def _box_uv(vs, u0):
    x, y = vs[:, 0], vs[:, 1]
    u = (x - x.min()) / (np.ptp(x) + 1e-9)
    w = (y - y.min()) / (np.ptp(y) + 1e-9)
    return np.stack([u0 + 0.12 * u, 0.13 + 0.1 * w], -1)


def _poly_uvs(tpl: Template, phi, n_rows, part_uv):
    """Per-corner UVs: the skin unrolled around the head (seam at the back), other parts packed below."""
    v = tpl.vertices
    uv = np.zeros((len(v), 2))
    n_skin = int(np.sum(tpl.vertex_part == 0))
    ang = np.arctan2(v[:, 0], v[:, 2] - AXIS_Z)
    row = np.where(tpl.grid_row >= 0, tpl.grid_row, np.where(v[:, 1] > 0.1, -1, n_rows))
    uv[:, 0] = (ang + np.pi) / (2 * np.pi)
    uv[:, 1] = 1 - (row + 1) / (n_rows + 1) * 0.72
    bag = tpl.vertex_part == 3
    uv[bag] = np.stack([0.5 + 0.24 * (v[bag, 0] + 0.03) / 0.06, 0.005 + 0.1 * (v[bag, 1] - 0.1) / 0.04], -1)
    for k, u in part_uv.items():
        uv[k] = u
    puv = uv[np.maximum(tpl.polys, 0)]
    on_skin = np.all(np.where(tpl.polys >= 0, tpl.polys < n_skin, True), axis=1) & ~np.any(bag[tpl.polys], 1)
    u = puv[..., 0]
    # The crown and neck-cap fans: the pole takes the u of its triangle's other corners.
    pole = on_skin[:, None] & (tpl.grid_row[tpl.polys] < 0) & (tpl.polys >= 0) & (tpl.vertex_part[tpl.polys] == 0)
    real = (tpl.polys >= 0) & ~pole
    span = np.where(real, u, -np.inf).max(1) - np.where(real, u, np.inf).min(1)
    wrap = on_skin & (span > 0.5)
    puv[wrap, :, 0] = np.where(u[wrap] < 0.5, u[wrap] + 1, u[wrap])
    for f, k in zip(*np.nonzero(pole)):
        puv[f, k, 0] = puv[f, [c for c in range(3) if c != k], 0].mean()
    puv[on_skin, :, 0] *= 0.98
    puv[tpl.polys < 0] = 0
    return puv


def _orient(polys, v):
    """Make every closed part's winding consistent and outward (checked by its signed volume)."""
    polys = polys.copy()
    n = len(polys)
    edge_owner: dict[tuple[int, int], list[int]] = {}
    for f, p in enumerate(polys):
        q = p[p >= 0]
        for a, b in zip(q, np.roll(q, -1)):
            edge_owner.setdefault((min(a, b), max(a, b)), []).append(f)
    seen = np.zeros(n, bool)
    for start in range(n):
        if seen[start]:
            continue
        comp, stack = [start], [start]
        seen[start] = True
        while stack:
            f = stack.pop()
            q = polys[f][polys[f] >= 0]
            for a, b in zip(q, np.roll(q, -1)):
                for g in edge_owner[(min(a, b), max(a, b))]:
                    if seen[g]:
                        continue
                    r = polys[g][polys[g] >= 0]
                    same = any(x == a and y == b for x, y in zip(r, np.roll(r, -1)))
                    if same:  # neighbour runs the shared edge the same way: flip it
                        polys[g][: len(r)] = r[::-1]
                    seen[g] = True
                    comp.append(g)
                    stack.append(g)
        tris = triangulate(polys[comp])
        a, b, c = v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]]
        if np.einsum("ij,ij->i", a, np.cross(b, c)).sum() < 0:
            for g in comp:
                r = polys[g][polys[g] >= 0]
                polys[g][: len(r)] = r[::-1]
    return polys


def triangulate(polys):
    """[P,4] polygons (-1 pads triangles) -> [F,3] triangles, quads split along their first diagonal."""
    polys = np.asarray(polys)
    first = polys[:, [0, 1, 2]]
    quads = polys[polys[:, 3] >= 0]
    return np.concatenate([first, quads[:, [0, 2, 3]]])
