"""The FLAME loader on a small synthetic model in FLAME's file schema, checked against smplx itself."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from duet.errors import DuetError
from duet.motion import JOINTS
from duet.rigs import flame, openhead

JOINT_POS = np.array([[0, 0, 0], [0, 0.09, -0.015], [0, 0.16, 0.005], [0.032, 0.19, 0.072],
                      [-0.032, 0.19, 0.072]])


def _synthetic_flame(folder, n_comp=20, seed=0):
    """An ellipsoid 'head' with FLAME's arrays: 5 joints, jaw-weighted lower face, random smooth bases."""
    import scipy.sparse

    rng = np.random.default_rng(seed)
    n_seg, n_ring = 24, 14
    th = np.linspace(0, np.pi, n_ring + 1)[1:-1]
    ph = np.linspace(0, 2 * np.pi, n_seg, endpoint=False)
    t, p = np.meshgrid(th, ph, indexing="ij")
    unit = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], -1).reshape(-1, 3)
    unit = np.vstack([[0, 1, 0], unit, [0, -1, 0]])
    v = unit * [0.075, 0.11, 0.095] + [0, 0.17, 0.0]
    ring = lambda i, j: 1 + i * n_seg + j % n_seg  # noqa: E731
    f = []
    for j in range(n_seg):
        f.append([0, ring(0, j), ring(0, j + 1)])
        for i in range(n_ring - 2):
            f += [[ring(i, j), ring(i + 1, j), ring(i + 1, j + 1)], [ring(i, j), ring(i + 1, j + 1), ring(i, j + 1)]]
        f.append([len(v) - 1, ring(n_ring - 2, j + 1), ring(n_ring - 2, j)])
    n = len(v)
    w = np.zeros((n, 5))
    jaw = (v[:, 1] < 0.14) & (v[:, 2] > 0.02)
    w[:, 1] = 1.0
    w[jaw, 1], w[jaw, 2] = 0.2, 0.8
    low = (v[:, 1] < 0.09) & ~jaw
    w[low, 0], w[low, 1] = 0.7, 0.3
    for k, x in ((3, 1), (4, -1)):
        near = np.linalg.norm(v - JOINT_POS[k] - [0, 0, 0.02], axis=1) < 0.02
        w[near] = 0
        w[near, k] = 1
    assert np.allclose(w.sum(1), 1)
    jreg = np.zeros((5, n))
    for k in range(5):
        idx = np.argsort(np.linalg.norm(v - JOINT_POS[k], axis=1))[:4]
        jreg[k, idx] = 0.25
    model = {
        "v_template": v, "f": np.array(f, np.uint32),
        "shapedirs": rng.normal(0, 0.004, (n, 3, n_comp)),
        "posedirs": rng.normal(0, 0.002, (n, 3, 36)),
        "J_regressor": scipy.sparse.csc_matrix(jreg),
        "weights": w, "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.uint32),
    }
    with open(folder / "FLAME_NEUTRAL.pkl", "wb") as fh:
        pickle.dump(model, fh, protocol=2)
    # smplx.FLAME also reads the landmark embedding; two landmarks are enough for it.
    with open(folder / "flame_static_embedding.pkl", "wb") as fh:
        pickle.dump({"lmk_face_idx": np.array([0, 5]), "lmk_b_coords": np.full((2, 3), 1 / 3)}, fh)
    return folder / "FLAME_NEUTRAL.pkl"


