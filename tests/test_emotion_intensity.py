"""Emotion per person, with an intensity, and turn by turn from a script (issue 27): the shipped model
on real two-speaker audio, the request forms, the command line and the subprocess worker."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_duet
from duet.errors import DuetError
from duet.motion import DyadicMotion

SMILE = ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight")
SNEER = ("noseSneerLeft", "noseSneerRight")


@pytest.fixture(scope="module")
def tracks(conversation):
    """The conversation as two tracks (A's voice, B's voice) at 16 kHz."""
    from duet.audio.io import load_audio

    return np.stack([load_audio(conversation.a).mono, load_audio(conversation.b).mono])


def _generate(tracks, emotion, seed=5):
    from duet.model import infer

    return infer.generate(tracks, "two-track", emotion=emotion, seed=seed)


def _channels(m: DyadicMotion, person: str, names) -> float:
    """Mean weight of ``names`` on ``person`` over the clip."""
    idx = [list(m.expr_names).index(n) for n in names]
    return float(m.person(person).expr[:, idx].mean())


def _distance(m1: DyadicMotion, m2: DyadicMotion, person: str) -> float:
    """RMS distance between two takes' expression channels for one person."""
    return float(np.sqrt(np.mean((m1.person(person).expr - m2.person(person).expr) ** 2)))


def test_intensity_zero_is_neutral_one_is_as_trained_and_half_lies_between(tracks):
    neutral = _generate(tracks, None)
    full = _generate(tracks, "happy")
    at = {w: _generate(tracks, {"A": {"emotion": "happy", "intensity": w}, "B": {"emotion": "happy", "intensity": w}})
          for w in (0.0, 0.5, 1.0, 2.0)}
    for p in "AB":  # 0 and 1 are the two ends exactly: no new motion at the defaults
        assert np.array_equal(at[0.0].person(p).expr, neutral.person(p).expr)
        assert np.array_equal(at[1.0].person(p).expr, full.person(p).expr)
        for j in full.person(p).poses:
            assert np.array_equal(at[1.0].person(p).poses[j], full.person(p).poses[j])
        assert _distance(neutral, full, p) > 0.02  # happy is a real change here
        apart = _distance(at[0.0], at[1.0], p)
        assert _distance(at[0.5], at[0.0], p) < apart and _distance(at[0.5], at[1.0], p) < apart
        smiles = [_channels(at[w], p, SMILE) for w in (0.0, 0.5, 1.0, 2.0)]
        span = smiles[2] - smiles[0]
        assert span > 0.05, smiles                                              # happy smiles clearly more
        assert smiles[0] + span / 4 < smiles[1] < smiles[0] + 3 * span / 4, smiles  # half: a quarter to 3/4 of the way
        assert smiles[3] > smiles[2] + span / 10, smiles                        # twice goes on past full
        # (the sixth retrain's weights go 0.19 of the span past full at twice; a clamp at 1 would give 0)
    assert full.meta["emotions"] == {"A": "happy", "B": "happy"} and "emotion_intensity" not in full.meta
    assert at[0.5].meta["emotion_intensity"] == {"A": 0.5, "B": 0.5}


def test_each_persons_label_and_intensity_reach_that_person(tracks):
    for label, names in (("happy", SMILE), ("disgusted", SNEER)):
        a_shows = _generate(tracks, {"A": label, "B": "neutral"})
        b_shows = _generate(tracks, {"A": "neutral", "B": label})
        # the partner picks some of it up (the corpus's listeners mirror), but less than the person
        contrast = lambda m: _channels(m, "A", names) - _channels(m, "B", names)  # noqa: E731
        assert contrast(a_shows) > contrast(b_shows) + 0.02, label
    # B's intensity 0 makes B neutral and leaves A's emotion whole: the same as naming B neutral
    a_only = _generate(tracks, {"A": {"emotion": "disgusted", "intensity": 1.0},
                                "B": {"emotion": "disgusted", "intensity": 0.0}})
    want = _generate(tracks, {"A": "disgusted", "B": "neutral"})
    both = _generate(tracks, "disgusted")
    for p in "AB":
        assert np.abs(a_only.person(p).expr - want.person(p).expr).max() < 1e-3
        assert _distance(a_only, both, p) > 0.01


