"""Dialogue speech through an OpenAI-protocol speech endpoint (the real local server speaks with the
espeak-ng command line), and the fallback to espeak-ng when it fails."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import run_duet
from duet import dialogue
from duet.speech import openai_tts
from duet.errors import DuetError
from openai_server import _server, llm_server, offline_env, raw, sleep, spoken, status  # noqa: F401

PROMPT = "two old friends arguing about football across a kitchen table"
KEY = "sk-test-secret-key"


@pytest.fixture
def script():
    return dialogue.write(PROMPT, seed=1, use_llm=False)


def frame_rms(x: np.ndarray, hop: int, n: int) -> np.ndarray:
    x = np.pad(x, (0, max(0, n * hop - len(x))))
    return np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, 1))


def test_openai_speech_writes_own_tracks_and_exact_masks(llm_server, script, tmp_path):
    d = dialogue.load(dialogue.speak(script, tmp_path / "talk", tts="openai"))
    meta = json.loads((d.folder / "timings.json").read_text())
    assert meta["speech"]["synthesizer"] == "openai" and meta["speech"]["phone_timings"] is False
    assert meta["speech"]["fallback_reason"] is None and dialogue.speech_fallback(d.folder) == ""
    # every line went to the endpoint, each speaker with one voice of their own, prosody as speed
    reqs = llm_server.speech_requests
    n_inter = sum(bool(t["interjection"]) for t in script.turns)
    assert len(reqs) == len(script.turns) + n_inter
    for req, turn in zip(reqs, script.turns):
        assert req["input"] == turn["text"] and req["response_format"] == "wav"
        assert req["model"] == "gpt-4o-mini-tts" and req["speed"] == pytest.approx(turn["prosody"]["rate"])
    voice_of = {p: {r["voice"] for r, t in zip(reqs, script.turns) if t["speaker"] == p} for p in "AB"}
    assert len(voice_of["A"]) == len(voice_of["B"]) == 1 and voice_of["A"] != voice_of["B"]

    a, sr = sf.read(d.track_a)
    b, _ = sf.read(d.track_b)
    mix, _ = sf.read(d.mix)
    assert sr == 16000 and len(a) == len(b) == len(mix)  # the server's 22.05 kHz resampled
    assert np.abs(mix - (a + b)).max() < 2e-4
    # no phone is invented: only "speech" and "sil" spans measured from the audio
    assert {p for v in d.timings.phonemes.values() for _, _, p in v} == {"sil", "speech"}
    main = [t for t in d.timings.turns if t.kind == "utterance"]
    assert [t.text for t in main] == [t["text"] for t in script.turns]
    assert all(t.voice.startswith("openai:") for t in d.timings.turns)
    hop = sr // 100
    for t in main:  # the endpoint's padding is trimmed: a turn starts and ends with its speech
        track = (a, b)["AB".index(t.speaker)]
        seg = track[round(t.start * sr): round(t.end * sr)]
        rms = frame_rms(seg, hop, len(seg) // hop)
        loud = np.flatnonzero(rms > 0.05 * rms.max())
        assert loud[0] * 0.01 < 0.06 and (len(rms) - 1 - loud[-1]) * 0.01 < 0.06, t
    masks = d.masks(25)
    hop = sr // 25
    for i, track in enumerate((a, b)):  # speech where the mask says, silence elsewhere
        frames = frame_rms(track, hop, masks.shape[1])
        assert masks[i].sum() > 25
        assert frames[masks[i] > 0].mean() > 20 * (frames[masks[i] == 0].mean() + 1e-6)
        assert np.mean(frames[masks[i] > 0] > 0.005) > 0.75  # masked frames hold speech (short pauses bridged)
    assert KEY not in (d.folder / "timings.json").read_text() + (d.folder / "script.json").read_text()


@pytest.mark.parametrize("behaviours, why", [
    ([status(500)], "answered HTTP 500"),
    ([raw("RIFF this is not audio at all")], "audio is unusable"),
    ([sleep(2.5)], "did not answer within 1 s"),
    ([spoken(), spoken(), status(503)], "HTTP 503"),  # a failure half-way: the whole dialogue falls back
])
def test_openai_speech_failures_fall_back_to_espeak(llm_server, monkeypatch, script, tmp_path, behaviours, why):
    monkeypatch.setenv("DUET_LLM_TIMEOUT", "1")
    llm_server.speech_script(*behaviours)
    d = dialogue.load(dialogue.speak(script, tmp_path / "talk", tts="openai"))
    reason = dialogue.speech_fallback(d.folder)
    assert reason.startswith("OpenAI speech failed: ") and why in reason and KEY not in reason
    assert "\n" not in reason and "/tmp" not in reason
    meta = json.loads((d.folder / "timings.json").read_text())["speech"]
    assert meta["synthesizer"] == "espeak" and meta["phone_timings"] is True
    assert all(t.voice.startswith("espeak:") for t in d.timings.turns)
    assert len({p for v in d.timings.phonemes.values() for _, _, p in v}) > 10  # real phones again


def test_openai_speech_needs_an_endpoint(offline_env, script, tmp_path):
    d = dialogue.load(dialogue.speak(script, tmp_path / "talk", tts="openai"))
    assert "needs an endpoint" in dialogue.speech_fallback(d.folder)
    with pytest.raises(DuetError, match="unknown speech synthesizer"):
        dialogue.speak(script, tmp_path / "other", tts="festival-cloud")
    assert not (tmp_path / "other").exists()


def test_voices_keep_the_script_gender_and_differ():
    v = openai_tts.pick_voices({"A": {"voice": "espeak:en-us+m3"}, "B": {"voice": "espeak:en-us+f2"}})
    assert v["A"] in openai_tts.VOICES["male"] and v["B"] in openai_tts.VOICES["female"]
    v = openai_tts.pick_voices({"A": {"voice": "espeak:en-us+m3"}, "B": {"voice": "espeak:en-gb+m3"}})
    assert v["A"] != v["B"]
    v = openai_tts.pick_voices({"A": {"voice": "espeak:en-us"}, "B": {"voice": "espeak:en-gb"}})
    assert (v["A"], v["B"]) == ("alloy", "verse")


def test_speech_spans_follow_the_audio():
    sr = 16000
    t = np.arange(sr) / sr
    x = np.zeros(3 * sr, np.float32)
    x[4000:12000] = 0.3 * np.sin(2 * np.pi * 200 * t[:8000])  # 0.25-0.75 s
    x[24000:32000] = 0.3 * np.sin(2 * np.pi * 200 * t[:8000])  # 1.5-2.0 s
    spans = [s for s in openai_tts.speech_spans(x, sr) if s[2] == "speech"]
    assert [(round(a, 2), round(b, 2)) for a, b, _ in spans] == [(0.25, 0.75), (1.5, 2.0)]
    y = openai_tts.trim(x, sr)
    assert len(y) == pytest.approx((2.0 - 0.25 + 2 * openai_tts.MARGIN_S) * sr, abs=2)
    with pytest.raises(openai_tts.TTSError, match="no speech"):
        openai_tts.trim(np.zeros(sr, np.float32), sr)


def test_cli_tts_option(llm_server, tmp_path):
    llm_server.speech_script(status(500))
    out = tmp_path / "talk"
    r = run_duet("dialogue", PROMPT, "-o", out, "--tts", "openai")
    assert r.rc == 0, r.err
    assert "OpenAI speech failed: the speech endpoint answered HTTP 500; spoke it with espeak-ng" in r.err
    assert KEY not in r.err + r.out and (out / "mix.wav").is_file()
    r = run_duet("dialogue", PROMPT, "-o", tmp_path / "x", "--offline", "--tts", "openai")
    assert r.rc == 1 and "contradict" in r.err and not (tmp_path / "x").exists()