def test_flame_loader_matches_smplx(tmp_path):
    import smplx
    import torch
    path = _synthetic_flame(tmp_path)
    rng = np.random.default_rng(3)
    n = 4
    betas = rng.normal(0, 1, 10)
    expr = rng.normal(0, 1, (n, 10))
    poses = {j: rng.normal(0, 0.25, (n, 3)) for j in JOINTS}
    transl = rng.normal(0, 0.3, (n, 3))

    model = smplx.FLAME(model_path=str(tmp_path), num_betas=10, num_expression_coeffs=10, batch_size=n)
    f32 = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        ref = model(betas=f32(np.tile(betas, (n, 1))), expression=f32(expr), global_orient=f32(poses["global"]),
                    neck_pose=f32(poses["neck"]), jaw_pose=f32(poses["jaw"]),
                    leye_pose=f32(poses["eye_L"]), reye_pose=f32(poses["eye_R"]), transl=f32(transl))
    head = flame.load(path, betas=betas)
    assert head.basis == "flame" and len(head.expr_names) == 10 and head.expr_names[0] == "flame_exp_000"
    ours = openhead.forward(head, expr, poses, transl)
    assert np.abs(ours - ref.vertices.numpy()).max() < 2e-5
    # rest joints are FLAME's regressed joints of the identity
    np.testing.assert_allclose(head.joints, model.J_regressor.numpy() @ head.vertices, atol=1e-6)


def test_flame_lip_groups_and_folder_lookup(tmp_path):
    _synthetic_flame(tmp_path)
    head = flame.load(tmp_path)  # a folder works too
    assert len(head.lip_upper_mid) == 2 and len(head.lip_lower_mid) == 2
    assert np.all(head.weights[head.lip_lower_mid, 2] > 0.5) and np.all(head.weights[head.lip_upper_mid, 2] < 0.5)
    rest = openhead.lip_gap(head, head.vertices)
    opened = openhead.lip_gap(head, openhead.forward(head, np.zeros((1, 10)), {"jaw": [[0.3, 0, 0]]}, np.zeros(3)))
    assert opened[0] > rest + 0.005


def test_flame_loader_rejects_bad_files(tmp_path):
    with pytest.raises(DuetError, match="no such FLAME"):
        flame.load(tmp_path / "missing.pkl")
    with pytest.raises(DuetError, match="no FLAME model file here"):
        flame.load(tmp_path)
    bad = tmp_path / "FLAME_NEUTRAL.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(DuetError, match="not a FLAME model file"):
        flame.load(bad)
    with open(bad, "wb") as fh:
        pickle.dump({"v_template": np.zeros((4, 3))}, fh)
    with pytest.raises(DuetError, match="missing f, shapedirs"):
        flame.load(bad)


@pytest.mark.blender
def test_flame_head_in_blender(tmp_path):
    """Built in Blender: FLAME expression keys and joints; equal to numpy without the correctives."""
    import dataclasses
    import json
    import subprocess
    import sys

    from duet.frames import conv_to_blender

    path = _synthetic_flame(tmp_path)
    rng = np.random.default_rng(5)
    expr = rng.normal(0, 1, (1, 10))
    poses = {j: rng.normal(0, 0.2, (1, 3)) for j in JOINTS}
    out = tmp_path / "res.json"
    script = f"""
import json, numpy as np, bpy
from duet.blender import rig
bpy.ops.wm.read_factory_settings(use_empty=True)
arm = rig.build_flame({str(path)!r}, person="B")
mesh = rig.mesh_of(arm)
keys = mesh.data.shape_keys.key_blocks
for i, v in enumerate({expr[0].tolist()!r}):
    keys[f"flame_exp_{{i:03d}}"].value = v
rig.set_pose(arm, {{k: np.array(v) for k, v in {json.dumps({k: v.tolist() for k, v in poses.items()})}.items()}})
json.dump({{"keys": [k.name for k in keys], "basis": arm["duet_basis"], "person": arm["duet_person"],
           "slider": [keys[1].slider_min, keys[1].slider_max],
           "verts": rig.evaluated_vertices(arm).tolist()}}, open({str(out)!r}, "w"))
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["basis"] == "flame" and res["person"] == "B"
    assert res["keys"] == ["Basis"] + [f"flame_exp_{i:03d}" for i in range(10)]
    assert res["slider"] == [-10.0, 10.0]
    head = dataclasses.replace(flame.load(path), posedirs=None, expr_joint_deltas=None)
    want = conv_to_blender(openhead.forward(head, expr, poses, np.zeros(3))[0])
    assert np.abs(np.array(res["verts"]) - want).max() < 1e-5
