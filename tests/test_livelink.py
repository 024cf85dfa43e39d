"""Live Link Face CSV: the documented header, parseable rows, and values derived from the motion."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from duet.arkit import ARKIT_52, EYE_LOOK_RAD, JAW_OPEN_RAD, canonical, channels_from_joints, to_arkit
from duet.errors import DuetError
from duet.frames import rotmat
from duet.exports.livelink import HEADER, export_livelink, timecodes, yaw_pitch_roll
from tests.bake_support import synthetic_motion


def test_canonical_names_match_arkit_variants():
    assert canonical("eyeBlink_L") == canonical("EyeBlinkLeft") == canonical("eye_blink.left") == "eyeblinkleft"
    assert canonical("JawOpen") == canonical("jawOpen")
    assert canonical("mouthSmile.R") == "mouthsmileright"
    assert canonical("eyeBlinkLeft") != canonical("eyeBlinkRight")


def test_channels_from_joints_follow_the_lead_convention():
    t = 5
    poses = {"jaw": np.zeros((t, 3)), "eye_L": np.zeros((t, 3)), "eye_R": np.zeros((t, 3))}
    poses["jaw"][:, 0] = [0, 0.175, 0.35, 0.7, -0.1]
    poses["eye_L"][1] = [0.25, 0, 0]     # looks down by 0.25 rad
    poses["eye_L"][2] = [0, 0.25, 0]     # looks to the person's left: outward for the left eye
    poses["eye_R"][2] = [0, 0.25, 0]     # ... and inward for the right eye
    poses["eye_R"][3] = [-1.0, 0, 0]     # far up: clipped at 1
    ch = channels_from_joints(poses)
    np.testing.assert_allclose(ch["jawOpen"], [0, 0.5, 1, 1, 0], atol=1e-6)
    assert ch["eyeLookDownLeft"][1] == pytest.approx(0.25 / EYE_LOOK_RAD)
    assert ch["eyeLookUpLeft"][1] == 0
    assert ch["eyeLookOutLeft"][2] == pytest.approx(0.5) and ch["eyeLookInLeft"][2] == 0
    assert ch["eyeLookInRight"][2] == pytest.approx(0.5) and ch["eyeLookOutRight"][2] == 0
    assert ch["eyeLookUpRight"][3] == 1.0
    assert JAW_OPEN_RAD == 0.35


def test_yaw_pitch_roll_inverts_the_composition():
    rng = np.random.default_rng(1)
    ypr = rng.uniform(-1, 1, (20, 3))
    r = rotmat(np.c_[np.zeros(20), ypr[:, 0], np.zeros(20)]) @ rotmat(np.c_[ypr[:, 1], np.zeros((20, 2))]) \
        @ rotmat(np.c_[np.zeros((20, 2)), ypr[:, 2]])
    np.testing.assert_allclose(yaw_pitch_roll(r), ypr, atol=1e-9)


def test_timecodes_count_frames_within_a_second():
    tc = timecodes(3 * 3600 * 25 + 62 * 25 + 8, 25)
    assert tc[0] == "00:00:00:00.000" and tc[24] == "00:00:00:24.000" and tc[25] == "00:00:01:00.000"
    assert tc[-1] == "03:01:02:07.000"


# The header row of a CSV recorded by the Live Link Face app (Epic Games), as published with open
# importers that read its columns by position (e.g. PyLiveLinkFace's Blender scripts).
LIVE_LINK_FACE_HEADER = (
    "Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,EyeLookUpLeft,"
    "EyeSquintLeft,EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,EyeLookOutRight,EyeLookUpRight,"
    "EyeSquintRight,EyeWideRight,JawForward,JawRight,JawLeft,JawOpen,MouthClose,MouthFunnel,MouthPucker,"
    "MouthRight,MouthLeft,MouthSmileLeft,MouthSmileRight,MouthFrownLeft,MouthFrownRight,MouthDimpleLeft,"
    "MouthDimpleRight,MouthStretchLeft,MouthStretchRight,MouthRollLower,MouthRollUpper,MouthShrugLower,"
    "MouthShrugUpper,MouthPressLeft,MouthPressRight,MouthLowerDownLeft,MouthLowerDownRight,MouthUpperUpLeft,"
    "MouthUpperUpRight,BrowDownLeft,BrowDownRight,BrowInnerUp,BrowOuterUpLeft,BrowOuterUpRight,CheekPuff,"
    "CheekSquintLeft,CheekSquintRight,NoseSneerLeft,NoseSneerRight,TongueOut,HeadYaw,HeadPitch,HeadRoll,"
    "LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll")


def test_header_is_the_live_link_face_apps_column_for_column(tmp_path):
    export_livelink(synthetic_motion(seconds=0.4), tmp_path)
    assert ",".join(HEADER) == LIVE_LINK_FACE_HEADER
    assert (tmp_path / "A.csv").read_text().splitlines()[0] == LIVE_LINK_FACE_HEADER


def test_each_column_carries_its_own_channel(tmp_path):
    """Left and right stay on their own sides: each channel's values sit under its own name."""
    motion = synthetic_motion(seconds=1.0, seed=5)
    export_livelink(motion, tmp_path)
    with open(tmp_path / "B.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    want = to_arkit(motion.B.expr, motion.expr_names, motion.B.poses)
    for name in ("jawLeft", "jawRight", "mouthLeft", "mouthRight", "mouthSmileLeft", "eyeBlinkRight"):
        got = [float(r[name[0].upper() + name[1:]]) for r in rows]
        np.testing.assert_allclose(got, want[:, ARKIT_52.index(name)], atol=2e-6)
    assert np.ptp(want[:, ARKIT_52.index("jawLeft")] - want[:, ARKIT_52.index("jawRight")]) > 0.01


def test_csv_has_the_documented_header_and_the_motion_values(tmp_path):
    motion = synthetic_motion(seconds=2.0, seed=3)
    (tmp_path / "keep.txt").write_text("user file")
    paths = export_livelink(motion, tmp_path)
    assert [p.name for p in paths] == ["A.csv", "B.csv"]
    assert (tmp_path / "keep.txt").read_text() == "user file"
    for person, path in zip("AB", paths):
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        assert header[:4] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft"]
        assert header[-9:] == ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch",
                               "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]
        assert len(header) == 63 and tuple(header) == HEADER and header[19] == "JawOpen"
        assert len(body) == motion.n_frames and all(len(r) == 63 for r in body)
        assert {r[1] for r in body} == {"61"}
        values = np.array([[float(v) for v in r[2:]] for r in body])
        p = motion.person(person)
        want = to_arkit(p.expr, motion.expr_names, p.poses)
        order = [ARKIT_52.index(h[0].lower() + h[1:]) for h in header[2:54]]
        np.testing.assert_allclose(values[:, :52], want[:, order], atol=2e-6)
        # the engine leaves jawOpen to the jaw joint; the CSV carries it
        jaw = np.clip(p.expr[:, ARKIT_52.index("jawOpen")] + p.poses["jaw"][:, 0] / JAW_OPEN_RAD, 0, 1)
        np.testing.assert_allclose(values[:, 17], jaw, atol=2e-6)
        # the head is relative to the first frame's facing: at frame 0 only the neck turns it
        np.testing.assert_allclose(values[0, 52:55], yaw_pitch_roll(rotmat(p.poses["neck"][0])), atol=2e-6)
        np.testing.assert_allclose(values[:, 55:58], yaw_pitch_roll(rotmat(p.poses["eye_L"])), atol=2e-6)
        assert np.ptp(values[:, 52]) > 0.01


def test_export_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "ll").write_text("x")
    with pytest.raises(DuetError, match="not a folder"):
        export_livelink(synthetic_motion(seconds=0.4), tmp_path / "ll")
