"""Baking into Blender: values in the saved .blend match the npz, a user's scene is baked through a
mapping without losing its own animation, and the GLB is valid and carries the same motion."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from duet.arkit import ARKIT_52, channels_from_joints
from duet.frames import axis_angle, conv_to_blender, rotmat
from duet.motion import DyadicMotion
from duet.rigs.kinematics import forward
from tests.conftest import ROOT, run_duet
from tests.bake_support import run_blender, synthetic_motion

pytestmark = pytest.mark.blender
SAMPLE_FRAMES = [0, 17, 40, 74]  # motion frame indices; scene frame = index + 1

USER_SCENE = r'''
from duet.arkit import ARKIT_52
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps = 25
hero = build_user_head("Hero", ["JawOpen", "eyeBlink_L", "eyeBlink_R", "Smile_Left", "BrowsUp"],
                       bones={"global": "Root", "neck": "Head", "jaw": "Jaw_bone", "eye_L": "Eye.L", "eye_R": "Eye.R"},
                       rolls={"neck": 0.5, "jaw": -1.0}, euler=True)
hero.location = (2.0, 0.5, 0.0)
hero.rotation_euler = (0.0, 0.0, 1.2)
# The user's own animation: a "mood" property on the armature and a blink on the face.
hero["mood"] = 0.0
hero.keyframe_insert('["mood"]', frame=1)
hero["mood"] = 0.75
hero.keyframe_insert('["mood"]', frame=30)
hero.animation_data.action.name = "HeroWobble"
face = hero.children[0]
kb = face.data.shape_keys.key_blocks["eyeBlink_L"]
kb.value = 0.0
kb.keyframe_insert("value", frame=1)
kb.value = 1.0
kb.keyframe_insert("value", frame=10)
face.data.shape_keys.animation_data.action.name = "HeroBlink"
# Person B: an ARKit-only bust (shape keys, no bones) somewhere in the room.
me = bpy.data.meshes.new("Bust")
me.from_pydata([(0, 0, 0), (0.1, 0, 0), (0, 0.1, 0), (0, 0, 0.1)], [], [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)])
bust = bpy.data.objects.new("Bust", me)
scene.collection.objects.link(bust)
bust.location = (-1.0, 0.0, 1.5)
bust.shape_key_add(name="Basis")
for k, name in enumerate(ARKIT_52):
    block = bust.shape_key_add(name=name, from_mix=False)
    block.data[k % 4].co.z += 0.01
bpy.ops.wm.save_as_mainfile(filepath=OUT)
print(json.dumps({"ok": True}))
'''

INSPECT = r'''
bpy.ops.wm.open_mainfile(filepath=BLEND)
scene = bpy.context.scene
out = {"fps": scene.render.fps / scene.render.fps_base, "frame_start": scene.frame_start,
       "frame_end": scene.frame_end, "frames": {}, "objects": {}}
for ob in bpy.data.objects:
    ad = ob.animation_data
    keys = ob.data.shape_keys if ob.type == "MESH" else None
    kad = keys.animation_data if keys is not None else None
    out["objects"][ob.name] = {
        "type": ob.type, "person": ob.get("duet_person"),
        "action": ad.action.name if ad and ad.action else None,
        "nla": [[t.name, [s.action.name for s in t.strips]] for t in ad.nla_tracks] if ad else [],
        "key_action": kad.action.name if kad and kad.action else None,
        "key_nla": [[t.name, [s.action.name for s in t.strips]] for t in kad.nla_tracks] if kad else [],
        "sliders": {kb.name: [kb.slider_min, kb.slider_max] for kb in keys.key_blocks} if keys else {},
    }
out["actions"] = {a.name: {"duet": a.get("duet_person"), "slots": [s.identifier for s in a.slots],
                           "groups": sorted({g.name for l in a.layers for st in l.strips for cb in st.channelbags
                                             for g in cb.groups}),
                           "interp": sorted({k.interpolation for l in a.layers for st in l.strips
                                             for cb in st.channelbags for fc in cb.fcurves
                                             for k in fc.keyframe_points})}
                  for a in bpy.data.actions}
out["sound_strips"] = [[s.name, s.channel, s.frame_start, bool(s.sound.packed_file)]
                       for s in scene.sequence_editor.strips] if scene.sequence_editor else []
for f in FRAMES:
    scene.frame_set(f + scene.frame_start)
    frame = {}
    for ob in bpy.data.objects:
        item = {}
        if ob.type == "MESH" and ob.data.shape_keys:
            item["keys"] = {kb.name: kb.value for kb in ob.data.shape_keys.key_blocks}
        if ob.type == "ARMATURE":
            item["heads"] = {b.name: list(ob.matrix_world @ b.head) for b in ob.pose.bones}
            item["y_axes"] = {b.name: list((ob.matrix_world @ b.matrix).to_3x3().col[1]) for b in ob.pose.bones}
        frame[ob.name] = item
    out["frames"][str(f)] = frame
    out["frames"][str(f)]["Hero mood"] = bpy.data.objects["Hero"].get("mood") if "Hero" in bpy.data.objects else None
print(json.dumps(out))
'''


def inspect_blend(path: Path, frames=SAMPLE_FRAMES) -> dict:
    return run_blender(f"BLEND = {str(path)!r}\nFRAMES = {list(frames)!r}\n" + INSPECT)


def keep_placement(motion: DyadicMotion, person: str):
    """Poses and translation relative to frame 0 in the person's own axes (what --into keys)."""
    p = motion.person(person)
    r = rotmat(p.poses["global"])
    poses = dict(p.poses)
    poses["global"] = axis_angle(r[0].T @ r)
    transl = (p.transl - p.transl[0]) @ r[0]
    return poses, transl


