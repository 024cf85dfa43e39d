"""Speech with exact phone timings from offline synthesizers: espeak-ng, flite and festival (their own
phone times), and piper's neural voice (phone times by forced alignment, ``duet.speech.align``).

``synthesize(text, "espeak:en-us+m3")`` -> Speech at 16 kHz whose ``phonemes`` are
(start_s, end_s, phone) in Duet's common inventory (duet.speech.phonemes), covering the audio.
Five voices are reserved for independent evaluation and are refused everywhere (RESERVED).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import numpy as np

from duet.constants import SAMPLE_RATE
from duet.errors import DuetError

SYNTHESIZERS = ("espeak", "flite", "festival", "piper")
RESERVED = frozenset({"flite:awb", "flite:awb_time", "flite:slt",
                      "festival:ked_diphone", "festival:cmu_us_slt_arctic_hts"})



@dataclass
class Speech:
    """Mono float32 samples at ``sr`` and the phones that cover them, in seconds."""

    samples: np.ndarray
    sr: int
    phonemes: list[tuple[float, float, str]]
    voice: str = ""
    text: str = ""

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sr


def parse_voice(voice: str) -> tuple[str, str]:
    """"synthesizer:name" -> (synthesizer, name); refuses reserved and malformed voices."""
    synthesizer, sep, name = voice.partition(":")
    if not sep or synthesizer not in SYNTHESIZERS or not name:
        raise DuetError(f"voice {voice!r}: expected ENGINE:NAME with ENGINE one of {', '.join(SYNTHESIZERS)}")
    if f"{synthesizer}:{name}" in RESERVED:
        raise DuetError(f"voice {voice!r} is reserved for independent evaluation and cannot be used")
    return synthesizer, name


def synthesize(text: str, voice: str, rate: float = 1.0, pitch: float = 1.0) -> Speech:
    """Speak ``text`` with ``voice``; ``rate`` > 1 is faster, ``pitch`` scales the voice's mean F0."""
    synthesizer, name = parse_voice(voice)
    text = " ".join(str(text).split())
    if not text:
        raise DuetError("nothing to say: the text is empty")
    if not (0.4 <= rate <= 2.5) or not (0.5 <= pitch <= 2.0):
        raise DuetError(f"rate {rate} / pitch {pitch} out of range (rate 0.4-2.5, pitch 0.5-2.0)")
    if synthesizer == "espeak":
        from duet.speech import espeak as backend
    elif synthesizer == "flite":
        from duet.speech import flite as backend
    elif synthesizer == "piper":
        from duet.speech import piper as backend
    else:
        from duet.speech import festival as backend
    samples, sr, phones = backend.synth(text, name, rate, pitch)
    return finish(samples, sr, phones, f"{synthesizer}:{name}", text)


def synthesize_many(texts: list[str], voice: str, rate: float = 1.0, pitch: float = 1.0) -> list[Speech]:
    """Several texts with one voice; festival speaks them all from one process (its start-up is slow)."""
    synthesizer, name = parse_voice(voice)
    texts = [" ".join(str(t).split()) for t in texts]
    if synthesizer != "festival" or not texts or not all(texts):
        return [synthesize(t, voice, rate, pitch) for t in texts]
    if not (0.4 <= rate <= 2.5) or not (0.5 <= pitch <= 2.0):
        raise DuetError(f"rate {rate} / pitch {pitch} out of range (rate 0.4-2.5, pitch 0.5-2.0)")
    from duet.speech import festival
    return [finish(x, sr, ph, f"{synthesizer}:{name}", t)
            for t, (x, sr, ph) in zip(texts, festival.synth_many(texts, name, rate, pitch))]


def voices(synthesizer: str | None = None) -> list[str]:
    """The usable voices installed here ("synthesizer:name"), never a reserved one."""
    if synthesizer is not None and synthesizer not in SYNTHESIZERS:
        raise DuetError(f"unknown synthesizer {synthesizer!r} (one of {', '.join(SYNTHESIZERS)})")
    out: list[str] = []
    if synthesizer in (None, "espeak"):
        from duet.speech import espeak
        out += [f"espeak:{v}" for v in espeak.installed()]
    if synthesizer in (None, "flite") and shutil.which("flite"):
        from duet.speech import flite
        out += [f"flite:{v}" for v in flite.installed()]
    if synthesizer in (None, "festival") and shutil.which("festival"):
        from duet.speech import festival
        out += [f"festival:{v}" for v in festival.installed()]
    if synthesizer in (None, "piper"):
        from duet.speech import piper
        out += [f"piper:{v}" for v in piper.installed()]
    return [v for v in out if v not in RESERVED]


def finish(samples: np.ndarray, sr: int, phones: list[tuple[float, float, str]], voice: str, text: str) -> Speech:
    """Speech from any samples and their phones (a synthesizer's, or a recording's forced alignment):
    resampled to 16 kHz, repeated silences merged, the phones tiling [0, duration] exactly."""
    x = np.asarray(samples, np.float32)
    if sr != SAMPLE_RATE:
        from math import gcd

        from scipy.signal import resample_poly
        g = gcd(SAMPLE_RATE, sr)
        x = resample_poly(x, SAMPLE_RATE // g, sr // g).astype(np.float32)
    duration = len(x) / SAMPLE_RATE
    tiled: list[tuple[float, float, str]] = []
    t = 0.0
    for start, end, phone in phones:
        start, end = max(start, t), min(end, duration)
        if end <= start + 1e-6:
            continue
        if start > t + 1e-6:
            _append(tiled, t, start, "sil")
        _append(tiled, start, end, phone)
        t = end
    if duration > t + 1e-6:
        _append(tiled, t, duration, "sil")
    elif tiled:
        tiled[-1] = (tiled[-1][0], duration, tiled[-1][2])
    return Speech(samples=x, sr=SAMPLE_RATE, phonemes=tiled, voice=voice, text=text)


def _append(phones: list, start: float, end: float, phone: str) -> None:
    if phones and phone == "sil" and phones[-1][2] == "sil":
        phones[-1] = (phones[-1][0], end, "sil")
    else:
        phones.append((start, end, phone))
