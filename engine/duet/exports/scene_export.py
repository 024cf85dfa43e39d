"""Game-engine exports of the open scene: glTF/GLB and FBX, each written atomically.

GLB: one animation per head, named after its action ("Duet A", "Duet B"), carrying the bones'
rotations and translations and the face mesh's morph-target weights, sampled at every frame over
the scene's frame range. glTF is +Y up, so node translations read in the conversation frame.
FBX: the armatures with their bone animation and the shape-key curves (one take per action).
"""

from __future__ import annotations

import os

import bpy  # imported first by duet.blender.start (the only caller is duet.blender.bake)

from duet.files import atomic_output, uninterrupted


def export_glb(path: str | os.PathLike) -> None:
    with atomic_output(path) as tmp:
        write_glb(tmp)


def export_fbx(path: str | os.PathLike) -> None:
    with atomic_output(path) as tmp:
        write_fbx(tmp)


def write_glb(path: str | os.PathLike) -> None:
    """Write the open scene as GLB straight to ``path`` (callers make it atomic)."""
    with uninterrupted():  # the exporter is Python inside Blender: an interrupt there is swallowed
        bpy.ops.export_scene.gltf(
            filepath=str(path), export_format="GLB", export_animations=True, export_animation_mode="ACTIONS",
            export_morph=True, export_morph_animation=True, export_force_sampling=True,
            export_frame_range=True, export_anim_slide_to_zero=True, export_cameras=False, export_lights=False, export_apply=False,
            export_yup=True)


def write_fbx(path: str | os.PathLike) -> None:
    """Write the open scene's armatures and meshes as FBX straight to ``path``."""
    with uninterrupted():
        bpy.ops.export_scene.fbx(
            filepath=str(path), object_types={"ARMATURE", "MESH"}, bake_anim=True,
            bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False, add_leaf_bones=False,
            bake_anim_simplify_factor=0.0, use_mesh_modifiers=False)
