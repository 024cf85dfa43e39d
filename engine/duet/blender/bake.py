"""Key a DyadicMotion onto two heads in Blender: one action per head, written in bulk.

Each head gets one layered action ("Duet A", "Duet B") with a slot for the armature (bone rotations
and the root's location) and one slot per shape-key block of its meshes. Keys go in through
``keyframe_points.add`` + ``foreach_set`` with linear interpolation, never a per-key insert loop.

A joint rotation R (axis-angle in the conversation frame) becomes, on a bone whose rest orientation
in armature space is B, the pose rotation B^T C R C^T B (C: conversation -> Blender axes). With
that, any bone roll or direction reproduces the FLAME joint chain, so the same code keys the open
heads and a user's own rig.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from duet.arkit import JOINT_CHANNELS, canonical, channels_from_joints
from duet.blender import compat
from duet.blender.logs import quiet
from duet.errors import DuetError
from duet.files import atomic_output, usual_mode
from duet.frames import axis_angle, conv_to_blender, rotmat
from duet.motion import JOINTS, PERSONS, DyadicMotion

DUET_TAG = "duet_person"  # custom property marking Duet's own actions (a re-bake replaces only these)
BONE_NAMES = {  # joint -> accepted bone names, compared with arkit.canonical
    "global": ("root", "global"),
    "neck": ("neck",),
    "jaw": ("jaw",),
    "eye_L": ("eye_L", "LeftEye"),
    "eye_R": ("eye_R", "RightEye"),
}
PLACEMENTS = ("absolute", "keep")
C = conv_to_blender(np.eye(3)).T  # conversation -> Blender axes as a matrix: v_blender = C v


@dataclass
class Mapping:
    """User overrides: motion channel -> shape key name and joint -> bone name (None skips it)."""

    shape_keys: dict[str, str | None] = field(default_factory=dict)
    bones: dict[str, str | None] = field(default_factory=dict)


def load_mapping(path: str | os.PathLike) -> dict[str, Mapping]:
    """Read a mapping file -> {"A": Mapping, "B": Mapping}.

    JSON: ``{"shape_keys": {channel: key}, "bones": {joint: bone}}`` for both heads, optionally with
    ``"A": {...}`` / ``"B": {...}`` of the same form for one head (those entries win).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DuetError(f"{path}: no such mapping file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DuetError(f"{path}: not valid JSON ({e})") from None

    def section(obj, where) -> Mapping:
        if not isinstance(obj, dict) or set(obj) - {"shape_keys", "bones"}:
            raise DuetError(f"{path}: {where} must be an object with 'shape_keys' and/or 'bones'")
        for name in ("shape_keys", "bones"):
            table = obj.get(name, {})
            if not isinstance(table, dict) or not all(isinstance(v, (str, type(None))) for v in table.values()):
                raise DuetError(f"{path}: {where}'{name}' must map names to a name or null")
        bad = set(obj.get("bones", {})) - set(JOINTS)
        if bad:
            raise DuetError(f"{path}: unknown joint(s) {sorted(bad)} in 'bones'; joints are {list(JOINTS)}")
        return Mapping(dict(obj.get("shape_keys", {})), dict(obj.get("bones", {})))

    if not isinstance(data, dict):
        raise DuetError(f"{path}: expected a JSON object")
    shared = section({k: v for k, v in data.items() if k not in PERSONS}, "the file ")
    out = {}
    for person in PERSONS:
        own = section(data.get(person, {}), f"'{person}' ")
        out[person] = Mapping({**shared.shape_keys, **own.shape_keys}, {**shared.bones, **own.bones})
    return out


@dataclass
class BakeReport:
    """What one head received, for the user: the action and what could not be matched."""

    person: str
    head: str
    action: str
    keyed_channels: list[str]
    unmatched_channels: list[str]
    bones: dict[str, str]
    unmatched_joints: list[str]
    derived_channels: list[str]
    kept_actions: list[str]

    def lines(self) -> list[str]:
        out = [f"{self.person} -> {self.head}: action '{self.action}', {len(self.keyed_channels)} shape-key "
               f"channels, bones {', '.join(f'{j}={b}' for j, b in self.bones.items()) or 'none'}"]
        if self.derived_channels:
            out.append(f"{self.person}: derived from the joints: {', '.join(self.derived_channels)}")
        if self.unmatched_channels:
            out.append(f"{self.person}: {len(self.unmatched_channels)} channel(s) have no shape key: "
                       f"{', '.join(self.unmatched_channels)}")
        if self.unmatched_joints:
            out.append(f"{self.person}: joint(s) with no bone (motion dropped): {', '.join(self.unmatched_joints)}")
        for name in self.kept_actions:
            out.append(f"{self.person}: previous action '{name}' kept in an NLA track")
        return out


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


def match_bones(bone_names, mapping: Mapping) -> dict[str, str]:
    """joint -> bone name: the mapping first, then the standard names compared canonically."""
    return _match(bone_names, {j: BONE_NAMES[j] for j in JOINTS}, mapping.bones)


def match_shape_keys(key_names, channels, mapping: Mapping) -> dict[str, str]:
    """channel -> shape key name, ignoring case and _L/_R vs Left/Right; the mapping wins."""
    return _match(key_names, {ch: (ch,) for ch in channels}, mapping.shape_keys)


def _match(names, wanted: dict[str, tuple[str, ...]], overrides: dict) -> dict[str, str]:
    """item -> one of ``names``: an override (None = leave unmatched), else the first candidate
    whose canonical form a name shares."""
    by_key = {}
    for name in names:
        by_key.setdefault(canonical(name), name)
    out = {}
    for item, candidates in wanted.items():
        if item in overrides:
            target = overrides[item]
            if target is not None and target in names:
                out[item] = target
            continue
        found = next((by_key[canonical(c)] for c in candidates if canonical(c) in by_key), None)
        if found is not None:
            out[item] = found
    return out


def bone_quaternions(rest: np.ndarray, aa: np.ndarray) -> np.ndarray:
    """Pose quaternions [T,4] (w,x,y,z) for joint rotations ``aa`` [T,3] on a bone with rest orientation
    ``rest`` (3x3, armature space): the rotation B^T C R C^T B keeps R's angle and turns its axis."""
    aa = np.asarray(aa, np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = (aa / np.where(theta < 1e-12, 1.0, theta)) @ C.T @ rest  # rows: B^T C axis
    q = np.concatenate([np.cos(theta / 2), np.sin(theta / 2) * axis], -1)
    # Keep neighbouring quaternions in one hemisphere so interpolation takes the short way.
    flips = np.cumsum(np.r_[0, np.sum(q[1:] * q[:-1], -1) < 0]) % 2
    return np.where(flips[:, None] == 1, -q, q)


def relative_to_first(aa: np.ndarray, transl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root rotation and translation relative to frame 0, in the person's own (frame-0) axes."""
    r = rotmat(aa)
    r0t = r[0].T
    return axis_angle(r0t @ r), (np.asarray(transl, np.float64) - transl[0]) @ r0t.T


def _key(channelbag, data_path: str, values: np.ndarray, frames: np.ndarray, group: str) -> None:
    """One F-curve per component of ``values`` [T] or [T,K], written in bulk, linear."""
    values = np.asarray(values, np.float32).reshape(len(frames), -1)
    co = np.empty((len(frames), 2), np.float32)
    co[:, 0] = frames
    linear = np.full(len(frames), bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value,
                     np.int32)
    for i in range(values.shape[1]):
        fc = compat.new_fcurve(channelbag, data_path, i, group)
        fc.keyframe_points.add(len(frames))
        co[:, 1] = values[:, i]
        fc.keyframe_points.foreach_set("co", co.ravel())
        fc.keyframe_points.foreach_set("interpolation", linear)
        fc.update()


def _euler(quats: np.ndarray, order: str) -> np.ndarray:
    """Quaternions -> continuous Euler angles in ``order`` (for user bones kept in an Euler mode)."""
    from mathutils import Quaternion

    out, prev = np.empty((len(quats), 3)), None
    for i, q in enumerate(quats):
        e = Quaternion(q).to_euler(order, prev) if prev is not None else Quaternion(q).to_euler(order)
        out[i] = e
        prev = e
    return out


def _assign(id_block, action, slot, kept: list[str]) -> None:
    """Make ``action``/``slot`` active on ``id_block``; a user's previous action moves to an NLA track."""
    ad = id_block.animation_data or id_block.animation_data_create()
    prev = ad.action
    if prev is not None and prev is not action and DUET_TAG not in prev:
        prev_slot = ad.action_slot
        prev.use_fake_user = True
        track = ad.nla_tracks.new()
        track.name = f"Before Duet: {prev.name}"[:63]
        ad.action = None
        strip = track.strips.new(prev.name, int(prev.frame_range[0]), prev)
        if prev_slot is not None and hasattr(strip, "action_slot"):
            strip.action_slot = prev_slot
        kept.append(prev.name)
    ad.action = action
    ad.action_slot = slot


def bake_person(motion: DyadicMotion, person: str, head, mapping: Mapping | None = None,
                placement: str = "absolute", frame_start: float = 1, frame_step: float = 1.0) -> BakeReport:
    """Key ``person``'s motion onto ``head`` (armature or mesh) and return what was matched.

    placement "absolute": the root follows the motion's conversation-frame translation and rotation
    (the open heads). "keep": the head stays where the user put it and moves relative to frame 0.
    Motion frame i lands on scene frame ``frame_start + i * frame_step`` (a step other than 1 keeps
    a user's scene at its own fps).
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}")
    mapping = mapping or Mapping()
    p = motion.person(person)
    armature, meshes = head_parts(head)
    frames = (frame_start + frame_step * np.arange(motion.n_frames)).astype(np.float32)
    old = {ad.action for ad in _anim_datas(armature, meshes) if ad is not None and ad.action is not None
           and DUET_TAG in ad.action}

    action = bpy.data.actions.new(f"Duet {person}")
    action[DUET_TAG] = person
    kept: list[str] = []

    bones: dict[str, str] = {}
    if armature is not None:
        bones = match_bones([b.name for b in armature.data.bones], mapping)
        slot = action.slots.new(id_type="OBJECT", name=armature.name)
        bag = compat.channelbag(action, slot)
        poses = dict(p.poses)
        transl = np.asarray(p.transl, np.float64)
        if placement == "keep":
            poses["global"], transl = relative_to_first(poses["global"], transl)
        for joint, bone_name in bones.items():
            rest = np.array(armature.data.bones[bone_name].matrix_local.to_3x3())
            pb = armature.pose.bones[bone_name]
            quats = bone_quaternions(rest, poses[joint])
            base = f'pose.bones["{bpy.utils.escape_identifier(bone_name)}"]'
            if pb.rotation_mode in ("QUATERNION", "AXIS_ANGLE"):
                pb.rotation_mode = "QUATERNION"
                _key(bag, f"{base}.rotation_quaternion", quats, frames, bone_name)
            else:
                _key(bag, f"{base}.rotation_euler", _euler(quats, pb.rotation_mode), frames, bone_name)
            if joint == "global":
                _key(bag, f"{base}.location", (transl @ C.T) @ rest, frames, bone_name)
        _assign(armature, action, slot, kept)
    unmatched_joints = [j for j in JOINTS if j not in bones] if armature is not None else list(JOINTS)

    # The engine carries jaw opening and gaze in joints; rigs without those bones get ARKit channels.
    derived = channels_from_joints(p.poses)
    derived = {ch: v for joint, names in JOINT_CHANNELS.items() if joint not in bones
               for ch, v in derived.items() if ch in names}
    channels = {name: p.expr[:, i] for i, name in enumerate(motion.expr_names)}
    keyed: set[str] = set()
    used_derived: set[str] = set()
    for mesh in meshes:
        key = mesh.data.shape_keys
        names = [kb.name for kb in key.key_blocks[1:]]  # the first block is the basis
        matched = match_shape_keys(names, list(channels) + [d for d in derived if d not in channels], mapping)
        if not matched:
            continue
        slot = action.slots.new(id_type="KEY", name=f"{mesh.name} shape keys"[:63])
        bag = compat.channelbag(action, slot)
        for ch, key_name in matched.items():
            values = channels.get(ch, 0.0)
            if ch in derived:
                values = np.asarray(values, np.float32) + derived[ch]
                used_derived.add(ch)
            values = np.broadcast_to(np.asarray(values, np.float32), frames.shape)
            kb = key.key_blocks[key_name]
            kb.slider_min = max(-10.0, min(kb.slider_min, float(values.min())))
            kb.slider_max = min(10.0, max(kb.slider_max, float(values.max())))
            _key(bag, f'key_blocks["{bpy.utils.escape_identifier(key_name)}"].value', values, frames, "Shape keys")
            keyed.add(ch)
        _assign(key, action, slot, kept)

    for stale in old:
        if stale.users == 0:
            bpy.data.actions.remove(stale)
    action.name = f"Duet {person}"  # takes the plain name back once a replaced action is gone
    return BakeReport(person=person, head=head.name, action=action.name,
                      keyed_channels=sorted(keyed & set(channels)),
                      unmatched_channels=[c for c in channels if c not in keyed],
                      bones=bones, unmatched_joints=unmatched_joints, derived_channels=sorted(used_derived),
                      kept_actions=kept)


def _anim_datas(armature, meshes):
    ids = ([armature] if armature is not None else []) + [m.data.shape_keys for m in meshes]
    return [i.animation_data for i in ids]


def bake_motion(motion: DyadicMotion, head_a, head_b, mapping: dict[str, Mapping] | None = None,
                placement: str = "absolute", scene=None) -> dict[str, BakeReport]:
    """Key both people onto existing heads in ``scene`` (default: the open one; the add-on's entry point).

    Keys start at the scene's frame_start and follow its fps; the frame range grows to fit the motion.
    """
    if head_a == head_b:
        raise DuetError("heads A and B must be two different objects")
    scene = scene or bpy.context.scene
    step = scene.render.fps / scene.render.fps_base / motion.fps
    mapping = mapping or {}
    reports = {person: bake_person(motion, person, head, mapping.get(person), placement, scene.frame_start, step)
               for person, head in zip(PERSONS, (head_a, head_b))}
    scene.frame_end = max(scene.frame_end, int(np.ceil(scene.frame_start + step * (motion.n_frames - 1))))
    return reports


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
    with quiet():
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
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.filepaths.save_version = 0  # no .blend1 beside the outputs


def bake_to_file(motion: DyadicMotion, out_blend, audio=(), glb=None, fbx=None, livelink_dir=None,
                 progress=None) -> dict[str, BakeReport]:
    """New scene with both open heads keyed, the audio as sound strips, a camera and lights; saved to
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
        reports = bake_motion(motion, *heads, placement="absolute", scene=scene)
        scene_setup.add_audio(scene, audio)
        scene_setup.add_camera(scene, motion)
        scene_setup.add_lights(scene, motion)
        scene["duet_meta"] = json.dumps(motion.meta, sort_keys=True)
        scene.frame_set(scene.frame_start)
        _write(motion, temps, progress)
    return reports


def bake_into_file(motion: DyadicMotion, scene_blend, head_a: str, head_b: str, out_blend,
                   mapping: dict[str, Mapping] | None = None, audio=(), glb=None, fbx=None, livelink_dir=None,
                   progress=None) -> dict[str, BakeReport]:
    """Bake onto the user's own characters in ``scene_blend`` and save the result as ``out_blend``.

    The heads keep their place (motion relative to the first frame); the user's previous actions stay
    in NLA tracks; a re-bake replaces only Duet's own actions. The input file is never modified
    unless ``out_blend`` is the same path, and then only by a complete, atomic replacement.
    """
    from duet.blender import scene as scene_setup

    progress = progress or _no_progress
    scene_blend = Path(scene_blend)
    if not scene_blend.is_file():
        raise DuetError(f"{scene_blend}: no such .blend file")
    audio = _existing_audio(audio)
    with contextlib.ExitStack() as stack:
        temps = _outputs(stack, out_blend, glb, fbx, livelink_dir)
        _fresh_session()
        try:
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
        progress(0.3, "keying")
        reports = bake_motion(motion, *heads, mapping=mapping, placement="keep", scene=scene)
        if audio:
            scene_setup.add_audio(scene, audio, frame_start=scene.frame_start)
        _write(motion, temps, progress)
    return reports
