"""Key a DyadicMotion onto two heads in Blender as one take: an NLA strip per animated block, in bulk.

Each head gets one layered action ("Duet A", "Duet B") with a slot for the armature (bone rotations,
and the placement's location) and one slot per shape-key block of its meshes. Each block plays its
slot as one strip on Duet's own NLA track, named after the take, blended in Combine mode: the user's
active action and NLA tracks stay where they were and play with it. A re-bake replaces Duet's strips
and nothing else. Keys go in through ``keyframe_points.add`` + ``foreach_set``, linear, one per whole
scene frame (the motion is resampled to the scene's fps), optionally thinned (duet.blender.take).

On Duet's own heads (duet.blender.rig) the bones are rig.BONES and the root bone places the head. On
a user's character Duet drives only what the mapping names (duet.blender.mapping): shape keys, the
head, jaw and eye bones, and the character's placement only through a bone or object the mapping
names; without one the head's own turn goes onto the head bone and the root never moves.

Before changing a value Duet records it on its action; ``clear`` removes the take and puts back
exactly those values (and the scene's frame range and sound strips).

A joint rotation R (axis-angle in the conversation frame) becomes, on a bone whose rest orientation
in armature space is B, the pose rotation B^T C R C^T B (C: conversation -> Blender axes, turned to
the rig's forward axis). With that, any bone roll or direction reproduces the FLAME joint chain, so
the same code keys the open heads and a user's own rig.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from duet.arkit import JOINT_CHANNELS, channels_from_joints
from duet.blender import compat
from duet.blender.logs import quiet
from duet.blender.mapping import Mapping, resolve, suggest_bones, suggest_shape_keys
from duet.blender.start import bpy
from duet.blender.take import (LOCATION_TOLERANCE, ROTATION_TOLERANCE, SHAPE_KEY_TOLERANCE, Strength,
                               apply_strength, axis_angle_error, euler_error, quaternion_error, resample, thin,
                               vector_error)
from duet.errors import DuetError
from duet.files import atomic_output, uninterrupted, usual_mode
from duet.frames import axis_angle, conv_to_blender, rotmat
from duet.motion import JOINTS, PERSONS, DyadicMotion

DUET_TAG = "duet_person"  # custom property marking Duet's own actions (a re-bake replaces only these)
HEAD_TAG = "duet_head"  # ... and the head object they were made for
RESTORE = "duet_restore"  # on Duet's action: {slot identifier: {data path: values before Duet}}
SCENE_RESTORE = "duet_restore"  # on the scene, only when Duet grew its frame range
CREATED = "@animation_data"  # a record entry: the block had no animation data before Duet
PLACEMENTS = ("absolute", "keep")
BLEND_SECONDS = 0.2  # default blend in and out of a take on a user's characters
C = conv_to_blender(np.eye(3)).T  # conversation -> Blender axes as a matrix: v_blender = C v
_FORWARD_TURN = {"-Y": 0.0, "+Y": np.pi, "+X": np.pi / 2, "-X": -np.pi / 2}  # about Blender's +Z


@dataclass
class BakeReport:
    """What one head received, for the user: the take, what was keyed and what could not be matched."""

    person: str
    head: str
    action: str
    take: str
    frames: tuple[int, int]
    keyed_channels: list[str]
    unmatched_channels: list[str]
    bones: dict[str, str]
    unmatched_joints: list[str]
    derived_channels: list[str]
    placement: str
    layered: list[str]
    shadowed: list[str]
    keys: int

    def lines(self) -> list[str]:
        out = [f"{self.person} -> {self.head}: take '{self.take}' (NLA strips of action '{self.action}', frames "
               f"{self.frames[0]}-{self.frames[1]}, {self.keys} keys), {len(self.keyed_channels)} shape-key "
               f"channels, bones {', '.join(f'{j}={b}' for j, b in self.bones.items()) or 'none'}; "
               f"placement: {self.placement}"]
        if self.derived_channels:
            out.append(f"{self.person}: derived from the joints: {', '.join(self.derived_channels)}")
        if self.unmatched_channels:
            out.append(f"{self.person}: {len(self.unmatched_channels)} channel(s) have no shape key: "
                       f"{', '.join(self.unmatched_channels)}")
        if self.unmatched_joints:
            out.append(f"{self.person}: joint(s) with no bone (motion dropped): {', '.join(self.unmatched_joints)}")
        if self.layered:
            out.append(f"{self.person}: your action(s) {', '.join(self.layered)} stay where they were and play "
                       f"with the take")
        if self.shadowed:
            out.append(f"{self.person}: your active action also keys {', '.join(self.shadowed)}; it plays on top "
                       f"of the take there")
        return out


@dataclass
class Channel:
    """One property Duet keys: its values per frame [T,K] and how far thinning may stray from them."""

    path: str
    values: np.ndarray
    group: str
    tolerance: float
    error: Callable


def head_parts(head) -> tuple[object | None, list]:
    """(armature or None, meshes with shape keys) of a head given as its armature or its mesh."""
    if head.type == "ARMATURE":
        armature = head
        meshes = [o for o in head.children_recursive if o.type == "MESH"]
    elif head.type == "MESH":
        armature = head.parent if head.parent and head.parent.type == "ARMATURE" else None
        meshes = [head]
    else:
        raise DuetError(f"'{head.name}' is a {head.type.lower()}, expected an armature or a mesh")
    meshes = [m for m in meshes if m.data.shape_keys is not None]
    if armature is None and not meshes:
        raise DuetError(f"'{head.name}' has neither bones nor shape keys to animate")
    return armature, meshes


def separate_heads(head_a, head_b) -> None:
    """Refuse heads that share an object or shape keys: keying B would replace A's take there."""
    parts = []
    for head in (head_a, head_b):
        armature, meshes = head_parts(head)
        parts.append({head.name} | {o.name for o in [armature, *meshes] if o is not None}
                     | {f"shape keys {m.data.shape_keys.name}" for m in meshes})
    shared = sorted(parts[0] & parts[1])
    if shared:
        raise DuetError(f"heads A ('{head_a.name}') and B ('{head_b.name}') share {', '.join(shared)}; "
                        "pick two separate characters")


