"""Everything that touches Blender (numpy + bpy only; never torch): keying, scenes, exports, preview."""
