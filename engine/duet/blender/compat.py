"""The one shim for Blender API differences between 4.4, 4.5 and 5.0 (target: 5.0)."""

from __future__ import annotations

import bpy

VERSION = bpy.app.version


def strips(scene):
    """The sequencer's top-level strips: ``strips`` since 4.4, ``sequences`` before it was renamed."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def channelbag(action, slot):
    """The F-curve container for ``slot`` on the action's first layer and keyframe strip (made if missing)."""
    layer = action.layers[0] if action.layers else action.layers.new("Duet")
    strip = layer.strips[0] if layer.strips else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def eevee_engine() -> str:
    """EEVEE's render engine id: 'BLENDER_EEVEE_NEXT' in 4.2-4.5, 'BLENDER_EEVEE' again from 5.0."""
    return "BLENDER_EEVEE" if VERSION >= (5, 0, 0) else "BLENDER_EEVEE_NEXT"



def set_video_output(image_settings) -> None:
    """Write a movie through FFmpeg: 5.0 first switches the media type from images to video."""
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = "VIDEO"
    image_settings.file_format = "FFMPEG"
