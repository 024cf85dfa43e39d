"""Duet for Blender: animate two people talking on two heads, from audio or a scene prompt.

The UI lives here (properties, operators, panel, preferences); keying goes through ``duet.blender``
(the same code as ``duet bake``). The engine ships inside the extension as wheels (``duet`` itself,
ONNX Runtime and the rest, see ``duet.blender.extension``), which Blender installs on enabling it;
Generate runs it on Blender's own Python, or in a separate environment or behind ``duet serve``.
"""

if "bpy" in locals():  # a reload (F3 "Reload Scripts"): re-import the submodules in order
    import importlib

    for _m in (compat, engine_setup, preferences, properties, operators, panel):  # noqa: F821
        importlib.reload(_m)
else:
    from . import compat, engine_setup, preferences, properties, operators, panel  # noqa: F401

import bpy  # noqa: E402

CLASSES = (*preferences.CLASSES, *properties.CLASSES, *operators.CLASSES, *panel.CLASSES)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.attach()


def unregister():
    operators.stop_all()
    properties.detach()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