def test_turn_intensity_holds_from_each_turns_start(tracks, conversation):
    # A's second line: A turns happy (at intensity 1) from there; before it A speaks, then listens to B
    # (A's first line alone is too little: there the weights of 2026-12-07 smile 0.07 happy, 0.04 neutral)
    change = round(conversation.turns[2][1], 1)
    later = {"speaker": "A", "start": change, "emotion": "happy"}
    calm = _generate(tracks, None)
    happy = _generate(tracks, [{"speaker": "A", "start": 0.0, "emotion": "happy"}])
    labels = _generate(tracks, [{"speaker": "A", "start": 0.0, "emotion": "neutral"}, later])
    at = {w: _generate(tracks, [{"speaker": "A", "start": 0.0, "emotion": "happy", "intensity": w}, later])
          for w in (0.0, 0.5)}
    assert at[0.5].meta["emotion_turns"] == [["A", 0.0, "happy"], ["A", change, "happy"]]
    assert at[0.5].meta["emotion_turn_intensity"] == [0.5, 1.0]
    assert "emotion_turn_intensity" not in labels.meta
    # happy at intensity 0 is a neutral turn: the same take as naming it neutral (the frames next to
    # the change differ a little, as the network's conditioning spans a few frames)
    assert _distance(at[0.0], labels, "A") < 0.1 * _distance(labels, happy, "A")
    frames = slice(0, int(change * 25) - 12)
    idx = [list(calm.expr_names).index(n) for n in SMILE]
    # one take is one draw of the sampler's noise (on this clip seeds 0-5 put half at 0.24-0.38 of the
    # way with the shipped weights): the three takes are averaged over seeds 0-2
    turns = {"neutral": [{"speaker": "A", "start": 0.0, "emotion": "neutral"}, later],
             "half": [{"speaker": "A", "start": 0.0, "emotion": "happy", "intensity": 0.5}, later],
             "happy": [{"speaker": "A", "start": 0.0, "emotion": "happy"}]}
    smile = {k: float(np.mean([_generate(tracks, t, seed).A.expr[frames][:, idx].mean() for seed in range(3)]))
             for k, t in turns.items()}
    span = smile["happy"] - smile["neutral"]  # half lies well inside: between a quarter and three quarters
    assert span > 0.1 and smile["neutral"] + 0.25 * span < smile["half"] < smile["happy"] - 0.25 * span, smile
    only_zero = _generate(tracks, [{"speaker": "A", "start": 0.0, "emotion": "happy", "intensity": 0.0}])
    assert np.array_equal(only_zero.A.expr, calm.A.expr) and np.array_equal(only_zero.B.expr, calm.B.expr)


def test_bad_emotions_are_one_line_errors(tracks):
    for bad, msg in (({"A": {"emotion": "happy", "intensity": 2.5}}, "from 0 to 2"),
                     ({"A": {"emotion": "happy", "intensity": float("nan")}}, "from 0 to 2"),
                     ({"A": {"emotion": "happy", "intensity": -0.1}}, "from 0 to 2"),
                     ({"A": {"emotion": "happy", "intensity": True}}, "from 0 to 2"),
                     ({"A": {"emotion": "elated"}}, "unknown emotion"),
                     ([{"speaker": "A", "start": 0.0, "emotion": "happy", "intensity": float("inf")}], "0 to 2")):
        with pytest.raises(DuetError, match=msg) as e:
            _generate(tracks, bad)
        assert "\n" not in str(e.value)


def test_parse_emotion_reads_the_command_lines_forms():
    from duet.emotion.labels import parse_emotion

    assert parse_emotion("Happy") == "happy" and parse_emotion("joy") == "happy"
    half = {"emotion": "happy", "intensity": 0.5}
    assert parse_emotion("happy:0.5") == {"A": half, "B": half}
    assert parse_emotion("A=happy:0.5,B=sad") == {"A": half, "B": "sad"}
    assert parse_emotion("b = angry : 2") == {"B": {"emotion": "angry", "intensity": 2.0}}
    for bad, msg in (("happy:3", "from 0 to 2"), ("happy:nan", "from 0 to 2"), ("happy:inf", "from 0 to 2"),
                     ("happy:-1", "from 0 to 2"), ("happy:lots", "not 'lots'"), ("bored", "unknown emotion"),
                     ("A=happy,A=sad", "named twice"), ("C=happy", "A=LABEL"), ("happy,sad", "name each person"),
                     ("A=happy,sad", "A=LABEL")):
        with pytest.raises(DuetError, match=msg):
            parse_emotion(bad)