def object_matrix(location, euler_z):
    c, s = np.cos(euler_z), np.sin(euler_z)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]), np.asarray(location, np.float64)


HERO_BONES = ("Root", "Head", "Jaw_bone", "Eye.L", "Eye.R")  # the FLAME joints on the user's rig, in order


def hero_chain(motion: DyadicMotion) -> tuple[np.ndarray, np.ndarray]:
    """Where the user's hero rig (placed at (2, 0.5, 0), turned 1.2 rad) must show person A: world bone
    heads [T,5,3] and the left eye's gaze [T,3], in Blender coordinates."""
    rot_obj, loc_obj = object_matrix((2.0, 0.5, 0.0), 1.2)
    rot, pos = forward(*keep_placement(motion, "A"))
    return conv_to_blender(pos) @ rot_obj.T + loc_obj, conv_to_blender(rot[:, 3] @ [0.0, 0.0, 1.0]) @ rot_obj.T


@pytest.fixture(scope="module")
def user_bake(tmp_path_factory):
    d = tmp_path_factory.mktemp("user_bake")
    motion = synthetic_motion(seconds=3.0, seed=2)
    motion.save(d / "talk.npz")
    run_blender(f"OUT = {str(d / 'user.blend')!r}\n" + USER_SCENE)
    (d / "map.json").write_text(json.dumps({"A": {
        "shape_keys": {"mouthSmileLeft": "Smile_Left", "browInnerUp": "BrowsUp"},
        "bones": {"global": "Root", "neck": "Head", "jaw": "Jaw_bone"}}}))
    (d / "ll").mkdir()
    (d / "ll" / "notes.txt").write_text("mine")
    r = run_duet("bake", d / "talk.npz", "-o", d / "out.blend", "--into", d / "user.blend",
                 "--head-a", "Hero", "--head-b", "Bust", "--mapping", d / "map.json", "--blend", "0",
                 "--glb", d / "out.glb", "--fbx", d / "out.fbx", "--livelink", d / "ll")
    assert r.rc == 0, r.err
    assert r.out.strip() == str(d / "out.blend")  # Blender's chatter stays off stdout
    return d, motion, r


