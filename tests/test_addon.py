"""The Blender add-on: built by `duet addon build`, installed into the bpy wheel from the zip (a fresh
process per test, a temporary extensions repository), then driven through its operators against a
real engine subprocess and a real `duet serve` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_duet
from test_service import serve

pytestmark = pytest.mark.blender

PRELUDE = r'''
import json, os, sys
ENGINE = os.path.join(ROOT, "engine")
sys.path[:] = [p for p in sys.path if os.path.abspath(p) != ENGINE]  # use the copy bundled in the zip
import bpy
repo = bpy.context.preferences.extensions.repos.new(name="Test", module="duet_test",
                                                    custom_directory=os.path.join(TMP, "repo"), source="USER")
assert bpy.ops.extensions.package_install_files(filepath=ZIP, repo="duet_test", enable_on_install=True) == {"FINISHED"}
ADDON = "bl_ext.duet_test.duet"
prefs = bpy.context.preferences.addons[ADDON].preferences
import duet
assert duet.__file__.startswith(os.path.join(TMP, "ext")), duet.__file__  # the wheel inside the zip
s = bpy.context.scene.duet
scene = bpy.context.scene
out = {}

def keyed(head):
    """Per bone: the max angle (rad) the keyed animation reaches; plus the frames keyed."""
    import numpy as np
    angles = {b.name: [] for b in head.pose.bones}
    for f in range(scene.frame_start, scene.frame_end + 1, 2):
        scene.frame_set(f)
        for b in head.pose.bones:
            angles[b.name].append(b.rotation_quaternion.angle)
    return {k: float(np.max(v)) for k, v in angles.items()}
'''


def blender(code: str, tmp_path: Path, zip_path: Path, timeout: float = 300) -> dict:
    """Run PRELUDE + code in a fresh Python with bpy; the script's last stdout line is JSON."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    head = f"ROOT = {str(ROOT)!r}\nTMP = {str(tmp_path)!r}\nZIP = {str(zip_path)!r}\nPYTHON = {sys.executable!r}\n"
    env = {**os.environ, "BLENDER_USER_CONFIG": str(tmp_path / "config"),
           "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts"), "BLENDER_USER_EXTENSIONS": str(tmp_path / "ext")}
    p = subprocess.run([sys.executable, "-c", head + PRELUDE + code + "\nprint(json.dumps(out))"],
                       capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    assert p.returncode == 0, f"blender script failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def addon_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("addon")
    r = run_duet("addon", "build", "-o", out, "--platform", "linux-x64", timeout=600)
    assert r.rc == 0, r.err
    path = Path(r.out.strip())
    assert path == out / "duet-0.1.0-linux_x64.zip" and path.is_file()
    return path


def test_zip_holds_addon_manifest_and_the_engine_wheels(addon_zip):
    import tomllib

    with zipfile.ZipFile(addon_zip) as z:
        names = set(z.namelist())
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
        with zipfile.ZipFile(z.open("wheels/duet-0.1.0-py3-none-any.whl")) as w:
            engine = set(w.namelist())
    assert {"__init__.py", "operators.py", "panel.py", "preferences.py", "properties.py", "compat.py"} <= names
    assert not any(n.startswith("vendor/") for n in names)
    # the engine with its networks and heads; Blender installs it with the runtime wheels
    assert {"duet/motion.py", "duet/blender/bake.py", "duet/model/exported.py", "duet/weights/duet-dual.onnx",
            "duet/weights/ge2e.npz", "duet/rigs/openhead.npz"} <= engine
    assert not any("torch" in n for n in names)
    assert manifest["id"] == "duet" and len(manifest["tagline"]) < 64 and manifest["tagline"][-1].isalnum()
    generated = manifest["build"]["generated"]  # Blender's tool narrows the manifest to the zip's platform
    assert generated["platforms"] == ["linux-x64"] and "./wheels/duet-0.1.0-py3-none-any.whl" in generated["wheels"]
    assert set(manifest["permissions"]) == {"files", "network"}
    assert manifest["blender_version_min"] == "4.4.0" and manifest["license"] == ["SPDX:GPL-3.0-or-later"]


def test_manifest_rules_and_bundled_imports():
    from duet.blender import extension as addon_build

    good = {"schema_version": "1.0.0", "id": "duet", "version": addon_build.__version__, "name": "Duet",
            "tagline": "Two people talking", "maintainer": "x", "type": "add-on",
            "blender_version_min": "4.2.0", "license": ["SPDX:GPL-3.0-or-later"],
            "permissions": {"files": "Read audio"}}
    assert addon_build.check_manifest(good) == []
    assert any("tagline" in p for p in addon_build.check_manifest({**good, "tagline": "Two people talking."}))
    assert any("tagline" in p for p in addon_build.check_manifest({**good, "tagline": "x" * 64}))
    assert any("license" in p for p in addon_build.check_manifest({**good, "license": "GPL"}))
    assert any("permission" in p for p in addon_build.check_manifest({**good, "permissions": {"files": "Read."}}))
    assert any("version" in p for p in addon_build.check_manifest({**good, "version": "9.9.9"}))
    assert addon_build.bundled_imports(addon_build.bundled_files()) == []
    heavy = addon_build.PACKAGE / "audio" / "voiceprint.py"  # the audio front end at import: not in Blender
    assert any("imports duet.audio" in p for p in addon_build.bundled_imports([heavy]))
    network = addon_build.PACKAGE / "model" / "network.py"  # torch at import time
    assert any("imports torch" in p for p in addon_build.bundled_imports([network]))


GENERATE = r'''
from pathlib import Path
out["blockers"] = [bpy.ops.duet.generate.poll()]
assert bpy.ops.duet.add_head_pair() == {"FINISHED"}
a, b = s.head_a, s.head_b
out["people"] = [a.get("duet_person"), b.get("duet_person")]
out["blocker_no_audio"] = __import__(ADDON + ".operators", fromlist=["x"]).generate_blocker(bpy.context)
scene.render.fps = 30  # the user's scene: Generate keeps its fps and frame range
scene.frame_start, scene.frame_end = 1, 100
s.audio = AUDIO
s.prompt = "two friends chatting in a cafe"
out["can_generate"] = bpy.ops.duet.generate.poll()
result = bpy.ops.duet.generate()
out["result"] = sorted(result)
out["message"], out["error"] = s.message, s.message_is_error
out["fps"] = scene.render.fps / scene.render.fps_base
out["range"] = [scene.frame_start, scene.frame_end]
out["strips"] = [(st.name, st.frame_final_duration) for st in scene.sequence_editor.strips]
out["actions"] = [a.animation_data.action, b.animation_data.action]
out["takes"] = [[[t.name, [st.action.name for st in t.strips]] for t in h.animation_data.nla_tracks] for h in (a, b)]
from duet.motion import DyadicMotion
m = DyadicMotion.load(s.motion_file)
out["n_frames"] = m.n_frames
out["motion_fps"] = m.fps
out["take"] = os.path.splitext(os.path.basename(s.motion_file))[0]
# the jaw follows the speaker: compare the keyed jaw at A's busiest frame with the motion at that time
import numpy as np
fa = int(np.argmax(m.A.poses["jaw"][:, 0]))
k = round(fa * 30 / m.fps)
scene.frame_set(scene.frame_start + k)
out["jaw_A_keyed"] = a.pose.bones["jaw"].rotation_quaternion.angle
out["jaw_A_motion"] = float(np.interp(k * m.fps / 30, np.arange(m.n_frames), np.linalg.norm(m.A.poses["jaw"], axis=-1)))
scene.frame_end = scene.frame_start + round((m.n_frames - 1) * 30 / m.fps)  # keyed() walks the whole take
out["keyed_A"] = keyed(a)
out["keyed_B"] = keyed(b)
'''


def test_generate_with_engine_subprocess(addon_zip, conversation, tmp_path):
    code = f"AUDIO = {str(conversation.mix)!r}\nprefs.engine_mode = 'SUBPROCESS'\nprefs.python = PYTHON\n" + GENERATE + r'''
assert bpy.ops.duet.clear() == {"FINISHED"}
out["after_clear"] = [a.animation_data is None, len(list(scene.sequence_editor.strips))]
scene.frame_set(scene.frame_start + fa)
out["jaw_after_clear"] = a.pose.bones["jaw"].rotation_quaternion.angle
'''
    r = blender(code, tmp_path, addon_zip)
    assert r["blockers"] == [False] and "audio" in r["blocker_no_audio"]
    assert r["people"] == ["A", "B"]
    assert r["can_generate"] and r["result"] == ["FINISHED"] and not r["error"], r["message"]
    assert r["fps"] == 30 and r["motion_fps"] == 25 and r["range"] == [1, 100]  # the scene's own timing stays
    assert abs(r["n_frames"] / 25 - conversation.seconds) < 0.1
    assert [name for name, _ in r["strips"]] == ["mix"] and abs(r["strips"][0][1] - 30 * conversation.seconds) <= 2
    assert r["actions"] == [None, None]  # the take is an NLA strip on Duet's track, named after the take
    assert r["takes"] == [[[r["take"], ["Duet A"]]], [[r["take"], ["Duet B"]]]]
    assert r["jaw_A_motion"] > 0.1 and abs(r["jaw_A_keyed"] - r["jaw_A_motion"]) < 0.02
    for person in ("A", "B"):  # both speak, so both jaws open; heads and eyes move
        keyed = r[f"keyed_{person}"]
        assert keyed["jaw"] > 0.1 and keyed["neck"] > 0.01 and keyed["eye_L"] > 0.01, keyed
    assert r["after_clear"] == [True, 0] and r["jaw_after_clear"] < 1e-6


def test_generate_with_duet_serve(addon_zip, conversation, tmp_path):
    with serve() as url:
        code = (f"AUDIO = {str(conversation.mix)!r}\nprefs.engine_mode = 'SERVICE'\nprefs.server_url = {url!r}\n"
                + GENERATE)
        r = blender(code, tmp_path, addon_zip)
    assert r["result"] == ["FINISHED"] and not r["error"], r["message"]
    assert r["range"] == [1, 100] and abs(r["n_frames"] / 25 - conversation.seconds) < 0.1
    assert r["jaw_A_motion"] > 0.1 and abs(r["jaw_A_keyed"] - r["jaw_A_motion"]) < 0.02
    assert r["keyed_B"]["jaw"] > 0.1


def test_errors_show_in_the_ui_and_bake_from_file(addon_zip, conversation, tmp_path):
    motion = tmp_path / "given.npz"
    assert run_duet("generate", conversation.mix, "--seed", "4", "-o", motion, timeout=120).rc == 0
    code = f"AUDIO = {str(conversation.mix)!r}\nMOTION = {str(motion)!r}\n" + r'''
ops = __import__(ADDON + ".operators", fromlist=["x"])
assert bpy.ops.duet.add_head_pair() == {"FINISHED"}
prefs.engine_mode = "SUBPROCESS"
prefs.python = os.path.join(TMP, "no-python")
s.audio = AUDIO
out["no_python"] = ops.generate_blocker(bpy.context)
prefs.python = PYTHON
bad = os.path.join(TMP, "notes.wav")
open(bad, "w").write("not audio")
s.audio = bad
try:
    bpy.ops.duet.generate()
except RuntimeError as e:   # an operator's ERROR report raises in scripts
    out["raised"] = str(e)
out["bad_audio"] = [s.message, s.message_is_error, s.running]
s.audio_mode = "PROMPT"
out["prompt_blocker"] = ops.generate_blocker(bpy.context)
s.audio_mode = "MIX"
s.audio = AUDIO
s.motion_file = MOTION
s.fit_range = True
s.markers = True
assert bpy.ops.duet.bake_file() == {"FINISHED"}
out["baked"] = [s.head_a.animation_data.nla_tracks[0].strips[0].action.name, scene.frame_end,
                [st.name for st in scene.sequence_editor.strips]]
out["markers"] = sorted([m.name, m.frame] for m in scene.timeline_markers)
s.export_format = "GLB"
s.export_path = os.path.join(TMP, "pair.glb")
assert bpy.ops.duet.export() == {"FINISHED"}
s.export_format = "LIVELINK"
s.export_path = os.path.join(TMP, "livelink")
assert bpy.ops.duet.export() == {"FINISHED"}
out["render_poll"] = bpy.ops.duet.render_avatars.poll()
out["undoable"] = {n: "UNDO" in getattr(bpy.types, n).bl_options for n in
                   ("DUET_OT_generate", "DUET_OT_add_head_pair", "DUET_OT_bake_file", "DUET_OT_clear")}
'''
    r = blender(code, tmp_path, addon_zip)
    assert "Python" in r["no_python"]
    assert "notes.wav" in r["raised"] and "decode" in r["raised"]
    msg, is_error, running = r["bad_audio"]
    assert is_error and "notes.wav" in msg and not running
    assert "prompt" in r["prompt_blocker"]
    from duet.motion import DyadicMotion

    n = DyadicMotion.load(motion).n_frames
    assert r["baked"] == ["Duet A", 1 + (n - 1) * 24 // 25, ["mix"]]  # Fit Frame Range: the take, at the scene's 24 fps
    from duet.audio.turns import floor_changes

    given = DyadicMotion.load(motion)  # Mark Turns: where each turn begins, at the scene's 24 fps
    turns = floor_changes(np.stack([given.A.speaking, given.B.speaking]))
    unsure = [[f"given: unsure until {b:.1f} s", 1 + round(a * 24)] for a, b in given.meta.get("who_speaks_unsure", [])]
    assert turns and r["markers"] == sorted([[f"given: {p}", 1 + round(t * 24)] for p, t in turns] + unsure)
    glb = (tmp_path / "pair.glb").read_bytes()
    assert glb[:4] == b"glTF" and len(glb) > 100_000
    rows = (tmp_path / "livelink" / "A.csv").read_text().splitlines()
    assert len(rows) == n + 1 and rows[0].startswith("Timecode")
    assert r["render_poll"] is True  # a baked motion can be rendered
    assert all(r["undoable"].values()), r["undoable"]  # the undo stack itself needs a window


@pytest.mark.slow
def test_generate_from_prompt_alone(addon_zip, tmp_path):
    code = r'''
prefs.engine_mode = "SUBPROCESS"
prefs.python = PYTHON
assert bpy.ops.duet.add_head_pair() == {"FINISHED"}
s.audio_mode = "PROMPT"
out["blocker_empty"] = __import__(ADDON + ".operators", fromlist=["x"]).generate_blocker(bpy.context)
s.prompt = "two colleagues argue about a deadline at the office"
out["result"] = sorted(bpy.ops.duet.generate())
out["message"] = s.message
from duet.motion import DyadicMotion
scene.frame_end = round((DyadicMotion.load(s.motion_file).n_frames - 1) * scene.render.fps / 25) + 1
out["range"] = [scene.frame_start, scene.frame_end]
out["strips"] = [(st.name, st.frame_final_duration) for st in scene.sequence_editor.strips]
out["keyed_A"], out["keyed_B"] = keyed(s.head_a), keyed(s.head_b)
out["motion"] = s.motion_file
'''
    r = blender(code, tmp_path, addon_zip)
    assert "Describe the scene" in r["blocker_empty"]
    assert r["result"] == ["FINISHED"], r["message"]
    n = r["range"][1]
    assert n > 50 and [name for name, _ in r["strips"]] == ["mix"] and abs(r["strips"][0][1] - n) <= 2
    assert r["keyed_A"]["jaw"] > 0.1 and r["keyed_B"]["jaw"] > 0.1
    assert (Path(r["motion"]).parent / (Path(r["motion"]).stem + "-dialogue") / "mix.wav").is_file()


def _short_motion(path: Path, n: int, fps: float) -> Path:
    """Two heads a metre apart turned a little towards the camera side, A's jaw moving."""
    import numpy as np

    from duet.arkit import ARKIT_52
    from duet.frames import facing_yaw
    from duet.motion import DyadicMotion, PersonMotion
    from duet.rigs.kinematics import transl_for_head

    eyes = {"A": np.array([-0.45, 1.55, 0.0]), "B": np.array([0.45, 1.55, 0.0])}
    people = {}
    for p, other, turn in (("A", "B", -0.5), ("B", "A", 0.5)):
        yaw = facing_yaw(eyes[p], eyes[other]) + turn
        people[p] = PersonMotion.still(n, len(ARKIT_52), transl_for_head(eyes[p], yaw))
        people[p].poses["global"][:] = [0.0, yaw, 0.0]
    people["A"].poses["jaw"][:, 0] = 0.2 + 0.15 * np.sin(np.arange(n) / 2.0)
    DyadicMotion(A=people["A"], B=people["B"], expr_names=ARKIT_52, fps=fps).save(path)
    return path


def _tone(path: Path, seconds: float) -> Path:
    import wave

    import numpy as np

    t = np.arange(int(16000 * seconds)) / 16000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((8000 * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes())
    return path


RENDER = r'''
ops = __import__(ADDON + ".operators", fromlist=["x"])
blockers = {}
blockers["built_in"] = ops.render_blocker(bpy.context)  # the default: no torch in Blender
prefs.engine_mode = "SERVICE"
blockers["service"] = ops.render_blocker(bpy.context)
prefs.engine_mode = "SUBPROCESS"
prefs.python = os.path.join(TMP, "no-python")
blockers["no_python"] = ops.render_blocker(bpy.context)
prefs.python = PYTHON
blockers["no_motion"] = ops.render_blocker(bpy.context)
assert bpy.ops.duet.add_head_pair() == {"FINISHED"}
scene.render.fps = 10  # the scene runs at the motion's rate: one rendered frame per scene frame
s.audio, s.motion_file = AUDIO, MOTION
assert bpy.ops.duet.bake_file() == {"FINISHED"}
s.render_size = (95, 54)
blockers["odd"] = ops.render_blocker(bpy.context)
s.render_size = (96, 54)
out["blockers"] = blockers
out["can_render"] = bpy.ops.duet.render_avatars.poll()
out["result"] = sorted(bpy.ops.duet.render_avatars())
out["message"], out["error"], out["running"] = s.message, s.message_is_error, s.running
def strips():
    return sorted((st.channel, st.type, st.name, st.frame_start, st.frame_final_duration,
                   bpy.path.abspath(getattr(st, "filepath", "") or st.sound.filepath)) for st in scene.sequence_editor.strips)
out["strips"] = strips()
ops.add_movie(scene, ops.render_outputs(MOTION)[1])  # a new render replaces the last movie strip
out["strips_again"] = strips()
'''


def test_render_gaussian_avatars_into_the_sequencer(addon_zip, tmp_path):
    motion = _short_motion(tmp_path / "talk.npz", n=10, fps=10.0)
    audio = _tone(tmp_path / "tone.wav", 1.0)
    code = f"AUDIO = {str(audio)!r}\nMOTION = {str(motion)!r}\n" + RENDER
    r = blender(code, tmp_path / "blender", addon_zip)
    b = r["blockers"]
    assert "torch" in b["built_in"] and b["service"] == b["built_in"] and "Python" in b["no_python"]
    assert "Generate or Bake From File" in b["no_motion"] and "even" in b["odd"]
    assert r["can_render"] and r["result"] == ["FINISHED"] and not r["error"] and not r["running"], r["message"]
    frames, video = tmp_path / "talk-render", tmp_path / "talk-render.mp4"
    assert sorted(f.name for f in frames.glob("*.png")) == [f"frame_{k:05d}.png" for k in range(1, 11)]
    assert str(frames) in r["message"] and "channel 2" in r["message"]
    sound, movie = (tuple(x) for x in r["strips"])
    assert sound == (1, "SOUND", "tone", 1, 10, str(audio))  # the sound strip is left as it was
    assert movie == (2, "MOVIE", "Duet render", 1, 10, str(video))  # one frame per motion frame
    assert [tuple(x) for x in r["strips_again"]] == [sound, movie]
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height",
                            "-of", "json", str(video)], capture_output=True, text=True, check=True)
    streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
    assert (streams["video"]["width"], streams["video"]["height"]) == (96, 54) and "audio" in streams


def test_render_job_cancel_leaves_nothing_and_errors_are_one_line(tmp_path):
    from duet.service.client import RenderJob

    motion = _short_motion(tmp_path / "long.npz", n=200, fps=25.0)
    job = RenderJob(sys.executable, str(motion), str(tmp_path / "frames"), str(tmp_path / "v.mp4"), (64, 64))
    deadline = time.monotonic() + 60
    while not job.poll().stage.startswith("rendering frame") and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = job.poll()
    job.cancel()
    status = job.wait(30)
    assert seen.stage.startswith("rendering frame") and 0 < seen.fraction < 0.5, seen
    assert status.state == "cancelled"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npz"]  # no frames, no video, no temporaries
    bad = tmp_path / "notes.npz"
    bad.write_text("not a motion")
    failed = RenderJob(sys.executable, str(bad), str(tmp_path / "f2"), str(tmp_path / "v2.mp4"), (64, 64)).wait(60)
    assert failed.state == "failed" and "notes.npz" in failed.error and "\n" not in failed.error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npz", "notes.npz"]


USER_BAKE = r'''
ops = __import__(ADDON + ".operators", fromlist=["x"])
bpy.ops.wm.open_mainfile(filepath=USER)
scene = bpy.context.scene
s = scene.duet
s.head_a, s.head_b = bpy.data.objects["Hero"], bpy.data.objects["Sidekick"]

def snapshot():
    v = {"scene": [scene.render.fps, scene.frame_start, scene.frame_end,
                   sorted([st.name, st.channel, st.frame_final_start] for st in scene.sequence_editor.strips)]}
    for f in (10, 30, 70):
        scene.frame_set(f)
        for ob in (s.head_a, s.head_b):
            v[f"{ob.name} {f}"] = [list(b.matrix_basis.col[0]) + list(b.matrix_basis.col[1]) for b in ob.pose.bones]
            v[f"{ob.name} keys {f}"] = [kb.value for kb in ob.children[0].data.shape_keys.key_blocks]
    v["actions"] = [s.head_a.animation_data.action.name, s.head_b.animation_data.action.name]
    return v

before = snapshot()
for person in ("A", "B"):
    s.mapping_person = person
    assert bpy.ops.duet.match_channels() == {"FINISHED"}
p = s.person_a
out["matched"] = {row.channel: row.key for row in p.channels if row.key}
out["bones"] = [p.head_bone, p.jaw_bone, p.eye_l_bone, p.eye_r_bone, p.place_bone]
out["unmatched"] = len(ops.unmatched(p))
p.channels["mouthFunnel"].key = ""  # the animator drops one channel
assert bpy.ops.duet.save_mapping(filepath=PRESET) == {"FINISHED"}
p.mouth, p.blinks = 0.5, 0.0
s.motion_file = MOTION
s.blend = 0
assert bpy.ops.duet.bake_file() == {"FINISHED"}
out["message"] = s.message
act = bpy.data.actions["Duet A"]
curves = {f"{fc.data_path}[{fc.array_index}]": [list(k.co) for k in fc.keyframe_points]
          for l in act.layers for st in l.strips for bag in st.channelbags for fc in bag.fcurves}
out["paths"] = sorted({fc.data_path for l in act.layers for st in l.strips for bag in st.channelbags
                       for fc in bag.fcurves})
out["whole"] = all(k[0] == int(k[0]) for keys in curves.values() for k in keys)
out["jaw"] = [k[1] for k in curves['key_blocks["jawOpen"].value[0]']]
out["blink"] = [k[1] for k in curves['key_blocks["eyeBlink_L"].value[0]']]
out["tracks"] = [[t.name, [st.action.name for st in t.strips]] for t in s.head_a.animation_data.nla_tracks]
after = snapshot()
out["kept"] = {k: after[k] == before[k] for k in ("scene", "actions")}
assert bpy.ops.duet.clear() == {"FINISHED"}
out["cleared"] = snapshot() == before
s.first_speaker = "B"  # a mixed recording where B speaks first
out["first_speaker"] = ops.job_spec(s).get("first_speaker")
out["senior_default"] = [s.senior, ops.job_spec(s).get("senior")]  # auto: the scene decides
s.relation, s.senior = "boss-employee", "B"  # B is the boss
out["senior"] = [ops.job_spec(s).get(k) for k in ("relation", "senior")]
# a preset loads back onto the rows as saved
p.channels["mouthFunnel"].key = "mouthFunnel"
assert bpy.ops.duet.load_mapping(filepath=PRESET) == {"FINISHED"}
out["reloaded"] = s.person_a.channels["mouthFunnel"].key
'''


def test_user_characters_through_the_mapping_panel_strength_and_clear(addon_zip, tmp_path):
    import numpy as np

    from duet.blender.take import resample
    from tests.bake_support import run_blender, synthetic_motion
    from tests.test_bake_into import USER_SCENE

    motion = synthetic_motion(seconds=2.0, seed=8)
    motion.save(tmp_path / "talk.npz")
    _tone(tmp_path / "music.wav", 2.0)
    run_blender(f"FPS = 30\nROOT_BONE = 'COG'\nMUSIC = {str(tmp_path / 'music.wav')!r}\n"
                f"OUT = {str(tmp_path / 'user.blend')!r}\n" + USER_SCENE)
    code = (f"USER = {str(tmp_path / 'user.blend')!r}\nMOTION = {str(tmp_path / 'talk.npz')!r}\n"
            f"PRESET = {str(tmp_path / 'preset.json')!r}\n" + USER_BAKE)
    r = blender(code, tmp_path / "blender", addon_zip)
    # ARKit names in assorted spellings matched; the corrective and the custom key are not channels
    assert r["matched"] == {"jawOpen": "jawOpen", "eyeBlinkLeft": "eyeBlink_L", "eyeBlinkRight": "EyeBlinkRight",
                            "mouthSmileLeft": "mouthSmile_L", "browInnerUp": "BS_browInnerUp",
                            "mouthFunnel": "mouthFunnel"}
    assert r["bones"] == ["head", "jaw", "eye_L", "eye_R", ""] and r["unmatched"] == 46  # no placement bone
    # the preset is the JSON duet bake --mapping reads
    preset = json.loads((tmp_path / "preset.json").read_text())
    assert preset["A"]["shape_keys"]["mouthFunnel"] is None and preset["A"]["bones"]["global"] is None
    assert preset["A"]["bones"]["neck"] == "head" and r["reloaded"] == ""
    assert "Keyed take 'talk'" in r["message"]
    assert r["tracks"] == [["talk", ["Duet A"]]] and r["whole"]
    assert r["paths"] == sorted([*(f'pose.bones["{b}"].rotation_quaternion' for b in ("head", "jaw", "eye_L", "eye_R")),
                                 *(f'key_blocks["{k}"].value' for k in ("jawOpen", "eyeBlink_L", "EyeBlinkRight",
                                                                        "mouthSmile_L", "BS_browInnerUp"))])
    scene = resample(motion, 30.0)
    i = motion.expr_names.index
    np.testing.assert_allclose(r["jaw"], 0.5 * scene.A.expr[:, i("jawOpen")], atol=1e-5)  # mouth at half strength
    assert not any(r["blink"])  # blinks off
    assert r["kept"] == {"scene": True, "actions": True}  # fps, range, strips and the user's actions as they were
    assert r["cleared"]
    assert r["first_speaker"] == "B"
    assert r["senior_default"] == ["AUTO", None]
    assert r["senior"] == ["boss-employee", "B"]


WHO_SPEAKS = r'''
assert bpy.ops.duet.add_head_pair() == {"FINISHED"}
a, b = s.head_a, s.head_b
s.audio = AUDIO  # a mixed recording, on the built-in engine (Blender's own Python)
out["mode"] = prefs.engine_mode
out["first"] = sorted(bpy.ops.duet.generate())
out["message"], out["error"] = s.message, s.message_is_error
turns = os.path.splitext(s.motion_file)[0] + ".turns.txt"
out["turns"] = open(turns).read()
# the user decides every turn was A's: the edited file, given back, silences B
with open(os.path.join(TMP, "all_a.txt"), "w") as f:
    f.write("".join(line.rsplit("\t", 1)[0] + "\tA\n" for line in out["turns"].splitlines()))
s.turns_file = os.path.join(TMP, "nowhere.txt")
out["blocker_missing"] = __import__(ADDON + ".operators", fromlist=["x"]).generate_blocker(bpy.context)
s.turns_file = os.path.join(TMP, "all_a.txt")
out["second"] = sorted(bpy.ops.duet.generate())
out["message2"] = s.message
from duet.motion import DyadicMotion
m = DyadicMotion.load(s.motion_file)
out["speaking"] = [float(m.A.speaking.max()), float(m.B.speaking.max())]
s.turns_file, s.speakers = "", "1"  # or: one person talks
s.person_a.gaze_aversion = 0.0  # and A keeps looking at B's eyes
out["third"] = sorted(bpy.ops.duet.generate())
out["message3"] = s.message
from duet.eval.metrics import partner_gaze_angle
out["gaze_A"] = float(partner_gaze_angle(DyadicMotion.load(s.motion_file))["A"].mean())
out["gaze_A_before"] = float(partner_gaze_angle(m)["A"].mean())
'''


STEREO_MIX = r'''
assert bpy.ops.duet.add_head_pair() == {"FINISHED"}
s.audio_mode, s.audio = "STEREO", AUDIO  # chosen "Stereo", but the file is a mix on two microphones
out["first"] = sorted(bpy.ops.duet.generate())
out["message"], out["error"] = s.message, s.message_is_error
from duet.motion import DyadicMotion
m = DyadicMotion.load(s.motion_file)
out["both"] = float(((m.A.speaking >= 0.5) & (m.B.speaking >= 0.5)).mean())
'''


def test_a_mix_recorded_in_stereo_is_heard_as_a_mix_and_the_panel_says_so(addon_zip, conversation, tmp_path):
    from duet.audio.io import load_audio, save_wav

    mix = load_audio(conversation.mix).mono
    save_wav(tmp_path / "two_mics.wav", np.stack([mix, np.roll(mix, 8)]))  # 0.5 ms apart
    r = blender(f"AUDIO = {str(tmp_path / 'two_mics.wav')!r}\n" + STEREO_MIX, tmp_path, addon_zip)
    assert r["first"] == ["FINISHED"] and not r["error"], r["message"]
    assert "who speaks: both channels hold the same voices, so heard as a mix: two voices" in r["message"], r["message"]
    assert r["both"] < 0.02  # the two heads do not talk at once


def test_who_speaks_in_a_mix_is_said_written_and_can_be_corrected_and_gaze_aversion_reaches_the_engine(addon_zip, conversation, tmp_path):
    r = blender(f"AUDIO = {str(conversation.mix)!r}\n" + WHO_SPEAKS, tmp_path, addon_zip)
    assert r["mode"] == "BUILT_IN" and r["first"] == ["FINISHED"] and not r["error"], r["message"]
    assert "who speaks: two voices" in r["message"] and ".turns.txt" in r["message"]
    assert [line.split("\t")[2] for line in r["turns"].splitlines()][:3] == ["A", "B", "A"]
    assert r["blocker_missing"] == "The turns file does not exist"
    assert r["second"] == ["FINISHED"] and "who speaks: turns from" in r["message2"], r["message2"]
    assert r["speaking"][0] > 0.5 and r["speaking"][1] < 0.5
    assert r["third"] == ["FINISHED"] and "who speaks: one voice (forced)" in r["message3"], r["message3"]
    assert r["gaze_A"] < 0.1 < r["gaze_A_before"]  # the person's Gaze Aversion reached the engine
