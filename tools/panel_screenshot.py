"""Screenshot of the Duet panel for the README (docs/img/panel.png): the head pair mid-conversation in
the viewport, the panel filled in beside it.

The bpy wheel has no window to draw, so this runs Debian's `blender` package (3.4) under Xvfb. That
Blender cannot build the heads (its materials predate 4.0), so they are baked by the engine first and
come in as glTF:
    espeak-ng -v en-us+m3 -w a.wav "So how was the trip? I heard you finally made it to the coast."
    espeak-ng -v en-gb+f2 -w b.wav "It was wonderful. We walked along the cliffs every morning."
    sox a.wav b.wav -r 16000 -c 1 talk.wav
    duet generate talk.wav -o talk.npz && duet bake talk.npz -o talk.blend --glb talk.glb
    duet addon build -o dist --platform linux-x64
    blender -b --factory-startup --python-expr "import bpy; bpy.ops.wm.save_as_mainfile(filepath='/tmp/e.blend')"
    xvfb-run -s "-screen 0 1400x1150x24" blender --factory-startup /tmp/e.blend \
        --python tools/panel_screenshot.py -- dist/duet-0.1.0-linux_x64.zip OUT.png talk.glb talk.npz .venv/bin/python
(opening a file skips the splash screen). It installs the extension zip as a legacy add-on (with the
bl_info an older Blender needs, in a temporary copy only) and borrows numpy from the engine's Python,
which Debian's Blender lacks. Only the screenshot uses this Blender; all tests use the bpy 5.0 wheel.
"""

import math
import os
import sys

import bpy
from mathutils import Euler, Vector

zip_path, out_png, heads_glb, motion, python = sys.argv[sys.argv.index("--") + 1:][:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import legacy_addon  # noqa: E402

legacy_addon.install(zip_path, python)
import numpy  # noqa: E402  (borrowed from the engine's Python)

if not hasattr(numpy, "bool"):  # this Blender's glTF importer says np.bool, which numpy 1.24-1.26 lack
    numpy.bool = bool
scene = bpy.context.scene
for ob in list(scene.objects):  # the default cube, camera and light
    bpy.data.objects.remove(ob)
try:
    bpy.ops.import_scene.gltf(filepath=heads_glb, bone_heuristic="BLENDER")  # bones as Blender exported them
except RuntimeError as e:  # do not leave a window open under Xvfb
    print(e)
    bpy.ops.wm.quit_blender()
heads = {ob.name: ob for ob in scene.objects if ob.type == "ARMATURE"}
for name, head in heads.items():  # the importer plays only the first animation: give each head its own
    mesh = next(ob for ob in head.children if ob.type == "MESH")
    head.animation_data_create().action = bpy.data.actions[f"{name}_{name}"]
    mesh.data.shape_keys.animation_data_create().action = bpy.data.actions[f"{name}_{mesh.name}"]
s = scene.duet
s.head_a, s.head_b = heads["Duet A"], heads["Duet B"]
scene.frame_start, scene.frame_end = 1, 176
scene.frame_set(23)  # A mid-word, B listening

s.audio = os.path.join(os.path.dirname(os.path.abspath(motion)), "talk.wav")
s.prompt = "two old friends catching up in a cafe"
s.person_a.emotion, s.person_b.emotion, s.relation = "happy", "happy", "friends"
s.motion_file = os.path.abspath(motion)
s.message = "Keyed 176 frames (7.0 s) on both heads"
s.render_size = (640, 360)
prefs = bpy.context.preferences.addons["duet_addon"].preferences
prefs.python = python
for ob in scene.objects:
    ob.select_set(False)
bpy.context.view_layer.objects.active = None  # no Item tab (its Transform panel is not Python's to hide)

# this Blender cannot pick a sidebar tab from Python, so the other sidebar tabs are taken away
for cls in list(bpy.types.Panel.__subclasses__()):
    if (getattr(cls, "bl_space_type", "") == "VIEW_3D" and getattr(cls, "bl_region_type", "") == "UI"
            and getattr(cls, "bl_category", "") != "Duet"):
        try:
            bpy.utils.unregister_class(cls)
        except RuntimeError:  # not registered
            pass


def frame_heads():
    """Look at the pair from the side their faces turn to, a little from above, left of the sidebar."""
    a, b = ((h.matrix_world @ h.pose.bones["eye_L"].head + h.matrix_world @ h.pose.bones["eye_R"].head) / 2
            for h in (s.head_a, s.head_b))
    across = b - a
    across.z = 0
    side = Vector((-across.y, across.x, 0)).normalized()
    centre = (a + b) / 2 - Vector((0, 0, 0.05))
    for area in bpy.context.screen.areas:
        if area.type == "VIEW_3D":
            space = area.spaces.active
            space.show_region_ui = True
            space.overlay.show_floor, space.overlay.show_axis_x, space.overlay.show_axis_y = False, False, False
            space.overlay.show_bones = False  # the eye bones would poke out of the faces
            space.shading.type = "MATERIAL"
            r3d = space.region_3d
            r3d.view_perspective = "PERSP"
            yaw = math.atan2(side.x, -side.y) + math.radians(15)
            r3d.view_rotation = Euler((math.radians(84), 0, yaw)).to_quaternion()
            r3d.view_location = centre + (r3d.view_rotation @ Vector((0.22, 0, 0)))  # room for the sidebar
            r3d.view_distance = 1.3 * across.length
            area.tag_redraw()


def shoot():
    for area in bpy.context.screen.areas:
        if area.type == "VIEW_3D":
            with bpy.context.temp_override(area=area):
                bpy.ops.screen.screenshot_area(filepath=out_png)
    bpy.ops.wm.quit_blender()


bpy.app.timers.register(frame_heads, first_interval=1.0)
bpy.app.timers.register(shoot, first_interval=6.0)
