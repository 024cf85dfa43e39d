"""The open heads built in real Blender (bpy wheel, fresh process each): contract and equality with numpy."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from duet.arkit import ARKIT_52
from duet.frames import conv_to_blender
from duet.motion import JOINTS
from duet.rigs import openhead

pytestmark = pytest.mark.blender


def _blender(script: str, tmp_path) -> dict:
    """Run ``script`` in a fresh Python with bpy; it writes its results as JSON to ``OUT``."""
    out = tmp_path / "result.json"
    code = f"OUT = {str(out)!r}\n" + textwrap.dedent(script)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(out.read_text())


def _motion(n=3, seed=0):
    rng = np.random.default_rng(seed)
    expr = rng.uniform(-0.2, 1.0, (n, 52))
    poses = {j: rng.normal(0, 0.25, (n, 3)) for j in JOINTS}
    transl = rng.normal(0, 0.5, (n, 3))
    return expr, poses, transl


POSE_SCRIPT = """
import json, numpy as np, bpy
from duet.blender import rig
bpy.ops.wm.read_factory_settings(use_empty=True)
data = json.loads({data!r})
arms = {{p: rig.build_head(p) for p in ("A", "B")}}
out = {{}}
for p, arm in arms.items():
    mesh = rig.mesh_of(arm)
    keys = mesh.data.shape_keys.key_blocks
    frames = []
    for t in range(len(data["expr"])):
        for i, name in enumerate(data["names"]):
            keys[name].value = data["expr"][t][i]
        rig.set_pose(arm, {{j: np.array(v) for j, v in data["poses"].items()}}, np.array(data["transl"]), frame=t)
        frames.append(rig.evaluated_vertices(arm).tolist())
        gaze = [list(arm.matrix_world.to_3x3() @ arm.pose.bones[b].matrix.to_3x3().col[1]) for b in ("eye_L", "eye_R")]
    out[p] = {{"verts": frames, "gaze_last": gaze}}
json.dump(out, open(OUT, "w"))
"""


def test_blender_heads_equal_numpy_forward(tmp_path):
    expr, poses, transl = _motion()
    data = json.dumps({"names": list(ARKIT_52), "expr": expr.tolist(),
                       "poses": {j: v.tolist() for j, v in poses.items()}, "transl": transl.tolist()})
    res = _blender(POSE_SCRIPT.format(data=data), tmp_path)
    for person in ("A", "B"):
        head = openhead.load(person)
        want = conv_to_blender(openhead.forward(head, expr, poses, transl))
        got = np.array(res[person]["verts"])
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 1e-5
        # an eye bone's +Y is its gaze
        _, dirs = openhead.gaze(head, poses, transl)
        np.testing.assert_allclose(np.array(res[person]["gaze_last"]), conv_to_blender(dirs[-1]), atol=1e-5)


CONTRACT_SCRIPT = """
import json, bpy
from duet.blender import rig
bpy.ops.wm.read_factory_settings(use_empty=True)
arm = rig.build_head("B", name="Person B")
mesh = rig.mesh_of(arm)
keys = mesh.data.shape_keys.key_blocks
json.dump({
    "type": arm.type, "person": arm["duet_person"],
    "bones": {b.name: (b.parent.name if b.parent else None) for b in arm.data.bones},
    "children": [c.type for c in arm.children],
    "keys": [k.name for k in keys], "sliders": [[k.slider_min, k.slider_max, k.value] for k in keys[1:]],
    "groups": {g.name: sum(1 for v in mesh.data.vertices for x in v.groups if x.group == g.index)
               for g in mesh.vertex_groups},
    "materials": [m.name for m in mesh.data.materials],
    "uv": [l.name for l in mesh.data.uv_layers],
    "modifiers": [(m.type, m.object.name) for m in mesh.modifiers],
    "n_verts": len(mesh.data.vertices), "quads": sum(1 for p in mesh.data.polygons if len(p.vertices) == 4),
    "polys": len(mesh.data.polygons),
}, open(OUT, "w"))
"""


def test_blender_head_meets_the_baked_scene_contract(tmp_path):
    res = _blender(CONTRACT_SCRIPT, tmp_path)
    assert res["type"] == "ARMATURE" and res["person"] == "B"
    assert res["bones"] == {"root": None, "neck": "root", "jaw": "neck", "eye_L": "neck", "eye_R": "neck"}
    assert res["children"] == ["MESH"]
    assert res["keys"] == ["Basis", *ARKIT_52]
    assert all(lo <= -1 and hi >= 2 and v == 0 for lo, hi, v in res["sliders"])
    head = openhead.load("B")
    assert res["n_verts"] == len(head.vertices)
    assert res["quads"] > 0.9 * res["polys"]
    groups = res["groups"]
    assert 1 <= groups["lip_upper_mid"] <= 6 and groups["lip_lower_mid"] == groups["lip_upper_mid"]
    for bone in ("root", "neck", "jaw", "eye_L", "eye_R"):
        assert groups[bone] > 0
    assert groups["eye_L"] == int(np.sum(head.weights[:, 3] > 0))
    assert len(res["materials"]) == len(openhead.MATERIALS) and res["uv"] == ["UVMap"]
    assert res["modifiers"] == [["ARMATURE", "Person B"]]


def test_pictures_show_two_different_heads(tmp_path):
    """A tiny render: both heads appear (skin-coloured pixels in each cell) and they differ."""
    from PIL import Image

    png = tmp_path / "row.png"
    _blender(f"""
import json
from duet.blender.rig_pictures import Cell, render_row
render_row([Cell("A", "A"), Cell("B", "B", {{"jawOpen": 1.0}})], {str(png)!r}, height_px=96, samples=2)
json.dump({{}}, open(OUT, "w"))
""", tmp_path)
    img = np.asarray(Image.open(png).convert("RGB"), np.float64) / 255
    h, w, _ = img.shape
    assert h == 96 and abs(w - 2 * 96 * 0.22 / 0.30) <= 1
    left, right = img[:, : w // 2], img[:, w // 2:]
    face = slice(int(0.3 * h), int(0.7 * h))
    for half in (left, right):
        centre = half[face, half.shape[1] // 3: 2 * half.shape[1] // 3]
        assert np.mean(centre[..., 0] - centre[..., 2]) > 0.05  # warm skin, not the grey background
    assert np.abs(left[face].mean((0, 1)) - right[face].mean((0, 1))).max() > 0.03  # different people