def test_user_scene_is_baked_through_the_mapping_and_keeps_its_animation(user_bake):
    d, motion, r = user_bake
    assert "A: 47 channel(s) have no shape key" in r.err  # 52 minus the 5 the hero's face has
    assert "B: derived from the joints: eyeLookDownLeft" in r.err
    info = inspect_blend(d / "out.blend")
    hero, face, bust = info["objects"]["Hero"], info["objects"]["Hero_face"], info["objects"]["Bust"]
    # the user's actions stay active; Duet's take is an NLA strip on its own track, named after the take
    assert hero["action"] == "HeroWobble" and face["key_action"] == "HeroBlink" and bust["key_action"] is None
    assert hero["nla"] == [["talk", ["Duet A"]]] and face["key_nla"] == [["talk", ["Duet A"]]]
    assert bust["key_nla"] == [["talk", ["Duet B"]]]
    assert 'A: your active action also keys key_blocks["eyeBlink_L"].value' in r.err
    assert info["actions"]["Duet A"]["duet"] == "A" and info["actions"]["HeroWobble"]["duet"] is None
    assert sorted(info["actions"]["Duet A"]["slots"]) == ["KEHero_face shape keys", "OBHero"]
    assert info["actions"]["Duet A"]["interp"] == ["LINEAR"]
    assert info["actions"]["Duet A"]["groups"] == sorted([*HERO_BONES, "Shape keys"])  # F-curves grouped per bone
    assert (d / "ll" / "notes.txt").read_text() == "mine" and (d / "ll" / "A.csv").is_file()
    # the user's action still plays with Duet's (channels Duet does not key)
    assert info["frames"]["0"]["Hero mood"] == pytest.approx(0.0)
    assert info["frames"]["40"]["Hero mood"] == pytest.approx(0.75)

    names = {n: i for i, n in enumerate(motion.expr_names)}
    heads, gaze = hero_chain(motion)
    derived = channels_from_joints(motion.B.poses)
    for f in SAMPLE_FRAMES:
        frame = info["frames"][str(f)]
        keys = frame["Hero_face"]["keys"]
        # Hero has a jaw bone, so JawOpen carries the motion's own channel; the mapping names the rest.
        assert keys["JawOpen"] == pytest.approx(motion.A.expr[f, names["jawOpen"]], abs=1e-5)
        assert keys["eyeBlink_L"] == pytest.approx(0.0 if f == 0 else 1.0)  # the user's own blink plays on top
        assert keys["Smile_Left"] == pytest.approx(motion.A.expr[f, names["mouthSmileLeft"]], abs=1e-5)
        assert keys["BrowsUp"] == pytest.approx(motion.A.expr[f, names["browInnerUp"]], abs=1e-5)
        # Bones (Euler, odd rolls) reproduce the FLAME chain, relative to where the user put the rig.
        got = np.array([frame["Hero"]["heads"][b] for b in HERO_BONES])
        np.testing.assert_allclose(got, heads[f], atol=2e-4)
        np.testing.assert_allclose(frame["Hero"]["y_axes"]["Eye.L"], gaze[f], atol=2e-4)
        # The bust has no bones: jawOpen and eyeLook come from the joints.
        bkeys = frame["Bust"]["keys"]
        assert bkeys["jawOpen"] == pytest.approx(motion.B.expr[f, names["jawOpen"]] + derived["jawOpen"][f], abs=1e-5)
        assert bkeys["eyeLookDownLeft"] == pytest.approx(
            motion.B.expr[f, names["eyeLookDownLeft"]] + derived["eyeLookDownLeft"][f], abs=1e-5)
        assert bkeys["cheekPuff"] == pytest.approx(motion.B.expr[f, names["cheekPuff"]], abs=1e-5)
    # values outside [0, 1] are not clamped: the sliders were widened
    lo = float(motion.A.expr[:, names["mouthSmileLeft"]].min())
    assert face["sliders"]["Smile_Left"][0] <= min(lo, 0.0)


def test_rebake_replaces_only_duets_action(user_bake, tmp_path):
    d, _, _ = user_bake
    faster = synthetic_motion(seconds=2.0, seed=5)
    faster.save(tmp_path / "again.npz")
    r = run_duet("bake", tmp_path / "again.npz", "-o", tmp_path / "again.blend", "--into", d / "out.blend",
                 "--head-a", "Hero", "--head-b", "Bust", "--mapping", d / "map.json")
    assert r.rc == 0, r.err
    info = inspect_blend(tmp_path / "again.blend", frames=[10])
    duet_actions = sorted(n for n, a in info["actions"].items() if a["duet"])
    assert duet_actions == ["Duet A", "Duet B"]
    assert {"HeroWobble", "HeroBlink"} <= set(info["actions"])
    assert info["objects"]["Hero"]["action"] == "HeroWobble"
    assert info["objects"]["Hero"]["nla"] == [["again", ["Duet A"]]]  # the new take replaced the old one
    names = {n: i for i, n in enumerate(faster.expr_names)}
    assert info["frames"]["10"]["Hero_face"]["keys"]["Smile_Left"] == pytest.approx(
        faster.A.expr[10, names["mouthSmileLeft"]], abs=1e-5)


