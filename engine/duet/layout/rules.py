"""Spatial cues read straight from the words of a prompt: how far apart, which arrangement, how high.

Each cue is optional (None when the prompt says nothing about it); the offline predictor fills the
gaps from the nearest annotated example. Numbers follow everyday proxemics (Hall's zones) and
furniture sizes; heights are eye heights above the floor.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

FACE, CORNER, SIDE = 0.0, math.pi / 4, math.pi / 2
TYPICAL_APART = {FACE: 1.1, CORNER: 0.9, SIDE: 0.65}

_NUMBER_WORDS = {"a": 1.0, "one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "five": 5.0, "six": 6.0,
                 "half a": 0.5, "a couple of": 2.0, "a few": 3.0, "several": 4.0}
_UNITS = {"m": 1.0, "metre": 1.0, "meter": 1.0, "foot": 0.3048, "feet": 0.3048, "ft": 0.3048,
          "yard": 0.9144, "step": 0.75, "pace": 0.75, "arm": 0.7}
_AMOUNT = r"(\d+(?:\.\d+)?|a couple of|a few|several|half a|one|two|three|four|five|six|a)"
_HALVES = re.compile(r"\b(\d+|a|one|two|three|four|five) (?:and a half (?:metres?|meters?)|(?:metres?|meters?) "
                     r"and a half)")
_MEASURE = re.compile(_AMOUNT + r"[\s-]*(metres?|meters?|m|feet|foot|ft|yards?|steps?|paces?|arm'?s?)(?:['\s-]*lengths?)?\b")

# (pattern, metres between the heads), most specific first: the first that matches decides.
_DISTANCES = [
    (r"whisper|\bear\b", 0.28),
    (r"\bhug|embrac|cuddl|slow[- ]danc|in each other'?s arms|kiss", 0.28),
    (r"\b(across|ends? of|sides? of) (a|the) (busy |wide |large |big |crowded |empty |football |sports )*"
     r"(street|road|pitch|field|park|car park|parking lot|square|courtyard|yard|hall|gym|warehouse|playground|"
     r"lawn)|back row", 6.0),
    (r"\b(shout|yell|call)(s|ing|ed)?\b.*\b(across|from afar|far)\b", 6.0),
    (r"\b(opposite|far) ends? of", 2.4),
    (r"across (the|a) (room|living room|office|classroom|kitchen|bar|restaurant|lobby)\b"
     r"(?! (table|counter|island|desk))", 3.0),
    (r"\bfront row|\bon (a |the )?stage\b", 4.0),
    (r"very close|close together|up close|crowded|packed|loud|noisy|squeez", 0.6),
    (r"boardroom|conference table|long table|meeting table", 1.9),
    (r"wide desk|big desk|large desk", 1.4),
    (r"\bdesks?\b", 1.2),
    (r"small table|little table|cafe|café|bistro|chess|card table|coffee table", 0.8),
    (r"\bcounter\b|\bbar\b", 0.9),
    (r"\btable\b", 1.0),
    (r"campfire|fire pit", 2.2),
]

# Arrangement cues in tiers: explicit words beat what furniture implies.
_ARRANGEMENTS = [
    (r"\bcorner\b|right angles?|diagonal|\bl-shaped", CORNER),
    (r"side[- ]by[- ]side|next to (each other|one another)|beside (each other|one another)|shoulder to shoulder|"
     r"\badjacent\b|\bin a row\b|next seat|neighbouring seats|same direction", SIDE),
    (r"face[- ]to[- ]face|facing each other|facing one another|\bacross\b|\bopposite\b|\bover (a|the) "
     r"(desk|counter|bar|table|fence|hedge|wall)|in front of (him|her|them|each other)|\bfacing (him|her|them)", FACE),
    (r"\bbeside\b|next to|\bbench\b|\bsofa\b|\bcouch\b|front seats?|\bcar\b|\bplane\b|\bflight\b|\bpassengers?\b|"
     r"\bcinema\b|\btheat(er|re)\b|\blecture\b|\bpier\b|\bbus stop\b|\blift\b|\belevator\b|\bwalking\b|"
     r"\bwatching\b|\bin bed\b", SIDE),
    (r"\btable\b|\bdesk\b|\bcounter\b|\binterview|\bchess\b|\bfacing\b", FACE),
]

# Posture and body cues -> eye height above the floor (metres).
_SIT_ON = r"(?:\b(?:sit|sits|sitting|sat|seated) (?:on|in) (?:a |the )?)?"
_POSTURES = [  # verbs and places: handed out to A, then B, in the order the prompt says them
    (r"\bsit(s|ting)?( cross-legged)? on the (floor|ground|rug|carpet|grass|sand|blanket)|\bon the (floor|ground)|"
     r"cross-legged|picnic", "floor", 0.8),
    (r"\b(lying|lie|lies|laid)\b|\bin bed\b|\bbed\b|under the covers", "lying", 0.7),
    (r"\bon (a |the )?stage\b", "stage", 2.6),
    (_SIT_ON + r"\b(bar )?stools?\b", "stool", 1.45),
    (_SIT_ON + r"\bwheelchair\b", "wheelchair", 1.05),
    (r"\b(kneel|crouch|squat)\w*", "kneeling", 1.05),
    (_SIT_ON + r"\b(sofa|couch|slumped)\b", "sofa", 1.1),
    (r"\b(sit|sits|sitting|sat|seated|armchair|chair|chairs)\b", "seated", 1.2),
    (r"\b(stand|stands|standing|stood|upright)\b", "standing", 1.6),
]
_IMPLIED_POSTURES = [  # furniture that implies everyone sits, used only when no posture word is said
    (r"\b(car|driver|passengers?|plane|flight|train seat|cinema|theat(er|re))\b", "seated", 1.15),
    (r"\b(bench|desk|desks|dinner|dining|table|interview|lecture|chess)\b", "seated", 1.2),
]
_CHILDREN = [  # a child in the scene: one person, however often the prompt names them
    (r"\b(toddler|baby|infant)\b", 0.75),
    (r"\b(small|little|young) (child|boy|girl|kid)|\b(child|kid)\b", 1.0),
]
_BUILDS = [  # tall and short: two different people when the prompt names both
    (r"\b(much )?(shorter|short|petite) (woman|man|person|grandmother|grandfather|lady)|\bshort\b", 1.45),
    (r"\btall(er)?\b", 1.75),
]


@dataclass
class Cues:
    apart: float | None = None
    angle: float | None = None
    height_a: float | None = None
    height_b: float | None = None
    notes: tuple[str, ...] = ()


def read(prompt: str) -> Cues:
    """Every cue the prompt's words give."""
    text = " " + prompt.lower().replace("’", "'") + " "
    notes = []
    apart = _measured(text)
    if apart is not None:
        notes.append(f"stated distance {apart:.2f} m")
    else:
        for pattern, metres in _DISTANCES:
            m = re.search(pattern, text)
            if m:
                apart = metres
                notes.append(f"'{m.group(0).strip()}' -> {metres:g} m apart")
                break
    angle = None
    for pattern, value in _ARRANGEMENTS:
        m = re.search(pattern, text)
        if m:
            angle = value
            notes.append(f"'{m.group(0).strip()}' -> {_ANGLE_NAMES[value]}")
            break
    height_a, height_b = _heights(text, notes)
    return Cues(apart, angle, height_a, height_b, tuple(notes))


