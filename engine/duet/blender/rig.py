"""Build Duet's heads in Blender: an armature with a skinned child mesh and expression shape keys.

The result satisfies the baked-scene contract of docs/formats.md and deforms exactly like
``duet.rigs.openhead.forward`` (same vertices, weights, shape keys and joint chain).

Axes: the rig frame is the conversation frame (+Y up, face along +Z); Blender gets C v with
C = conv_to_blender. Bone rest frames (armature space) are B_j = C P_j, where P_j is the identity
for ``root`` and ``neck`` (bone +Y points up the neck) and (x, z, -y) for ``jaw`` and the eyes (bone
+Y points forward: for an eye bone that is its gaze). A DyadicMotion joint rotation R (axis-angle
``aa`` in the conversation frame, local to the parent joint as in FLAME) becomes the pose-bone
rotation B^T C R C^T B = P^T R P, i.e. the same angle about the axis P^T aa (``pose_to_bone``). The
motion's translation goes on the root bone's location as P_root^T t = t (``root_location``), or
equivalently on the armature object's location as C t.
"""

from __future__ import annotations

import numpy as np

from duet.blender import compat
from duet.blender.start import bpy
from duet.frames import conv_to_blender
from duet.motion import JOINTS

C = conv_to_blender(np.eye(3)).T
BONES = {"global": "root", "neck": "neck", "jaw": "jaw", "eye_L": "eye_L", "eye_R": "eye_R"}
_UP = np.eye(3)
_FORWARD = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # columns: x, z, -y of the rig frame
BONE_AXES = {"global": _UP, "neck": _UP, "jaw": _FORWARD, "eye_L": _FORWARD, "eye_R": _FORWARD}
BONE_LENGTH = {"global": 0.06, "neck": 0.07, "jaw": 0.07, "eye_L": 0.025, "eye_R": 0.025}
_PARENT_BONE = {"neck": "root", "jaw": "neck", "eye_L": "neck", "eye_R": "neck"}


def pose_to_bone(joint: str, axis_angle: np.ndarray) -> np.ndarray:
    """Pose-bone quaternions [T,4] (w, x, y, z) for a joint's axis-angle rotations [T,3] on Duet's heads."""
    aa = np.atleast_2d(np.asarray(axis_angle, np.float64)) @ BONE_AXES[joint]  # = P^T aa per row
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.where(theta < 1e-12, 1.0, theta)
    return np.concatenate([np.cos(theta / 2), np.sin(theta / 2) * axis], -1)


def root_location(transl: np.ndarray) -> np.ndarray:
    """The root pose-bone location [T,3] for the motion's translation [T,3] (conversation frame)."""
    return np.atleast_2d(np.asarray(transl, np.float64)) @ BONE_AXES["global"]


def build_head(person: str = "A", betas=None, name: str | None = None, collection=None):
    """Build open head ``person`` ("A"/"B"; ``betas`` overrides its identity) and return the ARMATURE object.

    All-zero ``betas`` (what a motion carries when it does not choose an identity) mean the person's default.
    """
    from duet.rigs import openhead

    if betas is not None and not np.any(np.asarray(betas)):
        betas = None
    head = openhead.load(person, betas)
    look = person if person in openhead.LOOKS else "A"  # colours belong to the person, whatever the identity
    return build_from(head, person, name or f"Duet {person}", collection, look)


def build_flame(path, person: str = "A", betas=None, n_expr: int = 100, name: str | None = None, collection=None):
    """Build a user's FLAME model (basis ``flame``: its expression components as shape keys) as person's head.

    Blender's armature cannot carry FLAME's pose correctives or its expression-dependent joints, so
    the Blender head equals ``openhead.forward`` of the same head without those two terms.
    """
    from duet.rigs import flame

    head = flame.load(path, betas=betas, n_expr=n_expr, person=person)
    return build_from(head, person, name or f"Duet {person} (FLAME)", collection)


def build_from(head, person: str, name: str, collection=None, look: str = "A"):
    """Build any ``duet.rigs`` Head (open or FLAME) in Blender; returns the armature object."""
    collection = collection or bpy.context.scene.collection
    arm_obj = _armature(head, name, collection)
    arm_obj["duet_person"] = person
    arm_obj["duet_basis"] = head.basis

    verts = conv_to_blender(head.vertices)
    faces = [p[p >= 0].tolist() for p in head.polys]
    mesh = bpy.data.meshes.new(f"{name} mesh")
    mesh.from_pydata(verts.tolist(), [], faces)
    mesh.update()
    corner_uv = np.concatenate([head.uv[i, : len(f)] for i, f in enumerate(faces)]) if faces else np.zeros((0, 2))
    mesh.uv_layers.new(name="UVMap").data.foreach_set("uv", corner_uv.astype(np.float32).ravel())
    mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), bool))
    _materials(mesh, head, look)
    obj = bpy.data.objects.new(f"{name} mesh", mesh)
    collection.objects.link(obj)
    obj.parent = arm_obj

    obj.shape_key_add(name="Basis", from_mix=False)
    wide = (-1.0, 2.0) if head.basis == "arkit" else (-10.0, 10.0)
    for key_name, delta in zip(head.expr_names, head.expr_deltas):
        kb = obj.shape_key_add(name=key_name, from_mix=False)
        kb.data.foreach_set("co", conv_to_blender(head.vertices + delta).astype(np.float32).ravel())
        kb.slider_min, kb.slider_max = wide
        kb.value = 0.0
    obj.data.shape_keys.use_relative = True

    for k, joint in enumerate(JOINTS):
        group = obj.vertex_groups.new(name=BONES[joint])
        w = head.weights[:, k]
        for i in np.nonzero(w > 0)[0]:
            group.add([int(i)], float(w[i]), "REPLACE")
    for group_name in ("lip_upper_mid", "lip_lower_mid"):
        obj.vertex_groups.new(name=group_name).add(head.vertex_group(group_name).tolist(), 1.0, "REPLACE")

    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm_obj
    mod.use_vertex_groups = True
    mod.use_bone_envelopes = False
    mod.use_deform_preserve_volume = False
    return arm_obj


