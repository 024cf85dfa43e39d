"""Screenshot of the Duet panel for the README (docs/img/panel.png).

The bpy wheel has no window to draw, so this runs Debian's `blender` package under Xvfb:
    blender -b --factory-startup --python-expr "import bpy; bpy.ops.wm.save_as_mainfile(filepath='/tmp/e.blend')"
    xvfb-run -s "-screen 0 1400x1000x24" blender --factory-startup /tmp/e.blend --python tools/panel_screenshot.py -- ZIP OUT.png
(opening a file skips the splash screen)
It installs the built extension zip as a legacy add-on (adding the bl_info an older Blender needs,
in a temporary copy only), fills the panel with a plausible setup and saves a screenshot of the
3D view with the sidebar open. Only the screenshot uses this Blender; all tests use the bpy 5.0 wheel.
"""

import os
import sys
import tempfile
import zipfile

import bpy

zip_path, out_png = sys.argv[sys.argv.index("--") + 1:][:2]
scripts = tempfile.mkdtemp(prefix="duet-shot-")
target = os.path.join(scripts, "addons", "duet")
with zipfile.ZipFile(zip_path) as z:
    z.extractall(target)
init = os.path.join(target, "__init__.py")
with open(init) as f:
    text = f.read()
with open(init, "w") as f:
    f.write('bl_info = {"name": "Duet", "blender": (3, 4, 0), "category": "Animation"}\n' + text)
sys.path.insert(0, os.path.join(scripts, "addons"))
import addon_utils  # noqa: E402

addon_utils.enable("duet", default_set=True)
scene = bpy.context.scene
for ob in list(scene.objects):  # the default cube, camera and light
    bpy.data.objects.remove(ob)
s = scene.duet
for name in ("Duet A", "Duet B"):
    arm = bpy.data.armatures.new(name)
    ob = bpy.data.objects.new(name, arm)
    scene.collection.objects.link(ob)
s.head_a, s.head_b = bpy.data.objects["Duet A"], bpy.data.objects["Duet B"]
bpy.context.view_layer.objects.active = None  # no Item tab (its Transform panel is not Python's to hide)
audio = os.path.join(scripts, "conversation.wav")
open(audio, "wb").write(b"RIFF")
s.audio = audio
s.prompt = "two old friends catching up in a cafe"
s.emotion, s.relation = "happy", "friends"
bpy.context.preferences.addons["duet"].preferences.python = sys.executable


# this Blender cannot pick a sidebar tab from Python, so the other sidebar tabs are taken away
for cls in list(bpy.types.Panel.__subclasses__()):
    if (getattr(cls, "bl_space_type", "") == "VIEW_3D" and getattr(cls, "bl_region_type", "") == "UI"
            and getattr(cls, "bl_category", "") != "Duet"):
        try:
            bpy.utils.unregister_class(cls)
        except RuntimeError:  # not registered
            pass


def show_sidebar():
    for area in bpy.context.screen.areas:
        if area.type == "VIEW_3D":
            area.spaces.active.show_region_ui = True
            area.tag_redraw()
    return None


def shoot():
    for area in bpy.context.screen.areas:
        if area.type == "VIEW_3D":
            with bpy.context.temp_override(area=area):
                bpy.ops.screen.screenshot_area(filepath=out_png)
    bpy.ops.wm.quit_blender()


bpy.app.timers.register(show_sidebar, first_interval=1.0)
bpy.app.timers.register(shoot, first_interval=3.0)
