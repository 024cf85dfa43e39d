"""The emotion and social-relation vocabularies, one name per idea across code, files and UI."""

from __future__ import annotations

import re

from duet.errors import DuetError

# MEAD's categories without contempt, neutral first so id 0 is calm. The same tuple as the corpus
# (duet.corpus.animator.EMOTIONS), so ids mean the same thing in training and at inference.
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted")

# RSATalker's taxonomy, blood / non-blood x equal / non-equal, spelled as the corpus spells it.
RELATIONS = ("blood-equal", "blood-unequal", "nonblood-equal", "nonblood-unequal")
# An unequal relation's senior is A (the corpus's convention); a model vocabulary may also hold each
# unequal relation with its senior on B (duet.train.dataset.vocabularies).
SENIOR_B = " (B senior)"


def swapped_relations(relations: tuple[str, ...]) -> list[int]:
    """Each relation's id in ``relations`` once A and B trade places: an unequal relation's senior
    changes side where the vocabulary has the other side's entry; an equal relation is its own."""
    def other(r: str) -> str:
        return r[: -len(SENIOR_B)] if r.endswith(SENIOR_B) else r + SENIOR_B

    return [relations.index(other(r)) if other(r) in relations else i for i, r in enumerate(relations)]


def with_senior(relation: str | None, senior: str | None) -> str | None:
    """A relation with its senior on ``senior``'s side ("A" or "B"; None: A, the corpus's convention):
    an unequal relation gets SENIOR_B when B is the senior; an equal one has no senior and is unchanged."""
    if senior not in (None, "A", "B"):
        raise DuetError(f"the senior must be A or B, not {senior!r}")
    if relation is None or senior != "B" or not relation.endswith("-unequal"):
        return relation
    return relation + SENIOR_B


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


# An unequal relation's roles, by side; a word that can be either (a nurse with a doctor or with a
# patient, a customer with a waiter) names no side.
_SENIOR_WORDS = r"mother|father|mom|mum|dad|parent|grandmother|grandfather|grandparent|grandma|grandpa|aunt|" \
                r"uncle|boss|manager|teacher|lecturer|doctor|officer|interviewer|coach|king|queen"
_JUNIOR_WORDS = r"son|daughter|child|children|grandson|granddaughter|grandchild|grandkid|niece|nephew|toddler|" \
                r"kid|employee|subordinate|student|pupil|patient|candidate|interviewee|player|servant"


def senior_from_text(text: str) -> str | None:
    """Who a scene makes the senior of an unequal relation, when it names both sides: "A" when it names
    the senior (a mother, a boss, a teacher) before the junior (a son, an employee, a student), "B"
    the other way round, as A is the person mentioned first (docs/language.md); None when it names
    one side only ("a nurse and a doctor": the doctor may be either person) or neither."""
    t = str(text).lower()
    senior = re.search(rf"\b({_SENIOR_WORDS})s?\b", t)
    junior = re.search(rf"\b({_JUNIOR_WORDS})s?\b", t)
    if senior is None or junior is None:
        return None
    return "A" if senior.start() < junior.start() else "B"


MAX_INTENSITY = 2.0  # 0: neutral, 1: the emotion as trained, 2: twice as far from neutral


def intensity(value, what: str = "emotion intensity") -> float:
    """An emotion's intensity as a float in [0, MAX_INTENSITY] (None: 1.0); DuetError otherwise."""
    import math

    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DuetError(f"{what} must be a number from 0 to {MAX_INTENSITY:g}, not {value!r}")
    w = float(value)
    if not math.isfinite(w) or not 0.0 <= w <= MAX_INTENSITY:
        raise DuetError(f"{what} must be a number from 0 to {MAX_INTENSITY:g}, not {value!r}")
    return w


def parse_emotion(text: str):
    """The command line's emotion: ``happy`` (both people), ``happy:0.5`` (both, at half intensity) or
    ``A=happy:0.5,B=sad`` (per person; a person left out is on auto: neutral, or a spoken script's). Returns a label, or
    {"A": label | {"emotion": label, "intensity": w}, ...}; DuetError for anything else."""
    text = str(text).strip()
    if ":" not in text and "=" not in text and "," not in text:
        return EMOTIONS[emotion_id(text)]

    def one(part: str):
        label, colon, amount = part.partition(":")
        name = EMOTIONS[emotion_id(label)]
        if not colon:
            return name
        try:
            w = intensity(float(amount))
        except (ValueError, DuetError):
            raise DuetError(f"emotion intensity must be a number from 0 to {MAX_INTENSITY:g}, "
                            f"not {amount.strip()!r} (in {text!r})") from None
        return {"emotion": name, "intensity": w}

    if "=" not in text:
        if "," in text:
            raise DuetError(f"emotion {text!r}: name each person, e.g. A=happy:0.5,B=sad")
        value = one(text)
        return {"A": value, "B": value} if isinstance(value, dict) else value
    out = {}
    for part in text.split(","):
        person, eq, rest = part.partition("=")
        person = person.strip().upper()
        if not eq or person not in ("A", "B"):
            raise DuetError(f"emotion {text!r}: each part must be A=LABEL[:INTENSITY] or B=LABEL[:INTENSITY]")
        if person in out:
            raise DuetError(f"emotion {text!r}: person {person} is named twice")
        out[person] = one(rest)
    return out