BAKE_API = r'''
from duet.arkit import ARKIT_52
from duet.blender.bake import bake_motion
from duet.blender.mapping import Mapping
from duet.motion import DyadicMotion
bpy.ops.wm.read_factory_settings(use_empty=True)
motion = DyadicMotion.load(NPZ)
a = build_user_head("A_rig", ARKIT_52, rolls={"global": 0.3, "jaw": 0.7, "eye_L": 2.0})
b = build_user_head("B_rig", ARKIT_52)
bpy.context.scene.render.fps = 25
placed = Mapping(bones={"global": "root"})  # the root places the head only when the mapping says so
reports = bake_motion(motion, a, b, mapping={"A": placed, "B": placed})
out = {"derived": reports["A"].derived_channels, "unmatched": reports["A"].unmatched_channels, "frames": {}}
for f in FRAMES:
    bpy.context.scene.frame_set(f + 1)
    out["frames"][str(f)] = {p: {"heads": [list(ob.matrix_world @ ob.pose.bones[n].head)
                                           for n in ["root", "neck", "jaw", "eye_L", "eye_R"]],
                                 "gaze": [list(ob.pose.bones[n].matrix.to_3x3().col[1]) for n in ["eye_L", "eye_R"]],
                                 "keys": [ob.children[0].data.shape_keys.key_blocks[n].value for n in ARKIT_52]}
                             for p, ob in (("A", a), ("B", b))}
print(json.dumps(out))
'''


def test_bake_motion_reproduces_the_joint_chain_in_the_conversation_frame(tmp_path):
    motion = synthetic_motion(seconds=3.0, seed=7)
    motion.save(tmp_path / "m.npz")
    out = run_blender(f"NPZ = {str(tmp_path / 'm.npz')!r}\nFRAMES = {SAMPLE_FRAMES!r}\n" + BAKE_API)
    assert out["derived"] == [] and out["unmatched"] == []
    for person in "AB":
        p = motion.person(person)
        rot, pos = forward(p.poses, p.transl)
        for f in SAMPLE_FRAMES:
            got = out["frames"][str(f)][person]
            np.testing.assert_allclose(got["heads"], conv_to_blender(pos[f]), atol=2e-5)
            for k, eye in enumerate((3, 4)):
                np.testing.assert_allclose(got["gaze"][k], conv_to_blender(rot[f, eye] @ [0.0, 0.0, 1.0]), atol=2e-5)
            np.testing.assert_allclose(got["keys"], p.expr[f], atol=1e-5)


def _glb_json_and_bin(path: Path):
    data = path.read_bytes()
    assert data[:4] == b"glTF"
    n = struct.unpack("<I", data[12:16])[0]
    doc = json.loads(data[20:20 + n])
    start = 20 + n
    bin_len = struct.unpack("<I", data[start:start + 4])[0]
    return doc, data[start + 8:start + 8 + bin_len]


def _accessor(doc, binary, index) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
    assert acc["componentType"] == 5126  # float32
    offset = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    return np.frombuffer(binary, np.float32, acc["count"] * width, offset).reshape(acc["count"], width)


