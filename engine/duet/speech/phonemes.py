"""Duet's common phone inventory (ARPAbet-39 plus schwa and silence) with a class and a mouth-openness target.

Every synthesizer's phones are mapped onto this one set (see duet.speech), so lip-sync targets,
evaluation (bilabial closure, open vowels, lip gap vs openness) and the corpus speak one language.
"""

from __future__ import annotations

import numpy as np

# phone: (class, openness target in [0, 1])
INVENTORY: dict[str, tuple[str, float]] = {
    "sil": ("silence", 0.0),
    "m": ("bilabial", 0.0), "b": ("bilabial", 0.0), "p": ("bilabial", 0.0),
    "f": ("labiodental", 0.08), "v": ("labiodental", 0.08),
    "w": ("rounded", 0.15), "uw": ("rounded", 0.22), "ow": ("rounded", 0.45),
    "uh": ("rounded", 0.32), "oy": ("rounded", 0.5),
    "aa": ("open_vowel", 1.0), "ae": ("open_vowel", 0.9), "ao": ("open_vowel", 0.8),
    "aw": ("open_vowel", 0.85), "ay": ("open_vowel", 0.85), "ah": ("open_vowel", 0.7),
    "ax": ("mid_vowel", 0.45),  # schwa: kept apart from "ah" (the 39-set folds them), it barely opens
    "eh": ("mid_vowel", 0.6), "ey": ("mid_vowel", 0.5), "er": ("mid_vowel", 0.4),
    "ih": ("close_vowel", 0.35), "iy": ("close_vowel", 0.25), "y": ("close_vowel", 0.2),
    "th": ("dental", 0.22), "dh": ("dental", 0.22),
    "t": ("alveolar", 0.22), "d": ("alveolar", 0.22), "n": ("alveolar", 0.22),
    "s": ("alveolar", 0.12), "z": ("alveolar", 0.12), "l": ("alveolar", 0.3),
    "sh": ("postalveolar", 0.18), "zh": ("postalveolar", 0.18), "ch": ("postalveolar", 0.18),
    "jh": ("postalveolar", 0.18), "r": ("postalveolar", 0.28),
    "k": ("velar", 0.3), "g": ("velar", 0.3), "ng": ("velar", 0.28), "hh": ("glottal", 0.45),
}

PHONES = tuple(INVENTORY)
INDEX = {p: i for i, p in enumerate(PHONES)}
CLASSES = ("silence", "bilabial", "labiodental", "rounded", "open_vowel", "mid_vowel", "close_vowel",
           "dental", "alveolar", "postalveolar", "velar", "glottal")
VOWEL_CLASSES = ("rounded", "open_vowel", "mid_vowel", "close_vowel")
BILABIAL = frozenset(p for p, (c, _) in INVENTORY.items() if c == "bilabial")
OPEN_VOWELS = frozenset(p for p, (c, _) in INVENTORY.items() if c == "open_vowel")


def phone_class(phone: str) -> str:
    return INVENTORY[phone][0]


def openness(phone: str) -> float:
    return INVENTORY[phone][1]


def is_vowel(phone: str) -> bool:
    return INVENTORY[phone][0] in VOWEL_CLASSES and phone not in ("w", "y")


# Festival/flite "radio" phones outside the inventory, folded as in the usual 61 -> 39 reduction
# (except schwa, "ax", which stays: folded into "ah" it would count as an open vowel).
_ARPABET_FOLD = {"pau": "sil", "h#": "sil", "brth": "sil", "axr": "er", "ix": "ih",
                 "dx": "d", "el": "l", "em": "m", "en": "n", "nx": "n", "hv": "hh"}

# espeak-ng English mnemonics (phoneme events without IPA) -> inventory.
_ESPEAK = {
    "_": "sil", "_:": "sil", "_!": "sil", "_|": "sil", "_^_": "sil", "||": "sil", "|": "sil",
    "@": "ax", "@-": "ax", "@2": "ax", "@5": "ax", "@L": "l", "@r": "er", "3": "er", "3:": "er",
    "a": "ae", "a#": "ax", "aa": "ae", "A:": "aa", "A@": "aa", "A": "aa", "0": "aa", "0@": "ao",
    "O": "ao", "O:": "ao", "O@": "ao", "o@": "ao", "o": "ow", "E": "eh", "E2": "eh", "E@": "eh",
    "e@": "eh", "e": "eh", "eI": "ey", "I": "ih", "I#": "ih", "I2": "ih", "I@": "ih", "i": "iy",
    "i:": "iy", "i@": "iy", "i@3": "iy", "IR": "ih", "U": "uh", "U@": "uh", "u": "uw", "u:": "uw",
    "u@": "uw", "aI": "ay", "aI@": "ay", "aI3": "ay", "aU": "aw", "aU@": "aw", "OI": "oy",
    "oU": "ow", "oU#": "ow", "V": "ah", "VR": "er", "Uu": "uw", "y": "iy",
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g", "f": "f", "v": "v",
    "T": "th", "D": "dh", "s": "s", "z": "z", "S": "sh", "Z": "zh", "tS": "ch", "dZ": "jh",
    "h": "hh", "m": "m", "n": "n", "N": "ng", "l": "l", "r": "r", "w": "w", "j": "y",
    "t#": "t", "d#": "d", "n-": "n", "l-": "l", "m-": "m", "r-": "r", "x": "k", "?": "t",
    "w#": "w", "hw": "w", "l/": "l", "l/2": "l", "r/": "r", "z/2": "z", "z#": "z", "s#": "s",
}


def from_arpabet(phone: str) -> str:
    """A flite/festival phone -> the inventory (stress digits dropped)."""
    p = phone.strip().lower().rstrip("012")
    p = _ARPABET_FOLD.get(p, p)
    if p not in INVENTORY:
        raise KeyError(f"unknown ARPAbet phone {phone!r}")
    return p


def from_espeak(phone: str) -> str:
    """An espeak-ng phoneme mnemonic -> the inventory; unknown variants fall back on their stem."""
    name = phone.strip().lstrip("'`,%=")
    if name in _ESPEAK:
        return _ESPEAK[name]
    for key in (name.rstrip("#-/0123456789;:[]<>^!"), name[:2], name[:1]):
        if key in _ESPEAK:
            return _ESPEAK[key]
    if name.startswith("_") or not any(ch.isalnum() or ch == "@" for ch in name):
        return "sil"  # pauses and bare stress/length marks
    raise KeyError(f"unknown espeak-ng phoneme {phone!r}")


def phone_frames(phones, fps: float, n_frames: int):
    """[(phone, frame indices)] for each phone: frames k with k / fps in [start, end).

    A phone too short to contain a frame time gets the frame nearest its midpoint, so no phone
    silently drops out of a rate.
    """
    out = []
    for start, end, phone in phones:
        first, last = int(np.ceil(start * fps - 1e-9)), int(np.ceil(end * fps - 1e-9))
        idx = np.arange(max(first, 0), min(last, n_frames))
        if idx.size == 0:
            mid = int(round((start + end) / 2 * fps))
            if not 0 <= mid < n_frames:
                continue
            idx = np.array([mid])
        out.append((phone, idx))
    return out
