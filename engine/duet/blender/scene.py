"""The baked scene around the heads: timing, the conversation audio, a camera on both heads, lights."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from duet.blender import compat
from duet.blender.start import Vector, bpy
from duet.errors import DuetError
from duet.frames import conv_to_blender
from duet.motion import PERSONS, DyadicMotion
from duet.rigs.kinematics import eye_midpoint


def set_timing(scene, motion: DyadicMotion, frame_start: int = 1) -> None:
    """Scene fps = motion fps (fractional rates through fps_base); frame_start is t = 0."""
    rate = max(1, round(motion.fps))
    scene.render.fps = rate
    scene.render.fps_base = rate / motion.fps
    scene.frame_start = frame_start
    scene.frame_end = frame_start + motion.n_frames - 1
    scene.frame_set(frame_start)


SOUND_TAG = "duet_take"  # on the sound strips Duet added: the take they belong to


def free_channel(scene, start: int, end: int, ignore=None) -> int:
    """The lowest sequencer channel with no strip (but ``ignore``) overlapping frames [start, end)."""
    busy = {st.channel for st in compat.strips(scene)
            if st != ignore and st.frame_final_start < end and st.frame_final_end > start}
    return next(c for c in range(1, 130) if c not in busy)


def add_audio(scene, paths, frame_start: int = 1, pack: bool = True, take: str = "Duet") -> list:
    """One sound strip per file (a mix, or one track per person), each on the lowest channel free over
    its frames so no strip of the user's moves; packed so the .blend travels alone."""
    made = []
    strips = compat.strips(scene)
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise DuetError(f"{path}: no such audio file")
        top = 1 + max((st.channel for st in strips), default=0)
        strip = strips.new_sound(path.stem, str(path.resolve()), min(top, 128), frame_start)
        if strip.sound is None or strip.frame_final_duration <= 1:
            strips.remove(strip)
            raise DuetError(f"{path}: Blender could not read this audio file")
        strip.channel = free_channel(scene, strip.frame_final_start, strip.frame_final_end, ignore=strip)
        strip[SOUND_TAG] = take
        if pack:
            strip.sound.pack()
        made.append(strip)
    return made


def duet_sounds(scene) -> list:
    """Duet's own sound strips in ``scene``."""
    if not scene.sequence_editor:
        return []
    return [st for st in compat.strips(scene) if SOUND_TAG in st]


def remove_sounds(scene) -> None:
    """Remove Duet's sound strips (and their sounds, once unused); the user's strips stay."""
    strips = compat.strips(scene) if scene.sequence_editor else None
    for strip in duet_sounds(scene):
        sound = strip.sound
        strips.remove(strip)
        if sound is not None and sound.users == 0:
            bpy.data.sounds.remove(sound)


MARKERS = "duet_markers"  # scene property: JSON {take: [[name, frame], ...]}, the timeline markers Duet added


def add_markers(scene, motion: DyadicMotion, take: str = "Duet", frame_start: int | None = None) -> list:
    """Timeline markers where each turn begins ("<take>: A", "<take>: B"; duet.audio.turns.floor_changes)
    and where the front end was unsure who speaks ("<take>: unsure until 15.5 s", from the motion's
    meta), on the scene's frames counted from ``frame_start`` (default the scene's start; t = 0).
    Replaces the markers this take added before; no other marker is touched."""
    from duet.audio.turns import floor_changes

    remove_markers(scene, take)
    fps = scene.render.fps / scene.render.fps_base
    start = scene.frame_start if frame_start is None else frame_start
    masks = np.stack([motion.person(p).speaking for p in PERSONS])
    marks = [(f"{take}: {p}", t) for p, t in floor_changes(masks, motion.fps)]
    unsure = motion.meta.get("who_speaks_unsure")
    unsure = unsure if isinstance(unsure, list) else []
    marks += [(f"{take}: unsure until {span[1]:.1f} s", span[0]) for span in unsure  # a hand-edited meta's odd
              if isinstance(span, list) and len(span) == 2 and all(isinstance(v, (int, float)) for v in span)]
    made = []
    for name, t in sorted(marks, key=lambda m: m[1]):
        frame = start + int(round(t * fps))
        scene.timeline_markers.new(name, frame=frame)
        made.append([name, frame])
    record = json.loads(scene.get(MARKERS, "{}"))
    record[take] = made
    scene[MARKERS] = json.dumps(record)
    return made


def remove_markers(scene, take: str | None = None) -> int:
    """Remove the timeline markers Duet added for ``take`` (else for every take) that are still as it
    left them: a marker the user renamed or moved is theirs now and stays. Returns how many went."""
    record = json.loads(scene.get(MARKERS, "{}"))
    gone = 0
    for t in [take] if take is not None else list(record):
        for name, frame in record.pop(t, []):
            marker = next((m for m in scene.timeline_markers if m.name == name and m.frame == frame), None)
            if marker is not None:
                scene.timeline_markers.remove(marker)
                gone += 1
    if record:
        scene[MARKERS] = json.dumps(record)
    elif MARKERS in scene:
        del scene[MARKERS]
    return gone


