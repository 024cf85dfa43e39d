"""The open heads in numpy: mesh quality, the 52 ARKit keys' regions, skinning, gaze, lips, identities."""

from __future__ import annotations

import numpy as np
import pytest

from duet.arkit import ARKIT_52
from duet.errors import DuetError
from duet.frames import rotmat
from duet.motion import JOINTS
from duet.rigs import openhead
from duet.rigs.openhead import PARTS


@pytest.fixture(scope="module")
def head():
    return openhead.load("A")


def _parts(head, *names):
    return np.isin(head.vertex_part, [PARTS.index(n) for n in names])


def test_mesh_is_closed_consistent_and_sized(head):
    assert 5000 <= len(head.vertices) <= 15000
    assert head.faces.min() >= 0 and head.faces.max() < len(head.vertices)
    edges = {}
    for f in head.faces:
        for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0])):
            edges[(a, b)] = edges.get((a, b), 0) + 1
    # closed and consistently wound: every directed edge once, and its reverse once
    assert all(c == 1 for c in edges.values())
    assert all((b, a) in edges for a, b in edges)
    # outward normals: each closed part has positive signed volume
    for part in range(len(PARTS)):
        tris = head.faces[head.vertex_part[head.faces[:, 0]] == part]
        if part == PARTS.index("mouth"):
            continue  # the mouth bag is sewn into the skin, not closed on its own
        v = head.vertices[tris]
        vol = np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6
        assert vol > 0, PARTS[part]
    assert 0.21 < np.ptp(head.vertices[:, 1]) < 0.40  # crown to neck cut, metres
    assert 0.13 < np.ptp(head.vertices[_parts(head, "skin"), 0]) < 0.19  # ear to ear


def test_uvs_and_materials_cover_the_mesh(head):
    assert head.uv.shape == (len(head.polys), 4, 2)
    used = head.uv[head.polys >= 0]
    assert used.min() >= 0 and used.max() <= 1
    mats = set(np.unique(head.poly_material))
    assert mats == set(range(len(openhead.MATERIALS)))


def test_weights_are_normalized_and_follow_parts(head):
    w = head.weights
    assert w.shape == (len(head.vertices), len(JOINTS))
    np.testing.assert_allclose(w.sum(1), 1, atol=1e-6)
    assert np.all(w[_parts(head, "eye_L"), 3] == 1) and np.all(w[_parts(head, "eye_R"), 4] == 1)
    assert np.all(w[_parts(head, "tongue"), 2] == 1)
    assert np.all(w[head.lip_lower_mid, 2] == 1) and np.all(w[head.lip_upper_mid, 2] == 0)
    crown = head.vertices[:, 1] > 0.25
    assert np.all(w[crown, 1] > 0.999)


# Where each key may move: eye keys near their eye, brows above the eyes, mouth keys around the mouth ...
def _region(name, head):
    v = head.vertices
    x, y, z = v.T
    j = head.joints
    if name.startswith("eye"):
        c = j[3] if name.endswith("Left") else j[4]
        return np.hypot(x - c[0], y - c[1]) < 0.035
    if name.startswith("brow"):
        return (y > 0.18) & (z > 0.04)
    if name.startswith("jaw"):  # the jaw's skinning region: lower face, chin and the front of the throat
        return (y < 0.15) & (y > 0.03) & (z > -0.01) & (np.abs(x) < 0.07)
    if name.startswith("mouth"):
        return (y < 0.175) & (y > 0.06) & (z > 0.0) & (np.abs(x) < 0.07)
    if name.startswith("cheek"):
        return (y < 0.19) & (y > 0.09) & (np.abs(x) > 0.01) & (z > 0.02)
    if name.startswith("nose"):
        return (y > 0.125) & (y < 0.22) & (np.abs(x) < 0.03) & (z > 0.07)
    if name == "tongueOut":
        return _parts(head, "tongue")
    raise AssertionError(name)


