"""The add-on's per-person emotion, intensity and emotion script (issue 27), driven through the panel's
properties and Generate against a real engine subprocess; and undo of Generate, Bake From File and
Clear in one step. The add-on zip is built and installed into the bpy wheel in a fresh process per
test, as tests/test_addon.py does (its helpers are reused)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_duet
from duet.motion import DyadicMotion
from test_addon import _tone, addon_zip, blender  # noqa: F401  (addon_zip is a fixture)

pytestmark = pytest.mark.blender

# Everything Duet may change in a scene, read back through bpy: the scene's timing, the sequencer, the
# actions and sounds, every animated block's action and NLA stack, the shape keys and pose bones'
# own values, and what the rig evaluates to on three frames.
STATE = r'''
def state():
    sc = bpy.context.scene
    now = sc.frame_current
    v = {"scene": [sc.render.fps, sc.frame_start, sc.frame_end, now],
         "strips": sorted([st.name, st.type, st.channel, st.frame_final_start, st.frame_final_duration]
                          for st in (sc.sequence_editor.strips if sc.sequence_editor else [])),
         "actions": sorted(a.name for a in bpy.data.actions), "sounds": sorted(x.name for x in bpy.data.sounds),
         "duet": [sc.duet.motion_file, sc.duet.message]}
    def blocks():
        for ob in bpy.data.objects:
            yield ob
            if ob.type == "MESH" and ob.data.shape_keys:
                yield ob.data.shape_keys
    for idb in blocks():
        ad = idb.animation_data
        v["anim " + idb.name] = None if ad is None else [
            ad.action.name if ad.action else None,
            [[t.name, t.mute, [[st.name, st.action.name if st.action else None, st.frame_start, st.frame_end,
                                st.blend_type] for st in t.strips]] for t in ad.nla_tracks]]
        if hasattr(idb, "key_blocks"):
            v["keys " + idb.name] = [[k.name, round(k.value, 6), k.slider_min, k.slider_max] for k in idb.key_blocks]
        if getattr(idb, "type", "") == "ARMATURE":
            v["pose " + idb.name] = [[b.name, [round(x, 6) for x in b.rotation_quaternion],
                                      [round(x, 6) for x in b.location]] for b in idb.pose.bones]
    for f in (1, 12, 30):
        sc.frame_set(f)
        for ob in bpy.data.objects:
            if ob.type == "ARMATURE":
                v[f"eval {ob.name} {f}"] = [[round(x, 6) for x in b.matrix_basis.col[i]]
                                           for b in ob.pose.bones for i in range(4)]
            if ob.type == "MESH" and ob.data.shape_keys:
                v[f"eval {ob.name} {f}"] = [round(k.value, 6) for k in ob.data.shape_keys.key_blocks]
    sc.frame_set(now)
    return v

def undone(op, **kw):
    """Run a Duet operator between two undo pushes (what Blender's window manager does for an operator
    with UNDO), then undo once: (the state it made, its result)."""
    bpy.ops.ed.undo_push(message="before")
    result = sorted(getattr(bpy.ops.duet, op)(**kw))
    bpy.ops.ed.undo_push(message=op)
    made = state()
    assert bpy.ops.ed.undo() == {"FINISHED"}
    return made, result
'''

GENERATE = r'''
prefs.engine_mode = "SUBPROCESS"
prefs.python = PYTHON
assert bpy.ops.duet.add_head_pair() == {"FINISHED"}
s.audio_mode = "TRACKS"
s.audio, s.audio_b = TRACK_A, TRACK_B
s.person_a.emotion, s.person_a.emotion_intensity = "happy", 0.5
s.person_b.emotion, s.person_b.emotion_intensity = "AUTO", 1.5
s.emotion_script = SCRIPT
ops = __import__(ADDON + ".operators", fromlist=["x"])
out["spec"] = {k: v for k, v in ops.job_spec(s).items() if k.startswith("emotion")}
before = state()
made, result = undone("generate")
out["result"], out["undo"] = result, state() == before
out["changed"] = sorted(k for k in before if made.get(k) != before[k])
s = bpy.context.scene.duet  # undo reloads the scene: references made before it are gone
out["motion"], out["message"], out["error"] = made["duet"][0], made["duet"][1], s.message_is_error
# the panel's emotions are the job's: a script that is no list of turns stops Generate with one line
for key, script in (("bad", BAD_SCRIPT), ("unknown", UNKNOWN_LABEL)):
    s.emotion_script = script
    try:
        out[key] = sorted(bpy.ops.duet.generate())
    except RuntimeError as e:
        out[key] = str(e)
    out[key + "_message"] = [s.message, s.message_is_error, s.running]
'''


def test_generate_takes_each_persons_emotion_intensity_and_the_emotion_script(addon_zip, conversation, tmp_path):
    script = tmp_path / "emotions.json"
    script.write_text(json.dumps([{"speaker": "B", "start": 1.0, "emotion": "sad"}]))
    (tmp_path / "bad.json").write_text('{"speaker": "B", "start": 1.0, "emotion": "sad"}')
    (tmp_path / "unknown.json").write_text('[{"speaker": "A", "start": 0, "emotion": "elated"}]')
    code = (f"TRACK_A, TRACK_B = {str(conversation.a)!r}, {str(conversation.b)!r}\nSCRIPT = {str(script)!r}\n"
            f"BAD_SCRIPT = {str(tmp_path / 'bad.json')!r}\nUNKNOWN_LABEL = {str(tmp_path / 'unknown.json')!r}\n"
            + STATE + GENERATE)
    r = blender(code, tmp_path / "blender", addon_zip)
    assert r["spec"] == {"emotion": {"A": {"emotion": "happy", "intensity": 0.5},
                                     "B": {"emotion": None, "intensity": 1.5}},
                         "emotion_turns": [{"speaker": "B", "start": 1.0, "emotion": "sad"}]}
    assert r["result"] == ["FINISHED"] and not r["error"], r["message"]
    got = DyadicMotion.load(r["motion"])
    # A happy at 0.5 from the panel; B on auto takes the script's turn at B's own intensity, 1.5
    assert got.meta["emotion_turns"] == [["A", 0.0, "happy"], ["B", 1.0, "sad"]]
    assert got.meta["emotion_turn_intensity"] == [0.5, 1.5]
    # the same take as the command line given the same emotions
    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps([{"speaker": "B", "start": 1.0, "emotion": "sad", "intensity": 1.5}]))
    want = tmp_path / "cli.npz"
    assert run_duet("generate", conversation.a, "--audio-b", conversation.b, "--emotion", "A=happy:0.5",
                    "--emotion-turns", turns, "-o", want).rc == 0
    want = DyadicMotion.load(want)
    for p in "AB":
        np.testing.assert_array_equal(got.person(p).expr, want.person(p).expr)
    calm = tmp_path / "calm.npz"
    assert run_duet("generate", conversation.a, "--audio-b", conversation.b, "-o", calm).rc == 0
    assert np.abs(DyadicMotion.load(calm).A.expr - got.A.expr).max() > 0.05  # the emotions changed the take
    # Generate is one undo step: the rig, its NLA, the actions and the sound strips all go back
    assert {"actions", "strips", "sounds", "duet"} <= set(r["changed"]) and r["undo"], r["changed"]
    assert "Emotion script bad.json: must be a JSON list of turns" in str(r["bad"])  # the report bar's error
    assert r["bad_message"][1:] == [True, False] and r["bad_message"][0].startswith("Emotion script bad.json")
    msg, is_error, running = r["unknown_message"]
    assert is_error and not running and "unknown emotion 'elated'" in msg and "\n" not in msg


BAKE = r'''
assert bpy.ops.duet.add_head_pair() == {"FINISHED"}
scene.render.fps = 30
scene.frame_start, scene.frame_end = 1, 40
s.audio, s.motion_file = AUDIO, MOTION
s.fit_range = True
s.person_a.mouth = 0.5
before = state()
made, result = undone("bake_file")
out["bake"] = [result, state() == before, sorted(k for k in before if made.get(k) != before[k])]
out["made"] = {k: made[k] for k in ("scene", "strips", "actions")}
s = bpy.context.scene.duet
assert bpy.ops.duet.bake_file() == {"FINISHED"}
baked = state()
made, result = undone("clear")
out["clear"] = [result, state() == baked, sorted(k for k in baked if made.get(k) != baked[k])]
'''


def test_bake_from_file_and_clear_are_undone_in_one_step(addon_zip, tmp_path):
    from bake_support import synthetic_motion

    synthetic_motion(seconds=2.0, seed=3).save(tmp_path / "talk.npz")
    code = (f"AUDIO = {str(_tone(tmp_path / 'tone.wav', 2.0))!r}\nMOTION = {str(tmp_path / 'talk.npz')!r}\n"
            + STATE + BAKE)
    r = blender(code, tmp_path / "blender", addon_zip)
    result, restored, changed = r["bake"]
    assert result == ["FINISHED"]
    # the bake changed the scene (a grown frame range, a sound strip, Duet's actions and NLA takes, keyed
    # values), and one undo put every one of those back
    assert r["made"]["scene"][2] == 1 + 49 * 30 // 25 and [st[0] for st in r["made"]["strips"]] == ["tone"]
    assert {"Duet A", "Duet B"} <= set(r["made"]["actions"])
    assert {"scene", "strips", "actions", "sounds"} <= set(changed) and any(k.startswith("anim ") for k in changed)
    assert any(k.startswith("eval ") for k in changed) and restored, changed
    result, restored, changed = r["clear"]
    assert result == ["FINISHED"] and {"strips", "actions"} <= set(changed) and restored, changed
