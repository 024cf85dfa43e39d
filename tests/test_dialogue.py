"""Dialogue: offline grammar and LLM scripts (real local server), speech with exact timings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import run_duet
from openai_server import _server, llm_server, offline_env, refusal, reply, sleep, status  # noqa: F401

from duet import dialogue
from duet.errors import DuetError

PROMPT = "two old friends arguing about football across a kitchen table"


def good_answer(n: int = 6) -> dict:
    turns = [{"speaker": "AB"[k % 2], "text": f"Line number {k} about football, you know.", "emotion": "angry",
              "prosody": {"rate": 1.1, "pitch": 1.05, "energy": 1.2, "pause": 0.2},
              "interjection": {"text": "hmm", "at": 0.5} if k == 1 else None, "overlap": 0.2 if k == 3 else 0.0}
             for k in range(n)]
    return {"speakers": {"A": {"description": "a loud old man", "gender": "male"},
                         "B": {"description": "a dry old woman", "gender": "female"}}, "turns": turns}


def test_offline_scripts_are_valid_and_varied(offline_env):
    scripts = [dialogue.write(PROMPT, seed=s) for s in range(6)]
    for s in scripts:
        assert s.source == "offline" and 5 <= len(s.turns) <= 10
        dialogue.validate(s.data)
        assert s.data["speakers"]["A"]["voice"] != s.data["speakers"]["B"]["voice"]
        assert all(t["speaker"] == "AB"[k % 2] for k, t in enumerate(s.turns))
    texts = {t["text"] for s in scripts for t in s.turns}
    assert len(texts) >= 20  # real variety across seeds
    assert dialogue.write(PROMPT, seed=3).data == scripts[3].data  # repeatable
    assert any("football" in t["text"] for t in scripts[0].turns)  # the topic fills the slots
    assert sum(t["emotion"] == "angry" for t in scripts[0].turns) >= 3  # an argument sounds like one
    assert any(t["interjection"] for s in scripts for t in s.turns)
    assert dialogue.write("two sisters celebrating a wedding").turns[0]["emotion"] == "happy"


def test_schema_rejects_out_of_range_prosody(offline_env):
    data = dialogue.write(PROMPT).data
    data["turns"][0]["prosody"]["rate"] = 5.0
    with pytest.raises(ValueError, match="rate"):
        dialogue.validate(data)


def test_llm_script(llm_server):
    llm_server.script(reply(good_answer()))
    s = dialogue.write(PROMPT, seed=1)
    assert s.source == "llm" and len(s.turns) == 6 and s.reason == ""
    assert s.data["speakers"]["A"]["voice"].startswith("espeak:") and "+m" in s.data["speakers"]["A"]["voice"]
    assert "+f" in s.data["speakers"]["B"]["voice"]
    assert llm_server.requests[0]["messages"][1]["content"].endswith(PROMPT)


@pytest.mark.parametrize("behaviours, why", [
    ([sleep(3.0)], "did not answer"),
    ([status(500)], "HTTP 500"),
    ([reply("Here's a nice dialogue: A: hi B: hello")], "not JSON"),
    ([refusal()], "refused"),
    ([reply({**good_answer(), "turns": good_answer()["turns"][:2]})], "after one retry"),
    ([reply(json.loads(json.dumps(good_answer()).replace('"rate": 1.1', '"rate": 9.0')))], "schema"),
])
def test_llm_failures_fall_back_to_the_grammar(llm_server, monkeypatch, behaviours, why):
    monkeypatch.setenv("DUET_LLM_TIMEOUT", "1")
    llm_server.script(*behaviours)
    s = dialogue.write(PROMPT)
    assert s.source == "offline" and s.reason.startswith("LLM script failed: ") and why in s.reason
    assert "sk-test-secret-key" not in s.reason


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    script = dialogue.write(PROMPT, seed=1, use_llm=False)
    out = tmp_path_factory.mktemp("d") / "talk"
    return script, dialogue.load(dialogue.speak(script, out))


def test_speak_writes_exact_tracks_and_timings(spoken):
    script, d = spoken
    assert sorted(p.name for p in d.folder.iterdir()) == sorted(dialogue.FILES)
    a, sr = sf.read(d.track_a)
    b, _ = sf.read(d.track_b)
    mix, _ = sf.read(d.mix)
    assert sr == 16000 and len(a) == len(b) == len(mix)
    assert np.abs(mix - (a + b)).max() < 2e-4  # the mix is exactly the two tracks
    main = [t for t in d.timings.turns if t.kind == "utterance"]
    assert [t.text for t in main] == [t["text"] for t in script.turns]
    assert all(t.speaker == s["speaker"] for t, s in zip(main, script.turns))
    masks = d.masks(25)
    hop = 16000 // 25
    for i, track in enumerate((a, b)):  # speech energy sits where the mask says, silence elsewhere
        frames = np.sqrt(np.mean(track[: masks.shape[1] * hop].reshape(-1, hop) ** 2, 1))
        assert frames[masks[i] > 0].mean() > 20 * (frames[masks[i] == 0].mean() + 1e-6)
    for t in d.timings.turns:  # every turn's speech is on its own speaker's track
        seg = (a, b)["AB".index(t.speaker)][int(t.start * sr): int(t.end * sr)]
        assert np.abs(seg).max() > 0.01
    backchannels = [t for t in d.timings.turns if t.kind == "backchannel"]
    n_inter = sum(bool(t["interjection"]) for t in script.turns)
    dropped = json.loads((d.folder / "timings.json").read_text())["dropped_interjections"]
    assert len(backchannels) + len(dropped) == n_inter
    for bc in backchannels:  # inside the partner's turn, in the listener's silence
        assert any(m.speaker != bc.speaker and m.start <= bc.start <= m.end for m in main)


def test_emotions_from_the_folder(spoken):
    _, d = spoken
    T = d.masks(25).shape[1]
    track = d.emotions(T)
    assert track.A.shape == (T,) and "angry" in track.names("A")


def test_cli_dialogue_and_errors(tmp_path, offline_env):
    out = tmp_path / "talk"
    r = run_duet("dialogue", "two sisters celebrating a wedding", "-o", out, "--seed", "2")
    assert r.rc == 0, r.err
    assert json.loads((out / "script.json").read_text())["source"] == "offline"
    before = (out / "mix.wav").read_bytes()
    r = run_duet("dialogue", "another scene", "-o", out)
    assert r.rc == 1 and "--force" in r.err and (out / "mix.wav").read_bytes() == before  # work kept
    r = run_duet("dialogue", " ", "-o", tmp_path / "x")
    assert r.rc == 1 and "empty" in r.err and not (tmp_path / "x").exists()
    with pytest.raises(DuetError, match="not a dialogue folder"):
        dialogue.load(tmp_path)