@pytest.mark.parametrize("name", ARKIT_52)
def test_each_channel_moves_only_its_region(head, name):
    d = np.linalg.norm(head.expr_deltas[ARKIT_52.index(name)], axis=1)
    moved = d > 1e-7
    assert d.max() > 0.0015, f"{name} barely moves ({d.max() * 1000:.2f} mm)"
    outside = moved & ~_region(name, head)
    assert not outside.any(), f"{name} moves {outside.sum()} vertices outside its region"
    x = head.vertices[:, 0]
    if name in ("jawLeft", "jawRight", "mouthLeft", "mouthRight"):
        return  # these shift the whole jaw or mouth sideways
    if name.endswith("Left"):
        assert not np.any(moved & (x < -0.005))
    if name.endswith("Right"):
        assert not np.any(moved & (x > 0.005))
    # mirrored pairs move mirrored amounts
    if name.endswith("Left"):
        other = np.linalg.norm(head.expr_deltas[ARKIT_52.index(name[:-4] + "Right")], axis=1)
        assert abs(other.sum() - d.sum()) < 0.02 * d.sum()


def test_jaw_open_key_is_the_jaw_joint(head):
    """jawOpen = jaw X-rotation / 0.35 rad: the key at 1 equals the jaw joint at 0.35 rad."""
    e = np.zeros((1, 52))
    e[0, ARKIT_52.index("jawOpen")] = 1
    by_key = openhead.forward(head, e, {}, np.zeros(3))[0]
    by_joint = openhead.forward(head, np.zeros((1, 52)), {"jaw": [[0.35, 0, 0]]}, np.zeros(3))[0]
    np.testing.assert_allclose(by_key, by_joint, atol=1e-6)


def test_forward_is_flame_order(head):
    """Expression offsets first, then rigid skinning about the joints, then translation."""
    rng = np.random.default_rng(1)
    e = rng.uniform(0, 1, (1, 52))
    aa = rng.normal(0, 0.3, 3)
    t = np.array([0.2, -0.1, 0.5])
    out = openhead.forward(head, e, {"global": aa[None]}, t[None])[0]
    v = head.vertices + np.einsum("e,evc->vc", e[0], head.expr_deltas)
    expect = (v - head.joints[0]) @ rotmat(aa).T + head.joints[0] + t
    np.testing.assert_allclose(out, expect, atol=1e-9)


def test_lip_groups_touch_at_rest_and_part_with_the_jaw(head):
    assert 1 <= len(head.lip_upper_mid) <= 6 and len(head.lip_lower_mid) == len(head.lip_upper_mid)
    v = head.vertices
    assert np.all(np.abs(v[head.lip_upper_mid, 0]) < 0.006)
    assert openhead.lip_gap(head, v) < 1e-9
    open_ = openhead.forward(head, np.zeros((3, 52)), {"jaw": [[0.1, 0, 0], [0.2, 0, 0], [0.35, 0, 0]]},
                             np.zeros(3))
    gaps = openhead.lip_gap(head, open_)
    assert 0.008 < gaps[0] < gaps[1] < gaps[2]
    assert 0.025 < gaps[2] < 0.05
    e = np.zeros((1, 52))
    e[0, ARKIT_52.index("mouthClose")] = 1
    closing = openhead.lip_gap(head, openhead.forward(head, e, {"jaw": [[0.2, 0, 0]]}, np.zeros(3)))
    assert closing[0] < gaps[1] - 0.008


def test_eyes_track_a_target_within_one_degree(head):
    rng = np.random.default_rng(2)
    n = 40
    targets = np.stack([rng.uniform(-1, 1, n), rng.uniform(-0.3, 0.7, n), rng.uniform(0.6, 2.0, n)], -1)
    poses = {"global": rng.normal(0, 0.1, (n, 3)), "neck": rng.normal(0, 0.15, (n, 3))}
    transl = rng.normal(0, 0.05, (n, 3))
    poses.update(openhead.look_at(head, targets, poses, transl))
    centres, dirs = openhead.gaze(head, poses, transl)
    want = targets[:, None] - centres
    cos = np.einsum("tec,tec->te", dirs, want) / np.linalg.norm(want, axis=-1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0
    # and the mesh's pupils really sit on that line of sight
    verts = openhead.forward(head, np.zeros((n, 52)), poses, transl)
    for k, part in ((0, "eye_L"), (1, "eye_R")):
        idx = np.nonzero(_parts(head, part))[0]
        front = idx[np.argmax(head.vertices[idx, 2])]  # the pupil's centre at rest
        to_pupil = verts[:, front] - centres[:, k]
        cosm = np.einsum("tc,tc->t", to_pupil, want[:, k]) / (
            np.linalg.norm(to_pupil, axis=-1) * np.linalg.norm(want[:, k], axis=-1))
        assert np.degrees(np.arccos(np.clip(cosm, -1, 1))).max() < 1.0


def _winding(points, verts, tris):
    """Generalized winding number of closed triangle mesh at ``points`` (1 inside, 0 outside)."""
    a, b, c = (verts[tris[:, i]][None] - points[:, None] for i in range(3))
    la, lb, lc = (np.linalg.norm(q, axis=-1) for q in (a, b, c))
    det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
    den = la * lb * lc + np.einsum("pfi,pfi->pf", a, b) * lc + np.einsum("pfi,pfi->pf", b, c) * la \
        + np.einsum("pfi,pfi->pf", c, a) * lb
    return np.arctan2(det, den).sum(1) / (2 * np.pi)


def _mouth_pocket(head, v):
    """The mouth bag closed over the lips' slit: a closed surface around the mouth's interior."""
    bag = head.faces[np.any(head.vertex_part[head.faces] == PARTS.index("mouth"), axis=1)]
    directed = {(a, b) for f in bag for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))}
    rim = [(a, b) for a, b in directed if (b, a) not in directed]
    assert len(rim) > 10  # the slit between the lips
    centre = len(v)
    cap = np.array([[b, a, centre] for a, b in rim])
    return np.vstack([v, v[np.unique(rim)].mean(0)]), np.vstack([bag, cap])


