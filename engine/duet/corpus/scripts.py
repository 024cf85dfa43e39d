"""Offline conversation scripts: varied sentences and turn structures, emotions, relation, interjections.

Sentences come from templates x word lists; each sentence belongs to exactly one split by a hash of
its text, so test sentences never appear in train. Interjections ("uh-huh", "hmm", "okay", "yeah")
fall into the listener's silences with probability ``p_inter`` (CHAT, section 4.2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from duet.corpus.animator import EMOTIONS, RELATIONS

INTERJECTIONS = ("uh-huh", "hmm", "okay", "yeah", "mm-hmm", "right", "oh", "wow", "I see")
SHORT_REPLIES = ("Really?", "No way.", "I know, right?", "Sure.", "Exactly.", "Oh, come on.", "Absolutely.",
                 "Not really.", "Maybe.", "Why not?", "That's true.", "Seriously?", "Fair enough.", "Me too.")

_W = {
    "person": ["my brother", "my sister", "your cousin", "the neighbour", "my boss", "our teacher", "my mother",
               "your friend Paul", "the new manager", "my grandfather", "Maria", "Bob", "the doctor", "Jim"],
    "place": ["Boston", "the beach", "the mountains", "the old market", "Paris", "the museum", "the park",
              "my office", "the library", "the station", "the village", "the harbour", "Madrid", "the farm"],
    "thing": ["the new phone", "that movie", "the football match", "the budget", "dinner", "the weather",
              "the garden", "the concert", "the election", "the book club", "the car", "the project",
              "the wedding", "the exam", "the bread", "the piano lessons", "the broken window"],
    "time": ["yesterday", "last week", "this morning", "on Monday", "in June", "tonight", "next summer",
             "after lunch", "at midnight", "two years ago", "tomorrow", "every weekend"],
    "verb_past": ["visited", "talked to", "called", "met", "helped", "missed", "phoned", "watched", "found"],
    "adj": ["amazing", "terrible", "boring", "beautiful", "expensive", "strange", "wonderful", "awful",
            "perfect", "ridiculous", "brilliant", "quiet", "messy", "huge", "tiny", "lovely"],
    "activity": ["cooking", "running", "painting", "fishing", "dancing", "swimming", "reading", "hiking",
                 "building a boat", "playing the violin", "baking bread", "moving house", "working late"],
}
QUESTIONS = [
    "Did you see {thing} {time}?", "What do you think about {thing}?", "Have you ever been to {place}?",
    "Why did {person} go to {place} {time}?", "How was {thing}?", "Are you still {activity}?",
    "When are you going back to {place}?", "Do you remember {thing}?", "Who told you about {thing}?",
    "Would you like to try {activity} with me?", "Is it true that {person} loves {activity}?",
    "What happened with {thing} {time}?", "Can you believe {person} {verb_past} me {time}?",
]
STATEMENTS = [
    "I {verb_past} {person} at {place} {time}.", "Honestly, {thing} was {adj}.",
    "{person} says {thing} is {adj}, but I am not so sure.", "We went to {place} {time} and it was {adj}.",
    "I have been {activity} a lot lately.", "My problem with {thing} is that it was so {adj}.",
    "You know, {person} {verb_past} me {time} about {thing}.", "I think {place} is {adj} in the summer.",
    "Well, I would rather stay home than go to {place}.", "It was {adj}, much better than {thing}.",
    "Maybe we should go {activity} at {place} {time}.", "I never liked {thing}, it always feels {adj}.",
    "Remember when {person} got lost near {place}?", "Of course, {person} was there, being {adj} as usual.",
    "I bought bread, milk and a big pumpkin for {thing}.", "My mum made a massive pie for {thing}.",
]


def split_of(text: str) -> str:
    """The split a sentence belongs to, fixed by its text: about 80% train, 10% val, 10% test."""
    h = int(hashlib.sha1(text.lower().encode()).hexdigest()[:8], 16) % 10
    return "test" if h == 0 else "val" if h == 1 else "train"


def sentence(rng: np.random.Generator, kind: str, split: str) -> str:
    """A random question or statement that belongs to ``split``."""
    pool = QUESTIONS if kind == "question" else STATEMENTS
    for _ in range(1000):
        tpl = pool[rng.integers(len(pool))]
        text = tpl.format(**{k: v[rng.integers(len(v))] for k, v in _W.items()})
        text = text[0].upper() + text[1:]
        if split_of(text) == split:
            return text
    raise RuntimeError("no sentence found for split " + split)


@dataclass
class ScriptLine:
    speaker: str
    text: str
    kind: str = "utterance"   # "utterance" or "backchannel"
    emotion: str = "neutral"
    gap: float = 0.3          # seconds after the previous utterance ends (negative: overlap/interruption)
    offset: float = 0.0       # backchannels: fraction of the partner's previous utterance at which it starts


@dataclass
class Script:
    lines: list[ScriptLine]
    relation: str
    split: str
    sentences: list[str] = field(default_factory=list)


def generate(rng: np.random.Generator, split: str, target_seconds: float = 20.0, p_inter: float = 0.35) -> Script:
    """A conversation of roughly ``target_seconds``: alternating turns (questions get answers), short
    replies, the odd interruption, and interjections inside the listener's silence."""
    relation = RELATIONS[rng.integers(len(RELATIONS))]
    mood = {p: EMOTIONS[rng.integers(len(EMOTIONS))] for p in "AB"}
    lines: list[ScriptLine] = []
    sentences: list[str] = []
    speaker = "A" if rng.random() < 0.5 else "B"
    budget = target_seconds
    while budget > 0:
        emotion = mood[speaker] if rng.random() < 0.6 else EMOTIONS[rng.integers(len(EMOTIONS))]
        if lines and rng.random() < 0.15:
            text = SHORT_REPLIES[rng.integers(len(SHORT_REPLIES))]
        else:
            n_sent = 1 + int(rng.random() < 0.45)
            parts = []
            for j in range(n_sent):
                kind = "question" if (j == n_sent - 1 and rng.random() < 0.35) else "statement"
                parts.append(sentence(rng, kind, split))
            sentences += parts
            text = " ".join(parts)
        r = rng.random()
        gap = -rng.uniform(0.2, 0.7) if (lines and r < 0.12) else rng.uniform(0.05, 0.9)
        lines.append(ScriptLine(speaker, text, "utterance", emotion, float(gap)))
        budget -= 0.075 * len(text) + gap
        listener = "B" if speaker == "A" else "A"
        if len(text) > 25 and rng.random() < p_inter:
            word = INTERJECTIONS[rng.integers(len(INTERJECTIONS))]
            lines.append(ScriptLine(listener, word, "backchannel", mood[listener], 0.0,
                                    float(rng.uniform(0.3, 0.7))))
        speaker = listener
    return Script(lines, relation, split, sentences)
