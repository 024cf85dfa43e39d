"""Source renders for Gaussian avatars: one open head, posed and seen from many cameras (numpy + bpy only).

Cycles on the CPU with a uniform white environment and no specular reflection, so the shading is
view-independent and fixed-colour Gaussians can reproduce it. Run as
``python -m duet.render.avatar_views PERSON VIEWS.json FOLDER``: writes FOLDER/NNN.png (RGBA), skipping
views already rendered, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from duet.arkit import ARKIT_52
from duet.blender import compat, rig
from duet.blender.start import Matrix, bpy
from duet.frames import conv_to_blender

C = conv_to_blender(np.eye(3)).T
_CV_TO_BLENDER_CAMERA = np.diag([1.0, -1.0, -1.0])  # OpenCV camera axes -> Blender camera axes


def camera_matrix(viewmat: np.ndarray) -> np.ndarray:
    """Blender camera matrix_world [4,4] for an OpenCV world->camera matrix in the conversation frame."""
    r, t = viewmat[:3, :3], viewmat[:3, 3]
    m = np.eye(4)
    m[:3, :3] = C @ r.T @ _CV_TO_BLENDER_CAMERA
    m[:3, 3] = C @ (-r.T @ t)
    return m


def setup(person: str, samples: int = 32):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    arm = rig.build_head(person)
    for mat in bpy.data.materials:
        bsdf = next((n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None) if mat.node_tree else None
        if bsdf is not None:
            bsdf.inputs["Specular IOR Level"].default_value = 0.0
    world = bpy.data.worlds.new("uniform")
    background = compat.node_tree(world).nodes["Background"]
    background.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    background.inputs["Strength"].default_value = 1.0
    scene.world = world
    cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.data.sensor_fit = "HORIZONTAL"
    cam.data.sensor_width = 36.0
    cam.data.clip_start = 0.01
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True
    scene.cycles.max_bounces = 3
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.view_settings.view_transform = "Standard"
    return scene, arm, cam


def render_view(scene, arm, cam, view: dict, path: Path) -> None:
    keys = rig.mesh_of(arm).data.shape_keys.key_blocks
    for name, value in zip(ARKIT_52, view["expr"]):
        keys[name].value = float(value)
    rig.set_pose(arm, {j: np.asarray([p]) for j, p in view["poses"].items()})
    viewmat, K, size = np.asarray(view["viewmat"]), np.asarray(view["K"]), int(view["size"])
    cam.matrix_world = Matrix(camera_matrix(viewmat).tolist())
    cam.data.lens = K[0, 0] * 36.0 / size
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    tmp = path.with_name(f".{path.name}")
    scene.render.filepath = str(tmp)
    bpy.ops.render.render(write_still=True)
    tmp.replace(path)


def main(argv: list[str]) -> None:
    person, views_file, folder = argv
    views = json.loads(Path(views_file).read_text())
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(len(views)) if not (folder / f"{i:03d}.png").exists()]
    if not todo:
        return
    scene, arm, cam = setup(person)
    for n, i in enumerate(todo):
        render_view(scene, arm, cam, views[i], folder / f"{i:03d}.png")
        print(f"[avatar views {person}] {n + 1}/{len(todo)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
