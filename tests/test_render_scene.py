"""Two avatars in one shot: the framing camera, frames + video with audio, and the command's errors."""

import json
import subprocess
import wave

import numpy as np
import pytest
from conftest import run_duet
from duet.arkit import ARKIT_52
from duet.errors import DuetError
from duet.frames import facing_yaw
from duet.motion import DyadicMotion, PersonMotion
from duet.render import avatar as avatars
from duet.render.scene import BACKGROUND, frame_both, heads_for, render_motion
from duet.rigs import openhead
from duet.rigs.kinematics import transl_for_head

LAYOUT = {"A": np.array([-0.45, 1.55, 0.1]), "B": np.array([0.45, 1.6, -0.1])}


TURN = {"A": -0.6, "B": 0.6}  # both turn a little towards +Z, away from facing each other squarely


def _motion(n=3, jaw_a=(0.0, 0.0, 0.35)):
    people = {}
    for p, other in (("A", "B"), ("B", "A")):
        yaw = facing_yaw(LAYOUT[p], LAYOUT[other]) + TURN[p]
        m = PersonMotion.still(n, len(ARKIT_52), transl_for_head(LAYOUT[p], yaw))
        m.poses["global"][:] = [0.0, yaw, 0.0]
        if p == "A":
            m.poses["jaw"][:, 0] = jaw_a[:n]
        people[p] = m
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=ARKIT_52, meta={"audio": ["mix.wav"]})


def _project(cam, pts):
    c = pts @ cam.viewmat[:3, :3].T + cam.viewmat[:3, 3]
    return c[:, :2] / c[:, 2:] * cam.K[0, 0] + cam.K[:2, 2], c[:, 2]


@pytest.mark.parametrize("size", [256, "640x360"])
def test_camera_is_the_previews_two_shot_both_heads_large_the_talker_facing_it(size):
    m = _motion()
    m.B.speaking[:] = 1.0   # B talks: B's face is the one turned to the lens
    cam = frame_both(m, size)
    w, h = cam.width, cam.height
    heads = heads_for(m)
    boxes = {}
    for p in "AB":
        person = m.person(p)
        v = openhead.forward(heads[p], person.expr[:1], {j: x[:1] for j, x in person.poses.items()}, person.transl[:1])[0]
        y = heads[p].vertices[:, 1]
        proper = v[y >= y.max() - 0.71 * np.ptp(y)]   # crown to under the chin, as the preview measures
        uv, z = _project(cam, proper)
        assert (z > 0.3).all()
        assert ((uv > [-0.01 * w, -0.01 * h]) & (uv < [1.01 * w, 1.01 * h])).all(), p   # the whole head in frame
        boxes[p] = uv.min(0), uv.max(0)
        assert np.ptp(uv[:, 1]) >= 0.5 * h, (p, np.ptp(uv[:, 1]) / h)   # at least half the frame height
    (a0, a1), (b0, b1) = boxes["A"], boxes["B"]
    if w > h:   # a wide frame has room for both side by side; a square one overlaps them over the shoulder
        assert min(a1[0], b1[0]) < max(a0[0], b0[0])
    toward = cam.position - LAYOUT["B"]
    yaw = m.B.poses["global"][0, 1]
    nose = np.array([np.sin(yaw), 0.0, np.cos(yaw)])   # the face's direction (a yaw about +Y turns +Z)
    assert nose @ toward / np.linalg.norm(toward) > np.cos(np.deg2rad(60))   # B's face towards the lens


def _wav(path, seconds=0.2):
    t = np.arange(int(16000 * seconds)) / 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(x.tobytes())


def test_render_frames_and_video_with_audio(tmp_path):
    from PIL import Image

    m = _motion()
    _wav(tmp_path / "mix.wav")
    summary = render_motion(m, tmp_path / "frames", size=96, video=tmp_path / "clip.mp4", base=tmp_path, quiet=True)
    assert summary["frames"] == 3 and summary["audio"] == ["mix.wav"]
    frames = [np.asarray(Image.open(tmp_path / "frames" / f"frame_{i:05d}.png")).astype(float) for i in (1, 2, 3)]
    bg = np.array(BACKGROUND) * 255
    # which side of the frame each person is on: their eyes through the render's camera
    eyes_x, _ = _project(frame_both(m, 96), np.stack([LAYOUT["A"], LAYOUT["B"]]))
    a_side = slice(0, 40) if eyes_x[0, 0] < eyes_x[1, 0] else slice(56, 96)
    b_side = slice(56, 96) if a_side.start == 0 else slice(0, 40)
    for f in frames:
        assert f.shape == (96, 96, 3)
        person = np.abs(f - bg).sum(-1) > 20
        assert person[:, a_side].mean() > 0.05 and person[:, b_side].mean() > 0.05  # both people are there
    # Only A's jaw moves: frames differ on A's side, B's side is unchanged.
    diff = np.abs(frames[2] - frames[0]).sum(-1)
    assert diff[:, a_side].max() > 60 and diff[:, b_side].max() < 3
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,nb_frames,duration",
                            "-of", "json", str(tmp_path / "clip.mp4")], capture_output=True, text=True, check=True)
    streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
    assert streams["video"]["codec_name"] == "h264" and int(streams["video"]["nb_frames"]) == 3
    assert streams["audio"]["codec_name"] == "aac"
    assert float(streams["audio"]["duration"]) == pytest.approx(3 / 25, abs=0.07)  # the whole clip, cut to it


def test_never_replaces_a_folder_with_other_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DuetError, match="other files"):
        render_motion(_motion(1), out, size=32, quiet=True)
    assert (out / "notes.txt").read_text() == "keep me"


def test_an_avatar_for_another_rig_is_rebound_or_refused(tmp_path, capsys):
    a = avatars.shipped("A")
    a.rig = "12:000000000000"
    a.rest_vertices = a.rest_faces = None  # nothing to rebind from
    with pytest.raises(DuetError, match="refit"):
        render_motion(_motion(1), tmp_path / "f", size=32, avatar_set={"A": a}, quiet=True)
    assert not (tmp_path / "f").exists()
    b = avatars.shipped("B")
    b.rig = "1:000000000000"  # as if the rig changed since the fit: B carries its rest mesh, so it is rebound
    render_motion(_motion(1), tmp_path / "g", size=32, avatar_set={"B": b})
    assert (tmp_path / "g" / "frame_00001.png").exists() and "rebinding" in capsys.readouterr().err


def test_cli_renders_and_reports_bad_input_in_one_line(tmp_path):
    m = _motion(2)
    m.save(tmp_path / "m.npz")
    r = run_duet("render", tmp_path / "m.npz", "--out", tmp_path / "frames", "--size", "48")
    assert r.rc == 0, r.err
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["frame_00001.png", "frame_00002.png", "render.json"]
    r = run_duet("render", tmp_path / "m.npz", "--out", tmp_path / "frames", "--size", "4")
    assert r.rc == 1 and "--size" in r.err and len(r.err.strip().splitlines()) == 1
    (tmp_path / "bad.npz").write_bytes(b"nope")
    r = run_duet("render", tmp_path / "bad.npz", "--out", tmp_path / "x")
    assert r.rc == 1 and len(r.err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
    r = run_duet("render", tmp_path / "m.npz", "--out", tmp_path / "y", "--avatar-a", tmp_path / "m.txt")
    assert r.rc == 1 and ".npz" in r.err
