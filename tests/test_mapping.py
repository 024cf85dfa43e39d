"""What Duet drives on a user's character (duet.blender.mapping): shape keys and bones suggested by
name, never the root; the mapping JSON shared by `duet bake --mapping` and the add-on's presets."""

from __future__ import annotations

import json

import pytest

from duet.arkit import ARKIT_52
from duet.blender.mapping import Mapping, load_mapping, mapping_json, resolve, suggest_bones, suggest_shape_keys
from duet.errors import DuetError


def test_arkit_shape_keys_match_across_spellings_prefixes_and_namespaces():
    keys = ["Basis", "JawOpen", "eyeBlink_L", "EyeBlinkRight", "mouth_smile.L", "BS_browInnerUp",
            "blendShape1.mouthFunnel", "Face:cheekPuff", "ARKit_tongueOut", "Corrective_jawOpen_smile",
            "mouthSmile_R_fix", "Freckles", "noseSneer-l"]
    got = suggest_shape_keys(keys, ARKIT_52)
    assert got == {"jawOpen": "JawOpen", "eyeBlinkLeft": "eyeBlink_L", "eyeBlinkRight": "EyeBlinkRight",
                   "mouthSmileLeft": "mouth_smile.L", "browInnerUp": "BS_browInnerUp",
                   "mouthFunnel": "blendShape1.mouthFunnel", "cheekPuff": "Face:cheekPuff",
                   "tongueOut": "ARKit_tongueOut", "noseSneerLeft": "noseSneer-l"}
    # a corrective or a suffixed variant is never taken for the channel it is named after
    assert "Corrective_jawOpen_smile" not in got.values() and "mouthSmileRight" not in got


def test_an_exact_name_wins_over_one_read_past_a_prefix():
    assert suggest_shape_keys(["BS_jawOpen", "jawOpen"], ["jawOpen"]) == {"jawOpen": "jawOpen"}
    assert suggest_shape_keys(["BS_jawOpen"], ["jawOpen"]) == {"jawOpen": "BS_jawOpen"}


@pytest.mark.parametrize("bones, want", [
    # the rig: a root, a spine, a neck and a head; the head turns, the root never moves
    (["root", "spine", "neck", "head", "jaw", "eye_L", "eye_R"],
     {"neck": "head", "jaw": "jaw", "eye_L": "eye_L", "eye_R": "eye_R"}),
    # a Rigify-style face rig
    (["root", "torso", "spine_fk", "neck", "head", "jaw_master", "eye.L", "eye.R", "DEF-spine.006"],
     {"neck": "head", "jaw": "jaw_master", "eye_L": "eye.L", "eye_R": "eye.R"}),
    # Mixamo, namespaced
    (["mixamorig:Hips", "mixamorig:Neck", "mixamorig:Head", "mixamorig:LeftEye", "mixamorig:RightEye"],
     {"neck": "mixamorig:Head", "eye_L": "mixamorig:LeftEye", "eye_R": "mixamorig:RightEye"}),
    # a head rig with only a neck bone (like Duet's own)
    (["COG", "neck", "jaw", "LeftEye", "RightEye"], {"neck": "neck", "jaw": "jaw", "eye_L": "LeftEye",
                                                      "eye_R": "RightEye"}),
])
def test_bones_are_suggested_for_head_jaw_and_eyes_never_the_root(bones, want):
    assert suggest_bones(bones) == want


def test_the_mapping_wins_and_null_drops():
    names = ["head", "Jaw_bone", "root"]
    assert resolve(names, {"neck": "head"}, {"jaw": "Jaw_bone", "global": "root", "neck": None}) == {
        "jaw": "Jaw_bone", "global": "root"}
    assert resolve(names, {"neck": "head"}, {"jaw": "missing"}) == {"neck": "head"}


def test_mapping_json_round_trips_and_per_person_entries_win(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"shape_keys": {"jawOpen": "Mouth_Open"}, "bones": {"neck": "Head"},
                                "B": {"shape_keys": {"jawOpen": None}, "place_object": "Mover", "forward": "+Y"}}))
    m = load_mapping(path)
    assert m["A"] == Mapping({"jawOpen": "Mouth_Open"}, {"neck": "Head"})
    assert m["B"] == Mapping({"jawOpen": None}, {"neck": "Head"}, "Mover", "+Y")
    again = tmp_path / "again.json"
    again.write_text(json.dumps(mapping_json(m)))
    assert load_mapping(again) == m


@pytest.mark.parametrize("data, message", [
    ([], "expected a JSON object"),
    ({"bones": {"spine": "x"}}, "unknown joint"),
    ({"shape_keys": {"jawOpen": 3}}, "must map names to a name or null"),
    ({"A": {"forward": "up"}}, "'forward' must be one of"),
    ({"colour": "red"}, "must be an object with"),
])
def test_bad_mappings_say_what_is_wrong(tmp_path, data, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DuetError, match=message):
        load_mapping(path)
    with pytest.raises(DuetError, match="no such mapping file"):
        load_mapping(tmp_path / "none.json")
