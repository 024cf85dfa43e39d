"""Shared helpers for the bake, export and Live Link tests: a deterministic two-person motion with
every channel moving, and a user-style head (armature + mesh with shape keys) built in Blender."""

from __future__ import annotations

import json

import numpy as np

from duet.arkit import ARKIT_52
from duet.frames import facing_yaw, yaw
from duet.motion import JOINTS, DyadicMotion, PersonMotion
from duet.rigs.kinematics import transl_for_head

LAYOUT = {"A": [-0.45, 1.55, 0.1], "B": [0.45, 1.6, -0.1]}


def smooth(rng, n_frames: int, n: int, scale: float) -> np.ndarray:
    """[T, n] smooth random curves: a few sines per channel with random phases."""
    t = np.arange(n_frames)[:, None] / 25.0
    out = np.zeros((n_frames, n))
    for _ in range(3):
        f = rng.uniform(0.1, 2.0, n)
        out += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, n)) / 3
    return scale * out


def synthetic_motion(seconds: float = 4.0, fps: float = 25.0, seed: int = 0,
                     expr_names=ARKIT_52) -> DyadicMotion:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    people = {}
    for p, q in (("A", "B"), ("B", "A")):
        m = PersonMotion.still(n, len(expr_names))
        m.expr = (0.5 + 0.6 * smooth(rng, n, len(expr_names), 1.0)).astype(np.float32)  # a bit outside [0,1]
        face = facing_yaw(LAYOUT[p], LAYOUT[q])
        m.poses["global"] = (yaw(face) + smooth(rng, n, 3, 0.08)).astype(np.float32)
        m.poses["neck"] = smooth(rng, n, 3, 0.1).astype(np.float32)
        jaw = np.zeros((n, 3))
        jaw[:, 0] = 0.15 + smooth(rng, n, 1, 0.15)[:, 0]
        m.poses["jaw"] = jaw.astype(np.float32)
        for eye in ("eye_L", "eye_R"):
            m.poses[eye] = np.concatenate([smooth(rng, n, 2, 0.3), np.zeros((n, 1))], 1).astype(np.float32)
        m.transl = (transl_for_head(LAYOUT[p], face) + smooth(rng, n, 3, 0.02)).astype(np.float32)
        m.speaking = np.clip(0.5 + smooth(rng, n, 1, 1.0)[:, 0], 0, 1).astype(np.float32)
        people[p] = m
    assert set(people["A"].poses) == set(JOINTS)
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=tuple(expr_names), fps=fps,
                        meta={"layout": LAYOUT, "audio": []}).validate()


# Blender side: runs inside a fresh `python` process that imports bpy (see run_blender).
BLENDER_PRELUDE = r'''
import json, sys
import bpy
import json

import numpy as np
from duet.frames import conv_to_blender
from duet.rigs.kinematics import REST_JOINTS

def build_user_head(name, shape_keys, bones=None, rolls=None, euler=False):
    """A user-style head: armature (bones at the FLAME joints, odd rolls) + skinned mesh with shape keys."""
    bones = bones or {"global": "root", "neck": "neck", "jaw": "jaw", "eye_L": "eye_L", "eye_R": "eye_R"}
    rolls = rolls or {}
    scene = bpy.context.scene
    arm = bpy.data.armatures.new(name + "_rig")
    ob = bpy.data.objects.new(name, arm)
    scene.collection.objects.link(ob)
    bpy.context.view_layer.objects.active = ob
    bpy.ops.object.mode_set(mode="EDIT")
    pos = conv_to_blender(REST_JOINTS)
    tails = {"global": (0, 0, 0.05), "neck": (0, 0, 0.05), "jaw": (0, -0.06, -0.02),
             "eye_L": (0, -0.02, 0), "eye_R": (0, -0.02, 0)}
    made = {}
    for i, joint in enumerate(["global", "neck", "jaw", "eye_L", "eye_R"]):
        if joint not in bones:
            continue
        eb = arm.edit_bones.new(bones[joint])
        eb.head = pos[i]
        eb.tail = pos[i] + np.array(tails[joint])
        eb.roll = rolls.get(joint, 0.0)
        parent = {"neck": "global", "jaw": "neck", "eye_L": "neck", "eye_R": "neck"}.get(joint)
        if parent in made:
            eb.parent = made[parent]
        made[joint] = eb
    bpy.ops.object.mode_set(mode="OBJECT")
    for pb in ob.pose.bones:
        pb.rotation_mode = "XYZ" if euler else "QUATERNION"
    verts = [(x * 0.05, -0.08 + y * 0.02, 0.12 + z * 0.05) for x, y, z in
             [(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1), (0, 1, 0.5)]]
    faces = [(0, 2, 3), (1, 3, 2), (0, 4, 2), (1, 2, 4), (0, 3, 5), (1, 5, 3)]
    me = bpy.data.meshes.new(name + "_face")
    me.from_pydata(verts, [], faces)
    mesh = bpy.data.objects.new(name + "_face", me)
    scene.collection.objects.link(mesh)
    mesh.parent = ob
    for vg_name in [bones[j] for j in made]:
        vg = mesh.vertex_groups.new(name=vg_name)
        vg.add(range(len(verts)), 1.0 / len(made), "REPLACE")
    mod = mesh.modifiers.new("Armature", "ARMATURE")
    mod.object = ob
    mesh.shape_key_add(name="Basis")
    for k, key_name in enumerate(shape_keys):
        kb = mesh.shape_key_add(name=key_name, from_mix=False)
        for j, v in enumerate(kb.data):
            v.co.x += 0.001 * ((k + j) % 5 + 1)
    return ob
'''


def run_blender(code: str, timeout: float = 300) -> dict:
    """Run ``code`` after BLENDER_PRELUDE in a fresh Python with bpy; it prints one JSON line last."""
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", BLENDER_PRELUDE + "\n" + code], capture_output=True,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"blender script failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no JSON from the blender script:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    return json.loads(lines[-1])