def own_head(armature) -> bool:
    """Whether ``armature`` is one of Duet's own heads (duet.blender.rig), whose root places the head."""
    from duet.blender import rig

    return (armature is not None and armature.get(DUET_TAG) in PERSONS
            and all(b in armature.data.bones for b in rig.BONES.values()))


def match_bones(armature, mapping: Mapping) -> dict[str, str]:
    """joint -> bone: Duet's own heads by the rig contract; a user's rig by the mapping over the
    suggested head, jaw and eye bones (the placement joint only where the mapping names it)."""
    from duet.blender import rig

    names = [b.name for b in armature.data.bones]
    suggested = dict(rig.BONES) if own_head(armature) else suggest_bones(names)
    return resolve(names, suggested, mapping.bones)


def match_shape_keys(key_names, channels, mapping: Mapping) -> dict[str, str]:
    """channel -> shape key: the mapping over the names matched (case, _L/_R, namespaces, prefixes)."""
    return resolve(key_names, suggest_shape_keys(key_names, channels), mapping.shape_keys)


def rig_axes(forward: str = "-Y") -> np.ndarray:
    """Conversation -> armature axes for a character facing ``forward`` (an axis of its armature)."""
    turn = _FORWARD_TURN[forward]
    c, s = np.cos(turn), np.sin(turn)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ C


