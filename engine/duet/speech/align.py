"""Forced alignment: phone times for speech whose words are known, by PocketSphinx (its Python package
ships the en-us acoustic model and the CMU dictionary; nothing is downloaded).

The one aligner in Duet: synthesizers that give no phone times (a neural voice) and the timing
checks (an independent reference for the corpus's own labels) both use it. ``forced_phones`` returns
(start_s, end_s, phone) in Duet's inventory, silences as "sil".
"""

from __future__ import annotations

import functools
import re

import numpy as np

from duet.constants import SAMPLE_RATE
from duet.errors import DuetError

# PocketSphinx frame f is the 25.6 ms window that starts at f * 10 ms; a boundary it reports at frame f
# is where the window's centre crossed it, half a window later.
HALF_WINDOW_S = 0.0128


def align_words(text: str) -> list[str]:
    """The words to align, with a silence allowed at both ends and at each punctuation mark (the
    aligner finds no path through a pause the text does not allow)."""
    text = re.sub(r"[^a-z' ,.;:?!]", " ", str(text).lower().replace("-", " "))
    out = ["<sil>"]
    for part in re.split(r"[,.;:?!]", text):
        if part.split():
            out += [*part.split(), "<sil>"]
    return out


@functools.lru_cache(maxsize=1)
def decoder():
    """A PocketSphinx decoder for alignment (wide beams: the words are known, only times are sought)."""
    import os

    from pocketsphinx import Decoder, get_model_path

    model = os.path.join(get_model_path(), "en-us")
    return Decoder(hmm=os.path.join(model, "en-us"), dict=os.path.join(model, "cmudict-en-us.dict"),
                   samprate=SAMPLE_RATE, beam=1e-80, wbeam=1e-60, pbeam=1e-80, logfn=os.devnull)


def known(word: str) -> bool:
    return word == "<sil>" or decoder().lookup_word(word) is not None


def forced_words(samples: np.ndarray, text: str, offset_s: float = 0.0) -> list[tuple[str, list[tuple[float, float, str]]]]:
    """[(word, its phones)] of ``text`` spoken in ``samples`` (mono, 16 kHz); silences are words
    "<sil>" with one "sil" phone. Times in seconds plus ``offset_s``. DuetError when a word is not in
    the dictionary or no alignment path fits the audio."""
    from duet.speech.phonemes import INVENTORY, from_arpabet

    words = align_words(text)
    unknown = [w for w in words if not known(w)]
    if unknown:
        raise DuetError(f"cannot align {text!r}: {', '.join(unknown[:3])} not in the pronouncing dictionary")
    pcm = (np.clip(np.asarray(samples, np.float64), -1, 1) * 32767).astype(np.int16).tobytes()
    dec = decoder()
    try:
        dec.set_align_text(" ".join(words))
        _run(dec, pcm)  # first pass: where the words are
        dec.set_alignment()
        _run(dec, pcm)  # second pass: the phones inside them
        aligned = [(w.name, list(w)) for w in dec.get_alignment().words()]
    except RuntimeError:
        raise DuetError(f"cannot align {text!r}: no alignment path fits the audio") from None
    t0 = offset_s + HALF_WINDOW_S
    out = []
    for word, segments in aligned:
        phones = []
        for seg in segments:
            name = seg.name.lower()
            phone = "sil" if name == "sil" or name.startswith("+") else from_arpabet(name)
            if phone in INVENTORY:
                phones.append((t0 + seg.start / 100.0, t0 + (seg.start + seg.duration) / 100.0, phone))
        out.append(("<sil>" if word in ("<s>", "</s>", "<sil>") else word.lower(), phones))
    if not any(p != "sil" for _, phones in out for _, _, p in phones):
        raise DuetError(f"cannot align {text!r}: the aligner found no phones")
    return out


def forced_phones(samples: np.ndarray, text: str, offset_s: float = 0.0) -> list[tuple[float, float, str]]:
    """Phones (start_s, end_s, phone) of ``text`` spoken in ``samples``: ``forced_words`` flattened."""
    return [ph for _, phones in forced_words(samples, text, offset_s) for ph in phones]


def _run(dec, pcm: bytes) -> None:
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
