"""`duet generate` with the shipped dual-stream model (the default engine) on real two-speaker audio."""

import numpy as np
import pytest

from conftest import run_duet
from duet.motion import DyadicMotion
from duet.rigs import kinematics


def _inner(turn, fps=25):
    _, s, e = turn
    return slice(int(s * fps) + 3, int(e * fps) - 3)


@pytest.mark.parametrize("shape", ["mono", "two-track"])
def test_speaker_mouth_moves_more_than_listener(tmp_path, conversation, shape):
    out = tmp_path / "m.npz"
    args = [conversation.mix] if shape == "mono" else [conversation.a, "--audio-b", conversation.b]
    r = run_duet("generate", *args, "--prompt", "two friends chatting face to face", "-o", out)
    assert r.rc == 0, r.err
    m = DyadicMotion.load(out)
    assert m.meta["model"] == "duet-dual" and m.meta["relation"] == "nonblood-equal"
    assert abs(m.n_frames - conversation.seconds * 25) <= 1
    assert "heard one voice only" not in r.err
    on_speaker = []
    for turn in conversation.turns:
        sl = _inner(turn)
        speaker, listener = (m.A, m.B) if turn[0] == "A" else (m.B, m.A)
        s_jaw, l_jaw = speaker.poses["jaw"][sl, 0], listener.poses["jaw"][sl, 0]
        # The listener's mouth stays shut on most frames (the model leaks the odd short opening); the
        # speaker's jaw passes 2.9 degrees on 23-49% of each turn's frames, against 63-73% in the corpus
        # animator's truth for the same audio and 37-56% with the corpus-v2 weights: the model opens the
        # jaw too little (docs/model.md), and this guards against a frozen mouth, not for the target.
        assert np.mean(l_jaw > 0.05) < 0.1 and np.mean(s_jaw > 0.05) > 0.15, (shape, turn)
        assert s_jaw.mean() > 3 * max(l_jaw.mean(), 0.005), (shape, turn)


def test_heads_sit_at_the_prompts_layout_and_listeners_look_at_the_speaker(tmp_path, conversation):
    out = tmp_path / "m.npz"
    assert run_duet("generate", conversation.mix, "--prompt", "sitting across from each other at a dining table",
                    "-o", out).rc == 0
    m = DyadicMotion.load(out)
    heads = {p: kinematics.eye_midpoint(m.person(p).poses, m.person(p).transl)[0] for p in "AB"}
    np.testing.assert_allclose(heads["A"], m.meta["layout"]["A"], atol=1e-3)
    np.testing.assert_allclose(heads["B"], m.meta["layout"]["B"], atol=1e-3)
    on_speaker = []
    for turn in conversation.turns:
        sl = _inner(turn)
        listener, speaker = (m.B, m.A) if turn[0] == "A" else (m.A, m.B)
        centres, dirs = kinematics.gaze({j: v[sl] for j, v in listener.poses.items()},
                                        listener.transl[sl])
        target = kinematics.eye_midpoint({j: v[sl] for j, v in speaker.poses.items()}, speaker.transl[sl])
        to = target[:, None] - centres
        to /= np.linalg.norm(to, axis=-1, keepdims=True)
        angle = np.degrees(np.arccos(np.clip((dirs * to).sum(-1), -1, 1))).mean(1)
        assert np.mean(angle < 12) > 0.4, turn  # on the speaker a good part of every turn ...
        on_speaker.append(angle < 12)
    # ... and more than 60% of all the listening time (the old bar, once asked of every turn). Listeners
    # glance away (issue 31: between 0.65 and 0.90 of listening time over the test split,
    # benchmarks/behaviour.py); over one 12 s conversation the share varies: here 0.65, 0.71 and 0.55 by
    # turn, 0.64 in all (above 0.6 on every turn while the model stared, 0.92 over the split)
    assert np.mean(np.concatenate(on_speaker)) > 0.6


def test_same_seed_same_motion_different_seed_different(tmp_path, conversation):
    paths = [tmp_path / f"{i}.npz" for i in range(3)]
    for path, seed in zip(paths, (3, 3, 4)):
        assert run_duet("generate", conversation.mix, "--seed", seed, "-o", path).rc == 0
    a, b, c = (DyadicMotion.load(p) for p in paths)
    np.testing.assert_array_equal(a.A.expr, b.A.expr)
    assert not np.allclose(a.A.expr, c.A.expr)


