"""Screenshot of the add-on's Mapping panel for docs/addon.md (docs/img/mapping.png): a user's character
(root/spine/neck/head/jaw/eye bones, a face with ARKit keys in assorted spellings and a corrective) with
its rows matched as Match fills them.

Like tools/panel_screenshot.py this runs Debian's `blender` package (3.4) under Xvfb, with the extension
zip installed as a legacy add-on and numpy borrowed from the engine's Python:
    duet addon build -o dist --platform linux-x64
    blender -b --factory-startup --python-expr "import bpy; bpy.ops.wm.save_as_mainfile(filepath='/tmp/e.blend')"
    xvfb-run -s "-screen 0 1400x1000x24" blender --factory-startup /tmp/e.blend \\
        --python tools/mapping_screenshot.py -- dist/duet-0.1.0-linux_x64.zip docs/img/mapping.png .venv/bin/python
That Blender predates the layered actions duet.blender.bake keys, so the rows are filled here with the
same matching (duet.blender.mapping) that Match uses.
"""

import os
import subprocess
import sys

import bpy

zip_path, out_png, python = sys.argv[sys.argv.index("--") + 1:][:3]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import legacy_addon  # noqa: E402

legacy_addon.install(zip_path, python)
from duet.arkit import ARKIT_52  # noqa: E402  (the bundled engine, now on sys.path)
from duet.blender.mapping import suggest_bones, suggest_shape_keys  # noqa: E402

scene = bpy.context.scene
for ob in list(scene.objects):
    bpy.data.objects.remove(ob)
arm = bpy.data.armatures.new("Hero_rig")
hero = bpy.data.objects.new("Hero", arm)
scene.collection.objects.link(hero)
bpy.context.view_layer.objects.active = hero
bpy.ops.object.mode_set(mode="EDIT")
for bone, parent, head, tail in [
        ("root", None, (0, 0, 0), (0, 0, 0.9)), ("spine", "root", (0, 0, 0.9), (0, 0, 1.4)),
        ("neck", "spine", (0, 0, 1.4), (0, 0, 1.55)), ("head", "neck", (0, 0, 1.55), (0, 0, 1.8)),
        ("jaw", "head", (0, -0.02, 1.6), (0, -0.1, 1.56)), ("eye.L", "head", (0.03, -0.08, 1.68), (0.03, -0.1, 1.68)),
        ("eye.R", "head", (-0.03, -0.08, 1.68), (-0.03, -0.1, 1.68))]:
    eb = arm.edit_bones.new(bone)
    eb.head, eb.tail = head, tail
    eb.parent = arm.edit_bones.get(parent) if parent else None
bpy.ops.object.mode_set(mode="OBJECT")
me = bpy.data.meshes.new("Hero_face")
me.from_pydata([(0, -0.1, 1.6), (0.05, -0.1, 1.6), (0, -0.1, 1.65)], [], [(0, 1, 2)])
face = bpy.data.objects.new("Hero_face", me)
scene.collection.objects.link(face)
face.parent = hero
face.shape_key_add(name="Basis")
keys = ["JawOpen", "eyeBlink_L", "eyeBlink_R", "mouthSmile_L", "mouthSmile_R", "BS_browInnerUp", "Face_cheekPuff",
        "mouthFunnel", "mouthPucker", "browDown_L", "browDown_R", "Corrective_jawOpen_smile", "Freckles"]
for name in keys:
    face.shape_key_add(name=name, from_mix=False)

sidekick = hero.copy()  # person B: the same rig beside it (Load Preset fills both people)
sidekick.name = "Sidekick"
sidekick.location.x = 0.6
scene.collection.objects.link(sidekick)
s = scene.duet
s.head_a, s.head_b = hero, sidekick
s.mapping_person = "A"
p = s.person_a
matched = suggest_shape_keys(keys, ARKIT_52)
for channel in ARKIT_52:
    row = p.channels.add()
    row.name = row.channel = channel
    row.key = matched.get(channel, "")
bones = suggest_bones([b.name for b in arm.bones])
p.head_bone, p.jaw_bone, p.eye_l_bone, p.eye_r_bone = (bones.get(j, "") for j in ("neck", "jaw", "eye_L", "eye_R"))
p.matched_for = hero.name
p.channel_index = ARKIT_52.index("mouthSmileLeft")
s.unmatched_only = False
for ob in scene.objects:
    ob.select_set(False)
bpy.context.view_layer.objects.active = None

# This Blender cannot widen the sidebar from Python, so the panel is shown as it draws there in a
# Properties editor beside the viewport, with Blender's own panels taken away.
for cls in list(bpy.types.Panel.__subclasses__()):
    if getattr(cls, "bl_space_type", "") in ("VIEW_3D", "PROPERTIES") and getattr(cls, "bl_region_type", "") in (
            "UI", "WINDOW"):
        try:
            bpy.utils.unregister_class(cls)
        except RuntimeError:  # not registered
            pass
mapping = sys.modules["duet_addon.panel"].DUET_PT_mapping
del mapping.bl_parent_id
mapping.bl_options = set()
mapping.bl_space_type, mapping.bl_region_type = "PROPERTIES", "WINDOW"
bpy.utils.register_class(mapping)


def arrange():
    """The viewport (the rig from the front) on the left, the panel on the right."""
    view = next(a for a in bpy.context.screen.areas if a.type == "VIEW_3D")
    with bpy.context.temp_override(area=view):
        bpy.ops.screen.area_split(direction="VERTICAL", factor=0.45)
    panel = max((a for a in bpy.context.screen.areas if a.type == "VIEW_3D"), key=lambda a: a.x)
    panel.type = "PROPERTIES"
    view = next(a for a in bpy.context.screen.areas if a.type == "VIEW_3D")
    space = view.spaces.active
    space.show_region_ui = False
    space.overlay.show_floor, space.overlay.show_axis_x, space.overlay.show_axis_y = False, False, False
    with bpy.context.temp_override(area=view, region=next(r for r in view.regions if r.type == "WINDOW")):
        bpy.ops.view3d.view_axis(type="FRONT")
        bpy.ops.view3d.view_all()


def park_pointer():
    """The pointer off the panel, so no tooltip is open when the screenshot is taken."""
    bpy.context.window_manager.windows[0].cursor_warp(5, 5)


def shoot():
    """The viewport and the panel, cropped from a screenshot of the window (without Blender's own
    right-hand column)."""
    window = bpy.context.window_manager.windows[0]
    panel = max((a for a in window.screen.areas if a.type == "PROPERTIES"), key=lambda a: a.width)
    with bpy.context.temp_override(window=window):
        bpy.ops.screen.screenshot(filepath=out_png)
    box = (0, 0, panel.x + panel.width, window.height)
    subprocess.run([python, "-c", f"from PIL import Image; Image.open({out_png!r}).crop({box!r}).save({out_png!r})"],
                   check=True)
    bpy.ops.wm.quit_blender()


bpy.app.timers.register(arrange, first_interval=1.0)
bpy.app.timers.register(park_pointer, first_interval=4.0)
bpy.app.timers.register(shoot, first_interval=6.0)
