"""What Duet drives on a user's character (pure): the mapping, read and written as the JSON of
``duet bake --mapping`` and the add-on's presets, and the matches suggested from the rig's own names.

JSON: ``{"shape_keys": {channel: key}, "bones": {joint: bone}, "place_object": NAME, "forward": "-Y"}``
for both heads, optionally with ``"A": {...}`` / ``"B": {...}`` of the same form for one head (those
entries win). ``null`` leaves a channel or joint undriven. The joint ``global`` is the character's
placement: Duet moves a bone for it (or the ``place_object``) only when the mapping names one.
``forward`` is the armature axis the character faces (Blender's usual -Y).

Suggestions: shape keys by ARKit name, ignoring case, ``_L/_R`` vs ``Left/Right`` and a namespace
(``blendShape1.jawOpen``, ``Face:jawOpen``) or common prefix (``BS_jawOpen``); the head, jaw and eye bones
by their usual names. The placement joint is never suggested: a rig's ``root`` is the whole character.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from duet.arkit import canonical
from duet.errors import DuetError
from duet.motion import JOINTS, PERSONS

FORWARDS = ("-Y", "+Y", "+X", "-X")
SUGGESTED_BONES = {  # joint -> usual bone names, best first (the neck joint turns the head)
    "neck": ("head", "neck"),
    "jaw": ("jaw", "jaw_master", "JawRoot", "jawbone", "lowerjaw"),
    "eye_L": ("eye_L", "LeftEye", "L_Eye", "eye_master_L"),
    "eye_R": ("eye_R", "RightEye", "R_Eye", "eye_master_R"),
}
PREFIXES = ("arkit", "bs", "blendshape", "blendshape1", "shape", "shapes", "sk", "face", "facs", "morph", "ctrl",
            "ccbase", "bip01", "c")  # canonical forms of prefixes ignored before a separator
_NAMESPACE = ".:|"
_SEPARATORS = "_- "


@dataclass
class Mapping:
    """Overrides for one head: channel -> shape key, joint -> bone (None: not driven), placement object,
    and the armature axis the character faces."""

    shape_keys: dict[str, str | None] = field(default_factory=dict)
    bones: dict[str, str | None] = field(default_factory=dict)
    place_object: str | None = None
    forward: str = "-Y"

    def to_json(self) -> dict:
        out = {"shape_keys": dict(self.shape_keys), "bones": dict(self.bones)}
        if self.place_object:
            out["place_object"] = self.place_object
        if self.forward != "-Y":
            out["forward"] = self.forward
        return out


def parse_mapping(data, where: str = "mapping") -> dict[str, Mapping]:
    """{"A": Mapping, "B": Mapping} from the JSON value ``data``; DuetError names what is wrong."""
    keys = {"shape_keys", "bones", "place_object", "forward"}

    def section(obj, part) -> dict:
        if not isinstance(obj, dict) or set(obj) - keys:
            raise DuetError(f"{where}: {part}must be an object with 'shape_keys', 'bones', 'place_object' "
                            f"and/or 'forward'")
        for name in ("shape_keys", "bones"):
            table = obj.get(name, {})
            if not isinstance(table, dict) or not all(isinstance(v, (str, type(None))) for v in table.values()):
                raise DuetError(f"{where}: {part}'{name}' must map names to a name or null")
        bad = set(obj.get("bones", {})) - set(JOINTS)
        if bad:
            raise DuetError(f"{where}: unknown joint(s) {sorted(bad)} in 'bones'; joints are {list(JOINTS)}")
        if not isinstance(obj.get("place_object", ""), (str, type(None))):
            raise DuetError(f"{where}: {part}'place_object' must be an object's name")
        if obj.get("forward", "-Y") not in FORWARDS:
            raise DuetError(f"{where}: {part}'forward' must be one of {list(FORWARDS)}")
        return obj

    if not isinstance(data, dict):
        raise DuetError(f"{where}: expected a JSON object")
    shared = section({k: v for k, v in data.items() if k not in PERSONS}, "the file ")
    out = {}
    for person in PERSONS:
        own = section(data.get(person, {}), f"'{person}' ")
        out[person] = Mapping({**shared.get("shape_keys", {}), **own.get("shape_keys", {})},
                              {**shared.get("bones", {}), **own.get("bones", {})},
                              own.get("place_object", shared.get("place_object")),
                              own.get("forward", shared.get("forward", "-Y")))
    return out


def load_mapping(path: str | os.PathLike) -> dict[str, Mapping]:
    """Read a mapping file -> {"A": Mapping, "B": Mapping}."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DuetError(f"{path}: no such mapping file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DuetError(f"{path}: not valid JSON ({e})") from None
    return parse_mapping(data, str(path))


def mapping_json(mappings: dict[str, Mapping]) -> dict:
    """The JSON value for both heads ({"A": {...}, "B": {...}}), as load_mapping reads it back."""
    return {person: mappings[person].to_json() for person in PERSONS if person in mappings}


def _forms(name: str, prefixes) -> list[str]:
    """Canonical forms of ``name``: whole, then without a namespace or an ignored prefix."""
    out = [canonical(name)]
    for i, ch in enumerate(name):
        if ch in _NAMESPACE or (ch in _SEPARATORS and canonical(name[:i]) in prefixes):
            out.append(canonical(name[i + 1:]))
    return out


def suggest(names, wanted: dict[str, tuple[str, ...]], prefixes=PREFIXES) -> dict[str, str]:
    """item -> one of ``names`` whose canonical form equals a candidate's: exact names before ones
    read past a namespace or prefix, candidates in order, each name used once."""
    names = list(names)
    exact, tail = {}, {}
    for name in names:
        forms = _forms(name, prefixes)
        exact.setdefault(forms[0], name)
        for form in forms[1:]:
            tail.setdefault(form, name)
    out, used = {}, set()
    for table in (exact, tail):
        for item, candidates in wanted.items():
            if item in out:
                continue
            found = next((table[canonical(c)] for c in candidates
                          if canonical(c) in table and table[canonical(c)] not in used), None)
            if found is not None:
                out[item] = found
                used.add(found)
    return out


def suggest_shape_keys(key_names, channels) -> dict[str, str]:
    """channel -> shape key for every channel a key matches by name."""
    return suggest(key_names, {ch: (ch,) for ch in channels})


def suggest_bones(bone_names) -> dict[str, str]:
    """joint -> bone for the head, jaw and eyes (never the placement joint)."""
    return suggest(bone_names, SUGGESTED_BONES)


def resolve(names, suggested: dict[str, str], overrides: dict[str, str | None]) -> dict[str, str]:
    """The mapping's own entries (those naming one of ``names``; None drops the item) over the suggestions."""
    names = set(names)
    out = {k: v for k, v in suggested.items() if k not in overrides}
    out.update({k: v for k, v in overrides.items() if v is not None and v in names})
    return out
