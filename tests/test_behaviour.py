"""Body language (issue 31): the behaviour metrics measure what they say on constructed motions, the
corpus animator meets the human figures and lets the relation show, and the per-person controls of
`duet generate` scale what they name."""

import copy
import subprocess
import sys

import numpy as np
import pytest

from duet.animators import controls
from duet.arkit import ARKIT_52, INDEX
from duet.corpus.animator import RELATIONS, animate
from duet.errors import DuetError
from duet.eval import behaviour as B
from duet.eval import metrics as M
from duet.frames import yaw
from duet.motion import DyadicMotion, PersonMotion
from duet.rigs.kinematics import gaze, transl_for_head
from duet.speech.conversation import TimedTurn, Timings

FPS = 25.0
HEADS = {"A": np.array([0.0, 1.6, -0.5]), "B": np.array([0.0, 1.6, 0.5])}


def face_to_face(n: int, speaking_a: np.ndarray) -> DyadicMotion:
    """Two still people 1 m apart facing each other, eyes at rest on the partner's eyes; A speaks on
    ``speaking_a`` and B on the other frames."""
    people = {}
    for p, body in (("A", 0.0), ("B", np.pi)):
        m = PersonMotion.still(n, len(ARKIT_52))
        m.poses["global"][:] = yaw(body)
        m.transl[:] = transl_for_head(HEADS[p], body)
        m.speaking[:] = speaking_a if p == "A" else 1.0 - speaking_a
        people[p] = m
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=ARKIT_52, fps=FPS, meta={})


