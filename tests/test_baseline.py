import numpy as np
import pytest

from conftest import run_duet
from duet.motion import DyadicMotion
from duet.rigs import kinematics


def _turn_frames(turn, fps=25):
    _, s, e = turn
    return slice(int(s * fps) + 3, int(e * fps) - 3)


@pytest.mark.parametrize("shape", ["mono", "two-track", "stereo"])
def test_speaker_mouth_moves_more_than_listener(tmp_path, conversation, shape):
    out = tmp_path / "m.npz"
    args = {"mono": [conversation.mix], "two-track": [conversation.a, "--audio-b", conversation.b],
            "stereo": [conversation.stereo]}[shape]
    r = run_duet("generate", *args, "--animator", "baseline", "-o", out)
    assert r.rc == 0, r.err
    m = DyadicMotion.load(out)
    assert m.meta["input_shape"] == shape
    assert abs(m.n_frames - conversation.seconds * 25) <= 1
    for turn in conversation.turns:
        sl = _turn_frames(turn)
        speaker, listener = (m.A, m.B) if turn[0] == "A" else (m.B, m.A)
        s_jaw, l_jaw = speaker.poses["jaw"][sl, 0], listener.poses["jaw"][sl, 0]
        assert s_jaw.std() > 5 * max(l_jaw.std(), 1e-3), (shape, turn)
        assert speaker.speaking[sl].mean() > 0.8 and listener.speaking[sl].mean() < 0.2, (shape, turn)


def test_listener_looks_at_speaker_eyes(tmp_path, conversation):
    out = tmp_path / "m.npz"
    assert run_duet("generate", conversation.mix, "--animator", "baseline", "-o", out).rc == 0
    m = DyadicMotion.load(out)
    for p, q in (("A", "B"), ("B", "A")):
        me, other = m.person(p), m.person(q)
        centres, dirs = kinematics.gaze(me.poses, me.transl)
        target = kinematics.eye_midpoint(other.poses, other.transl)
        to_target = target[:, None, :] - centres
        to_target /= np.linalg.norm(to_target, axis=-1, keepdims=True)
        angle = np.degrees(np.arccos(np.clip(np.sum(dirs * to_target, -1), -1, 1)))
        assert angle.max() < 0.5


def test_first_speaker_option_swaps_roles(tmp_path, conversation):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert run_duet("generate", conversation.mix, "--animator", "baseline", "-o", a).rc == 0
    assert run_duet("generate", conversation.mix, "--animator", "baseline", "--first-speaker", "B", "-o", b).rc == 0
    ma, mb = DyadicMotion.load(a), DyadicMotion.load(b)
    np.testing.assert_allclose(ma.A.speaking, mb.B.speaking)
    np.testing.assert_allclose(ma.B.speaking, mb.A.speaking)


def test_same_seed_same_motion(tmp_path, conversation):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for out in (a, b):
        assert run_duet("generate", conversation.mix, "--animator", "baseline", "--seed", "7", "-o", out).rc == 0
    np.testing.assert_array_equal(DyadicMotion.load(a).A.poses["neck"], DyadicMotion.load(b).A.poses["neck"])


def test_a_turned_body_keeps_still_and_the_neck_turns_the_head(conversation):
    from duet.audio.io import load_audio
    from duet.animators.baseline import animate
    from duet.frames import facing_yaw, rotmat

    mix = np.asarray(load_audio(conversation.mix).samples, np.float32).reshape(1, -1)
    layout = {"A": [0.4, 1.2, 0.2], "B": [-0.4, 1.25, -0.2], "yaw": {"A": -2.7, "B": 2.0}}  # a table corner
    m = animate(mix, "mono", layout=layout)
    for p, q in (("A", "B"), ("B", "A")):
        me = m.person(p)
        assert np.allclose(me.poses["global"], [0.0, layout["yaw"][p], 0.0], atol=1e-6)
        rest = {j: np.zeros_like(v[:1]) for j, v in me.poses.items()} | {"global": me.poses["global"][:1]}
        assert np.allclose(kinematics.eye_midpoint(rest, me.transl[:1])[0], layout[p], atol=1e-6)  # neck at rest
        fwd = (rotmat(me.poses["global"]) @ rotmat(me.poses["neck"]))[:, :, 2]
        heading = np.arctan2(fwd[:, 0], fwd[:, 2])
        toward = facing_yaw(np.asarray(layout[p]), np.asarray(layout[q]))
        assert np.degrees(np.abs(np.angle(np.exp(1j * (heading - toward))))).max() < 6  # sway only