_ANGLE_NAMES = {FACE: "face to face", CORNER: "at a corner", SIDE: "side by side"}


def _measured(text: str) -> float | None:
    m = _HALVES.search(text)
    if m:
        whole = m.group(1)
        return (float(whole) if whole[0].isdigit() else _NUMBER_WORDS[whole]) + 0.5
    m = _MEASURE.search(text)
    if not m:
        return None
    amount, unit = m.group(1), m.group(2).rstrip("s'").rstrip("'")
    value = float(amount) if amount[0].isdigit() else _NUMBER_WORDS[amount]
    unit = {"metre": "m", "meter": "m", "metr": "m", "mete": "m", "yard": "yard", "arm": "arm"}.get(unit, unit)
    return value * _UNITS.get(unit, 1.0)


def _heights(text: str, notes: list[str]) -> tuple[float | None, float | None]:
    slots: dict[str, float | None] = {"A": None, "B": None}
    builds = sorted((m.start(), h) for pattern, h in _BUILDS for m in re.finditer(pattern, text))
    children = sorted((m.start(), h) for pattern, h in _CHILDREN for m in re.finditer(pattern, text))
    if len(builds) >= 2 and builds[0][1] != builds[1][1]:
        slots["A"], slots["B"] = builds[0][1], builds[1][1]
    elif builds or children:
        start, height = (children or builds)[0]
        # someone described in the prompt's first words is the first person (A)
        slots["A" if len(text[:start].split()) < 3 else "B"] = height
    for who in ("A", "B"):
        if slots[who] is not None:
            notes.append(f"{who}'s build -> eye height {slots[who]:g} m")

    postures = _found(text, _POSTURES)
    implied = not postures
    if implied:
        postures = _found(text, _IMPLIED_POSTURES)
    kinds = []
    for _, kind, height in postures:
        if not kinds or kinds[-1][0] != kind:
            kinds.append((kind, height))
    distinct = list(dict.fromkeys(kinds))
    free = [who for who in ("A", "B") if slots[who] is None]
    if len(distinct) == 1 or (implied and distinct):
        for who in free:
            slots[who] = distinct[0][1]
            notes.append(f"{who} {distinct[0][0]} -> eye height {distinct[0][1]:g} m")
    else:
        for who, (kind, height) in zip(free, distinct):
            slots[who] = height
            notes.append(f"{who} {kind} -> eye height {height:g} m")
    return slots["A"], slots["B"]


def _found(text: str, table) -> list[tuple[int, str, float]]:
    """(position, kind, height) of every match, earlier table rows masking the words they used."""
    hits = []
    masked = text
    for pattern, kind, height in table:
        for m in re.finditer(pattern, masked):
            hits.append((m.start(), kind, height))
        masked = re.sub(pattern, lambda m: " " * len(m.group(0)), masked)
    return sorted(hits)