def bone_quaternions(rest: np.ndarray, aa: np.ndarray, axes: np.ndarray = C) -> np.ndarray:
    """Pose quaternions [T,4] (w,x,y,z) for joint rotations ``aa`` [T,3] on a bone with rest orientation
    ``rest`` (3x3, armature space): the rotation B^T A R A^T B keeps R's angle and turns its axis."""
    aa = np.asarray(aa, np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = (aa / np.where(theta < 1e-12, 1.0, theta)) @ axes.T @ rest  # rows: B^T A axis
    q = np.concatenate([np.cos(theta / 2), np.sin(theta / 2) * axis], -1)
    return _one_hemisphere(q)


def _one_hemisphere(q: np.ndarray) -> np.ndarray:
    """Neighbouring quaternions in one hemisphere, so interpolation takes the short way."""
    flips = np.cumsum(np.r_[0, np.sum(q[1:] * q[:-1], -1) < 0]) % 2
    return np.where(flips[:, None] == 1, -q, q)


def relative_to_first(aa: np.ndarray, transl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root rotation and translation relative to frame 0, in the person's own (frame-0) axes."""
    r = rotmat(aa)
    r0t = r[0].T
    return axis_angle(r0t @ r), (np.asarray(transl, np.float64) - transl[0]) @ r0t.T


def _euler(quats: np.ndarray, order: str) -> np.ndarray:
    """Quaternions -> continuous Euler angles in ``order`` (for bones and objects kept in an Euler mode)."""
    from mathutils import Quaternion

    out, prev = np.empty((len(quats), 3)), None
    for i, q in enumerate(quats):
        e = Quaternion(q).to_euler(order, prev) if prev is not None else Quaternion(q).to_euler(order)
        out[i] = e
        prev = e
    return out


def _axis_angle_values(quats: np.ndarray) -> np.ndarray:
    """Quaternions -> Blender axis-angle values (angle, x, y, z); a zero rotation keeps Blender's +Y axis."""
    v = quats[:, 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    axis = np.where(s > 1e-9, v / np.maximum(s, 1e-12), [0.0, 1.0, 0.0])
    return np.concatenate([2 * np.arctan2(s, quats[:, :1]), axis], -1)


def rotation_channel(base: str, mode: str, quats: np.ndarray, group: str) -> Channel:
    """The rotation property for an owner in rotation ``mode`` (its mode is kept, never changed)."""
    if mode == "QUATERNION":
        return Channel(f"{base}rotation_quaternion", quats, group, ROTATION_TOLERANCE, quaternion_error)
    if mode == "AXIS_ANGLE":
        return Channel(f"{base}rotation_axis_angle", _axis_angle_values(quats), group, ROTATION_TOLERANCE,
                       axis_angle_error)
    return Channel(f"{base}rotation_euler", _euler(quats, mode), group, ROTATION_TOLERANCE, euler_error(mode))


def _key(channelbag, channel: Channel, frames: np.ndarray, thinned: bool) -> int:
    """One linear F-curve per component, written in bulk; returns the number of keys written."""
    values = np.asarray(channel.values, np.float64).reshape(len(frames), -1)
    # keys are stored as float32: thin a hair inside the tolerance so the stored curve stays within it
    keep = thin(values, channel.tolerance * 0.999, channel.error) if thinned else np.arange(len(frames))
    co = np.empty((len(keep), 2), np.float32)
    co[:, 0] = frames[keep]
    linear = np.full(len(keep), bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value,
                     np.int32)
    for i in range(values.shape[1]):
        fc = compat.new_fcurve(channelbag, channel.path, i, channel.group)
        fc.keyframe_points.add(len(keep))
        co[:, 1] = values[keep, i]
        fc.keyframe_points.foreach_set("co", co.ravel())
        fc.keyframe_points.foreach_set("interpolation", linear)
        fc.update()
    return len(keep) * values.shape[1]


def _read(id_block, path: str) -> list[float]:
    value = id_block.path_resolve(path)
    return [float(v) for v in value] if hasattr(value, "__len__") else [float(value)]


def _write_value(id_block, path: str, values: list[float]) -> None:
    owner_path, _, attr = path.rpartition(".")
    owner = id_block.path_resolve(owner_path) if owner_path else id_block
    setattr(owner, attr, values if len(values) > 1 else values[0])


def _restore(id_block, record: dict) -> None:
    for path, values in record.items():
        if path != CREATED:
            with contextlib.suppress(ValueError, AttributeError, TypeError):  # a bone or key renamed since
                _write_value(id_block, path, values)


def _record(action) -> dict:
    return json.loads(action.get(RESTORE, "{}"))


def _escape(name: str) -> str:
    return bpy.utils.escape_identifier(name)


def _placement(armature, mapping: Mapping, bones: dict[str, str]) -> tuple[str, object | None]:
    """What places the character: ("bone", name), ("object", object) or ("", None): nothing moves."""
    if mapping.place_object:
        ob = bpy.data.objects.get(mapping.place_object)
        if ob is None:
            raise DuetError(f"no object named '{mapping.place_object}' (the mapping's place_object)")
        return "object", ob
    if armature is not None and "global" in bones:
        return "bone", bones["global"]
    return "", None


def _object_channels(ob, poses_global, transl, placement: str, axes: np.ndarray) -> list[Channel]:
    """Location and rotation of a placement object: its own transform times the head's motion
    (``keep``), or the conversation's absolute one (``absolute``)."""
    from mathutils import Matrix

    if placement == "keep":
        rel, dt = relative_to_first(poses_global, transl)
        motion = np.tile(np.eye(4), (len(rel), 1, 1))
        motion[:, :3, :3] = axes @ rotmat(rel) @ axes.T
        motion[:, :3, 3] = dt @ axes.T
        basis = np.array(ob.matrix_basis) @ motion
    else:
        basis = np.tile(np.eye(4), (len(transl), 1, 1))
        basis[:, :3, :3] = axes @ rotmat(poses_global) @ axes.T
        basis[:, :3, 3] = np.asarray(transl, np.float64) @ axes.T
    quats = _one_hemisphere(np.array([list(Matrix(m).to_quaternion()) for m in basis]))
    return [Channel("location", basis[:, :3, 3], "Object Transforms", LOCATION_TOLERANCE, vector_error),
            rotation_channel("", ob.rotation_mode, quats, "Object Transforms")]


def _duet_actions(head_names: set[str] | None) -> list:
    """Duet's actions (all, or those made for the named heads)."""
    return [a for a in bpy.data.actions if DUET_TAG in a and (head_names is None or a.get(HEAD_TAG) in head_names)]


def _animated_blocks():
    yield from bpy.data.objects
    yield from bpy.data.shape_keys


def _take_users(actions) -> list[tuple[object, object, object]]:
    """(block, track or None, strip or None) for every place one of ``actions`` plays: Duet's strips,
    and an action left active by an older Duet."""
    actions = set(actions)
    out = []
    for block in _animated_blocks():
        ad = block.animation_data
        if ad is None:
            continue
        if ad.action in actions:
            out.append((block, None, None))
        for track in ad.nla_tracks:
            out.extend((block, track, st) for st in track.strips if st.action in actions)
    return out


def _slot_of(block, strip) -> str:
    if strip is not None and strip.action_slot is not None:
        return strip.action_slot.identifier
    ad = block.animation_data
    return ad.action_slot.identifier if ad.action_slot is not None else ""


def _remove_takes(users, actions) -> None:
    """Remove Duet's strips (and its emptied tracks) and then its actions, once nothing uses them."""
    for block, track, strip in users:
        ad = block.animation_data
        if strip is None:
            ad.action = None
            continue
        track.strips.remove(strip)
        if len(track.strips) == 0:
            ad.nla_tracks.remove(track)
    for action in actions:
        if action.users == 0:
            bpy.data.actions.remove(action)


def _tidy_animation_data(block, record: dict) -> None:
    """Drop the animation data Duet created, if Duet's take was all it held."""
    ad = block.animation_data
    if (CREATED in record and ad is not None and ad.action is None and len(ad.nla_tracks) == 0
            and len(ad.drivers) == 0):
        block.animation_data_clear()


def _user_actions(block) -> tuple[list[str], set[str]]:
    """The user's actions on ``block`` (active and in NLA strips) and the data paths the active one keys."""
    ad = block.animation_data
    if ad is None:
        return [], set()
    names, paths = [], set()
    if ad.action is not None and DUET_TAG not in ad.action:
        names.append(ad.action.name)
        slot = ad.action_slot
        for layer in ad.action.layers:
            for strip in layer.strips:
                bag = strip.channelbag(slot) if slot is not None else None
                paths.update(fc.data_path for fc in (bag.fcurves if bag else []))
    for track in ad.nla_tracks:
        names.extend(st.action.name for st in track.strips if st.action is not None and DUET_TAG not in st.action)
    return names, paths


def _person_channels(p, motion: DyadicMotion, armature, meshes, mapping: Mapping, placement: str):
    """{block: (slot name, [Channel])} for one person, the slider ranges to widen, and what the report
    says about it."""
    axes = rig_axes(mapping.forward)
    blocks: dict = {}
    bones: dict[str, str] = {}
    place_kind, place = ("", None)
    if armature is not None:
        bones = match_bones(armature, mapping)
        place_kind, place = _placement(armature, mapping, bones)
        poses = dict(p.poses)
        transl = np.asarray(p.transl, np.float64)
        if place_kind == "bone" and placement == "keep":
            poses["global"], transl = relative_to_first(poses["global"], transl)
        elif place_kind != "bone":
            bones.pop("global", None)
            if not place_kind and "neck" in bones:  # nothing places the head: its own turn goes on the head bone
                rel, _ = relative_to_first(poses["global"], transl)
                poses["neck"] = axis_angle(rotmat(rel) @ rotmat(poses["neck"]))
        channels = []
        for joint, bone_name in bones.items():
            rest = np.array(armature.data.bones[bone_name].matrix_local.to_3x3())
            base = f'pose.bones["{_escape(bone_name)}"].'
            quats = bone_quaternions(rest, poses[joint], axes)
            channels.append(rotation_channel(base, armature.pose.bones[bone_name].rotation_mode, quats, bone_name))
            if joint == "global":
                channels.append(Channel(f"{base}location", (transl @ axes.T) @ rest, bone_name, LOCATION_TOLERANCE,
                                        vector_error))
        blocks[armature] = (armature.name, channels)
    if place_kind == "object":
        blocks.setdefault(place, (place.name, []))[1].extend(
            _object_channels(place, p.poses["global"], p.transl, placement, axes))
    folded = armature is not None and not place_kind and "neck" in bones
    unmatched_joints = [j for j in JOINTS if j not in bones and not (j == "global" and (place_kind or folded))]

    # The engine carries jaw opening and gaze in joints; rigs without those bones get ARKit channels.
    derived = channels_from_joints(p.poses)
    derived = {ch: v for joint, names in JOINT_CHANNELS.items() if joint not in bones
               for ch, v in derived.items() if ch in names}
    channels = {name: p.expr[:, i] for i, name in enumerate(motion.expr_names)}
    keyed: set[str] = set()
    used_derived: set[str] = set()
    sliders: dict = {}
    for mesh in meshes:
        key = mesh.data.shape_keys
        names = [kb.name for kb in key.key_blocks[1:]]  # the first block is the basis
        matched = match_shape_keys(names, list(channels) + [d for d in derived if d not in channels], mapping)
        block_channels = []
        for ch, key_name in matched.items():
            values = channels.get(ch, 0.0)
            if ch in derived:
                values = np.asarray(values, np.float32) + derived[ch]
                used_derived.add(ch)
            values = np.broadcast_to(np.asarray(values, np.float64), (motion.n_frames,))
            kb = key.key_blocks[key_name]
            path = f'key_blocks["{_escape(key_name)}"]'
            low, high = max(-10.0, min(kb.slider_min, float(values.min()))), min(10.0, max(kb.slider_max,
                                                                                         float(values.max())))
            if (low, high) != (kb.slider_min, kb.slider_max):
                sliders[(key, path)] = (low, high)
            block_channels.append(Channel(f"{path}.value", values, "Shape keys", SHAPE_KEY_TOLERANCE, vector_error))
            keyed.add(ch)
        if block_channels:
            blocks[key] = (f"{mesh.name} shape keys", block_channels)
    placed = {"bone": f"bone '{place}' ({placement})", "object": f"object '{getattr(place, 'name', '')}' "
              f"({placement})"}.get(place_kind, "none, the character stays where it is" + (
                  f" (the head's turn is on '{bones['neck']}')" if folded else ""))
    about = dict(bones=bones, unmatched_joints=unmatched_joints, keyed=sorted(keyed & set(channels)),
                 derived=sorted(used_derived),
                 unmatched=[c for c in channels if c not in keyed], placement=placed)
    return blocks, sliders, about


def bake_person(motion: DyadicMotion, person: str, head, mapping: Mapping | None = None,
                placement: str = "absolute", frame_start: int = 1, take: str = "Duet", thinned: bool = False,
                blend: int = 0) -> BakeReport:
    """Key ``person``'s motion (already at the scene's fps) onto ``head`` as Duet's take, from scene frame
    ``frame_start``; return what was matched.

    placement (of the head's placement bone or object): "absolute" follows the motion's conversation-frame
    translation and rotation (the open heads); "keep" moves relative to frame 0 from where it stands.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}")
    mapping = mapping or Mapping()
    armature, meshes = head_parts(head)
    p = motion.person(person)
    frames = (frame_start + np.arange(motion.n_frames)).astype(np.float64)
    blocks, sliders, about = _person_channels(p, motion, armature, meshes, mapping, placement)

    old_actions = _duet_actions({head.name})
    old_users = _take_users(old_actions)
    old_record: dict = {}  # the values before Duet: the first record of each path wins
    for action in old_actions:
        for ident, rec in _record(action).items():
            kept = old_record.setdefault(ident, {})
            kept.update({k: v for k, v in rec.items() if k not in kept})

    action = bpy.data.actions.new(f"Duet {person}")
    action[DUET_TAG] = person
    action[HEAD_TAG] = head.name
    record: dict = {}
    slots = {}
    layered: list[str] = []
    shadowed: list[str] = []
    n_keys = 0
    for block, (slot_name, channels) in blocks.items():
        slot = slots[block] = action.slots.new(id_type=block.id_type, name=slot_name[:63])
        before = old_record.get(slot.identifier, {})
        rec = record[slot.identifier] = {}
        if CREATED in before or block.animation_data is None:
            rec[CREATED] = []
        for ch in channels:
            rec[ch.path] = before.get(ch.path) or _read(block, ch.path)
        for (key, path), limits in sliders.items():
            for attr, value in zip(("slider_min", "slider_max"), limits) if key == block else ():
                rec[f"{path}.{attr}"] = before.get(f"{path}.{attr}") or _read(block, f"{path}.{attr}")
                _write_value(block, f"{path}.{attr}", [value])
        names, paths = _user_actions(block)
        layered += names
        shadowed += sorted({ch.path for ch in channels} & paths)
        bag = compat.channelbag(action, slot)
        n_keys += sum(_key(bag, ch, frames, thinned) for ch in channels)
    action[RESTORE] = json.dumps(record)

    # What the old take drove and this one does not goes back to the user's value now.
    for block, _, strip in old_users:
        ident = _slot_of(block, strip)
        _restore(block, {k: v for k, v in old_record.get(ident, {}).items() if k not in record.get(ident, {})})
    _remove_takes(old_users, old_actions)
    for block, _, strip in old_users:
        if block not in blocks:
            _tidy_animation_data(block, old_record.get(_slot_of(block, strip), {}))
    for block, slot in slots.items():
        _add_strip(block, action, slot, take, blend)
    name = ""
    if slots:
        action.name = name = f"Duet {person}"  # takes the plain name back once a replaced action is gone
    else:  # nothing on this head matched: no empty action left behind
        bpy.data.actions.remove(action)
    return BakeReport(person=person, head=head.name, action=name, take=take,
                      frames=(int(frames[0]), int(frames[-1])), keyed_channels=about["keyed"],
                      unmatched_channels=about["unmatched"], bones=about["bones"],
                      unmatched_joints=about["unmatched_joints"], derived_channels=about["derived"],
                      placement=about["placement"], layered=sorted(set(layered)), shadowed=shadowed, keys=n_keys)


def _add_strip(block, action, slot, take: str, blend: int) -> None:
    """Duet's track (named after the take) on top of the block's NLA stack, with the take's one strip.

    Bones combine with the tracks below (rotations multiply, so an idle layered under the take still
    shows) and blend in and out from them. Shape keys replace: Blender's NLA starts a shape key from
    1.0 where no lower strip sets it (and Combine does not add weights), so a face strip neither
    combines nor blends. Both hold their first and last frame, so no channel falls back to a default
    before or after the take.
    """
    ad = block.animation_data or block.animation_data_create()
    track = ad.nla_tracks.new()
    track.name = take
    start, end = action.frame_range
    strip = track.strips.new(take, int(round(start)), action)
    strip.action_slot = slot  # strips.new picks no slot for a block it is not named after: set it, then the range
    strip.action_frame_end = end  # (end first: the strip keeps its start and grows)
    strip.action_frame_start = start
    strip.extrapolation = "HOLD"
    if block.id_type == "KEY":
        strip.blend_type = "REPLACE"
    else:
        strip.blend_type = "COMBINE"
        strip.blend_in = strip.blend_out = max(0.0, min(float(blend), (end - start) / 2))


def bake_motion(motion: DyadicMotion, head_a, head_b, mapping: dict[str, Mapping] | None = None,
                placement: str = "absolute", scene=None, take: str = "Duet",
                strength: dict[str, Strength] | None = None, thinned: bool = False, blend: int = 0,
                fit_range: bool = False, markers: bool = False) -> dict[str, BakeReport]:
    """Key both people onto existing heads in ``scene`` (default: the open one; the add-on's entry point).

    The motion is resampled to the scene's fps and keyed on whole frames from its frame_start; the
    scene's fps and frame range stay as they are (``fit_range`` lets the range grow to the take).
    ``strength`` scales each person's mouth, expression, head and blinks; ``thinned`` keeps only the
    keys the curves need (duet.blender.take tolerances); ``blend`` frames of blend in and out;
    ``markers`` marks on the timeline where each turn begins and where Duet was unsure who speaks
    (duet.blender.scene.add_markers).
    """
    from duet.blender import scene as scene_setup

    separate_heads(head_a, head_b)
    scene = scene or bpy.context.scene
    motion = resample(motion, scene.render.fps / scene.render.fps_base)
    strength = strength or {}
    motion = replace(motion, **{p: apply_strength(motion.person(p), motion.expr_names, strength.get(p))
                                for p in PERSONS})
    mapping = mapping or {}
    reports = {person: bake_person(motion, person, head, mapping.get(person), placement, scene.frame_start, take,
                                   thinned, blend)
               for person, head in zip(PERSONS, (head_a, head_b))}
    if markers:  # either way the take's markers from before go
        scene_setup.add_markers(scene, motion, take, scene.frame_start)
    else:
        scene_setup.remove_markers(scene, take)
    last = scene.frame_start + motion.n_frames - 1
    if fit_range and last > scene.frame_end:
        record = json.loads(scene.get(SCENE_RESTORE, "{}"))
        record.setdefault("frame_end", scene.frame_end)
        scene[SCENE_RESTORE] = json.dumps(record)
        scene.frame_end = last
    return reports


def clear(heads=None, scene=None) -> int:
    """Remove Duet's takes (those made for ``heads``, else all), its sound strips and timeline markers
    in ``scene`` and the frame range it grew, and put back every value Duet changed. Returns how many
    strips went."""
    from duet.blender import scene as scene_setup

    actions = _duet_actions(None if heads is None else {h.name for h in heads})
    users = _take_users(actions)
    records = {a.name: _record(a) for a in actions}
    undo = [(block, records[(strip.action if strip else block.animation_data.action).name]
             .get(_slot_of(block, strip), {})) for block, _, strip in users]
    for block, rec in undo:
        _restore(block, rec)
    _remove_takes(users, actions)
    for block, rec in undo:
        _tidy_animation_data(block, rec)
    scene = scene or bpy.context.scene
    scene_setup.remove_sounds(scene)
    scene_setup.remove_markers(scene)
    record = json.loads(scene.get(SCENE_RESTORE, "{}"))
    if "frame_end" in record:
        scene.frame_end = record["frame_end"]
    if SCENE_RESTORE in scene:
        del scene[SCENE_RESTORE]
    return len(users)


def _default_head(person: str, motion: DyadicMotion):
    from duet.blender import rig

    return rig.build_head(person=person, betas=motion.person(person).betas)


def _outputs(stack, out_blend, glb, fbx, livelink_dir) -> dict[str, Path]:
    """Temporary paths for every requested output; each moves into place only if the whole bake succeeds."""
    temps = {"blend": stack.enter_context(atomic_output(out_blend))}
    if glb:
        temps["glb"] = stack.enter_context(atomic_output(glb))
    if fbx:
        temps["fbx"] = stack.enter_context(atomic_output(fbx))
    if livelink_dir:
        livelink_dir = Path(livelink_dir)
        if livelink_dir.exists() and not livelink_dir.is_dir():
            raise DuetError(f"{livelink_dir}: exists and is not a folder")
        for person in PERSONS:
            temps[f"livelink_{person}"] = stack.enter_context(atomic_output(livelink_dir / f"{person}.csv"))
    return temps


def _write(motion: DyadicMotion, temps: dict[str, Path], progress) -> None:
    from duet.exports import scene_export as export
    from duet.exports.livelink import write_csv

    progress(0.7, "saving the .blend")
    with quiet(), uninterrupted():
        bpy.ops.wm.save_as_mainfile(filepath=str(temps["blend"]), copy=True, compress=True)
    if "glb" in temps:
        progress(0.75, "exporting GLB")
        with quiet():
            export.write_glb(temps["glb"])
    if "fbx" in temps:
        progress(0.85, "exporting FBX")
        with quiet():
            export.write_fbx(temps["fbx"])
    for person in PERSONS:
        if f"livelink_{person}" in temps:
            write_csv(motion, person, temps[f"livelink_{person}"])
    for tmp in temps.values():
        usual_mode(Path(tmp))


def _existing_audio(audio) -> list[Path]:
    paths = [Path(a) for a in audio]
    for a in paths:
        if not a.is_file():
            raise DuetError(f"{a}: no such audio file")
    return paths


def _no_progress(fraction: float, note: str = "") -> None:
    pass


def _fresh_session() -> None:
    with uninterrupted():  # re-registers Blender's add-ons
        bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.filepaths.save_version = 0  # no .blend1 beside the outputs


def bake_to_file(motion: DyadicMotion, out_blend, audio=(), glb=None, fbx=None, livelink_dir=None,
                 progress=None, take: str = "Duet") -> dict[str, BakeReport]:
    """New scene with both open heads keyed (take ``take``), timeline markers where each turn begins
    (and where Duet was unsure who speaks), the audio as sound strips, a camera and lights; saved to
    ``out_blend`` with optional GLB, FBX and Live Link CSVs. All outputs appear together or not at all."""
    from duet.blender import scene as scene_setup

    progress = progress or _no_progress
    audio = _existing_audio(audio)
    with contextlib.ExitStack() as stack:
        temps = _outputs(stack, out_blend, glb, fbx, livelink_dir)
        _fresh_session()
        scene = bpy.context.scene
        scene.name = "Duet"
        scene_setup.set_timing(scene, motion)
        progress(0.05, "building the heads")
        heads = [_default_head(p, motion) for p in PERSONS]
        progress(0.3, "keying")
        reports = bake_motion(motion, *heads, placement="absolute", scene=scene, take=take, markers=True)
        scene_setup.add_audio(scene, audio, take=take)
        scene_setup.add_camera(scene, motion)
        scene_setup.add_lights(scene, motion)
        scene["duet_meta"] = json.dumps(motion.meta, sort_keys=True)
        scene.frame_set(scene.frame_start)
        _write(motion, temps, progress)
    return reports


def bake_into_file(motion: DyadicMotion, scene_blend, head_a: str, head_b: str, out_blend,
                   mapping: dict[str, Mapping] | None = None, audio=(), glb=None, fbx=None, livelink_dir=None,
                   progress=None, take: str = "Duet", thinned: bool = False, blend: int | None = None,
                   fit_range: bool = False, strength: dict[str, Strength] | None = None,
                   markers: bool = False) -> dict[str, BakeReport]:
    """Bake onto the user's own characters in ``scene_blend`` as take ``take`` and save the result as
    ``out_blend`` (see bake_motion: the scene's fps, range and strips stay; the user's actions stay
    where they were; the audio goes on free sequencer channels; a re-bake replaces Duet's take).
    ``blend`` frames of blend in and out default to 0.2 s at the scene's fps. ``markers`` adds timeline
    markers for the turns (the new scene of `bake_to_file` always gets them).

    The input file is never modified unless ``out_blend`` is the same path, and then only by a complete,
    atomic replacement.
    """
    from duet.blender import scene as scene_setup

    progress = progress or _no_progress
    if blend is not None and blend < 0:
        raise DuetError(f"--blend {blend}: the blend in and out must be 0 frames or more")
    scene_blend = Path(scene_blend)
    if not scene_blend.is_file():
        raise DuetError(f"{scene_blend}: no such .blend file")
    audio = _existing_audio(audio)
    with contextlib.ExitStack() as stack:
        temps = _outputs(stack, out_blend, glb, fbx, livelink_dir)
        _fresh_session()
        try:
            with uninterrupted():
                bpy.ops.wm.open_mainfile(filepath=str(scene_blend), load_ui=False)
        except RuntimeError as e:
            raise DuetError(f"{scene_blend}: Blender could not open it ({str(e).strip().splitlines()[-1]})") from None
        bpy.context.preferences.filepaths.save_version = 0
        heads = []
        for label, name in (("--head-a", head_a), ("--head-b", head_b)):
            ob = bpy.data.objects.get(name)
            if ob is None:
                raise DuetError(f"{scene_blend}: no object named '{name}' ({label})")
            heads.append(ob)
        scene = bpy.context.scene
        if blend is None:
            blend = round(BLEND_SECONDS * scene.render.fps / scene.render.fps_base)
        progress(0.3, "keying")
        reports = bake_motion(motion, *heads, mapping=mapping, placement="keep", scene=scene, take=take,
                              strength=strength, thinned=thinned, blend=blend, fit_range=fit_range,
                              markers=markers)
        if audio:
            scene_setup.remove_sounds(scene)
            scene_setup.add_audio(scene, audio, frame_start=scene.frame_start, take=take)
        _write(motion, temps, progress)
    return reports