def test_glb_is_valid_and_carries_the_motion(user_bake):
    d, motion, _ = user_bake
    node = shutil.which("node")
    assert node, "node is needed for the Khronos glTF validator (tools/bootstrap.sh)"
    v = subprocess.run([node, str(ROOT / "tools" / "gltf_validate.js"), str(d / "out.glb")],
                       capture_output=True, text=True, timeout=120, check=False)
    report = json.loads(v.stdout.strip().splitlines()[-1])
    assert report["errors"] == 0, report["messages"]
    assert report["morphTargets"] and report["skins"]

    doc, binary = _glb_json_and_bin(d / "out.glb")
    anims = {a["name"]: a for a in doc["animations"]}
    assert {"Duet A", "Duet B"} <= set(anims)
    names = {n: i for i, n in enumerate(motion.expr_names)}
    # Bust morph weights in Duet B: one weights channel, sampled at every frame.
    bust_mesh = next(i for i, n in enumerate(doc["nodes"]) if n.get("name") == "Bust")
    target_names = doc["meshes"][doc["nodes"][bust_mesh]["mesh"]]["extras"]["targetNames"]
    ch = next(c for c in anims["Duet B"]["channels"] if c["target"]["node"] == bust_mesh)
    assert ch["target"]["path"] == "weights"
    sampler = anims["Duet B"]["samplers"][ch["sampler"]]
    times = _accessor(doc, binary, sampler["input"])[:, 0]
    weights = _accessor(doc, binary, sampler["output"]).reshape(len(times), len(target_names))
    np.testing.assert_allclose(times[:3], [0, 0.04, 0.08], atol=1e-5)
    for f in SAMPLE_FRAMES:
        row = int(np.argmin(np.abs(times - f / motion.fps)))
        for name in ("cheekPuff", "mouthSmileRight", "browInnerUp"):
            assert weights[row, target_names.index(name)] == pytest.approx(motion.B.expr[f, names[name]], abs=1e-4)

    # The hero's eye bone rotation is animated in Duet A
    eye = next(i for i, n in enumerate(doc["nodes"]) if n.get("name") == "Eye.L")
    rot_ch = [c for c in anims["Duet A"]["channels"] if c["target"]["node"] == eye and c["target"]["path"] == "rotation"]
    assert len(rot_ch) == 1
    q = _accessor(doc, binary, anims["Duet A"]["samplers"][rot_ch[0]["sampler"]]["output"])
    assert q.shape == (motion.n_frames, 4) and np.ptp(q, axis=0).max() > 0.05

    import trimesh

    scene = trimesh.load(d / "out.glb")
    assert isinstance(scene, trimesh.Scene)
    assert {"Bust", "Hero_face"} <= {g.split(".")[0] for g in scene.geometry}


GLB_IMPORT = r'''
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.context.scene.render.fps = 25  # the importer turns seconds into frames at the scene's rate; t = 0 is frame 0
bpy.ops.import_scene.gltf(filepath=GLB)
out = {}
bust = bpy.data.objects["Bust"]
ad = bust.data.shape_keys.animation_data
tracks = {t.name: t for t in ad.nla_tracks} if ad else {}
if ad and ad.action is None and "Duet B" in tracks:
    ad.action = tracks["Duet B"].strips[0].action
out["bust_action"] = ad.action.name if ad and ad.action else None
for f in FRAMES:
    bpy.context.scene.frame_set(f)
    out[str(f)] = {kb.name: kb.value for kb in bust.data.shape_keys.key_blocks}
print(json.dumps(out))
'''


def test_glb_reimports_into_blender_with_the_same_morph_weights(user_bake):
    d, motion, _ = user_bake
    out = run_blender(f"GLB = {str(d / 'out.glb')!r}\nFRAMES = {SAMPLE_FRAMES!r}\n" + GLB_IMPORT)
    assert out["bust_action"] and out["bust_action"].startswith("Duet B")
    names = {n: i for i, n in enumerate(motion.expr_names)}
    for f in SAMPLE_FRAMES:
        for name in ("cheekPuff", "mouthSmileRight", "tongueOut"):
            assert out[str(f)][name] == pytest.approx(motion.B.expr[f, names[name]], abs=1e-4)


