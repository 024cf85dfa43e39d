"""A small preview video of a baked scene: both heads, the conversation audio muxed in.

Cycles on the CPU at two samples and no bounces, subsurface scattering off (it is what makes low
sample counts grainy): it runs headless everywhere (EEVEE and Workbench need a GPU context the bpy
wheel may not have). Blender's own FFmpeg output writes H.264 + AAC.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from duet.blender import compat
from duet.blender.logs import quiet
from duet.progress import Progress
from duet.errors import DuetError
from duet.files import atomic_output


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
    subsurface = [(n.inputs["Subsurface Weight"], n.inputs["Subsurface Weight"].default_value)
                  for m in bpy.data.materials if m.node_tree for n in m.node_tree.nodes
                  if n.type == "BSDF_PRINCIPLED"]
    try:
        for socket, _ in subsurface:
            socket.default_value = 0.0
        with atomic_output(out_mp4) as tmp, Progress("preview") as progress, quiet():
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
        for socket, value in subsurface:
            socket.default_value = value
    return out_mp4

