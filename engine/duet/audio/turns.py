"""Turns as an Audacity label file: one line per turn, "start<TAB>end<TAB>A|B" in seconds.

`duet generate --turns-out F.txt` writes the speaking masks this way; a user opens it beside the
audio in Audacity (File > Import > Labels), fixes who speaks when, and gives it back with
`--turns F.txt`, which then replaces the diarization.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from duet.constants import FPS
from duet.errors import DuetError


def turns_from_masks(masks: np.ndarray) -> list[tuple[str, float, float]]:
    """[2, T] masks (speaking at >= 0.5) -> [(person, start_s, end_s)] sorted by start."""
    from duet.audio.masks import _runs

    out = []
    for k, person in enumerate("AB"):
        out += [(person, a / FPS, b / FPS) for a, b in _runs(np.asarray(masks[k]) >= 0.5)]
    return sorted(out, key=lambda t: (t[1], t[0]))


FLOOR_GAP_S = 0.5  # a pause shorter than this inside one person's speech does not end their turn
FLOOR_MIN_S = 0.6  # speech shorter than this (an "mm-hm") does not take the floor


def floor_changes(masks: np.ndarray, fps: float = FPS) -> list[tuple[str, float]]:
    """[2, T] masks (speaking at >= 0.5) -> [(person, start_s)]: where each turn begins, a turn being
    one person's speech with pauses under FLOOR_GAP_S bridged, lasting FLOOR_MIN_S or more, that
    follows the other person's turn (or opens the conversation). A short backchannel over the other's
    turn does not take the floor, and neither does one person's next sentence after a pause."""
    from duet.audio.masks import _runs, clean

    runs = [(a, person) for k, person in enumerate("AB")
            for a, _ in _runs(clean(np.asarray(masks[k]) >= 0.5, FLOOR_GAP_S, FLOOR_MIN_S, fps))]
    out, holder = [], None
    for a, person in sorted(runs):
        if person != holder:
            out.append((person, a / fps))
            holder = person
    return out


def write_labels(path: str | Path, masks: np.ndarray) -> Path:
    """Write the masks' turns as an Audacity label file (written whole or not at all)."""
    from duet.files import atomic_output

    path = Path(path)
    lines = [f"{a:.2f}\t{b:.2f}\t{p}\n" for p, a, b in turns_from_masks(masks)]
    with atomic_output(path) as tmp:
        Path(tmp).write_text("".join(lines))
    return path


def read_labels(path: str | Path) -> list[tuple[str, float, float]]:
    """An Audacity label file -> [(person, start_s, end_s)]; labels must be A or B (any case).

    Audacity's frequency lines (starting with a backslash) are skipped; anything else that is not
    "start end label" with start <= end is refused with the line number.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DuetError(f"{path}: cannot read the turns file ({type(e).__name__})") from None
    turns = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("\\"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        try:
            start, end = float(parts[0]), float(parts[1])
            person = parts[2].strip().upper()
        except (IndexError, ValueError):
            raise DuetError(f"{path}:{n}: expected 'start<TAB>end<TAB>A|B', got {line.strip()!r}") from None
        if person not in ("A", "B"):
            raise DuetError(f"{path}:{n}: the label must be A or B, got {parts[2].strip()!r}")
        if not (0 <= start <= end) or not np.isfinite(end):
            raise DuetError(f"{path}:{n}: a turn must have 0 <= start <= end, got {start} .. {end}")
        turns.append((person, start, end))
    if not turns:
        raise DuetError(f"{path}: the turns file holds no turns")
    return turns


def masks_from_labels(path: str | Path, n_frames: int) -> np.ndarray:
    """The speaking masks [2, n_frames] a label file describes (soft edges like the front end's)."""
    from duet.audio.masks import masks_from_turns, soften

    return soften(masks_from_turns(read_labels(path), n_frames))
