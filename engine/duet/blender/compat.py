"""The one shim for Blender API differences between 4.4, 4.5 and 5.x (target: 5.x)."""

from __future__ import annotations

from duet.blender.start import bpy

_FCURVES_NEW_TAKES_GROUP = "group_name" in bpy.types.ActionChannelbagFCurves.bl_rna.functions["new"].parameters


def strips(scene):
    """The sequencer's top-level strips: ``strips`` since 4.4, ``sequences`` before it was renamed."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def channelbag(action, slot):
    """The F-curve container for ``slot`` on the action's first layer and keyframe strip (made if missing)."""
    layer = action.layers[0] if action.layers else action.layers.new("Duet")
    strip = layer.strips[0] if layer.strips else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def new_fcurve(channelbag, data_path: str, index: int, group: str):
    """An F-curve in ``channelbag`` inside the group ``group``: 5.0 takes ``group_name``; 4.4/4.5 take
    only the path and index, so the group is found or made and assigned."""
    if _FCURVES_NEW_TAKES_GROUP:
        return channelbag.fcurves.new(data_path, index=index, group_name=group)
    fc = channelbag.fcurves.new(data_path, index=index)
    fc.group = channelbag.groups.get(group) or channelbag.groups.new(group)
    return fc


def set_video_output(image_settings) -> None:
    """Write a movie through FFmpeg: 5.0 first switches the media type from images to video."""
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = "VIDEO"
    image_settings.file_format = "FFMPEG"


def node_tree(idblock):
    """A material's or world's node tree: 5.0+ always has one (``use_nodes`` is deprecated there);
    4.4/4.5 make it when nodes are switched on."""
    if idblock.node_tree is None:
        idblock.use_nodes = True
    return idblock.node_tree