def test_unknown_emotion_is_one_line(tmp_path, conversation):
    out = tmp_path / "m.npz"
    r = run_duet("generate", conversation.mix, "--emotion", "bewildered", "-o", out)
    assert r.rc == 1 and "unknown emotion 'bewildered'" in r.err and len(r.err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_turned_body_stays_still_and_the_head_turns_part_of_the_way(conversation):
    from duet.audio.io import load_audio
    from duet.errors import DuetError
    from duet.frames import facing_yaw, rotmat, wrap_angle
    from duet.model import generate

    mix = load_audio(conversation.mix).samples[:, : 16000 * 6]
    layout = {"A": [0.4, 1.2, 0.2], "B": [-0.4, 1.25, -0.2]}
    facing = generate(mix, "mono", layout=layout)
    turned = generate(mix, "mono", layout={**layout, "yaw": {"A": -2.7, "B": 2.0}})
    assert turned.meta["body_yaw"] == {"A": -2.7, "B": 2.0}
    for p in "AB":
        a, b = facing.person(p), turned.person(p)
        assert np.allclose(b.poses["global"], [0.0, turned.meta["body_yaw"][p], 0.0], atol=1e-5)
        assert np.allclose(a.poses["global"], a.poses["global"][0], atol=1e-5)  # facing the partner, still
        # the model hears how the body is turned and, as people (and the corpus) do, holds the head
        # part of the way from the partner back towards the body, the eyes doing the rest
        q = "B" if p == "A" else "A"
        face = float(facing_yaw(np.asarray(layout[p]), np.asarray(layout[q])))
        body = float(wrap_angle(turned.meta["body_yaw"][p] - face))
        heads = [(rotmat(m.poses["global"]) @ rotmat(m.poses["neck"]))[:, :, 2].mean(0) for m in (a, b)]
        off_a, off_b = (float(wrap_angle(np.arctan2(h[0], h[2]) - face)) for h in heads)
        assert abs(off_a) < np.radians(5)  # facing the partner: the head on the partner
        assert np.sign(off_b) == np.sign(body) and np.radians(3) < abs(off_b) < 0.6 * abs(body)
        rest = {j: np.zeros_like(v[:1]) for j, v in b.poses.items()} | {"global": b.poses["global"][:1]}
        assert np.allclose(kinematics.eye_midpoint(rest, b.transl[:1])[0], layout[p], atol=1e-5)  # neck at rest
        assert np.allclose(kinematics.eye_midpoint(a.poses, a.transl)[0], layout[p], atol=1e-5)  # exact
    for bad in ({"A": 1.0}, {"A": "left", "B": 0.0}, {"A": float("nan"), "B": 0.0}, 3.0):
        with pytest.raises(DuetError, match="yaw"):
            generate(mix, "mono", layout={**layout, "yaw": bad})


def test_generate_reports_each_sampling_step(conversation):
    from duet.audio.io import load_audio
    from duet.model import generate

    mix = load_audio(conversation.mix).samples[:, : 16000 * 4]
    seen = []
    generate(mix, "mono", progress=seen.append, steps=8)
    assert seen == [k / 8 for k in range(1, 9)]


def test_a_monologue_in_a_mono_mix_says_who_listens(tmp_path):
    from conftest import espeak
    from duet.audio.io import save_wav

    lines = ["Good morning, everyone.", "Today we talk about the weather.", "It will rain, then clear up."]
    gap = np.zeros(8000, np.float32)
    x = np.concatenate([gap] + [np.concatenate([espeak(t, "en-us+m3", tmp_path / f"{i}.wav"), gap])
                                for i, t in enumerate(lines)])
    save_wav(tmp_path / "solo.wav", x)
    r = run_duet("generate", tmp_path / "solo.wav", "-o", tmp_path / "m.npz")
    assert r.rc == 0, r.err
    assert "heard one voice only, so person B listens throughout" in r.err and "--audio-b" in r.err
    assert "--speakers 2" in r.err
    assert DyadicMotion.load(tmp_path / "m.npz").B.speaking.max() < 0.5


def test_senior_b_changes_an_unequal_relation_and_leaves_an_equal_one(tmp_path, conversation):
    """--senior B gives the model the relation from B's side: the motion of a boss-and-employee scene
    changes; friends have no senior, so their motion is the same byte for byte."""
    def make(name, *extra):
        out = tmp_path / f"{name}.npz"
        r = run_duet("generate", conversation.a, "--audio-b", conversation.b, *extra, "-o", out)
        assert r.rc == 0, r.err
        return DyadicMotion.load(out)

    boss_a = make("a", "--relation", "boss-employee")
    boss_b = make("b", "--relation", "boss-employee", "--senior", "B")
    assert boss_a.meta["relation"] == "nonblood-unequal"
    assert boss_b.meta["relation"] == "nonblood-unequal (B senior)"
    assert not np.array_equal(boss_a.A.poses["neck"], boss_b.A.poses["neck"])
    friends = [make(f"f{i}", "--relation", "friends", *extra) for i, extra in enumerate(([], ["--senior", "B"]))]
    for p in "AB":
        np.testing.assert_array_equal(friends[0].person(p).poses["neck"], friends[1].person(p).poses["neck"])
    bad = run_duet("generate", conversation.a, "--senior", "C", "-o", tmp_path / "x.npz")
    assert bad.rc != 0 and "Traceback" not in bad.err
