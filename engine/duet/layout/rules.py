"""Spatial cues read straight from the words of a prompt: how far apart, which arrangement, how high.

Read in order of authority: a distance stated with a unit ("3 m", "ten feet", "four paces", "a metre
and a half", "an arm's length") beats everything; then what the setting and the intent imply (across a
warehouse, at a cafe table, whispering); the offline predictor fills whatever stays None from the
nearest annotated examples. Numbers follow everyday proxemics (Hall's zones) and furniture sizes;
heights are eye heights above the floor.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

FACE, CORNER, SIDE = 0.0, math.pi / 4, math.pi / 2
ANGLE_NAMES = {FACE: "face to face", CORNER: "at a corner", SIDE: "side by side"}

# --- stated distances -------------------------------------------------------------------------------
_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
WORD_NUMBERS = {w: float(i) for i, w in enumerate(_SMALL)} | {w: float(v) for w, v in _TENS.items()} | {
    "a": 1.0, "an": 1.0, "a single": 1.0, "half a": 0.5, "a couple of": 2.0, "a few": 3.0, "several": 4.0,
    "a dozen": 12.0}
UNITS = {  # metres per unit
    "m": 1.0, "metre": 1.0, "meter": 1.0, "cm": 0.01, "centimetre": 0.01, "centimeter": 0.01,
    "mm": 0.001, "millimetre": 0.001, "millimeter": 0.001, "ft": 0.3048, "foot": 0.3048, "feet": 0.3048,
    "'": 0.3048, "yard": 0.9144, "yd": 0.9144, "pace": 0.75, "step": 0.75, "stride": 0.75, "arm": 0.7}
_WORD_NUM = "|".join(sorted((re.escape(w) for w in WORD_NUMBERS), key=len, reverse=True))
_TENS_RE = "|".join(_TENS)
_AMOUNT = (rf"(?P<amount>\d{{1,3}}(?:,\d{{3}})+|\d+(?:[.,]\d+)?|(?:{_TENS_RE})[- ](?:{'|'.join(_SMALL[1:10])})|"
           rf"(?:{'|'.join(_SMALL[:10])}) point (?:{'|'.join(_SMALL[:10])})|{_WORD_NUM})")
_UNIT = (r"(?P<unit>metres?|meters?|m|centimetres?|centimeters?|cm|millimetres?|millimeters?|mm|feet|foot|ft|'|"
         r"yards?|yds?|paces?|steps?|strides?|arm'?s?'?(?=[\s-]*length))")
_HALF = r"(?P<half>(?: and| &) a half)?"
_MEASURE = re.compile(rf"(?<![\w.])(?:{_AMOUNT}){_HALF}[\s-]*{_UNIT}(?:[\s-]*lengths?)?{_HALF.replace('half>', 'half2>')}"
                      rf"(?![\w'])(?P<after>[\s-]*(?:\w+[\s-]*){{0,2}})")
_ARMS = re.compile(r"\b(?:at |an |one )?arm'?s'?[\s-]*length\b")
# A measure of something else: a person's height or age, a room's size, a flight of stairs.
_NOT_APART = re.compile(r'[\s-]*(?:\d+\s*(?:"|\'\'|in\b|inch)|'
                        r"tall|high|old|long|wide|deep|up\b|above|below|down|higher|lower|"
                        r"of (?:stairs|steps)|staircase|ladder|stage|platform|table|desk|(?:\w+[\s-]+)?(?:tall|high)|"
                        r"(?:\w+[\s-]+)?(?:man|men|woman|women|guy|person|giant|soldier|player|wall|sofa|bed)\b)")


def stated_distance(text: str) -> tuple[float, str] | None:
    """The distance between the two people that the prompt states with a unit, in metres, and the words."""
    text = text.lower().replace("’", "'").replace("′", "'")
    for m in _MEASURE.finditer(text):
        if _NOT_APART.match(text, m.start("after")):
            continue
        value = _amount(m.group("amount"))
        if m.group("half") or m.group("half2"):
            value += 0.5
        metres = value * UNITS[_unit(m.group("unit"))]
        return metres, m.group(0)[: len(m.group(0)) - len(m.group("after"))].strip()
    if m := _ARMS.search(text):  # "at arm's length": the one unit said without a number
        return UNITS["arm"], m.group(0).strip()
    return None


def _unit(word: str) -> str:
    word = word.strip("'")
    if word not in UNITS and word.endswith("s"):
        word = word[:-1].rstrip("'")
    return {"meter": "metre", "centimeter": "centimetre", "millimeter": "millimetre", "": "'"}.get(word, word)


def _amount(words: str) -> float:
    words = words.strip()
    if words[0].isdigit():  # "1,5" is a decimal comma; "1,500" a thousands separator
        return float(words.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", words) else words.replace(",", "."))
    if " point " in words:
        whole, frac = words.split(" point ")
        return WORD_NUMBERS[whole] + WORD_NUMBERS[frac] / 10
    parts = re.split(r"[- ]", words)
    if len(parts) == 2 and parts[0] in _TENS:
        return _TENS[parts[0]] + WORD_NUMBERS[parts[1]]
    return WORD_NUMBERS[words]


# --- distances the setting and the intent imply --------------------------------------------------------
_NOT_PLACE = r"(?! (?:table|counter|island|desk|bar|net|fence|hedge|wall|aisle|machine))"
_BIG = (r"(?:warehouse|pitch|field|football field|street|road|square|car park|parking lot|construction site|"
        r"building site|pool|pool deck|penalty area|auditorium|lecture hall|hall|gym|courtyard|playground|"
        r"schoolyard|yard|lawn|park|beach|stadium|court|church|factory|hangar|barn|site|deck|theat(?:er|re)|cinema|"
        r"concert hall)")
_ROOM = (r"(?:room|living room|kitchen|office|classroom|shop|store|restaurant|lobby|loft|studio|garage|"
         r"backyard|garden|hallway|corridor|house|flat|apartment|pub|library|boat)")
_FAR = (r"(?:across|opposite ends? of|(?:the )?(?:far|other) (?:end|side|corner) of|(?:one|either) end of|"
        r"(?:one|either) side of|ends? of|back of|top of|from afar)")
_ROWS = {"front": 2.0, "first": 2.0, "second": 3.0, "third": 4.0, "fourth": 4.0, "fifth": 5.0, "back": 6.0,
         "last": 6.0, "top": 6.0}
OFF_STAGE = 3.0  # the least distance between someone on a stage and someone off it
STAGE_EXTRA = 1.5  # a stage's edge and the speaker's place on it add to the distance to a row
# (pattern, metres, whether it is a piece of furniture the two face across), most specific first.
DISTANCES: list[tuple[str, float, bool]] = [
    (r"whisper|\bears?\b|\bsecret\b", 0.3, False),
    (r"\bhug|embrac|cuddl|slow[- ]danc|in each other'?s arms|\bkiss", 0.28, False),
    (r"(?<!knees )almost touching|nose to nose|heads? (?:close|together)|\bhuddle", 0.5, False),
    (r"arms? around", 0.4, False),
    (r"\b(?:opposite|either|other) ends? of (?:a|the) (?:\w+ )?(?:sofa|couch|loveseat|bench|settee)", 1.0, False),
    (rf"\b{_FAR} (?:a |the |this |that )?(?:\w+ ){{0,2}}{_BIG}\b{_NOT_PLACE}|\bfrom the far\b", 6.0, False),
    (r"\bacross the stage\b", 2.5, False),
    (rf"\b{_FAR} (?:a |the |this |that )?(?:\w+ ){{0,2}}{_ROOM}\b{_NOT_PLACE}", 3.0, False),
    (r"\b(?:shout|yell|call|holler|bellow)\w*\b.*\b(?:across|far|distance|other side|away)\b", 5.0, False),
    (r"\b(?:standing|leaning|bending|towering) over\b", 0.8, False),
    (r"\b(?:boardroom|conference table|long table|meeting table|either end|opposite ends)\b", 2.0, True),
    (r"\bpool table|snooker|billiard", 2.5, True),
    (r"\bcampfire|fire pit|bonfire", 2.2, True),
    (r"\bover (?:the |a )?net\b|\bacross the net\b", 2.0, True),
    (r"\bacross the aisle\b", 1.8, False),
    (r"\binterview", 1.2, False),
    (r"\b(?:wide|big|large|huge|long) (?:\w+ )?(?:desk|table)\b", 1.4, True),
    (r"\b(?:small|little|tiny|round|bistro|cafe|café|coffee|card) (?:\w+ )?table|\bchess|\bboard\b|\bcards\b|"
     r"\bdominoes|\bpoker", 0.8, True),
    (r"\bdesks?\b", 1.2, True),
    (r"\bcounter\b|\bbar\b|\bcheckout|\bstall\b|\bfence\b|\bhedge\b|\bgate\b|\bdoorstep", 0.95, True),
    (r"\btable\b", 1.0, True),
    (r"\bholding (?:her|his|their|each other'?s) hands?|\bhand in hand", 0.5, False),
    (r"very close|close together|up close|close range|leaning (?:in )?close|\bcrowded|\bpacked|\bnoisy|\bloud\b|"
     r"squeez|screaming", 0.6, False),
]


def implied_distance(text: str) -> tuple[float, str, bool] | None:
    """(metres, the words, whether they name furniture the two face across) or None."""
    m = re.search(r"\b(front|first|second|third|fourth|fifth|back|last|top) (?:row|pew)\b", text)
    if m:
        extra = STAGE_EXTRA if re.search(r"\bstage\b", text) else 0.0
        return min(_ROWS[m.group(1)] + extra, 6.0), m.group(0), False
    for pattern, metres, furniture in DISTANCES:
        m = re.search(pattern, text)
        if m:
            return metres, m.group(0).strip(), furniture
    return None


# --- arrangement --------------------------------------------------------------------------------------
# Tiers: explicit words beat what a place implies.
ARRANGEMENTS: list[tuple[str, float]] = [
    (r"\bcorner of (?:a|the) (?:\w+ )?(?:table|desk|bar|counter|sofa|couch)|right angles?|\bl-shaped|\bdiagonal", CORNER),
    (r"face[- ]to[- ]face|facing each other|facing one another|turned to face|\bopposite\b|\bacross\b|"
     r"\bin front of\b|\bnose to nose|\bfacing (?:him|her|them)\b", FACE),
    (r"side[- ]by[- ]side|next to|\bbeside (?!their\b|the (?:car|road|river|lake|fire|pool|door))|shoulder to shoulder|"
     r"\badjacent\b|\bin a row\b|next seat|neighbouring seats|same direction|"
     r"\bsharing (?:a|the|one) (?:\w+ )?(?:sofa|couch|bench|desk|seat)", SIDE),
    (r"\b(?:bench|sofa|couch|front seats?|passenger seat|back seat|driver'?s seat|cockpit|co-pilot|chairlift|"
     r"motorbike|pier|bus stop|lift|elevator|walking(?! up| over| towards| to\b)|jogging|running|railing|rail\b|"
     r"(?:at|by) the window|steps of|arcade|in front of the tv|porch swing|piano|(?:couple|lovers|two \w+) lying)",
     SIDE),
    (r"\b(?:table|desk|counter|interview\w*|chess|facing|fence|hedge|doorstep|door|window of|bedside)\b", FACE),
]


def arrangement(text: str) -> tuple[float, str] | None:
    for pattern, value in ARRANGEMENTS:
        m = re.search(pattern, text)
        if m:
            return value, m.group(0).strip()
    return None


# --- heights ------------------------------------------------------------------------------------------
STAND = 1.6
_SIT_ON = r"(?:\b(?:sit|sits|sitting|sat|seated|perched) (?:on|in) (?:a |the |his |her |their )?)?"
# (pattern, kind, eye height, said once it holds for both people), most specific first.
POSTURES: list[tuple[str, str, float, bool]] = [
    (r"\b(?:lying|lie|lies|laid|lay)\b.{0,25}\b(?:grass|ground|beach|towels?|sand|floor|mat|blanket|pitch|field|"
     r"sleeping bags?)\b", "lying on the ground", 0.3, True),
    (r"\b(?:lying|lie|lies|laid)\b|\bin bed\b|under the covers|hospital bed|examination bed", "lying", 0.7, False),
    (r"\b(?:sit|sits|sitting|sat|seated)( cross-legged)? on the (?:floor|ground|rug|carpet|grass|sand|blanket|mat)|"
     r"\bon the (?:bedroom |living-room |living room )?(?:floor|rug|carpet)\b|cross-legged|picnic|\bsandbox",
     "on the floor", 0.75, True),
    (r"\bon (?:a |the )?stage\b|\braised stage\b|\bpulpit\b|\braised platform\b", "on a stage", 2.6, False),
    (r"\bhalfway up\b", "halfway up the stairs", 2.3, False),
    (r"\bstepladder|\bladder\b", "on a ladder", 2.1, False),
    (r"\b(?:two|a couple of|a few|several) steps (?:up|above)\b|\bsteps up\b|\bstaircase\b", "a few steps up",
     1.96, False),
    (_SIT_ON + r"\b(?:bar |high )?stools?\b", "on a stool", 1.45, True),
    (_SIT_ON + r"\bwheelchair\b", "in a wheelchair", 1.05, False),
    (r"\b(?:kneel|crouch|squat)\w*|\bon (?:her|his|their|one) knees?\b|\bdown on one knee", "kneeling", 1.1, False),
    (r"\b(?:front|second|third|fourth|fifth|back|last|top) (?:row|pew)\b|\baudience\b|"
     r"\b(?:at|in) the (?:back|front) of the (?:theat(?:er|re)|auditorium|lecture hall|hall|cinema|church)\b",
     "in the audience", 1.2, False),
    (_SIT_ON + r"\b(?:sofa|couch|loveseat|slumped|slouched)\b", "on a sofa", 1.1, True),
    (r"\b(?:driving|passenger seat|front seats|back seat|motorbike|(?:seated|the) driver)\b", "in a car seat", 1.1, True),
    (r"\b(?:on|in|of) (?:a|the) (?:train|bus|plane)\b|\b(?:cockpit|compartment|dining car|booth|chairlift)\b|"
     r"\b(?:seated|sitting) (?:\w+ ){0,3}(?:plane|train|bus)\b(?! st)", "in a seat", 1.15, True),
    (r"\b(?:sit|sits|sitting|sat|seated|armchairs?|chairs?)\b", "seated", 1.2, True),
    (r"\b(?:stand|stands|standing|stood|upright|walking|jogging)\b|\bleaning (?:over|down|across)\b", "standing",
     STAND, True),
]
_VERBS = ("standing", "seated")
_ADJECTIVE = re.compile(r"(?:seated|standing|sitting) (?!on\b|in\b|at\b|by\b|next\b|beside\b|with\b|and\b)\w+")
_IMPLIED = [  # places where people stand or sit, used only when no posture word is said
    (r"\b(?:pool table|snooker|billiards?|darts|oche|bowling|ping-pong|table tennis)\b", "standing", STAND),
    (r"\b(?:bench|desks?|dinner|dining|table|lecture|chess|cards|poker|dominoes|theat(?:er|re)|cinema|"
     r"stadium|breakfast|lunch|over coffee|office hours|interrogation|therapist)\b", "seated", 1.2),
]
# Roles that stand before a seated audience when the prompt does not say.
_PRESENTERS = re.compile(r"\b(?:teacher|lecturer|professor|speaker|presenter|coach|comedian|magician|actor|"
                         r"auctioneer|instructor|headteacher)\b")
_AUDIENCES = re.compile(r"\b(?:row|pew|lecture hall|classroom|auditorium|audience|at the front)\b")
# Builds: (pattern, kind, eye height standing).
BUILDS: list[tuple[str, str, float]] = [
    (r"\b(?:toddler|baby|infant)\b", "a toddler", 0.75),
    (r"\b(?:small|little|young) (?:child|boy|girl|kid|son|daughter|grandson|granddaughter|brother|sister)\b|"
     r"\b(?:child|kid|kids|children|first-grader)\b|\b(?:two|three|four|five|six|seven)-year-old\b", "a child", 1.0),
    (r"\b(?:eight|nine|ten|eleven|twelve)-year-olds?\b|\bnephew|\bniece", "an older child", 1.3),
    (r"\bteen(?:age|ager)?\w*\b", "a teenager", 1.5),
    (r"\b(?:much )?(?:shorter|short|petite)\b(?! of| walk| distance)", "short", 1.45),
    (r"\btall(?:er)?\b|six-foot", "tall", 1.75),
]
_ONE_OTHER = re.compile(r"\bone\b.*\b(?:the other|one)\b")
_PLURAL = re.compile(r"^\W*(?:two|both|the two|three|a couple|an? (?:\w+ )?(?:married )?couple|couples?|pairs?|"
                     r"lovers|friends|siblings|neighbours|colleagues|coworkers|\w+s (?:sitting|standing|lying|kneeling|"
                     r"crouching))\b|\b(?:each other|one another|side by side|both|together)\b")
# Words that bring in the second person: what follows them describes B.
_SECOND = re.compile(r"\b(?:to|with|and|while|his|her|their|from|who|whose|other|for|at|over|in front of|beside|"
                     r"next to|by)\b|,")


@dataclass
class Cues:
    apart: float | None = None
    stated: bool = False  # the distance was said with a unit
    angle: float | None = None
    height_a: float | None = None
    height_b: float | None = None
    notes: tuple[str, ...] = ()


def read(prompt: str) -> Cues:
    """Every cue the prompt's words give."""
    text = " " + " ".join(prompt.lower().replace("’", "'").split()) + " "
    notes = []
    angle = None
    if (arr := arrangement(text)) is not None:
        angle = arr[0]
        notes.append(f"'{arr[1]}' -> {ANGLE_NAMES[angle]}")
    apart, stated = None, False
    if (said := stated_distance(text)) is not None:
        apart, stated = said[0], True
        notes.append(f"'{said[1]}' -> {apart:.2f} m apart")
    elif (implied := implied_distance(text)) is not None and not (implied[2] and angle in (SIDE, CORNER)):
        apart = implied[0]  # a table's width is the distance across it, not along or around it
        notes.append(f"'{implied[1]}' -> {apart:g} m apart")
    height_a, height_b = heights(text, notes)
    if (not stated and re.search(r"\bstage\b", text) and None not in (height_a, height_b)
            and max(height_a, height_b) >= 2.5 > min(height_a, height_b) + 1.0 and (apart or 0.0) < OFF_STAGE):
        apart = OFF_STAGE
        notes.append(f"one on the stage, one off it -> {OFF_STAGE:g} m apart")
    return Cues(apart, stated, angle, height_a, height_b, tuple(notes))


