"""`duet bake` into a new scene with the open heads: the baked-scene contract of docs/formats.md, checked by
re-opening the .blend, plus the GLB in the conversation frame and the Live Link CSVs beside it."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from duet.audio.turns import floor_changes
from duet.frames import conv_to_blender
from duet.rigs.kinematics import forward
from tests.conftest import ROOT, run_duet
from tests.test_bake import SAMPLE_FRAMES, _accessor, _glb_json_and_bin, inspect_blend
from tests.bake_support import run_blender, synthetic_motion

pytestmark = pytest.mark.blender

CONTRACT = r'''
from bpy_extras.object_utils import world_to_camera_view
bpy.ops.wm.open_mainfile(filepath=BLEND)
scene = bpy.context.scene
out = {}
for ob in bpy.data.objects:
    if ob.type == "ARMATURE":
        mesh = [c for c in ob.children if c.type == "MESH"][0]
        out[ob.get("duet_person")] = {"bones": sorted(b.name for b in ob.data.bones),
                                      "groups": sorted(g.name for g in mesh.vertex_groups),
                                      "n_keys": len(mesh.data.shape_keys.key_blocks) - 1,
                                      "in_view": [list(world_to_camera_view(scene, scene.camera, ob.matrix_world @ b.head))
                                                  for b in ob.pose.bones if b.name.startswith("eye")]}
out["markers"] = sorted([m.name, m.frame] for m in scene.timeline_markers)
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def scene_bake(tmp_path_factory):
    d = tmp_path_factory.mktemp("scene_bake")
    motion = synthetic_motion(seconds=3.0, seed=11)
    motion.meta["audio"] = ["talk.wav"]
    motion.save(d / "talk.npz")
    t = np.arange(3 * 16000) / 16000
    sf.write(d / "talk.wav", (0.2 * np.sin(2 * np.pi * 180 * t) * (t % 1 < 0.6)).astype(np.float32), 16000)
    r = run_duet("bake", d / "talk.npz", "-o", d / "scene.blend", "--glb", d / "scene.glb",
                 "--livelink", d / "ll")
    assert r.rc == 0, r.err
    return d, motion


def test_scene_meets_the_baked_scene_contract(scene_bake):
    d, motion = scene_bake
    info = inspect_blend(d / "scene.blend")
    assert info["fps"] == pytest.approx(25.0) and info["frame_start"] == 1
    assert info["frame_end"] == motion.n_frames
    assert info["sound_strips"] == [["talk", 1, 1.0, True]]  # the audio is packed into the .blend
    contract = run_blender(f"BLEND = {str(d / 'scene.blend')!r}\n" + CONTRACT)
    for person in "AB":
        c = contract[person]
        assert c["bones"] == ["eye_L", "eye_R", "jaw", "neck", "root"]
        assert {"lip_upper_mid", "lip_lower_mid"} <= set(c["groups"]) and c["n_keys"] >= 52
        for x, y, z in c["in_view"]:  # the camera frames both heads
            assert 0.05 < x < 0.95 and 0.05 < y < 0.95 and z > 0
    # the timeline marks where each turn begins (frame 1 is t = 0)
    turns = floor_changes(np.stack([motion.A.speaking, motion.B.speaking]))
    assert len(turns) >= 2 and contract["markers"] == sorted([f"talk: {p}", 1 + round(t * 25)] for p, t in turns)
    arm = {o["person"]: name for name, o in info["objects"].items() if o["person"]}
    for person in "AB":  # each head plays the take as an NLA strip on Duet's track, named after the motion file
        assert info["objects"][arm[person]]["action"] is None
        assert info["objects"][arm[person]]["nla"] == [["talk", [f"Duet {person}"]]]
    for person in "AB":
        p = motion.person(person)
        rot, pos = forward(p.poses, p.transl)
        mesh = next(n for n, o in info["objects"].items() if o["type"] == "MESH" and o["key_nla"] == [["talk", [f"Duet {person}"]]])
        for f in SAMPLE_FRAMES:
            frame = info["frames"][str(f)]
            got = np.array([frame[arm[person]]["heads"][b] for b in ("root", "neck", "jaw", "eye_L", "eye_R")])
            np.testing.assert_allclose(got, conv_to_blender(pos[f]), atol=2e-5)
            gaze = conv_to_blender(rot[f, 3] @ [0.0, 0.0, 1.0])
            np.testing.assert_allclose(frame[arm[person]]["y_axes"]["eye_L"], gaze, atol=2e-5)
            keys = frame[mesh]["keys"]
            for i, name in enumerate(motion.expr_names):
                assert keys[name] == pytest.approx(float(p.expr[f, i]), abs=1e-5), (person, f, name)


def test_glb_of_the_scene_is_valid_and_in_the_conversation_frame(scene_bake):
    d, motion = scene_bake
    node = shutil.which("node")
    assert node, "node is needed for the Khronos glTF validator (tools/bootstrap.sh)"
    v = subprocess.run([node, str(ROOT / "tools" / "gltf_validate.js"), str(d / "scene.glb")],
                       capture_output=True, text=True, timeout=120)
    report = json.loads(v.stdout.strip().splitlines()[-1])
    assert report["errors"] == 0, report["messages"]
    assert report["animations"] == 2
    doc, binary = _glb_json_and_bin(d / "scene.glb")
    anims = {a["name"]: a for a in doc["animations"]}
    assert set(anims) == {"Duet A", "Duet B"}
    for person in "AB":
        ch = next(c for c in anims[f"Duet {person}"]["channels"]
                  if doc["nodes"][c["target"]["node"]]["name"] == "root" and c["target"]["path"] == "translation")
        sampler = anims[f"Duet {person}"]["samplers"][ch["sampler"]]
        times = _accessor(doc, binary, sampler["input"])[:, 0]
        values = _accessor(doc, binary, sampler["output"])
        assert times[0] == pytest.approx(0.0) and times[-1] == pytest.approx((motion.n_frames - 1) / motion.fps)
        # glTF is +Y up like the conversation frame: the root sits at the motion's translation
        np.testing.assert_allclose(values[SAMPLE_FRAMES], motion.person(person).transl[SAMPLE_FRAMES], atol=1e-5)


def test_livelink_beside_the_scene(scene_bake):
    from duet.exports.livelink import timecodes

    d, motion = scene_bake
    for person in "AB":
        with open(d / "ll" / f"{person}.csv", newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0][:2] == ["Timecode", "BlendShapeCount"] and len(rows) == motion.n_frames + 1
        assert [r[0] for r in rows[1:]] == timecodes(motion.n_frames, motion.fps)
        col = {name: np.array([float(r[i]) for r in rows[1:]]) for i, name in enumerate(rows[0]) if i >= 2}
        m = motion.person(person)
        # columns are read by name, as importers should: each carries its own channel's curve
        smile = m.expr[:, list(motion.expr_names).index("mouthSmileLeft")]
        np.testing.assert_allclose(col["MouthSmileLeft"], smile, atol=1e-5)
        # the jaw joint's opening becomes JawOpen (docs/formats.md: 0.35 rad = 1), added to the channel's own
        jaw = np.clip(m.poses["jaw"][:, 0] / 0.35, 0, 1) + m.expr[:, list(motion.expr_names).index("jawOpen")]
        np.testing.assert_allclose(col["JawOpen"], np.clip(jaw, 0, 1), atol=1e-5)
        assert np.ptp(col["HeadYaw"]) > 0.01 and np.ptp(col["LeftEyePitch"]) > 0.01  # head and eyes move


def test_preview_video_has_both_streams(scene_bake):
    d, _ = scene_bake
    run_blender(f"""
from duet.render.preview import render_preview
render_preview({str(d / 'scene.blend')!r}, {str(d / 'preview.mp4')!r}, size=(320, 180), seconds=1.0)
print(json.dumps({{"ok": True}}))
""")
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height,nb_frames",
                            "-of", "json", str(d / "preview.mp4")], capture_output=True, text=True, check=True)
    streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
    assert set(streams) == {"video", "audio"}
    assert (streams["video"]["width"], streams["video"]["height"]) == (320, 180)
    assert int(streams["video"]["nb_frames"]) == 25