def test_emotion_plan_merges_people_script_and_turns():
    from duet.pipeline import emotion_plan

    assert emotion_plan(None) is None and emotion_plan("") is None and emotion_plan("anger") == "angry"
    assert emotion_plan({"A": "happy"}) == {"A": "happy", "B": None}
    assert emotion_plan({"emotion": "sad", "intensity": 0.5}) == {"A": {"emotion": "sad", "intensity": 0.5},
                                                                  "B": {"emotion": "sad", "intensity": 0.5}}
    assert emotion_plan({"A": {"emotion": "happy", "intensity": 1}, "B": {"emotion": "happy"}}) == "happy"
    script = [{"speaker": "A", "start": 0.5, "emotion": "sad"}, {"speaker": "B", "start": 2.0, "emotion": "angry"}]
    # A is fixed (happy at 0.5): the script's A turns do not apply; B is on auto at 1.5: the script's, stronger
    plan = emotion_plan({"A": {"emotion": "happy", "intensity": 0.5}, "B": {"intensity": 1.5}}, None, script)
    assert plan == [{"speaker": "A", "start": 0.0, "emotion": "happy", "intensity": 0.5},
                    {"speaker": "B", "start": 2.0, "emotion": "angry", "intensity": 1.5}]
    # turns from the user override a person's own label from their start, with the person's intensity
    plan = emotion_plan("A=happy:0.5", [{"speaker": "A", "start": 3, "emotion": "surprised"},
                                        {"speaker": "B", "start": 1, "emotion": "fear", "intensity": 0}])
    assert plan == [{"speaker": "A", "start": 0.0, "emotion": "happy", "intensity": 0.5},
                    {"speaker": "B", "start": 1.0, "emotion": "fearful", "intensity": 0.0},
                    {"speaker": "A", "start": 3.0, "emotion": "surprised", "intensity": 0.5}]
    assert emotion_plan(None, None, script) == script  # the script as it is when nothing is named
    for args, msg in ((({"A": {"emotion": "happy", "intensty": 1}},), "unknown key"),
                      (({"A": 3},), "must be a label"),
                      (({"C": "happy"},), "unknown person"),
                      ((None, {"speaker": "A"}), "must be a list"),
                      ((None, [{"speaker": "A", "start": "soon", "emotion": "happy"}]), "start must be"),
                      ((None, [{"speaker": "A", "start": 1, "emotion": "happy", "text": "hi"}]), "unknown key"),
                      ((None, [{"speaker": "a", "start": 1, "emotion": "happy"}]), "speaker must be"),
                      ((None, [{"speaker": "A", "start": 1, "emotion": "happy", "intensity": "1"}]), "0 to 2"),
                      ((None, ["happy"]), "must be an object")):
        with pytest.raises(DuetError, match=msg):
            emotion_plan(*args)


