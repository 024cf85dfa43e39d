"""A small preview video of a baked scene: both heads, the conversation audio muxed in.

Cycles on the CPU at one sample and no bounces: it runs headless everywhere (EEVEE and Workbench
need a GPU context the bpy wheel may not have). Blender's own FFmpeg output writes H.264 + AAC.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from duet.blender import compat
from duet.errors import DuetError
from duet.files import atomic_output


def render_preview(blend_or_scene, out_mp4: str | os.PathLike, size=(480, 270), seconds: float | None = None) -> Path:
    """Render ``blend_or_scene`` (a .blend path or a bpy Scene) to ``out_mp4``; ``seconds`` caps the length."""
    if isinstance(blend_or_scene, (str, os.PathLike)):
        path = Path(blend_or_scene)
        if not path.is_file():
            raise DuetError(f"{path}: no such .blend file")
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
    scene.cycles.samples = 1
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
        with atomic_output(out_mp4) as tmp:
            render.filepath = str(tmp)
            bpy.ops.render.render(animation=True, scene=scene.name)
    finally:
        scene.frame_end, render.engine, render.filepath = saved
    return out_mp4
