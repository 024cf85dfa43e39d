"""Bake 60 s of two-person motion (52 shape keys + 5 bones + location per head) two ways in one run:
Duet's bulk keying (duet.blender.bake.bake_motion) and a per-key ``keyframe_insert`` baseline.

    .venv/bin/python benchmarks/bake.py [--seconds 60] [--baseline-seconds 60]

Prints wall-clock and CPU times of both, their ratios, and checks that both ways give the same
values at sampled frames. On a shared machine the CPU time is the steadier number.
The baseline may run on a shorter clip (--baseline-seconds) and is then scaled linearly to the
full length; by default both run on the full 60 s.
"""

from __future__ import annotations

import argparse
import time

import bpy
import numpy as np

from duet.arkit import ARKIT_52
from duet.blender.bake import bake_motion, bone_quaternions, match_bones
from duet.frames import conv_to_blender
from duet.motion import JOINTS, PERSONS, DyadicMotion, PersonMotion
from duet.rigs.kinematics import REST_JOINTS


def make_motion(seconds: float, fps: float = 25.0, seed: int = 0) -> DyadicMotion:
    """Smooth random motion on every channel of both people."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    t = np.arange(n)[:, None] / fps

    def waves(k, scale):
        f, ph = rng.uniform(0.1, 2.0, k), rng.uniform(0, 2 * np.pi, k)
        return (scale * np.sin(2 * np.pi * f * t + ph)).astype(np.float32)

    people = []
    for side in (-1, 1):
        m = PersonMotion.still(n, len(ARKIT_52), transl=(0.45 * side, 1.4, 0.0))
        m.expr = 0.5 + waves(len(ARKIT_52), 0.5)
        for j in JOINTS:
            m.poses[j] = waves(3, 0.2)
        m.transl = m.transl + waves(3, 0.02)
        people.append(m)
    return DyadicMotion(A=people[0], B=people[1], expr_names=ARKIT_52, fps=fps)


def build_heads() -> list:
    """The open heads when duet.blender.rig is there; otherwise a stand-in with the same channels."""
    try:
        from duet.blender import rig
    except ImportError:
        rig = None
    if rig is not None:
        return [rig.build_head(person=p) for p in PERSONS]
    heads = []
    pos = conv_to_blender(REST_JOINTS)
    for p in PERSONS:
        arm = bpy.data.armatures.new(f"bench {p}")
        ob = bpy.data.objects.new(f"bench {p}", arm)
        bpy.context.scene.collection.objects.link(ob)
        bpy.context.view_layer.objects.active = ob
        bpy.ops.object.mode_set(mode="EDIT")
        bones = {}
        for i, (name, parent) in enumerate(zip(("root", "neck", "jaw", "eye_L", "eye_R"),
                                               (None, "root", "neck", "neck", "neck"))):
            eb = arm.edit_bones.new(name)
            eb.head, eb.tail = pos[i], pos[i] + np.array([0.0, -0.02, 0.0])
            eb.parent = bones.get(parent)
            bones[name] = eb
        bpy.ops.object.mode_set(mode="OBJECT")
        me = bpy.data.meshes.new(f"bench face {p}")
        me.from_pydata([(0, 0, 0), (0.1, 0, 0), (0, 0.1, 0)], [], [(0, 1, 2)])
        face = bpy.data.objects.new(f"bench face {p}", me)
        bpy.context.scene.collection.objects.link(face)
        face.parent = ob
        face.shape_key_add(name="Basis")
        for name in ARKIT_52:
            face.shape_key_add(name=name, from_mix=False)
        heads.append(ob)
    return heads


def keyframe_insert_baseline(motion: DyadicMotion, heads) -> None:
    """The slow way: set each value, then keyframe_insert it, frame by frame."""
    bpy.context.preferences.edit.keyframe_new_interpolation_type = "LINEAR"
    for person, head in zip(PERSONS, heads):
        p = motion.person(person)
        face = next(o for o in head.children_recursive if o.type == "MESH" and o.data.shape_keys)
        blocks = [face.data.shape_keys.key_blocks[n] for n in motion.expr_names]
        bones = match_bones(head, _no_mapping())
        quats = {j: bone_quaternions(np.array(head.data.bones[b].matrix_local.to_3x3()), p.poses[j])
                 for j, b in bones.items()}
        root = head.pose.bones[bones["global"]]
        root_rest = np.array(head.data.bones[bones["global"]].matrix_local.to_3x3())
        loc = conv_to_blender(p.transl) @ root_rest
        for i in range(motion.n_frames):
            frame = i + 1
            for k, kb in enumerate(blocks):
                kb.value = float(p.expr[i, k])
                kb.keyframe_insert("value", frame=frame)
            for j, b in bones.items():
                pb = head.pose.bones[b]
                pb.rotation_mode = "QUATERNION"
                pb.rotation_quaternion = quats[j][i]
                pb.keyframe_insert("rotation_quaternion", frame=frame)
            root.location = loc[i]
            root.keyframe_insert("location", frame=frame)


def _no_mapping():
    from duet.blender.mapping import Mapping

    return Mapping()


def timed(fn) -> np.ndarray:
    """(wall, CPU) seconds of fn()."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return np.array([time.perf_counter() - w, time.process_time() - c])


def sample(heads, frames) -> np.ndarray:
    out = []
    for f in frames:
        bpy.context.scene.frame_set(f)
        for head in heads:
            face = next(o for o in head.children_recursive if o.type == "MESH" and o.data.shape_keys)
            out.extend(kb.value for kb in face.data.shape_keys.key_blocks[1:])
            out.extend(c for pb in head.pose.bones for c in (*pb.matrix.to_translation(), *pb.matrix.to_quaternion()))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--baseline-seconds", type=float, default=None)
    args = ap.parse_args()
    base_seconds = args.baseline_seconds or args.seconds
    motion = make_motion(args.seconds)
    base_motion = make_motion(base_seconds)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 25
    heads = build_heads()
    fast = timed(lambda: bake_motion(motion, *heads))

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 25
    base_heads = build_heads()
    slow = timed(lambda: keyframe_insert_baseline(base_motion, base_heads)) * (args.seconds / base_seconds)

    frames = [1, 2, base_motion.n_frames // 2, base_motion.n_frames]
    check = sample(base_heads, frames)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 25
    heads = build_heads()
    bake_motion(base_motion, *heads)
    err = float(np.abs(sample(heads, frames) - check).max())

    keys = 2 * motion.n_frames * (len(motion.expr_names) + 5 * 4 + 3)
    print(f"bake {args.seconds:.0f} s, 2 heads, {keys} keys (52 shape keys + 5 bones + location per head)")
    print(f"{'':38s}{'wall s':>9s}{'CPU s':>9s}")
    print(f"  duet bake_motion (bulk foreach_set): {fast[0]:8.3f} {fast[1]:8.3f}")
    print(f"  keyframe_insert baseline:            {slow[0]:8.3f} {slow[1]:8.3f}"
          + ("" if base_seconds == args.seconds else f"  (measured on {base_seconds:.0f} s, scaled)"))
    print(f"  speed-up: {slow[0] / fast[0]:.0f}x wall, {slow[1] / fast[1]:.0f}x CPU; "
          f"max difference between the two at sampled frames: {err:.2e}")


if __name__ == "__main__":
    main()
