"""Pictures of the open heads: rows of posed heads rendered with Cycles on the CPU (numpy + bpy only)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from duet.arkit import ARKIT_52
from duet.blender import compat, rig
from duet.blender.start import bpy

SPACING = 0.22
VIEW_HEIGHT = 0.30  # metres of head shown, crown to upper neck


@dataclass
class Cell:
    """One head in a picture: who, which ARKit weights and joint rotations, and a caption."""

    person: str
    label: str
    expr: dict[str, float] = field(default_factory=dict)
    poses: dict[str, tuple[float, float, float]] = field(default_factory=dict)


def render_row(cells: list[Cell], path: Path, height_px: int = 300, samples: int = 24) -> Path:
    """Render ``cells`` side by side into the PNG ``path``."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    for k, cell in enumerate(cells):
        arm = rig.build_head(cell.person, name=f"{cell.person} {k}")
        arm.location = (k * SPACING, 0.0, 0.0)
        mesh = rig.mesh_of(arm)
        for name, value in cell.expr.items():
            mesh.data.shape_keys.key_blocks[ARKIT_52[ARKIT_52.index(name)]].value = value
        rig.set_pose(arm, {j: np.array([v]) for j, v in cell.poses.items()})
        _caption(cell.label, (k * SPACING, -0.14, 0.05))
    width = SPACING * len(cells)
    _camera(scene, width, (len(cells) - 1) * SPACING / 2)
    _lights(scene, (len(cells) - 1) * SPACING / 2)
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True
    scene.render.resolution_y = height_px
    scene.render.resolution_x = int(round(height_px * width / VIEW_HEIGHT))
    scene.render.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "AgX"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return Path(path)


def _caption(text, at):
    """Dark text on a light card, so captions read over necks and background alike."""
    x, y, z = at
    card = bpy.data.meshes.new(f"card {text}")
    w, h = 0.95 * SPACING / 2, 0.012
    card.from_pydata([(x - w, y + 0.004, z - h), (x + w, y + 0.004, z - h), (x + w, y + 0.004, z + h),
                      (x - w, y + 0.004, z + h)], [], [(0, 1, 2, 3)])
    card.materials.append(_flat(f"card {text}", (0.85, 0.85, 0.85)))
    bpy.context.scene.collection.objects.link(bpy.data.objects.new(f"card {text}", card))
    curve = bpy.data.curves.new(f"caption {text}", "FONT")
    curve.body = text
    curve.size = 0.016
    curve.align_x = "CENTER"
    curve.align_y = "CENTER"
    curve.materials.append(_flat(f"caption {text}", (0.02, 0.02, 0.025)))
    obj = bpy.data.objects.new(f"caption {text}", curve)
    obj.location = (x, y, z)
    obj.rotation_euler = (math.pi / 2, 0, 0)
    bpy.context.scene.collection.objects.link(obj)


def _flat(name, colour):
    """An unlit material: the same colour whatever the lights do."""
    mat = bpy.data.materials.new(name)
    nodes = compat.node_tree(mat).nodes
    nodes.clear()
    emit = nodes.new("ShaderNodeEmission")
    emit.inputs["Color"].default_value = (*colour, 1)
    out = nodes.new("ShaderNodeOutputMaterial")
    mat.node_tree.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    return mat


def _camera(scene, width, cx):
    cam = bpy.data.cameras.new("camera")
    cam.type = "ORTHO"
    cam.ortho_scale = width
    obj = bpy.data.objects.new("camera", cam)
    obj.location = (cx, -1.5, 0.185)
    obj.rotation_euler = (math.pi / 2, 0, 0)
    scene.collection.objects.link(obj)
    scene.camera = obj


def _lights(scene, cx):
    world = bpy.data.worlds.new("world")
    background = compat.node_tree(world).nodes["Background"]
    background.inputs["Color"].default_value = (0.32, 0.34, 0.37, 1)
    background.inputs["Strength"].default_value = 0.6
    scene.world = world
    for name, loc, energy, size in (("key", (cx - 0.6, -1.0, 0.6), 70.0, 0.8),
                                    ("fill", (cx + 0.9, -0.8, 0.25), 25.0, 1.2),
                                    ("rim", (cx + 0.2, 0.8, 0.6), 35.0, 0.6)):
        light = bpy.data.lights.new(name, "AREA")
        light.energy = energy
        light.size = size
        obj = bpy.data.objects.new(name, light)
        obj.location = loc
        direction = np.array([cx, 0, 0.17]) - np.array(loc)
        obj.rotation_euler = _look_rotation(direction)
        scene.collection.objects.link(obj)


def _look_rotation(direction):
    from mathutils import Vector
    return Vector(direction).to_track_quat("-Z", "Y").to_euler()
