"""The "Duet" tab in the 3D view's sidebar: heads, audio, scene, Generate, and the follow-ups."""

import bpy

from . import compat, operators


def _button(layout, op: str, blocker: str | None, icon: str = "NONE", text: str | None = None):
    """An operator button; when it cannot run, a line under it says why."""
    col = layout.column(align=True)
    col.operator(op, icon=icon, **({"text": text} if text else {}))
    if blocker:
        col.label(text=blocker, icon="INFO")


class DUET_PT_main(bpy.types.Panel):
    bl_label = "Duet"
    bl_idname = "DUET_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Duet"

    def draw(self, context):
        s = context.scene.duet
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False

        box = layout.box()
        box.label(text="Heads", icon="USER")
        box.prop(s, "head_a")
        box.prop(s, "head_b")
        box.operator("duet.add_head_pair", icon="ADD")
        box.prop(s, "placement")

        box = layout.box()
        box.label(text="Conversation", icon="SOUND")
        box.prop(s, "audio_mode")
        if s.audio_mode != "PROMPT":
            box.prop(s, "audio", text="Track A" if s.audio_mode == "TRACKS" else "File")
        if s.audio_mode == "TRACKS":
            box.prop(s, "audio_b")
        box.prop(s, "prompt")
        box.prop(s, "emotion")
        box.prop(s, "relation")
        box.prop(s, "seed")

        col = layout.column()
        if s.running and s.job == "generate":
            compat.progress_bar(col, s.progress, f"{s.stage.capitalize()}... (Esc cancels)")
        else:
            col.scale_y = 1.4
            _button(col, "duet.generate", operators.generate_blocker(context), icon="PLAY")
        if s.message:
            layout.label(text=s.message, icon="ERROR" if s.message_is_error else "CHECKMARK")

        box = layout.box()
        box.label(text="Motion", icon="ACTION")
        box.prop(s, "motion_file")
        row = box.row()
        row.operator("duet.bake_file", icon="IMPORT")
        row.operator("duet.clear", icon="X")
        box.prop(s, "export_format")
        box.prop(s, "export_path")
        box.operator("duet.export", icon="EXPORT")

        box = layout.box()
        box.label(text="Gaussian Avatars", icon="RENDER_ANIMATION")
        box.prop(s, "render_size")
        if s.running and s.job == "render":
            compat.progress_bar(box, s.progress, f"{s.stage.capitalize()}... (Esc cancels)")
        else:
            _button(box, "duet.render_avatars", operators.render_blocker(context), icon="RENDER_ANIMATION",
                    text="Render")


CLASSES = (DUET_PT_main,)