def head_centres(motion: DyadicMotion) -> np.ndarray:
    """[2,3] mean eye midpoints of A and B in Blender coordinates."""
    return np.stack([conv_to_blender(eye_midpoint(motion.person(p).poses, motion.person(p).transl).mean(0))
                     for p in PERSONS])


def add_camera(scene, motion: DyadicMotion, lens_mm: float = 50.0, margin: float = 0.22):
    """A camera square to the line between the heads, on the conversation's +Z side, framing both."""
    a, b = head_centres(motion)
    mid = (a + b) / 2
    across = b - a
    across[2] = 0
    width = float(np.linalg.norm(across))
    across = across / width if width > 1e-6 else np.array([1.0, 0.0, 0.0])
    toward = np.cross(across, [0.0, 0.0, 1.0])  # horizontal, perpendicular to the heads' line
    if toward @ conv_to_blender([0.0, 0.0, 1.0]) < 0:
        toward = -toward
    cam_data = bpy.data.cameras.new("Duet camera")
    cam_data.lens = lens_mm
    half_fov = np.arctan(cam_data.sensor_width / (2 * lens_mm))
    distance = (width / 2 + margin) / np.tan(half_fov)
    cam = bpy.data.objects.new("Duet camera", cam_data)
    scene.collection.objects.link(cam)
    cam.location = Vector(mid + toward * distance + np.array([0.0, 0.0, 0.05]))
    cam.rotation_mode = "QUATERNION"
    cam.rotation_quaternion = (Vector(mid) - cam.location).to_track_quat("-Z", "Y")
    scene.camera = cam
    return cam


KEY_LIGHT = "Duet key"


def add_lights(scene, motion: DyadicMotion) -> list:
    """Sun lamps (key from the camera's side and above, fill opposite, rim from behind) and a grey
    backdrop seen only by the camera. Suns and a camera-only backdrop add no sampling noise."""
    a, b = head_centres(motion)
    mid = (a + b) / 2
    toward = scene.camera.location - Vector(mid) if scene.camera else Vector((0.0, -1.0, 0.0))
    toward.z = 0.0
    toward.normalize()
    side = toward.cross(Vector((0.0, 0.0, 1.0)))
    lamps = []
    for name, energy, origin in ((KEY_LIGHT, 3.5, toward + 0.35 * side + Vector((0, 0, 0.9))),
                                 ("Duet fill", 1.0, toward - 0.8 * side + Vector((0, 0, 0.2))),
                                 ("Duet rim", 1.5, -toward + Vector((0, 0, 1.2)))):
        data = bpy.data.lights.new(name, "SUN")
        data.energy = energy
        data.angle = 0.0
        lamp = bpy.data.objects.new(name, data)
        lamp.rotation_mode = "QUATERNION"
        lamp.rotation_quaternion = (-origin).to_track_quat("-Z", "Y")  # shine from ``origin`` inwards
        scene.collection.objects.link(lamp)
        lamps.append(lamp)
    scene.world = _backdrop_world()
    return lamps


def _backdrop_world(colour=(0.25, 0.26, 0.28)):
    world = bpy.data.worlds.new("Duet backdrop")
    tree = compat.node_tree(world)
    nodes, links = tree.nodes, tree.links
    nodes.clear()
    seen = nodes.new("ShaderNodeBackground")
    seen.inputs["Color"].default_value = (*colour, 1.0)
    unlit = nodes.new("ShaderNodeBackground")
    unlit.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
    path = nodes.new("ShaderNodeLightPath")
    mix = nodes.new("ShaderNodeMixShader")
    out = nodes.new("ShaderNodeOutputWorld")
    links.new(path.outputs["Is Camera Ray"], mix.inputs[0])
    links.new(unlit.outputs[0], mix.inputs[1])
    links.new(seen.outputs[0], mix.inputs[2])
    links.new(mix.outputs[0], out.inputs["Surface"])
    return world


def audio_paths(motion: DyadicMotion, audio, base: str | os.PathLike | None = None) -> list[Path]:
    """The audio to put in the sequencer: ``audio`` if given, else the file names in the motion's meta
    found next to ``base`` (the motion file's folder); missing names are skipped."""
    if audio:
        return [Path(a) for a in ([audio] if isinstance(audio, (str, os.PathLike)) else audio)]
    names = motion.meta.get("audio", [])
    names = [names] if isinstance(names, str) else list(names.values()) if isinstance(names, dict) else names
    if base is None:
        return []
    return [Path(base) / n for n in names if isinstance(n, str) and (Path(base) / n).is_file()]