def heights(text: str, notes: list[str]) -> tuple[float | None, float | None]:
    """Each person's eye height from posture and build words (None where nothing is said)."""
    table = [(p, k, h) for p, k, h, _ in POSTURES]
    rank = {k: i for i, (_, k, _, _) in enumerate(POSTURES)}
    general = {k for _, k, _, g in POSTURES if g}
    hits = _drop_verbs(_found(text, table), text)
    if not re.search(r"\b(?:crowd|audience|row|pew|heckler|fan|volunteer|guest|below|front table|bid)\b", text):
        hits = [h for h in hits if h[1] != "on a stage"]  # both on one stage: its floor is their floor
    plural = bool(_PLURAL.search(text)) and not _ONE_OTHER.search(text)
    slots: dict[str, tuple[str, float] | None] = {"A": None, "B": None}
    adjectives = [h for h in hits if re.search(r"\b(?:a|an|the|his|her|their) $", text[:h[0]])
                  and _ADJECTIVE.match(text, h[0])]
    if adjectives and not plural:  # "a seated passenger": that person only; the other stands unless said
        for pos, kind, h in adjectives:  # a noun phrase of its own: the first person's only at the start
            who = "A" if len(text[:pos].split()) < 2 else "B"
            slots[who] = slots[who] or (kind, h)
        for who in ("A", "B"):
            own = [x for x in hits if x not in adjectives and _describes_first(text, x[0]) == (who == "A")]
            slots[who] = slots[who] or (own[0][1:] if own else ("standing", STAND))
        hits = []
    kinds = list(dict.fromkeys((k, h) for _, k, h in hits))
    if kinds and plural:
        slots["A"] = slots["B"] = min(kinds, key=lambda kh: rank[kh[0]])
    elif len(kinds) >= 2:
        slots["A"], slots["B"] = kinds[0], kinds[1]
    elif kinds:
        pos, kind, _ = hits[0]
        if kind in general:
            slots["A"] = slots["B"] = kinds[0]
        else:  # one person's posture: theirs is whoever the words describe; the other stands
            who = "A" if _describes_first(text, pos) else "B"
            slots[who], slots[_other(who)] = kinds[0], ("standing", STAND)
    elif not adjectives:
        for pattern, kind, h in _IMPLIED:
            if re.search(pattern, text):
                slots["A"] = slots["B"] = (kind, h)
                break
    if slots["A"] == slots["B"] == ("seated", 1.2) and _AUDIENCES.search(text):
        m = _PRESENTERS.search(text)
        if m:
            slots["A" if _describes_first(text, m.start()) else "B"] = ("standing", STAND)
    builds = _found(text, BUILDS)
    build: dict[str, tuple[str, float] | None] = {"A": None, "B": None}
    if len(builds) >= 2 and builds[0][1] != builds[1][1]:
        build["A"], build["B"] = builds[0][1:], builds[1][1:]
    elif builds:
        pos, kind, h = builds[0]
        if re.search(r"\b(?:two|both)\b\W+(?:\w+\W+){0,2}$", text[:pos]) or re.search(r"\b(?:kids|children)\b", text):
            build["A"] = build["B"] = (kind, h)  # "two tall players", "two small children"
        else:  # a build word belongs to the person it stands in front of: the first one only at the start
            build["A" if len(text[:pos].split()) < 3 else "B"] = (kind, h)
    out: dict[str, float | None] = {}
    for who in ("A", "B"):
        posture, b = slots[who], build[who]
        if b is None:
            out[who] = None if posture is None else posture[1]
        elif posture is None or posture[0] == "standing":
            out[who] = b[1]
        elif posture[1] > 1.0:  # a child sits or kneels lower than an adult, by half the difference in build
            out[who] = posture[1] - 0.5 * max(0.0, STAND - b[1])
        else:
            out[who] = posture[1]
        if out[who] is not None:
            said = ", ".join(x[0] for x in (b, posture) if x is not None)
            notes.append(f"{who} {said} -> eye height {out[who]:g} m")
    return out["A"], out["B"]


