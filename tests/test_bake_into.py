"""`duet bake --into` on a user's own characters (issue 27): Duet keys only what the mapping names, on
whole frames of the scene's fps, as an NLA strip per take; the scene's fps, frame range and sound
strips, the user's actions and the input file stay as they were; clear() puts back every value."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from duet.blender.take import resample
from tests.bake_support import run_blender, synthetic_motion
from tests.conftest import run_duet

pytestmark = pytest.mark.blender

# A user's scene as the issue describes it: two characters, each an armature with root/spine/neck/head/
# jaw/eye bones (a posed head, an idle action on the root and spine) and a face mesh with ARKit-named
# shape keys in assorted spellings plus a corrective and a custom key dialled in; the scene starts at
# frame 10 with the user's own sound strip and a timeline marker.
USER_SCENE = r'''
from duet.rigs.kinematics import REST_JOINTS

KEYS = ["jawOpen", "eyeBlink_L", "EyeBlinkRight", "mouthSmile_L", "BS_browInnerUp", "mouthFunnel",
        "Corrective_jawOpen_smile", "Freckles"]

def character(name, root, x):
    scene = bpy.context.scene
    arm = bpy.data.armatures.new(name + "_rig")
    ob = bpy.data.objects.new(name, arm)
    scene.collection.objects.link(ob)
    ob.location = (x, 0.0, 0.0)
    bpy.context.view_layer.objects.active = ob
    bpy.ops.object.mode_set(mode="EDIT")
    j = conv_to_blender(REST_JOINTS)
    for bone, parent, head, tail in [
            (root, None, (0, 0, 0), (0, 0, 0.9)), ("spine", root, (0, 0, 0.9), (0, 0, 1.4)),
            ("neck", "spine", (0, 0, 1.4), j[0]), ("head", "neck", j[1], j[1] + [0, 0, 0.2]),
            ("jaw", "head", j[2], j[2] + [0, -0.08, -0.02]), ("eye_L", "head", j[3], j[3] + [0, -0.02, 0]),
            ("eye_R", "head", j[4], j[4] + [0, -0.02, 0])]:
        eb = arm.edit_bones.new(bone)
        eb.head, eb.tail = tuple(head), tuple(tail)
        eb.parent = arm.edit_bones.get(parent) if parent else None
    bpy.ops.object.mode_set(mode="OBJECT")
    me = bpy.data.meshes.new(name + "_face")
    me.from_pydata([(0, -0.1, 1.6), (0.05, -0.1, 1.6), (0, -0.1, 1.65), (0, -0.12, 1.62)], [],
                   [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)])
    face = bpy.data.objects.new(name + "_face", me)
    scene.collection.objects.link(face)
    face.parent = ob
    face.shape_key_add(name="Basis")
    for k, key in enumerate(KEYS):
        kb = face.shape_key_add(name=key, from_mix=False)
        kb.data[k % 4].co.z += 0.01
        kb.value = 0.0
    face.data.shape_keys.key_blocks["Corrective_jawOpen_smile"].value = 0.3
    face.data.shape_keys.key_blocks["Freckles"].value = 0.7
    ob.pose.bones["head"].rotation_quaternion = (0.995, 0.0998, 0.0, 0.0)  # the user's pose
    spine, base = ob.pose.bones["spine"], ob.pose.bones[root]
    for f, angle in ((10, 0.0), (40, 0.05), (70, 0.0)):  # an idle: breathing and a bob
        spine.rotation_quaternion = (np.cos(angle / 2), np.sin(angle / 2), 0, 0)
        spine.keyframe_insert("rotation_quaternion", frame=f)
    for f, z in ((10, 0.0), (70, 0.02)):
        base.location = (0, 0, z)
        base.keyframe_insert("location", frame=f)
    ob.animation_data.action.name = name + " idle"
    return ob

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps = FPS
scene.frame_start, scene.frame_end = 10, 200
character("Hero", ROOT_BONE, -0.5)
character("Sidekick", ROOT_BONE, 0.5)
scene.sequence_editor_create().strips.new_sound("music", MUSIC, 1, 10)
scene.timeline_markers.new("Hero enters", frame=12)
bpy.ops.wm.save_as_mainfile(filepath=OUT)
print(json.dumps({"ok": True}))
'''

# Everything a user could see changed: the scene, every bone's and key's stored and evaluated values,
# every action's keys, every block's active action and NLA stack. CLEAR runs duet's clear() first.
LOOK = r'''
from duet.blender.bake import clear
bpy.ops.wm.open_mainfile(filepath=BLEND)
scene = bpy.context.scene
out = {}
if CLEAR:
    out["cleared"] = clear()

def values():
    v = {}
    for ob in bpy.data.objects:
        if ob.type == "ARMATURE":
            v[ob.name] = {b.name: [*b.location, *b.rotation_quaternion, *b.rotation_euler, *b.rotation_axis_angle]
                          for b in ob.pose.bones}
        elif ob.data.shape_keys:
            v[ob.name] = {kb.name: [kb.value, kb.slider_min, kb.slider_max] for kb in ob.data.shape_keys.key_blocks}
    return v

def stack(block):
    ad = block.animation_data
    if ad is None:
        return None
    return {"action": ad.action.name if ad.action else None,
            "slot": ad.action_slot.identifier if ad.action_slot else None,
            "nla": [[t.name, [[s.name, s.action.name, s.action_slot.identifier, s.blend_type, s.blend_in,
                               s.blend_out, s.extrapolation, s.frame_start, s.frame_end] for s in t.strips]]
                    for t in ad.nla_tracks]}

out["scene"] = {"fps": [scene.render.fps, scene.render.fps_base], "range": [scene.frame_start, scene.frame_end],
                "frame": scene.frame_current,
                "strips": sorted([s.name, s.channel, s.frame_final_start, s.frame_final_end, "duet_take" in s]
                                 for s in scene.sequence_editor.strips),
                "markers": sorted([m.name, m.frame] for m in scene.timeline_markers)}
out["stored"] = values()
out["stacks"] = {ob.name: stack(ob) for ob in bpy.data.objects}
out["stacks"].update({f"{ob.name} keys": stack(ob.data.shape_keys) for ob in bpy.data.objects
                      if ob.type == "MESH" and ob.data.shape_keys})
out["actions"] = {}
for a in bpy.data.actions:
    curves = {}
    for layer in a.layers:
        for st in layer.strips:
            for bag in st.channelbags:
                for fc in bag.fcurves:
                    curves[f"{bag.slot.identifier} {fc.data_path}[{fc.array_index}]"] = [
                        [*k.co, *k.handle_left, *k.handle_right, k.interpolation] for k in fc.keyframe_points]
    out["actions"][a.name] = {"duet": a.get("duet_person"), "curves": curves}
out["evaluated"] = {}
for f in FRAMES:
    scene.frame_set(f)
    out["evaluated"][str(f)] = values()
print(json.dumps(out))
'''

FRAMES = [5, 10, 12, 30, 60, 95, 150]
DUET_BONES = {"head", "jaw", "eye_L", "eye_R"}  # what the suggested mapping drives on these rigs
DUET_KEYS = {"jawOpen", "eyeBlink_L", "EyeBlinkRight", "mouthSmile_L", "BS_browInnerUp", "mouthFunnel"}


def look(path, clear=False) -> dict:
    return run_blender(f"BLEND = {str(path)!r}\nCLEAR = {clear}\nFRAMES = {FRAMES}\n" + LOOK)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module", params=[(30, "root"), (24, "root"), (30, "COG")], ids=["30fps", "24fps", "COG"])
def baked(request, tmp_path_factory):
    fps, root = request.param
    d = tmp_path_factory.mktemp(f"into_{fps}_{root}")
    motion = synthetic_motion(seconds=3.0, seed=4)  # 25 fps: resampled onto the scene's frames
    motion.save(d / "talk.npz")
    t = np.arange(16000 * 3) / 16000
    sf.write(d / "talk.wav", (0.2 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000)
    sf.write(d / "music.wav", (0.1 * np.sin(2 * np.pi * 90 * t[:16000 * 2])).astype(np.float32), 16000)
    run_blender(f"FPS = {fps}\nROOT_BONE = {root!r}\nMUSIC = {str(d / 'music.wav')!r}\n"
                f"OUT = {str(d / 'user.blend')!r}\n" + USER_SCENE)
    before = sha(d / "user.blend")
    r = run_duet("bake", d / "talk.npz", "-o", d / "out.blend", "--into", d / "user.blend", "--head-a", "Hero",
                 "--head-b", "Sidekick", "--audio", d / "talk.wav")
    assert r.rc == 0, r.err
    return dict(d=d, fps=fps, root=root, motion=motion, err=r.err, input_sha=before,
                user=look(d / "user.blend"), out=look(d / "out.blend"))


def test_the_input_file_is_byte_identical(baked):
    assert sha(baked["d"] / "user.blend") == baked["input_sha"]


def test_scene_timing_and_the_users_strips_stay(baked):
    user, out = baked["user"]["scene"], baked["out"]["scene"]
    assert out["fps"] == user["fps"] == [baked["fps"], 1.0]
    assert out["range"] == user["range"] == [10, 200]
    users = [s for s in out["strips"] if not s[4]]
    duets = [s for s in out["strips"] if s[4]]
    assert users == user["strips"] == [["music", 1, 10, 10 + 2 * baked["fps"], False]]
    # Duet's sound starts with the take on the lowest channel free over its frames
    assert [s[:3] for s in duets] == [["talk", 2, 10]] and duets[0][3] == 10 + 3 * baked["fps"]
    assert out["markers"] == user["markers"] == [["Hero enters", 12]]  # no --markers: none added


def test_turn_markers_on_request_replaced_by_a_rebake_and_cleared(baked, tmp_path):
    from duet.audio.turns import floor_changes

    d, fps = baked["d"], baked["fps"]
    motion = synthetic_motion(seconds=6.0, seed=11)
    motion.A.speaking[:] = 0.0
    motion.B.speaking[:] = 0.0
    motion.A.speaking[5:50] = 1.0  # A, B's "mm-hm" over it (too short to take the floor), B, then A
    motion.B.speaking[20:28] = 1.0
    motion.B.speaking[60:100] = 1.0
    motion.A.speaking[110:140] = 1.0
    motion.meta["who_speaks_unsure"] = [[2.4, 4.0]]
    motion.save(tmp_path / "turns.npz")
    args = ["--into", d / "user.blend", "--head-a", "Hero", "--head-b", "Sidekick", "--markers"]
    r = run_duet("bake", tmp_path / "turns.npz", "-o", tmp_path / "marked.blend", *args)
    assert r.rc == 0, r.err
    want = [["turns: A", 10 + round(0.2 * fps)], ["turns: unsure until 4.0 s", 10 + round(2.4 * fps)],
            ["turns: B", 10 + round(2.4 * fps)], ["turns: A", 10 + round(4.4 * fps)]]
    assert floor_changes(np.stack([motion.A.speaking, motion.B.speaking])) == [("A", 0.2), ("B", 2.4), ("A", 4.4)]
    marked = look(tmp_path / "marked.blend")["scene"]["markers"]
    assert marked == sorted(want + [["Hero enters", 12]])
    # the same take baked again replaces its markers; a user's marker and other takes' stay
    r = run_duet("bake", tmp_path / "turns.npz", "-o", tmp_path / "again.blend", "--into", tmp_path / "marked.blend",
                 "--head-a", "Hero", "--head-b", "Sidekick", "--markers")
    assert r.rc == 0, r.err
    assert look(tmp_path / "again.blend")["scene"]["markers"] == marked
    assert look(tmp_path / "again.blend", clear=True)["scene"]["markers"] == [["Hero enters", 12]]
    # baked again without --markers: the take's old markers go with its old keys
    r = run_duet("bake", tmp_path / "turns.npz", "-o", tmp_path / "plain.blend", "--into", tmp_path / "marked.blend",
                 "--head-a", "Hero", "--head-b", "Sidekick")
    assert r.rc == 0, r.err
    assert look(tmp_path / "plain.blend")["scene"]["markers"] == [["Hero enters", 12]]
    # without --into the flag is refused (a new scene always gets its markers)
    r = run_duet("bake", tmp_path / "turns.npz", "-o", tmp_path / "new.blend", "--markers")
    assert r.rc != 0 and "--markers only apply with --into" in r.err


def test_the_take_is_an_nla_strip_layered_with_the_users_action(baked):
    user, out = baked["user"], baked["out"]
    n = len(resample(baked["motion"], baked["fps"]).A.expr)
    for person, name in (("A", "Hero"), ("B", "Sidekick")):
        stack = out["stacks"][name]
        assert stack["action"] == f"{name} idle" and stack["slot"] == user["stacks"][name]["slot"]  # still active
        [[track, [strip]]] = stack["nla"]
        assert track == "talk" and strip[:4] == ["talk", f"Duet {person}", f"OB{name}", "COMBINE"]
        assert strip[4] == strip[5] == round(0.2 * baked["fps"]) and strip[6] == "HOLD"  # blends in and out
        assert strip[7:] == [10, 10 + n - 1]
        [[_, [face]]] = out["stacks"][f"{name}_face keys"]["nla"]
        assert face[1:4] == [f"Duet {person}", f"KE{name}_face shape keys", "REPLACE"] and face[4] == 0
        # the user's own action is the same, key for key
        assert out["actions"][f"{name} idle"] == user["actions"][f"{name} idle"]
    assert f"A: your action(s) Hero idle stay where they were and play with the take" in baked["err"]


def test_duet_keys_only_the_mapped_channels_on_whole_frames(baked):
    out = baked["out"]
    n = len(resample(baked["motion"], baked["fps"]).A.expr)
    for person, name in (("A", "Hero"), ("B", "Sidekick")):
        curves = out["actions"][f"Duet {person}"]["curves"]
        bones = {c.split('"')[1] for c in curves if "pose.bones" in c}
        keys = {c.split('"')[1] for c in curves if "key_blocks" in c}
        assert bones == DUET_BONES and keys == DUET_KEYS  # never the root, the spine, the corrective or Freckles
        assert all("rotation_quaternion" in c or "key_blocks" in c for c in curves)  # no location: nothing placed
        frames = {k[0] for keys_ in curves.values() for k in keys_}
        assert frames == set(range(10, 10 + n))  # one key per whole scene frame
        assert {k[6] for keys_ in curves.values() for k in keys_} == {"LINEAR"}
    assert "A: joint(s) with no bone" not in baked["err"]
    assert "placement: none, the character stays where it is (the head's turn is on 'head')" in baked["err"]


def test_the_root_and_everything_unmapped_play_as_before(baked):
    user, out = baked["user"]["evaluated"], baked["out"]["evaluated"]
    for f in map(str, FRAMES):
        for name in ("Hero", "Sidekick"):
            for bone in (baked["root"], "spine", "neck"):
                np.testing.assert_allclose(out[f][name][bone], user[f][name][bone], atol=1e-6)
            face = f"{name}_face"
            for key in ("Corrective_jawOpen_smile", "Freckles"):
                assert out[f][face][key] == user[f][face][key]


def test_keys_follow_the_motion_resampled_to_the_scene(baked):
    motion, fps = baked["motion"], baked["fps"]
    channel = motion.expr_names.index("jawOpen")
    curves = baked["out"]["actions"]["Duet A"]["curves"]
    jaw = np.array([k[1] for k in curves['KEHero_face shape keys key_blocks["jawOpen"].value[0]']])
    np.testing.assert_allclose(jaw, resample(motion, fps).A.expr[:, channel], atol=1e-6)
    # scene frame k is motion time k / fps: where it falls on a 25 fps frame the key is that frame's value
    k = np.arange(0, len(jaw), fps // np.gcd(25, fps))
    np.testing.assert_allclose(jaw[k], motion.A.expr[k * 25 // fps, channel], atol=1e-6)
    assert len(jaw) == int((motion.n_frames - 1) * fps / 25) + 1


def test_clear_puts_back_exactly_what_was_there(baked):
    d, user = baked["d"], baked["user"]
    cleared = look(d / "out.blend", clear=True)
    assert cleared["cleared"] == 4  # the armature and face strips of both heads
    assert not any(a["duet"] for a in cleared["actions"].values())
    assert cleared["actions"] == user["actions"]
    assert cleared["stacks"] == user["stacks"]
    assert cleared["scene"] == user["scene"]
    # stored values: exactly, for every channel the user's idle does not animate
    for name in ("Hero", "Sidekick"):
        for bone, v in user["stored"][name].items():
            if bone not in (baked["root"], "spine"):
                assert cleared["stored"][name][bone] == v, (name, bone)
        assert cleared["stored"][f"{name}_face"] == user["stored"][f"{name}_face"]
    assert cleared["evaluated"] == user["evaluated"]


def test_a_rebake_replaces_the_take_and_thins_keys(baked, tmp_path):
    d = baked["d"]
    again = synthetic_motion(seconds=4.0, seed=9)
    again.save(tmp_path / "again.npz")
    r = run_duet("bake", tmp_path / "again.npz", "-o", tmp_path / "again.blend", "--into", d / "out.blend",
                 "--head-a", "Hero", "--head-b", "Sidekick", "--thin", "--fit-range", "--blend", "3")
    assert r.rc == 0, r.err
    out = look(tmp_path / "again.blend", clear=False)
    [[track, [strip]]] = out["stacks"]["Hero"]["nla"]
    assert track == "again" and strip[1] == "Duet A" and strip[4] == 3
    assert sorted(a for a, v in out["actions"].items() if v["duet"]) == ["Duet A", "Duet B"]
    n = len(resample(again, baked["fps"]).A.expr)
    assert out["scene"]["range"] == [10, max(200, 10 + n - 1)]
    curves = out["actions"]["Duet A"]["curves"]
    assert sum(len(k) for k in curves.values()) < 0.8 * len(curves) * n  # thinned (fast synthetic curves)
    assert all(k[0] == int(k[0]) for keys in curves.values() for k in keys)
    # clearing the re-bake still returns the original scene: Duet's first record carried over
    cleared = look(tmp_path / "again.blend", clear=True)
    user = baked["user"]
    assert cleared["scene"] == user["scene"] and cleared["stacks"] == user["stacks"]
    assert cleared["evaluated"] == user["evaluated"]


def test_placement_only_through_an_explicit_bone(baked, tmp_path):
    d, root = baked["d"], baked["root"]
    (tmp_path / "map.json").write_text(json.dumps({"A": {"bones": {"global": root}}, "B": {"place_object": "Sidekick"},
                                                   "shape_keys": {"mouthFunnel": None}}))
    r = run_duet("bake", d / "talk.npz", "-o", tmp_path / "placed.blend", "--into", d / "user.blend",
                 "--head-a", "Hero", "--head-b", "Sidekick", "--mapping", tmp_path / "map.json")
    assert r.rc == 0, r.err
    out = look(tmp_path / "placed.blend")
    a, b = out["actions"]["Duet A"]["curves"], out["actions"]["Duet B"]["curves"]
    assert any(f'"{root}"].location' in c for c in a) and any(f'"{root}"].rotation' in c for c in a)
    # B is placed through its object: the armature's own transform moves, its root bone never does
    assert {c.split(" ")[1] for c in b if c.startswith("OBSidekick ") and "pose" not in c} == {
        "location[0]", "location[1]", "location[2]", "rotation_euler[0]", "rotation_euler[1]", "rotation_euler[2]"}
    assert not any(f'"{root}"]' in c for c in b)
    assert not any("mouthFunnel" in c for c in [*a, *b])  # null: not driven
    assert f"placement: bone '{root}' (keep)" in r.err and "placement: object 'Sidekick' (keep)" in r.err
    # where the take starts, the placed object stands where the user put it
    x0 = [b[f"OBSidekick location[{i}]"][0][1] for i in range(3)]
    np.testing.assert_allclose(x0, [0.5, 0.0, 0.0], atol=1e-6)


def test_the_forward_axis_turns_the_conversation_frame_onto_the_rig():
    out = run_blender("from duet.blender.bake import rig_axes\nprint(json.dumps({f: [(rig_axes(f) @ v).tolist() "
                      "for v in ([0, 0, 1], [0, 1, 0])] for f in ('-Y', '+Y', '+X', '-X')}))")
    for facing, forward in (("-Y", [0, -1, 0]), ("+Y", [0, 1, 0]), ("+X", [1, 0, 0]), ("-X", [-1, 0, 0])):
        np.testing.assert_allclose(out[facing], [forward, [0, 0, 1]], atol=1e-12)  # the face forward, up stays up
