"""An offline emotion classifier for one line of dialogue: a hand-written lexicon with negation,
intensifiers and punctuation. Deterministic and instant; the LLM's per-turn labels replace it when an
endpoint writes the script."""

from __future__ import annotations

import re

import numpy as np

from duet.emotion.labels import EMOTIONS

_WORDS = {
    "happy": "happy glad great wonderful love loved lovely brilliant fantastic amazing awesome yay haha laugh "
             "fun enjoy enjoyed excited congratulations congrats perfect delighted thrilled cheers nice beautiful "
             "best win won celebrate celebrating proud thanks thank funny hilarious sweet good",
    "sad": "sad sorry miss missed lonely cry crying cried tears lost lose loss unfortunately tired hurt hurts "
           "grief died death gone heartbroken disappointed disappointing depressed alone regret sigh pity",
    "angry": "angry furious mad hate hated ridiculous stupid nonsense rubbish idiot unbelievable outrageous "
             "annoying annoyed sick fed up shut enough wrong never blame terrible disgrace how dare robbed cheat "
             "cheated unfair damn worst",
    "surprised": "wow what really seriously no way whoa oh unexpected surprise surprised believe suddenly "
                 "incredible shocked can't believe huh",
    "fearful": "afraid scared fear worried worry nervous anxious panic terrified frightened dangerous risk "
               "careful threat",
    "disgusted": "gross disgusting yuck eww revolting nasty vile filthy sickening rotten smells stinks pathetic "
                 "laughable",
}
_LEXICON: dict[str, str] = {}
for _emotion, _words in _WORDS.items():
    for _w in _words.split():
        _LEXICON.setdefault(_w, _emotion)
_PHRASES = [("no way", "surprised"), ("can't believe", "surprised"), ("fed up", "angry"), ("how dare", "angry"),
            ("shut up", "angry"), ("thank you", "happy")]
_NEGATIONS = {"not", "no", "never", "don't", "didn't", "isn't", "wasn't", "aren't", "can't", "won't", "hardly"}
_INTENSIFIERS = {"very": 1.6, "so": 1.5, "really": 1.4, "absolutely": 1.7, "totally": 1.5, "extremely": 1.8,
                 "completely": 1.5, "utterly": 1.7}
# A negated feeling leans to its opposite rather than vanishing.
_FLIP = {"happy": "sad", "sad": "neutral", "angry": "neutral", "fearful": "neutral", "surprised": "neutral",
         "disgusted": "neutral"}
NEUTRAL_PRIOR = 0.8  # evidence a line with no emotional words carries for "neutral"


def classify(text: str) -> np.ndarray:
    """A probability distribution [len(EMOTIONS)] over EMOTIONS for one line of dialogue."""
    scores = dict.fromkeys(EMOTIONS, 0.0)
    scores["neutral"] = NEUTRAL_PRIOR
    low = " " + text.lower().replace("’", "'") + " "
    for phrase, emotion in _PHRASES:
        if phrase in low:
            scores[emotion] += 1.0
            low = low.replace(phrase, " ")
    words = re.findall(r"[a-z']+", low)
    for i, w in enumerate(words):
        emotion = _LEXICON.get(w)
        if emotion is None:
            continue
        before = words[max(0, i - 3): i]
        weight = 1.0
        for b in before:
            weight *= _INTENSIFIERS.get(b, 1.0)
        if any(b in _NEGATIONS for b in before):
            emotion = _FLIP[emotion]
            weight *= 0.7
        scores[emotion] += weight
    bangs = text.count("!")
    if bangs:
        loudest = max(("happy", "angry", "surprised"), key=lambda e: scores[e])
        scores[loudest] += 0.4 * min(bangs, 3) * (1.0 if scores[loudest] > 0 else 0.5)
    if text.strip().endswith("?") and scores["surprised"] > 0:
        scores["surprised"] += 0.3
    s = np.array([scores[e] for e in EMOTIONS], np.float64)
    return s / s.sum()
