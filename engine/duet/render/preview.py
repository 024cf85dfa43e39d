"""A small preview video of a baked scene: both heads, the conversation audio muxed in.

Cycles on the CPU at two samples and no bounces with a flat, noise-free look (see _flat_look): it
runs headless everywhere (EEVEE and Workbench need a GPU context the bpy wheel may not have).
Blender's own FFmpeg output writes H.264 + AAC.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import bpy

from duet.blender import compat
from duet.blender.logs import quiet
from duet.blender.scene import KEY_LIGHT
from duet.progress import Progress
from duet.errors import DuetError
from duet.files import atomic_output

AMBIENT = 0.35  # self-lit share of each material's colour in the preview, standing in for fill light


def render_preview(blend_or_scene, out_mp4: str | os.PathLike, size=(480, 270), seconds: float | None = None) -> Path:
    """Render ``blend_or_scene`` (a .blend path or a bpy Scene) to ``out_mp4``; ``seconds`` caps the length."""
    if isinstance(blend_or_scene, (str, os.PathLike)):
        path = Path(blend_or_scene)
        if not path.is_file():
            raise DuetError(f"{path}: no such .blend file")
        with quiet():
            bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
        scene = bpy.context.scene
    else:
        scene = blend_or_scene
    if scene.camera is None:
        raise DuetError(f"scene '{scene.name}' has no camera to render from")
    out_mp4 = Path(out_mp4)
    render = scene.render
    saved = (scene.frame_end, render.engine, render.filepath)
    render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 2
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 0
    render.resolution_x, render.resolution_y = size
    render.resolution_percentage = 100
    if seconds is not None:
        fps = render.fps / render.fps_base
        scene.frame_end = min(scene.frame_end, scene.frame_start + max(1, round(seconds * fps)) - 1)
    compat.set_video_output(render.image_settings)
    render.ffmpeg.format = "MPEG4"
    render.ffmpeg.codec = "H264"
    render.ffmpeg.audio_codec = "AAC"
    render.use_file_extension = False
    try:
        with _flat_look(scene), atomic_output(out_mp4) as tmp, Progress("preview") as progress, quiet(stderr=False):
            render.filepath = str(tmp)
            first, count = scene.frame_start, scene.frame_end - scene.frame_start + 1

            def frame_done(sc, *_):
                progress.update((sc.frame_current - first + 1) / count, f"frame {sc.frame_current - first + 1}/{count}")

            bpy.app.handlers.render_write.append(frame_done)
            try:
                bpy.ops.render.render(animation=True, scene=scene.name)
            finally:
                bpy.app.handlers.render_write.remove(frame_done)
    finally:
        scene.frame_end, render.engine, render.filepath = saved
    return out_mp4



@contextlib.contextmanager
def _flat_look(scene):
    """For the preview's two samples: the key light alone plus a little self-lit ambient.

    Cycles picks one light per sample and samples subsurface and gloss at random, which at two samples
    speckles the skin; one sun and diffuse-only materials are noise-free. Everything is put back.
    """
    saved = []
    for ob in scene.objects:
        if ob.type == "LIGHT" and ob.name != KEY_LIGHT and not ob.hide_render:
            saved.append((ob, "hide_render", False))
            ob.hide_render = True
    for mat in bpy.data.materials:
        for node in (mat.node_tree.nodes if mat.node_tree else ()):
            if node.type != "BSDF_PRINCIPLED":
                continue
            inputs = node.inputs
            for name, value in (("Subsurface Weight", 0.0), ("Specular IOR Level", 0.0),
                                ("Emission Color", tuple(inputs["Base Color"].default_value)),
                                ("Emission Strength", AMBIENT)):
                saved.append((inputs[name], "default_value", _copy(inputs[name].default_value)))
                inputs[name].default_value = value
    try:
        yield
    finally:
        for owner, attr, value in reversed(saved):
            setattr(owner, attr, value)


def _copy(value):
    return tuple(value) if hasattr(value, "__len__") else value
