"""Blender's start-up, out of Ctrl-C's reach: importing bpy registers its add-ons, running their Python,
and a KeyboardInterrupt raised in the middle crashed the process (SIGSEGV). Duet's modules take bpy
(and mathutils' types) from here; the interrupt lands once the import is done."""

from duet.files import uninterrupted

with uninterrupted():
    import bpy  # noqa: F401
    from mathutils import Matrix, Quaternion, Vector  # noqa: F401  (comes with bpy)