def _other(who: str) -> str:
    return "B" if who == "A" else "A"


def _describes_first(text: str, pos: int) -> bool:
    """Whether words at ``pos`` describe the first-mentioned person: nothing that brings in the second
    one (to, with, and, while, her, a comma...) stands between them and the first noun."""
    first = re.match(r"\W*(?:(?:an?|the|one)\s+)?\w+", text)
    return not _SECOND.search(text[first.end() if first else 0:pos])


def _drop_verbs(hits: list[tuple[int, str, float]], text: str) -> list[tuple[int, str, float]]:
    """"standing on the stage", "sitting cross-legged": the words after the verb say more; one person."""
    out = []
    for i, (pos, kind, h) in enumerate(hits):
        nxt = hits[i + 1] if i + 1 < len(hits) else None
        if (kind in _VERBS and nxt is not None and nxt[1] not in _VERBS and nxt[0] - pos < 30
                and not _SECOND.search(text[pos:nxt[0]])):
            continue
        out.append((pos, kind, h))
    return out


def _found(text: str, table) -> list[tuple[int, str, float]]:
    """(position, kind, height) of every match, earlier table rows masking the words they used."""
    hits = []
    masked = text
    for pattern, kind, height in table:
        for m in re.finditer(pattern, masked):
            hits.append((m.start(), kind, height))
        masked = re.sub(pattern, lambda m: " " * len(m.group(0)), masked)
    return sorted(hits)
