"""The emotion and social-relation vocabularies, one name per idea across code, files and UI."""

from __future__ import annotations

import re

from duet.errors import DuetError

# MEAD's categories without contempt, neutral first so id 0 is calm. The same tuple as the corpus
# (duet.corpus.animator.EMOTIONS), so ids mean the same thing in training and at inference.
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted")

# RSATalker's taxonomy, blood / non-blood x equal / non-equal, spelled as the corpus spells it.
RELATIONS = ("blood-equal", "blood-unequal", "nonblood-equal", "nonblood-unequal")

_ALIASES = {"happiness": "happy", "joy": "happy", "joyful": "happy", "excited": "happy", "glad": "happy",
            "sadness": "sad", "anger": "angry", "mad": "angry", "annoyed": "angry", "frustrated": "angry",
            "surprise": "surprised", "fear": "fearful", "afraid": "fearful", "scared": "fearful",
            "anxious": "fearful", "disgust": "disgusted", "calm": "neutral", "contempt": "disgusted",
            "contemptuous": "disgusted"}


def emotion_id(label: str) -> int:
    """The id of an emotion label (aliases such as 'joy' or 'anger' accepted); DuetError otherwise."""
    name = _ALIASES.get(str(label).strip().lower(), str(label).strip().lower())
    if name not in EMOTIONS:
        raise DuetError(f"unknown emotion '{label}' (choose from {', '.join(EMOTIONS)})")
    return EMOTIONS.index(name)


_BLOOD = r"\b(mother|father|mom|mum|dad|parent|son|daughter|child|brother|sister|sibling|twin|grand\w*|" \
         r"aunt|uncle|niece|nephew|cousin|family)s?\b"
_UNEQUAL = r"\b(mother|father|mom|mum|dad|parent|son|daughter|child|grand\w*|aunt|uncle|niece|nephew|boss|" \
           r"employee|manager|subordinate|teacher|student|pupil|doctor|patient|nurse|officer|driver|" \
           r"interview\w*|candidate|customer|cashier|shopkeeper|waiter|lecturer|coach|player|king|servant|" \
           r"toddler|kid)s?\b"


def relation_from_text(text: str) -> str:
    """The social relation a scene describes, by its words; unknown pairs count as non-blood equals."""
    t = text.lower()
    blood = re.search(_BLOOD, t) is not None
    unequal = re.search(_UNEQUAL, t) is not None
    return f"{'blood' if blood else 'nonblood'}-{'unequal' if unequal else 'equal'}"