def halves(n: int) -> np.ndarray:
    return (np.arange(n) < n // 2).astype(np.float32)


# ---------------------------------------------------------------- the metrics


def test_head_rotation_std_by_role_and_pitch_alone():
    n = 400
    m = face_to_face(n, halves(n))
    t = np.arange(n) / FPS
    wave = np.sin(2 * np.pi * 0.5 * t)  # whole periods in each half
    m.A.poses["neck"][: n // 2, 0] = np.radians(5.0) * wave[: n // 2]   # A nods while speaking
    m.B.poses["neck"][n // 2:, 1] = np.radians(4.0) * wave[n // 2:]     # B shakes while speaking
    s = B.summarize(m)
    assert s["head_std_speaking_A"] == pytest.approx(5 / np.sqrt(2), rel=0.02)
    assert s["head_std_speaking_B"] == pytest.approx(4 / np.sqrt(2), rel=0.02)
    assert s["head_std_speaking"] == pytest.approx(np.sqrt((12.5 + 8.0) / 2), rel=0.02)
    assert s["head_std_listening"] < 0.01
    assert s["pitch_std_speaking"] == pytest.approx(np.sqrt(12.5 / 2), rel=0.03)  # the shake is no pitch
    assert s["head_fast_speaking_A"] > 0.8 * s["head_std_speaking_A"]  # 2 s cycles: mostly fast
    m.A.poses["neck"][n // 2:, 0] = np.radians(2.0)  # a held posture is no motion
    assert B.summarize(m)["head_std_listening"] < 0.01
    m.B.poses["neck"][:, 1] = np.radians(12.0) * np.arange(n) / n  # a slow 12-degree wander
    s = B.summarize(m)
    assert s["head_std_listening_B"] == pytest.approx(6.0 / np.sqrt(12), rel=0.03)
    assert s["head_fast_listening_B"] < 0.15 * s["head_std_listening_B"]


def test_a_backchannel_counts_a_nod_only_for_a_quick_swing_over_three_degrees_near_it():
    n = 500
    m = face_to_face(n, halves(n))
    t = np.arange(n) / FPS
    pulse = lambda c: np.exp(-0.5 * ((t - c) / 0.1) ** 2)  # noqa: E731
    m.A.poses["neck"][:, 0] = np.radians(4.0 * pulse(2.1) + 4.0 * pulse(8.0)
                                         + 5.0 * np.clip((t - 12.5) / 3.0, 0, 1))
    m.B.poses["neck"][:, 0] = np.radians(2.0 * pulse(16.1))
    backchannels = [("A", 2.0, 2.4),    # a 4-degree nod inside it: counted
                    ("A", 5.0, 5.4),    # the next nod is 2.6 s later: not
                    ("A", 13.0, 13.4),  # a slow 5-degree drift over 3 s: not a nod
                    ("B", 16.0, 16.4)]  # a 2-degree nod: too small
    assert B.backchannel_nods(m, backchannels) == M.Count(1, 4)
    assert B.nod_swing(B.head_pitch_deg(m.A), FPS, 1.8, 2.9) == pytest.approx(4.0, abs=0.1)


def test_eye_contact_by_role_mutual_gaze_and_blinks():
    n = 200
    m = face_to_face(n, halves(n))
    away = yaw(np.radians(20.0))
    for eye in ("eye_L", "eye_R"):
        m.A.poses[eye][0:40] = away     # 40 of A's 100 speaking frames
        m.A.poses[eye][100:125] = away  # 25 of A's 100 listening frames
    s = B.summarize(m)
    assert s["eye_contact_speaking_A"] == pytest.approx(0.6)
    assert s["eye_contact_listening_A"] == pytest.approx(0.75)
    assert s["eye_contact_speaking"] == pytest.approx(160 / 200)
    assert s["eye_contact_listening"] == pytest.approx(175 / 200)
    assert s["mutual_gaze"] == pytest.approx(135 / 200)
    assert s["blinks_per_min"] == 0.0
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        for k in (10, 50, 90, 130, 170):
            m.A.expr[k:k + 4, INDEX[name]] = [0.5, 1.0, 1.0, 0.3]
        m.B.expr[60:64, INDEX[name]] = 0.4  # a half-closed flutter is no blink
    s = B.summarize(m)
    minutes = n / FPS / 60
    assert s["blinks_per_min_A"] == pytest.approx(5 / minutes)
    assert s["blinks_per_min"] == pytest.approx(5 / (2 * minutes))


def test_relation_changes_count_statistics_twenty_percent_apart():
    rels = {"x": {"smile_A": 0.10, "head_std_A": 3.0, "mutual_gaze": 0.5},
            "y": {"smile_A": 0.13, "head_std_A": 3.5, "mutual_gaze": 0.6}}
    changed = B.relation_changes(rels, ("smile_A", "head_std_A", "mutual_gaze"))
    assert changed == {("x", "y"): ["smile_A", "mutual_gaze"]}


# ---------------------------------------------------------------- the animator


def conversation(seconds: float, seed: int) -> Timings:
    """A made-up conversation with phone timings: alternating turns of phrases (consonant-vowel
    syllables, pauses between phrases, some questions) and backchannels in the listener's silence."""
    rng = np.random.default_rng(seed)
    phones = {"A": [], "B": []}
    turns = []
    cur, speaker = 0.4, "A"
    while cur < seconds - 8:
        start, length = cur, rng.uniform(1.5, 7.0)
        while cur < start + length:
            for _ in range(int(rng.integers(3, 9))):
                c, v = rng.uniform(0.05, 0.09), rng.uniform(0.06, 0.17)
                phones[speaker] += [(cur, cur + c, str(rng.choice(["t", "k", "s", "m", "n", "b"]))),
                                    (cur + c, cur + c + v, str(rng.choice(["aa", "iy", "eh", "ow", "ah"])))]
                cur += c + v
            cur += rng.uniform(0.25, 0.6)
        end = phones[speaker][-1][1]
        question = rng.random() < 0.3
        turns.append(TimedTurn(speaker, start, end, "So what?" if question else "Well, I see.", "utterance"))
        listener = "B" if speaker == "A" else "A"
        if end - start > 3.0 and rng.random() < 0.7:
            b0 = start + rng.uniform(0.4, 0.6) * (end - start)
            phones[listener] += [(b0, b0 + 0.12, "m"), (b0 + 0.12, b0 + 0.3, "ah"), (b0 + 0.3, b0 + 0.45, "m")]
            turns.append(TimedTurn(listener, b0, b0 + 0.45, "mm-hm", "backchannel"))
        cur, speaker = end + rng.uniform(0.1, 0.8), listener
    duration = cur + 1.0
    tiled = {}
    for p, seq in phones.items():
        out, t = [], 0.0
        for a, b, ph in sorted(seq):
            if a > t + 1e-9:
                out.append((t, a, "sil"))
            out.append((a, b, ph))
            t = b
        out.append((t, duration, "sil"))
        tiled[p] = out
    return Timings(duration, sorted(turns, key=lambda x: x.start), tiled)


LAYOUT = {p: list(v) for p, v in HEADS.items()}


@pytest.fixture(scope="module")
def made():
    """{relation: (Tally, [(timings, motion)])} over three 3-minute conversations per relation."""
    out = {}
    for relation in RELATIONS:
        tally, clips = B.Tally(), []
        for seed in range(3):
            timings = conversation(180.0, seed)
            motion = animate(timings, LAYOUT, relation=relation, seed=seed)
            B.add_clip(tally, motion, B.backchannels_of(timings.turns))
            clips.append((timings, motion))
        out[relation] = (tally.summary(), clips)
    return out


def test_the_animator_moves_and_looks_as_people_do(made):
    pooled = B.Tally()
    for _, clips in made.values():
        for timings, motion in clips:
            B.add_clip(pooled, motion, B.backchannels_of(timings.turns))
    s = pooled.summary()
    assert s["head_std_speaking"] >= 3.0 and s["head_std_listening"] >= 1.5, s
    assert s["backchannel_nod"] >= 0.9
    assert 0.40 <= s["eye_contact_speaking"] <= 0.65
    assert 0.70 <= s["eye_contact_listening"] <= 0.88
    assert s["eye_contact_listening"] - s["eye_contact_speaking"] > 0.15  # listeners look more (Argyle, Cook)
    assert 12.0 <= s["blinks_per_min"] <= 25.0


def test_speakers_look_away_as_turns_start_and_back_as_they_end(made):
    starts, ends = [], []
    for timings, motion in made["nonblood-equal"][1]:
        angle = M.partner_gaze_angle(motion)
        for turn in timings.turns:
            if turn.kind == "utterance" and turn.end - turn.start > 2.0:
                k0, k1 = int(turn.start * FPS), int(turn.end * FPS)
                starts.append(np.any(angle[turn.speaker][k0:k0 + 15] > M.EYE_CONTACT_DEG))
                ends.append(np.all(angle[turn.speaker][k1 - 8:k1] < M.EYE_CONTACT_DEG))
    assert np.mean(starts) >= 0.7 and np.mean(ends) >= 0.95


def test_head_beats_fall_on_pitch_accents(made):
    """The speaker's head pitch moves faster around long vowels (the accents) than between them."""
    near, far = [], []
    for timings, motion in made["nonblood-equal"][1]:
        for p in "AB":
            speed = np.abs(np.gradient(B.head_pitch_deg(motion.person(p)))) * FPS
            speaking = motion.person(p).speaking >= 0.5
            vowels = np.zeros(motion.n_frames, bool)
            for a, b, ph in timings.phonemes[p]:
                if ph in ("aa", "iy", "eh", "ow", "ah") and b - a > 0.13:
                    vowels[int(a * FPS) - 2:int(b * FPS) + 2] = True
            near.append(speed[speaking & vowels])
            far.append(speed[speaking & ~vowels])
    assert np.mean(np.concatenate(near)) > 1.3 * np.mean(np.concatenate(far))


def test_each_relation_changes_at_least_two_statistics_in_the_documented_direction(made):
    s = {r: v[0] for r, v in made.items()}
    for pair, changed in B.relation_changes(s).items():
        assert len(changed) >= 2, (pair, changed)
    be, ne, bu, nu = (s[r] for r in ("blood-equal", "nonblood-equal", "blood-unequal", "nonblood-unequal"))
    # intimates: more mutual gaze and smiling (Argyle and Dean)
    assert be["mutual_gaze"] > 1.15 * ne["mutual_gaze"] and be["smile_A"] > 1.5 * ne["smile_A"]
    # strangers at work smile least
    assert nu["smile_A"] < 0.7 * ne["smile_A"] and nu["smile_B"] < 0.7 * ne["smile_B"]
    for r in (bu, nu):  # the junior (B): less head motion, more aversion while speaking, not while listening
        assert r["head_std_B"] < 0.75 * r["head_std_A"]
        assert r["eye_contact_speaking_B"] < 0.8 * r["eye_contact_speaking_A"]
        assert r["eye_contact_listening_B"] > r["eye_contact_speaking_B"] + 0.25


def test_each_persons_emotion_shows_on_that_person_and_a_smaller_share_on_the_partner():
    """The model is conditioned on each person's own label (their latest turn's); the truth follows
    it, so `--emotion A=happy,B=neutral` can make A, not B, the happy one (issue 27)."""
    timings = conversation(90.0, 4)
    smile = [INDEX[n] for n in ("mouthSmileLeft", "mouthSmileRight")]
    happy_a = animate(timings, LAYOUT, emotions=["happy" if t.speaker == "A" else "neutral" for t in timings.turns],
                      seed=1)
    calm = animate(timings, LAYOUT, emotions=["neutral"] * len(timings.turns), seed=1)
    mean = lambda m, p, on: float(m.person(p).expr[on][:, smile].mean())  # noqa: E731
    first_a = next(t.start for t in timings.turns if t.speaker == "A")
    after = np.arange(happy_a.n_frames) / FPS >= first_a + 0.5
    a_listens = after & (happy_a.A.speaking < 0.5)
    assert mean(happy_a, "A", after) > 2.5 * mean(happy_a, "B", after)
    assert mean(happy_a, "A", a_listens) > 0.25  # held between A's own turns
    b_listens = after & (happy_a.B.speaking < 0.5)  # B mirrors some of it, while A speaks
    assert 0.03 < mean(happy_a, "B", b_listens) - mean(calm, "B", b_listens) < 0.5 * mean(happy_a, "A", after)


# ---------------------------------------------------------------- the controls


@pytest.fixture()
def motion(made):
    timings, m = made["nonblood-equal"][1][0]
    return timings, copy.deepcopy(m)


def world_gaze(person) -> np.ndarray:
    d = gaze(person.poses, person.transl)[1].sum(1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def test_head_motion_scales_the_head_and_the_eyes_keep_their_target(motion):
    timings, m = motion
    before, look = B.summarize(m), world_gaze(m.A)
    controls.apply(m, head_motion="2,0.5")
    after = B.summarize(m)
    for role in ("speaking", "listening"):
        assert after[f"head_std_{role}_A"] == pytest.approx(2 * before[f"head_std_{role}_A"], rel=0.05)
        assert after[f"head_std_{role}_B"] == pytest.approx(0.5 * before[f"head_std_{role}_B"], rel=0.05)
    turn = np.degrees(np.arccos(np.clip(np.sum(world_gaze(m.A) * look, -1), -1, 1)))
    assert turn.max() < 0.5
    assert after["eye_contact_speaking_A"] == pytest.approx(before["eye_contact_speaking_A"], abs=0.02)
    assert m.meta["controls"]["head_motion"] == {"A": 2.0, "B": 0.5}


def test_expression_scales_brows_and_smiles_but_not_lips_or_blinks(motion):
    _, m = motion
    a, b = m.A.expr.copy(), m.B.expr.copy()
    controls.apply(m, expression="0,2")
    for name in ("mouthSmileLeft", "browInnerUp", "cheekSquintLeft"):
        k = INDEX[name]
        assert a[:, k].max() > 0.1 and m.A.expr[:, k].max() == 0.0
        assert np.allclose(m.B.expr[:, k], np.minimum(1.0, 2 * b[:, k]), atol=1e-6)
    for name in ("jawOpen", "mouthClose", "mouthPucker", "eyeBlinkLeft", "mouthLowerDownLeft"):
        assert np.array_equal(m.A.expr[:, INDEX[name]], a[:, INDEX[name]])
        assert np.array_equal(m.B.expr[:, INDEX[name]], b[:, INDEX[name]])


def test_gaze_aversion_scales_the_angle_away_from_the_partners_eyes(motion):
    _, m = motion
    twin = copy.deepcopy(m)
    before = M.partner_gaze_angle(m)["A"]
    controls.apply(m, gaze_aversion="0,1")
    assert M.partner_gaze_angle(m)["A"].max() < 0.5
    controls.apply(twin, gaze_aversion=1.5)
    after = M.partner_gaze_angle(twin)["A"]
    away = before > M.EYE_CONTACT_DEG
    assert away.mean() > 0.2
    assert np.median(after[away] / before[away]) == pytest.approx(1.5, rel=0.05)
    assert B.summarize(twin)["eye_contact_listening_A"] < B.summarize(m)["eye_contact_listening_A"]


@pytest.mark.parametrize("bad", ["abc", "-1", "1,2,3", "nan", "4", ""])
def test_bad_amounts_are_refused_in_one_line(bad):
    with pytest.raises(DuetError, match="--head-motion"):
        controls.amounts(bad, "head_motion")


def test_duet_generate_takes_per_person_amounts(tmp_path):
    from duet import speech as tts
    from duet.audio.io import save_wav
    from duet.speech.conversation import Turn, assemble

    a = tts.synthesize("Did you see the game last night? It was a big mess.", "espeak:en-us+m3")
    b = tts.synthesize("Maybe. I was at the market with my brother.", "espeak:en-us+f2")
    conv = assemble([Turn("A", a, gap=0.3), Turn("B", b, gap=0.4)])
    save_wav(tmp_path / "a.wav", conv.tracks[0])
    save_wav(tmp_path / "b.wav", conv.tracks[1])
    run = lambda *extra: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "duet", "generate", str(tmp_path / "a.wav"), "--audio-b", str(tmp_path / "b.wav"),
         "--animator", "baseline", *extra], capture_output=True, text=True)
    assert run("-o", str(tmp_path / "plain.npz")).returncode == 0
    r = run("-o", str(tmp_path / "more.npz"), "--head-motion", "2,1", "--expression", "0")
    assert r.returncode == 0, r.stderr
    plain, more = DyadicMotion.load(tmp_path / "plain.npz"), DyadicMotion.load(tmp_path / "more.npz")
    sp, sm = B.summarize(plain), B.summarize(more)
    assert sp["head_std_A"] > 0.3
    assert sm["head_std_A"] == pytest.approx(2 * sp["head_std_A"], rel=0.05)
    assert sm["head_std_B"] == pytest.approx(sp["head_std_B"], rel=1e-6)
    bad = run("-o", str(tmp_path / "bad.npz"), "--gaze-aversion", "lots")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "--gaze-aversion" in bad.stderr
    assert not (tmp_path / "bad.npz").exists()
