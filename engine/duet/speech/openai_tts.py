"""Speaking a line through an OpenAI-protocol text-to-speech endpoint (``/v1/audio/speech``).

Opt-in: ``DUET_TTS=openai`` (or ``duet dialogue --tts openai``) with the endpoint configured as for
duet.llm (OPENAI_API_KEY / OPENAI_BASE_URL, DUET_LLM_TIMEOUT). Model from DUET_TTS_MODEL.

The endpoint gives audio only, no phone timings. Duet never invents them: each line's speech spans
come from the audio itself (frame energy against the line's own peak), labelled "speech" between
"sil" spans, so the speaking masks are exact at the turn level and pauses inside a line show as
silence. Every failure is a ``TTSError`` with a one-line reason that never contains the key.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "gpt-4o-mini-tts"
VOICES = {"male": ("onyx", "echo", "ash"), "female": ("coral", "nova", "shimmer"), None: ("alloy", "verse")}
FRAME_S = 0.01  # energy frames for the speech/silence split
FLOOR_DB = -35.0  # a frame is speech when its RMS is within this of the line's loudest frame
MIN_GAP_S = 0.12  # silences shorter than this inside a line are bridged
MIN_SPEECH_S = 0.04  # speech blips shorter than this are dropped
MARGIN_S = 0.02  # silence kept around a trimmed line


class TTSError(Exception):
    """The endpoint gave no usable speech; the message says why, in one line."""


def model() -> str:
    return os.environ.get("DUET_TTS_MODEL") or DEFAULT_MODEL


def pick_voices(speakers: dict) -> dict[str, str]:
    """Two distinct endpoint voices for A and B, keeping the gender of the script's espeak voice
    ("+m3" male, "+f2" female; anything else gets alloy / verse)."""
    out: dict[str, str] = {}
    for p in "AB":
        variant = speakers[p]["voice"].partition("+")[2][:1]
        gender = {"m": "male", "f": "female"}.get(variant)
        choices = VOICES[gender]
        out[p] = next(v for v in choices + VOICES[None] if v not in out.values())
    return out


def instructions(emotion: str, prosody: dict | None) -> str:
    """How to say a line, for models that take instructions (pitch and energy have no API knob)."""
    words = [f"Sound {emotion}." if emotion and emotion != "neutral" else "Speak naturally."]
    if prosody:
        if prosody["pitch"] > 1.08:
            words.append("Use a higher pitch than usual.")
        elif prosody["pitch"] < 0.92:
            words.append("Use a lower pitch than usual.")
        if prosody["energy"] > 1.15:
            words.append("Be loud and emphatic.")
        elif prosody["energy"] < 0.85:
            words.append("Be soft and quiet.")
    return " ".join(words)


def synthesize(text: str, voice: str, *, emotion: str = "neutral", prosody: dict | None = None, cfg=None):
    """A duet.speech.Speech (16 kHz) for ``text`` spoken by the endpoint's ``voice``; TTSError on failure."""
    from duet import llm
    from duet.audio.io import load_audio
    from duet.errors import DuetError
    from duet.speech import Speech

    cfg = cfg or llm.settings()
    try:
        openai, client = llm.open_client(cfg)
    except llm.LLMError as e:
        raise TTSError(str(e)) from None
    speed = float(np.clip(prosody["rate"], 0.25, 4.0)) if prosody else 1.0
    with llm.endpoint_errors(openai, cfg, "speech endpoint", TTSError):
        reply = client.audio.speech.create(model=model(), voice=voice, input=text, response_format="wav",
                                           speed=speed, instructions=instructions(emotion, prosody))
        data = reply.content
    if not data:
        raise TTSError("the speech endpoint returned no audio")
    with tempfile.TemporaryDirectory(prefix="duet-tts-") as tmp:
        path = Path(tmp) / "line.wav"
        path.write_bytes(data)
        try:
            audio = load_audio(path, max_seconds=120)
        except DuetError as e:
            reason = str(e).replace(f"{path}: ", "").replace(str(path), "the reply")
            raise TTSError(f"the speech endpoint's audio is unusable ({reason})") from None
    samples = trim(audio.mono.astype(np.float32), audio.sr)
    return Speech(samples=samples, sr=audio.sr, phonemes=speech_spans(samples, audio.sr),
                  voice=f"openai:{voice}", text=" ".join(text.split()))


def trim(x: np.ndarray, sr: int) -> np.ndarray:
    """``x`` without its leading and trailing silence (MARGIN_S kept), so a turn spans its speech."""
    voiced = [(a, b) for a, b, p in speech_spans(x, sr) if p == "speech"]
    if not voiced:
        raise TTSError("the speech endpoint's audio holds no speech")
    a = max(0, int((voiced[0][0] - MARGIN_S) * sr))
    b = min(len(x), math.ceil((voiced[-1][1] + MARGIN_S) * sr))
    return x[a:b]


def speech_spans(x: np.ndarray, sr: int) -> list[tuple[float, float, str]]:
    """"sil"/"speech" spans tiling [0, duration], from frame energy (no phone identities)."""
    hop = max(1, round(FRAME_S * sr))
    n = len(x) // hop
    duration = len(x) / sr
    if n == 0:
        return [(0.0, duration, "sil")]
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, 1))
    db = 20 * np.log10(np.maximum(rms, 1e-9))
    on = db > max(db.max() + FLOOR_DB, -60.0)
    runs: list[list[int]] = []
    for k in np.flatnonzero(on):
        if runs and k - runs[-1][1] <= int(MIN_GAP_S / FRAME_S):
            runs[-1][1] = k + 1
        else:
            runs.append([k, k + 1])
    runs = [r for r in runs if (r[1] - r[0]) * FRAME_S >= MIN_SPEECH_S]
    spans, t = [], 0.0
    for a, b in runs:
        start, end = a * hop / sr, min(b * hop / sr, duration)
        if start > t:
            spans.append((t, start, "sil"))
        spans.append((start, end, "speech"))
        t = end
    if duration > t:
        spans.append((t, duration, "sil"))
    return spans
