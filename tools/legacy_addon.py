"""Install the extension zip into Debian's Blender 3.4 for the screenshot scripts (the bpy wheel has no
window to draw). That Blender predates extensions, so the zip becomes a legacy add-on: unpacked into a
temporary scripts folder with the bl_info an older Blender needs, the engine wheel unpacked beside it
(what Blender 4.2+ does with an extension's wheels), and numpy borrowed from the engine's Python,
which Debian's Blender lacks. Used by panel_screenshot.py and mapping_screenshot.py only."""

import os
import subprocess
import sys
import tempfile
import zipfile

MODULE = "duet_addon"  # not "duet": that name is the engine's


def install(zip_path: str, python: str) -> str:
    """Enable the zip's add-on as MODULE; returns the module name."""
    numpy_home = subprocess.run(
        [python, "-c", "import numpy, os; print(os.path.dirname(os.path.dirname(numpy.__file__)))"],
        capture_output=True, text=True, check=True).stdout.strip()
    sys.path.append(numpy_home)
    scripts = tempfile.mkdtemp(prefix="duet-shot-")
    target = os.path.join(scripts, "addons", MODULE)
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(target)
    engine = os.path.join(scripts, "site-packages")
    for wheel in os.listdir(os.path.join(target, "wheels")):
        if wheel.startswith("duet-"):
            with zipfile.ZipFile(os.path.join(target, "wheels", wheel)) as z:
                z.extractall(engine)
    sys.path.insert(0, engine)
    init = os.path.join(target, "__init__.py")
    with open(init) as f:
        text = f.read()
    with open(init, "w") as f:
        f.write('bl_info = {"name": "Duet", "blender": (3, 4, 0), "category": "Animation"}\n' + text)
    sys.path.insert(0, os.path.join(scripts, "addons"))
    import addon_utils

    addon_utils.enable(MODULE, default_set=True)
    return MODULE