@pytest.mark.parametrize("combo", [
    {},
    {"jaw": 0.25, "mouthFunnel": 0.6},
    {"jaw": 0.12, "mouthSmileLeft": 0.8, "mouthSmileRight": 0.8},
    {"jaw": 0.05, "mouthPucker": 0.8},
    {"jaw": 0.3, "mouthStretchLeft": 0.5, "mouthStretchRight": 0.5, "mouthLowerDownLeft": 0.5,
     "mouthLowerDownRight": 0.5},
    {"mouthPressLeft": 0.7, "mouthPressRight": 0.7, "mouthRollLower": 0.5},
])
@pytest.mark.parametrize("person", ["A", "B"])
def test_speech_combinations_stay_clean(person, combo):
    """Teeth, tongue and eyeballs stay inside the skin and the lips never cross for typical speech poses."""
    head = openhead.load(person)
    e = np.zeros((1, 52))
    for k, val in combo.items():
        if k != "jaw":
            e[0, ARKIT_52.index(k)] = val
    v = openhead.forward(head, e, {"jaw": [[combo.get("jaw", 0.0), 0, 0]]}, np.zeros(3))[0]
    pts, tris = _mouth_pocket(head, v)
    inner = np.nonzero(_parts(head, "teeth", "tongue"))[0][::2]
    w = np.abs(_winding(v[inner], pts, tris))
    assert w.min() > 0.5, f"{np.sum(w < 0.5)} teeth/tongue vertices poke out of the mouth"
    up = v[head.lip_upper_mid].mean(0)
    lo = v[head.lip_lower_mid].mean(0)
    assert up[1] >= lo[1] - 1e-6


def test_identities_are_distinct_and_keep_the_joints():
    a, b = openhead.load("A"), openhead.load("B")
    d = np.linalg.norm(a.vertices - b.vertices, axis=1)
    assert d.max() > 0.008 and d.mean() > 0.0015
    assert openhead.LOOKS["A"]["skin"] != openhead.LOOKS["B"]["skin"]
    np.testing.assert_array_equal(a.joints, b.joints)
    eyes = _parts(a, "eye_L", "eye_R", "teeth", "tongue")
    np.testing.assert_allclose(a.vertices[eyes], b.vertices[eyes])
    # B's haircut is fuller than the plain head's (A's): on B's own face shape only the hair grows, 8 mm at the crown
    plain = openhead.load(None, betas=openhead.IDENTITIES["B"])
    grown = np.linalg.norm(b.vertices - plain.vertices, axis=1)
    assert abs(grown.max() - 0.008) < 1e-6 and not grown[~_parts(b, "hair")].any()
    custom = openhead.load(None, betas=np.r_[1.0, np.zeros(9)])
    mean = openhead.load(None, betas=np.zeros(10))
    assert np.ptp(custom.vertices[:, 0]) > np.ptp(mean.vertices[:, 0]) + 0.01


def test_bad_identity_is_a_clear_error():
    with pytest.raises(DuetError, match="unknown person"):
        openhead.load("C")
    with pytest.raises(DuetError, match="give a person"):
        openhead.load(None)
    with pytest.raises(DuetError, match="betas"):
        openhead.load(None, betas=np.ones(11))
    with pytest.raises(DuetError, match="betas"):
        openhead.load(None, betas=[np.nan])
