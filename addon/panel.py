"""The "Duet" tab in the 3D view's sidebar: heads, audio, scene, Generate, and the follow-ups; under it
the Mapping (what Duet drives on each character) and Polish (strengths, keys, blend) panels."""

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
        if s.audio_mode == "MIX":
            box.prop(s, "first_speaker", expand=True)
            box.prop(s, "speakers", expand=True)
            box.prop(s, "turns_file")
        box.prop(s, "prompt")
        for person, p in (("A", s.person_a), ("B", s.person_b)):  # each person's emotion, in their own box
            col = box.box().column(align=True)
            col.label(text=f"Person {person}", icon="USER")
            col.prop(p, "emotion")
            col.prop(p, "emotion_intensity", slider=True)
            col.prop(p, "gaze_aversion", slider=True)
        box.prop(s, "emotion_script")
        box.prop(s, "relation")
        if s.relation in ("AUTO", "parent-child", "boss-employee", "teacher-student"):
            box.prop(s, "senior", expand=True)
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


def _head_parts(head):
    """(armature or None, first mesh with shape keys or None) of a picked head."""
    if head is None:
        return None, None
    meshes = [o for o in head.children_recursive if o.type == "MESH" and o.data.shape_keys]
    return (head if head.type == "ARMATURE" else None), (meshes[0] if meshes else None)


class DUET_UL_channels(bpy.types.UIList):
    """Motion channel -> shape key rows; an unmatched channel shows a warning icon."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        _, mesh = _head_parts(context.scene.duet.head_a if data == context.scene.duet.person_a
                              else context.scene.duet.head_b)
        row = layout.split(factor=0.5, align=True)
        row.label(text=item.channel, icon="CHECKMARK" if item.key else "ERROR")
        if mesh is not None:
            row.prop_search(item, "key", mesh.data.shape_keys, "key_blocks", text="")
        else:
            row.prop(item, "key", text="")

    def filter_items(self, context, data, propname):
        """With "unmatched only" on, the rows whose channel drives no shape key."""
        rows = getattr(data, propname)
        if not context.scene.duet.unmatched_only:
            return [], []
        return [self.bitflag_filter_item if not row.key else 0 for row in rows], []


class DUET_PT_mapping(bpy.types.Panel):
    """What Duet drives on each character: shape keys by ARKit name, head/jaw/eye bones, placement."""

    bl_label = "Mapping"
    bl_idname = "DUET_PT_mapping"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Duet"
    bl_parent_id = "DUET_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.duet
        layout = self.layout
        layout.row().prop(s, "mapping_person", expand=True)
        p = operators.person_settings(s, s.mapping_person)
        head = s.head_a if s.mapping_person == "A" else s.head_b
        armature, _ = _head_parts(head)
        row = layout.row(align=True)
        row.operator("duet.match_channels", icon="LINKED")
        row.operator("duet.load_mapping", icon="FILEBROWSER", text="Load")
        row.operator("duet.save_mapping", icon="FILE_TICK", text="Save")
        if not p.channels:
            layout.label(text="Not matched yet: Match (or Generate/Bake) fills it", icon="INFO")
            return
        if head is not None and p.matched_for != head.name:
            layout.label(text=f"Matched on '{p.matched_for}': Match again for '{head.name}'", icon="ERROR")
        col = layout.column()
        col.use_property_split = True
        for prop in ("head_bone", "jaw_bone", "eye_l_bone", "eye_r_bone", "place_bone"):
            if armature is not None:
                col.prop_search(p, prop, armature.data, "bones")
            else:
                col.prop(p, prop)
        col.prop(p, "place_object")
        col.prop(p, "forward")
        missing = operators.unmatched(p)
        row = layout.row()
        row.label(text=f"Shape keys: {len(p.channels) - len(missing)} of {len(p.channels)} matched")
        row.prop(s, "unmatched_only", text=f"Unmatched ({len(missing)})", toggle=True, icon="ERROR")
        layout.template_list("DUET_UL_channels", "", p, "channels", p, "channel_index", rows=8)


class DUET_PT_polish(bpy.types.Panel):
    """Per-person strength and how the take is keyed."""

    bl_label = "Polish"
    bl_idname = "DUET_PT_polish"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Duet"
    bl_parent_id = "DUET_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.duet
        layout = self.layout
        row = layout.row()
        for person, p in (("A", s.person_a), ("B", s.person_b)):
            col = row.column(align=True)
            col.label(text=f"Person {person}")
            for prop in ("mouth", "expression", "head", "blinks"):
                col.prop(p, prop, slider=True)
        col = layout.column()
        col.use_property_split = True
        col.prop(s, "thin")
        col.prop(s, "blend")
        col.prop(s, "fit_range")
        col.prop(s, "markers")


CLASSES = (DUET_PT_main, DUET_UL_channels, DUET_PT_mapping, DUET_PT_polish)
