"""Speaking a script: each line with its speaker's voice and prosody, placed on two tracks.

Turns follow each other after their ``pause`` (minus any ``overlap``); an interjection is spoken
by the listener at its fraction ``at`` of the turn, moved to the nearest pause between the speaker's
words, and dropped (noted in timings.json) when it would collide with the listener's own speech.
Placement, masks and phone times come from duet.data.conversation.assemble, so they are exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from duet.errors import DuetError
from duet.files import atomic_folder

PEAK = 0.95  # the mix is scaled so its loudest sample stays below this
LEAD_IN = 0.3  # seconds of silence before the first line


def speak(data: dict, out_dir: Path, force: bool = False) -> Path:
    from duet.progress import Progress
    from duet.data.conversation import Turn, assemble
    from duet.tts import SR, synthesize

    if out_dir.exists() and not out_dir.is_dir():
        raise DuetError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise DuetError(f"{out_dir}: folder exists and is not empty; pass --force to replace it")
    voices = {p: data["speakers"][p]["voice"] for p in "AB"}
    n = len(data["turns"])
    with Progress("dialogue") as progress:
        lines, starts, spans = [], [], {"A": [], "B": []}
        cursor = LEAD_IN
        for k, t in enumerate(data["turns"]):
            progress.update(k / (n + 1), f"speaking turn {k + 1} of {n}")
            pro = t["prosody"]
            speech = synthesize(t["text"], voices[t["speaker"]], rate=pro["rate"], pitch=pro["pitch"])
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
            word = synthesize(inter["text"], voices[listener])
            at = start + _pause_near(line.speech.phonemes, inter["at"] * line.speech.duration)
            at = max(0.0, at - word.duration / 2)
            if any(at < e + 0.1 and s - 0.1 < at + word.duration for s, e in spans[listener]):
                dropped.append({"speaker": listener, "text": inter["text"], "at": round(at, 3)})
                continue
            spans[listener].append((at, at + word.duration))
            backchannels.append(Turn(listener, word, at=at, kind="backchannel", emotion="neutral"))
        conv = assemble(lines + backchannels, lead_in=LEAD_IN, tail=0.5)
        progress.update(n / (n + 1), "writing")
        with atomic_folder(out_dir) as tmp:
            _write(tmp, conv, data, dropped, SR)
    return out_dir


def _pause_near(phonemes, t: float) -> float:
    """The middle of the silence inside the utterance closest to ``t`` (``t`` itself if none)."""
    inner = [(a + b) / 2 for a, b, p in phonemes[1:-1] if p == "sil"]
    return min(inner, key=lambda m: abs(m - t)) if inner else t


def _write(folder: Path, conv, data: dict, dropped: list, sr: int) -> None:
    import soundfile as sf

    tracks = conv.tracks
    peak = float(max(np.abs(conv.mix).max(), np.abs(tracks).max(), 1e-9))
    gain = min(1.0, PEAK / peak)
    sf.write(folder / "a.wav", tracks[0] * gain, sr, subtype="PCM_16")
    sf.write(folder / "b.wav", tracks[1] * gain, sr, subtype="PCM_16")
    sf.write(folder / "mix.wav", conv.mix * gain, sr, subtype="PCM_16")
    (folder / "script.json").write_text(json.dumps(data, indent=2))
    timings = {"version": 1, "sr": sr, **conv.timings.to_json(), "dropped_interjections": dropped}
    (folder / "timings.json").write_text(json.dumps(timings, indent=1))