FBX_IMPORT = r'''
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps = 25
bpy.ops.import_scene.fbx(filepath=FBX, anim_offset=0)  # no offset: keys land on the frames they left
hero = bpy.data.objects["Hero"]
out = {"actions": {ob.name: [ad.action.name if ad and ad.action else None
                             for ad in (ob.animation_data, getattr(getattr(ob.data, "shape_keys", None), "animation_data", None))]
                   for ob in bpy.data.objects if ob.type in ("MESH", "ARMATURE")},
       "rest": {b.name: [list(r) for r in b.matrix_local] for b in hero.data.bones}, "frames": {}}
for f in FRAMES:
    scene.frame_set(f + 1)
    out["frames"][str(f)] = {
        "keys": {ob.name: {kb.name: kb.value for kb in ob.data.shape_keys.key_blocks[1:]}
                 for ob in bpy.data.objects if ob.type == "MESH" and ob.data.shape_keys},
        "heads": {b.name: list(hero.matrix_world @ b.head) for b in hero.pose.bones},
        "y_axes": {b.name: list((hero.matrix_world @ b.matrix).to_3x3().col[1]) for b in hero.pose.bones}}
print(json.dumps(out))
'''


def test_fbx_reimports_into_blender_with_the_same_shape_keys_and_bones(user_bake):
    d, motion, _ = user_bake
    out = run_blender(f"FBX = {str(d / 'out.fbx')!r}\nFRAMES = {SAMPLE_FRAMES!r}\n" + FBX_IMPORT)
    # every animated block came back with a baked action: the rig, the hero's face keys, the bust's keys
    assert out["actions"]["Hero"][0] and out["actions"]["Hero_face"][1] and out["actions"]["Bust"][1]
    assert sorted(out["rest"]) == sorted(HERO_BONES)
    names = {n: i for i, n in enumerate(motion.expr_names)}
    hero_keys = {"JawOpen": "jawOpen", "eyeBlink_L": "eyeBlinkLeft", "eyeBlink_R": "eyeBlinkRight",
                 "Smile_Left": "mouthSmileLeft", "BrowsUp": "browInnerUp"}  # names matched or mapped by the bake
    derived = channels_from_joints(motion.B.poses)
    heads, gaze = hero_chain(motion)
    for f in SAMPLE_FRAMES:
        frame = out["frames"][str(f)]
        assert set(frame["keys"]["Hero_face"]) == set(hero_keys)
        for key, channel in hero_keys.items():
            want = (0.0 if f == 0 else 1.0) if key == "eyeBlink_L" else motion.A.expr[f, names[channel]]  # the user's
            assert frame["keys"]["Hero_face"][key] == pytest.approx(want, abs=1e-5)  # blink plays on top
        bust = frame["keys"]["Bust"]
        assert list(bust) == list(ARKIT_52)
        want = motion.B.expr[f] + np.array([derived[n][f] if n in derived else 0.0 for n in ARKIT_52])
        np.testing.assert_allclose([bust[n] for n in ARKIT_52], want, atol=1e-5)
        # bones: the FLAME chain where the user placed the rig, and the eye looking where the motion looks
        np.testing.assert_allclose([frame["heads"][b] for b in HERO_BONES], heads[f], atol=2e-4)
        np.testing.assert_allclose(frame["y_axes"]["Eye.L"], gaze[f], atol=2e-4)


def test_bad_inputs_fail_with_one_line_and_write_nothing(tmp_path, user_bake):
    d, _, _ = user_bake
    cases = [
        (["bake", tmp_path / "missing.npz", "-o", tmp_path / "x.blend"], "no such motion file"),
        (["bake", d / "talk.npz", "-o", tmp_path / "x.txt"], "must be a .blend"),
        (["bake", d / "talk.npz", "-o", tmp_path / "x.blend", "--into", d / "user.blend"], "--head-a"),
        (["bake", d / "talk.npz", "-o", tmp_path / "x.blend", "--into", d / "user.blend",
          "--head-a", "Hero", "--head-b", "Nobody"], "no object named 'Nobody'"),
        (["bake", d / "talk.npz", "-o", tmp_path / "x.blend", "--into", d / "user.blend",
          "--head-a", "Hero", "--head-b", "Bust", "--glb", tmp_path / "x.glb", "--audio", tmp_path / "no.wav"],
         "no such audio file"),
    ]
    for args, message in cases:
        r = run_duet(*args)
        assert r.rc != 0 and message in r.err and "Traceback" not in r.err, (args, r.err)
        assert len(r.err.strip().splitlines()) <= 2
    assert [p.name for p in tmp_path.iterdir()] == []