def _armature(head, name, collection):
    arm = bpy.data.armatures.new(f"{name} rig")
    arm_obj = bpy.data.objects.new(name, arm)
    collection.objects.link(arm_obj)
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = arm_obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        for k, joint in enumerate(JOINTS):
            axes = C @ BONE_AXES[joint]
            eb = arm.edit_bones.new(BONES[joint])
            eb.head = C @ head.joints[k]
            eb.tail = C @ head.joints[k] + axes[:, 1] * BONE_LENGTH[joint]
            eb.align_roll(axes[:, 2])
            eb.use_deform = True
            if joint in _PARENT_BONE:
                eb.parent = arm.edit_bones[_PARENT_BONE[joint]]
                eb.use_connect = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous
    for pb in arm_obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return arm_obj


def set_pose(arm_obj, poses: dict, transl=None, frame: int = 0) -> None:
    """Pose the armature at one frame of ``poses`` (joint -> [T,3]) and ``transl`` [T,3], without keying."""
    for joint in JOINTS:
        if joint in poses:
            arm_obj.pose.bones[BONES[joint]].rotation_quaternion = pose_to_bone(joint, poses[joint])[frame]
    if transl is not None:
        arm_obj.pose.bones["root"].location = root_location(transl)[frame]


def evaluated_vertices(arm_obj) -> np.ndarray:
    """World-space vertices [V,3] (Blender frame) of the head's mesh after shape keys and skinning."""
    mesh_obj = next(c for c in arm_obj.children if c.type == "MESH")
    depsgraph = bpy.context.evaluated_depsgraph_get()
    depsgraph.update()
    ev = mesh_obj.evaluated_get(depsgraph)
    mesh = ev.to_mesh()
    try:
        co = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
    finally:
        ev.to_mesh_clear()
    co = co.reshape(-1, 3).astype(np.float64)
    m = np.array(mesh_obj.matrix_world)
    return co @ m[:3, :3].T + m[:3, 3]


def mesh_of(arm_obj):
    """The head's mesh object (the armature's one mesh child)."""
    return next(c for c in arm_obj.children if c.type == "MESH")


_COLOURS = {"mouth": (0.035, 0.008, 0.008), "teeth": (0.78, 0.74, 0.64), "tongue": (0.42, 0.12, 0.12),
            "sclera": (0.80, 0.78, 0.74), "pupil": (0.005, 0.005, 0.005)}
_ROUGH = {"skin": 0.48, "hair": 0.65, "brow": 0.7, "lip": 0.38, "mouth": 0.9, "teeth": 0.25,
          "tongue": 0.35, "sclera": 0.12, "iris": 0.15, "pupil": 0.1}


def _materials(mesh, head, look):
    from duet.rigs.openhead import LOOKS, MATERIALS

    colours = {**_COLOURS, **{k: v for k, v in LOOKS[look].items() if k != "hair_volume"}}
    colours["brow"] = tuple(0.8 * c for c in colours["hair"])
    for m in MATERIALS:
        name = f"Duet {look} {m}"
        mat = bpy.data.materials.get(name) or _principled(name, colours[m], _ROUGH[m], m == "skin")
        mesh.materials.append(mat)
    mesh.polygons.foreach_set("material_index", head.poly_material.astype(np.int32))


def _principled(name, colour, roughness, skin):
    mat = bpy.data.materials.new(name)
    bsdf = next(n for n in compat.node_tree(mat).nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Base Color"].default_value = (*colour, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    if skin:
        bsdf.inputs["Subsurface Weight"].default_value = 0.3
        bsdf.inputs["Subsurface Radius"].default_value = (0.01, 0.004, 0.0025)
        bsdf.inputs["Subsurface Scale"].default_value = 1.0
        # pores and oiliness: roughness varies over the skin (object-space noise, 2-3 mm blotches)
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        coord, noise, span = (nodes.new(t) for t in ("ShaderNodeTexCoord", "ShaderNodeTexNoise", "ShaderNodeMapRange"))
        noise.inputs["Scale"].default_value = 400.0
        noise.inputs["Detail"].default_value = 4.0
        span.inputs["To Min"].default_value, span.inputs["To Max"].default_value = roughness - 0.12, roughness + 0.12
        links.new(coord.outputs["Object"], noise.inputs["Vector"])
        links.new(noise.outputs["Fac"], span.inputs["Value"])
        links.new(span.outputs["Result"], bsdf.inputs["Roughness"])
    mat.diffuse_color = (*colour, 1.0)
    return mat