def test_cli_takes_per_person_and_turn_emotions_and_refuses_bad_ones(conversation, tmp_path):
    out = tmp_path / "m.npz"
    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps([{"speaker": "B", "start": 1.0, "emotion": "sad", "intensity": 0.25}]))
    r = run_duet("generate", conversation.a, "--audio-b", conversation.b, "--emotion", "A=happy:0.5,B=angry",
                 "--emotion-turns", turns, "-o", out)
    assert r.rc == 0, r.err
    m = DyadicMotion.load(out)
    assert m.meta["emotion_turns"] == [["A", 0.0, "happy"], ["B", 0.0, "angry"], ["B", 1.0, "sad"]]
    assert m.meta["emotion_turn_intensity"] == [0.5, 1.0, 0.25]
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[{"speaker": "A", "start": 0,')
    labels = tmp_path / "who.txt"
    for args, msg in ((("--emotion", "happy:2.5"), "from 0 to 2"), (("--emotion", "A=happy,C=sad"), "A=LABEL"),
                      (("--emotion", "happy:"), "from 0 to 2"),
                      (("--emotion-turns", tmp_path / "none.json"), "no such emotion script"),
                      (("--emotion-turns", bad_json), "not valid JSON"),
                      (("--emotion-turns", out), "emotion script")):  # a binary file is no script either
        bad = tmp_path / "bad.npz"
        r = run_duet("generate", conversation.mix, *args, "--turns-out", labels, "-o", bad)
        assert r.rc == 1 and msg in r.err and len(r.err.strip().splitlines()) == 1, (args, r.err)
        assert not bad.exists() and not labels.exists()  # nothing written, not even the label file
    r = run_duet("generate", "--help")
    assert "A=happy:0.5,B=sad" in r.out and "--emotion-turns F.json" in r.out


def test_worker_takes_per_person_emotion_and_refuses_a_bad_intensity(conversation, tmp_path):
    def job(**spec):
        return subprocess.run([sys.executable, "-m", "duet.service.worker"], input=json.dumps(spec),
                              capture_output=True, text=True, timeout=120)

    out = tmp_path / "w.npz"
    p = job(audio=str(conversation.a), audio_b=str(conversation.b), input_shape="two-track", output=str(out),
            emotion={"A": {"emotion": "happy", "intensity": 0.5}, "B": None},
            emotion_turns=[{"speaker": "B", "start": 2.0, "emotion": "sad"}])
    assert p.returncode == 0, p.stdout + p.stderr
    m = DyadicMotion.load(out)
    assert m.meta["emotion_turns"] == [["A", 0.0, "happy"], ["B", 2.0, "sad"]]
    assert m.meta["emotion_turn_intensity"] == [0.5, 1.0]
    bad = tmp_path / "bad.npz"
    p = job(audio=str(conversation.mix), output=str(bad), emotion={"B": {"emotion": "sad", "intensity": 9}})
    assert p.returncode == 1 and not bad.exists()
    assert json.loads(p.stdout.splitlines()[-1]) == {
        "error": "person B's emotion intensity must be a number from 0 to 2, not 9"}


def test_service_takes_per_person_emotion_and_refuses_bad_ones_in_one_line(conversation):
    import httpx

    from test_service import serve, upload, wait_done

    with serve() as url:
        r = upload(url, conversation.mix, emotion={"A": {"emotion": "happy", "intensity": 0.5}, "B": "sad"})
        assert r.status_code == 202, r.text
        s = wait_done(url, r.json()["id"])
        assert s["state"] == "done", s
        m = DyadicMotion.from_bytes(httpx.get(f"{url}/jobs/{s['id']}/motion").content)
        assert m.meta["emotions"] == {"A": "happy", "B": "sad"}
        assert m.meta["emotion_intensity"] == {"A": 0.5, "B": 1.0}
        for options, msg in (({"emotion": "A=happy:7"}, "from 0 to 2"),
                             ({"emotion": {"A": {"emotion": "happy", "intensity": "high"}}}, "from 0 to 2"),
                             ({"emotion": {"C": "happy"}}, "unknown person"),
                             ({"emotion_turns": [{"speaker": "A", "start": 1, "emotion": "elated"}]},
                              "unknown emotion 'elated'")):
            r = upload(url, conversation.mix, **options)
            assert r.status_code == 422 and msg in r.json()["error"], (options, r.text)
            assert "\n" not in r.json()["error"]


def test_a_written_dialogue_gives_auto_people_the_scripts_emotions_at_their_intensity(tmp_path):
    """Prompt only (the add-on's Write from prompt): B named happy, A on auto at 0.5, through the worker."""
    from duet import dialogue

    out = tmp_path / "spoken.npz"
    job = {"write_dialogue": True, "prompt": "two friends plan a picnic", "seed": 1, "output": str(out),
           "emotion": {"A": {"emotion": None, "intensity": 0.5}, "B": "happy"}}
    p = subprocess.run([sys.executable, "-m", "duet.service.worker"], input=json.dumps(job),
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    m = DyadicMotion.load(out)
    said = dialogue.load(tmp_path / "spoken-dialogue")
    script_a = [[t["speaker"], t["emotion"]] for t in dialogue.timed_turns(said.script, said.timings)
                if t["speaker"] == "A"]
    assert script_a and m.meta["emotion_turns"][0] == ["B", 0.0, "happy"]
    assert [[a, label] for a, _, label in m.meta["emotion_turns"][1:]] == script_a
    if any(label != "neutral" for _, label in script_a):  # the intensity shows where A has an emotion
        assert m.meta["emotion_turn_intensity"] == [1.0] + [0.5] * len(script_a)
