"""Speaking a script: each line with its speaker's voice and prosody, placed on two tracks.

Turns follow each other after their ``pause`` (minus any ``overlap``); an interjection is spoken
by the listener at its fraction ``at`` of the turn, moved to the nearest pause between the speaker's
words, and dropped (noted in timings.json) when it would collide with the listener's own speech.
Placement, masks and phone times come from duet.speech.conversation.assemble, so they are exact.

With ``tts="openai"`` the lines are spoken by an OpenAI-protocol speech endpoint instead
(duet.speech.openai_tts); it gives no phone timings, so timings.json says
``"speech": {"phone_timings": false}`` and each person's phones are "speech"/"sil" spans measured from the audio.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from duet.constants import SAMPLE_RATE
from duet.errors import DuetError
from duet.files import atomic_folder

PEAK = 0.95  # the mix is scaled so its loudest sample stays below this
LEAD_IN = 0.3  # seconds of silence before the first line
SYNTHESIZERS = ("espeak", "openai")


def speak(data: dict, out_dir: Path, force: bool = False, tts: str | None = None) -> Path:
    """Speak ``data`` into ``out_dir``. ``tts`` is "espeak" (default) or "openai" (DUET_TTS when None):
    the endpoint's voices when configured and working, else espeak-ng with the reason in timings.json."""
    from duet.progress import Progress

    if out_dir.exists() and not out_dir.is_dir():
        raise DuetError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise DuetError(f"{out_dir}: folder exists and is not empty; pass --force to replace it")
    tts = (tts or os.environ.get("DUET_TTS") or "espeak").strip().lower()
    if tts not in SYNTHESIZERS:
        raise DuetError(f"unknown speech synthesizer {tts!r} (one of {', '.join(SYNTHESIZERS)})")
    with Progress("dialogue") as progress:
        synthesizer, reason = "espeak", ""
        if tts == "openai":
            from duet import llm
            from duet.speech import openai_tts

            if not llm.settings().configured:
                reason = "OpenAI speech needs an endpoint (set OPENAI_API_KEY or OPENAI_BASE_URL)"
            else:
                try:
                    conv, dropped = _place(data, _openai_voice(data), progress)
                    synthesizer = "openai"
                except openai_tts.TTSError as e:
                    reason = f"OpenAI speech failed: {e}"
        if synthesizer == "espeak":
            conv, dropped = _place(data, _espeak_voice(data), progress)
        speech = {"synthesizer": synthesizer, "phone_timings": synthesizer == "espeak", "fallback_reason": reason or None}
        if synthesizer == "openai":
            from duet.speech.openai_tts import model
            speech["model"] = model()
            speech["note"] = ("the endpoint gives no phone timings: 'speech' spans come from the audio's "
                              "energy, so turns and masks are exact but phone identities are unknown")
        progress.update(0.95, "writing")
        with atomic_folder(out_dir) as tmp:
            _write(tmp, conv, data, dropped, SAMPLE_RATE, speech)
    return out_dir


def fallback_reason(folder: Path) -> str:
    """Why ``folder`` was spoken by espeak-ng although OpenAI speech was asked for ("" if it was not)."""
    meta = json.loads((Path(folder) / "timings.json").read_text()).get("speech") or {}
    return meta.get("fallback_reason") or ""


def _espeak_voice(data: dict):
    from duet.speech import synthesize

    voices = {p: data["speakers"][p]["voice"] for p in "AB"}

    def say(text, person, emotion="neutral", prosody=None):
        if prosody is None:
            return synthesize(text, voices[person])
        return synthesize(text, voices[person], rate=prosody["rate"], pitch=prosody["pitch"])
    return say


def _openai_voice(data: dict):
    from duet import llm
    from duet.speech import openai_tts

    voices, cfg = openai_tts.pick_voices(data["speakers"]), llm.settings()

    def say(text, person, emotion="neutral", prosody=None):
        return openai_tts.synthesize(text, voices[person], emotion=emotion, prosody=prosody, cfg=cfg)
    return say


def _place(data: dict, say, progress):
    """Speak every line with ``say`` and place lines and interjections: (Conversation, dropped)."""
    from duet.speech.conversation import Turn, assemble

    n = len(data["turns"])
    lines, starts, spans = [], [], {"A": [], "B": []}
    cursor = LEAD_IN
    for k, t in enumerate(data["turns"]):
        progress.update(0.9 * k / n, f"speaking turn {k + 1} of {n}")
        pro = t["prosody"]
        speech = say(t["text"], t["speaker"], t["emotion"], pro)
        speech.samples = speech.samples * np.float32(pro["energy"])
        start = max(0.0, cursor + (0.0 if k == 0 else pro["pause"]) - t.get("overlap", 0.0))
        if spans[t["speaker"]]:  # one person never talks over themself
            start = max(start, spans[t["speaker"]][-1][1] + 0.05)
        lines.append(Turn(t["speaker"], speech, gap=start - cursor, kind="utterance", emotion=t["emotion"]))
        starts.append(start)
        cursor = start + speech.duration
        spans[t["speaker"]].append((start, cursor))
    backchannels, dropped = [], []
    for t, line, start in zip(data["turns"], lines, starts):
        inter = t.get("interjection")
        if not inter:
            continue
        listener = "B" if t["speaker"] == "A" else "A"
        word = say(inter["text"], listener)
        at = start + _pause_near(line.speech.phonemes, inter["at"] * line.speech.duration)
        at = max(0.0, at - word.duration / 2)
        if any(at < e + 0.1 and s - 0.1 < at + word.duration for s, e in spans[listener]):
            dropped.append({"speaker": listener, "text": inter["text"], "at": round(at, 3)})
            continue
        spans[listener].append((at, at + word.duration))
        backchannels.append(Turn(listener, word, at=at, kind="backchannel", emotion="neutral"))
    return assemble(lines + backchannels, lead_in=LEAD_IN, tail=0.5), dropped


def _pause_near(phonemes, t: float) -> float:
    """The middle of the silence inside the utterance closest to ``t`` (``t`` itself if none)."""
    inner = [(a + b) / 2 for a, b, p in phonemes[1:-1] if p == "sil"]
    return min(inner, key=lambda m: abs(m - t)) if inner else t


def _write(folder: Path, conv, data: dict, dropped: list, sr: int, speech: dict) -> None:
    import soundfile as sf

    tracks = conv.tracks
    peak = float(max(np.abs(conv.mix).max(), np.abs(tracks).max(), 1e-9))
    gain = min(1.0, PEAK / peak)
    sf.write(folder / "a.wav", tracks[0] * gain, sr, subtype="PCM_16")
    sf.write(folder / "b.wav", tracks[1] * gain, sr, subtype="PCM_16")
    sf.write(folder / "mix.wav", conv.mix * gain, sr, subtype="PCM_16")
    (folder / "script.json").write_text(json.dumps(data, indent=2))
    timings = {"version": 1, "sr": sr, **conv.timings.to_json(), "dropped_interjections": dropped,
               "speech": speech}
    (folder / "timings.json").write_text(json.dumps(timings, indent=1))
