"""Duet for Blender: animate two people talking on two heads, from audio or a scene prompt.

The UI lives here (properties, operators, panel, preferences); keying goes through the bundled
``duet.blender`` (the same code as ``duet bake``), and the engine runs as a subprocess of a
configured Python or behind ``duet serve``. The build puts the pure parts of ``duet`` in vendor/.
"""

import sys
from pathlib import Path

VENDOR = str(Path(__file__).parent / "vendor")

if "bpy" in locals():  # a reload (F3 "Reload Scripts"): re-import the submodules in order
    import importlib

    for _m in (compat, engine_setup, preferences, properties, operators, panel):  # noqa: F821
        importlib.reload(_m)
else:
    if VENDOR not in sys.path:
        sys.path.insert(0, VENDOR)
    from . import compat, engine_setup, preferences, properties, operators, panel  # noqa: F401

import bpy  # noqa: E402

CLASSES = (*preferences.CLASSES, *properties.CLASSES, *operators.CLASSES, *panel.CLASSES)


def register():
    if VENDOR not in sys.path:
        sys.path.insert(0, VENDOR)
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.attach()


def unregister():
    operators.stop_all()
    properties.detach()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    if VENDOR in sys.path:
        sys.path.remove(VENDOR)
