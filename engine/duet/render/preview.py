"""The preview video of a baked scene: a three-quarter two-shot of both heads, or close-ups that cut to
whoever is speaking, lit by a soft key, a fill and a rim light, with the conversation audio muxed in.

Framing: the preview adds its own cameras (removed again afterwards): ``framing.two_shot`` and
``framing.close_up`` on the heads' posed vertices, cut by ``framing.shot_list`` on the motion's speaking
masks.

Light: each person has a key, a sun lamp with soft shadows 35 degrees off the face and 40 up, light-linked
to that person's head only. The fill (a sky from above) and a rim on the edges are evaluated in the
heads' shaders, so they cost no shadow rays and add no noise; Cycles is told not to sample them (nor
the backdrop) as lights. Each shading point so sees exactly one light, and one sample per pixel is
clean but for the keys' shadow edges and anti-aliasing (0.42 s a 1280x720 frame on 2 CPU cores,
against 1.5 s for the cross-keyed 3-sample look it replaced; ``samples`` buys smoother edges).
EEVEE renders where a GPU context opens (probed in a child process, ``eevee_available``; Mesa's
software GL opens one, at 11 s a frame, so the probe only runs where a GPU device node exists);
elsewhere Cycles on the CPU, with OpenImageDenoise when asked (``denoise``: about 1 CPU-second more
per 1280x720 frame).
Blender's own FFmpeg output writes H.264 + AAC. Everything the preview adds is removed afterwards and
everything it changes is put back, so a live scene comes back as it was.
"""

from __future__ import annotations

import contextlib
import glob
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from duet.blender import compat
from duet.blender.logs import quiet
from duet.blender.start import Matrix, bpy
from duet.errors import DuetError
from duet.files import atomic_output
from duet.progress import Progress
from duet.render.framing import SENSOR_MM, Framing, close_up, head_proper, shot_list, two_shot

SIZE = (1280, 720)
MIN_SHOT_S = 2.0          # no shot of the cut preview is shorter (the first one included)
FILL = 0.6               # sky fill from above (emission strength in the shaders, no shadows)
RIM = 0.6                 # rim light strength (in the shaders)
NECK_FADE = (0.04, 0.22)  # the neck fades out between these shares of a head mesh's rest height
KEY_ENERGY = 4.0          # W/m^2 of the key sun
KEY_ANGLE = np.deg2rad(12)  # the key sun's angular size: soft shadow edges
BACKDROP = ((0.050, 0.056, 0.064), (0.012, 0.013, 0.016))  # top and bottom of the backdrop's gradient
_TAG = "duet_preview"     # on everything the preview adds


def render_preview(blend_or_scene, out_mp4: str | os.PathLike, size=SIZE, seconds: float | None = None,
                   motion=None, cuts: bool = False, min_shot: float = MIN_SHOT_S, samples: int = 1,
                   denoise: bool = False, engine: str = "auto") -> Path:
    """Render ``blend_or_scene`` (a .blend path or a bpy Scene) to the video ``out_mp4``.

    ``seconds`` caps the length; ``cuts`` cuts between close-ups of whoever speaks (the speaking masks of
    ``motion``, a DyadicMotion or its .npz, frame 0 at the scene's first frame) and the two-shot;
    ``engine`` is "auto", "eevee" or "cycles".
    """
    out_mp4 = Path(out_mp4)
    with staged_preview(blend_or_scene, size, seconds, motion, cuts, min_shot, samples, denoise, engine) as scene:
        _encode(scene, out_mp4)
    return out_mp4


def render_still(blend_or_scene, out_png: str | os.PathLike, frame: int, size=SIZE, motion=None,
                 cuts: bool = False, samples: int = 1, denoise: bool = False, engine: str = "auto") -> Path:
    """One frame of the preview (the scene's frame number ``frame``) as a PNG."""
    out_png = Path(out_png)
    with staged_preview(blend_or_scene, size, None, motion, cuts, MIN_SHOT_S, samples, denoise, engine) as scene:
        render = scene.render
        saved = (scene.frame_current, render.image_settings.file_format)
        scene.frame_set(int(frame))
        render.image_settings.file_format = "PNG"
        try:
            with atomic_output(out_png) as tmp, quiet(stderr=False):
                render.filepath = str(tmp)
                bpy.ops.render.render(write_still=True, scene=scene.name)
        finally:
            scene.frame_set(saved[0])
            render.image_settings.file_format = saved[1]
    return out_png


@contextlib.contextmanager
def staged_preview(blend_or_scene, size=SIZE, seconds=None, motion=None, cuts=False, min_shot=MIN_SHOT_S,
                   samples=1, denoise=False, engine="auto"):
    """The scene with the preview's cameras (bound to frames by timeline markers), lights, looks and render
    settings in place; everything is put back on leaving."""
    if engine not in ("auto", "eevee", "cycles"):
        raise DuetError(f"unknown preview engine {engine!r}; use auto, eevee or cycles")
    if cuts and motion is None:
        raise DuetError("cutting to the speaker needs the motion's speaking masks: give the motion")
    if not (16 <= size[0] <= 7680 and 16 <= size[1] <= 4320):
        raise DuetError(f"preview size {size[0]}x{size[1]} is outside 16x16..7680x4320")
    speaking = _speaking(motion) if motion is not None else None
    scene = _open(blend_or_scene)
    heads = find_heads(scene)
    render = scene.render
    saved = (scene.frame_end, scene.camera, render.filepath, render.resolution_x, render.resolution_y,
             render.resolution_percentage, render.use_file_extension)
    if seconds is not None:
        fps = render.fps / render.fps_base
        scene.frame_end = min(scene.frame_end, scene.frame_start + max(1, round(seconds * fps)) - 1)
    first, last = scene.frame_start, scene.frame_end
    render.resolution_x, render.resolution_y = size
    render.resolution_percentage = 100
    aspect = size[0] / size[1]
    try:
        sample = np.unique(np.linspace(first, last, 6).round().astype(int))
        points = head_points(scene, heads, sample)
        forward = face_directions(scene, heads, sample)
        favour = "B" if speaking is not None and speaking["B"].sum() > speaking["A"].sum() else "A"
        with _staged(scene) as added:
            two = two_shot(points, forward, aspect, favour)
            shots = [(first, last, None)]
            if cuts:
                fps = render.fps / render.fps_base
                shots = [(first + s, first + e - 1, who)
                         for s, e, who in shot_list(speaking, last - first + 1, round(min_shot * fps))]
            cameras = {None: _camera(scene, two, added)}
            for who in sorted({w for _, _, w in shots if w is not None}):
                cameras[who] = _camera(scene, close_up(points, forward, aspect, who), added)
            for start, _, who in shots:
                marker = scene.timeline_markers.new(f"{_TAG} {who or 'both'}", frame=start)
                marker.camera = cameras[who]
                added.append(marker)
            scene.camera = cameras[shots[0][2]]
            _lights(scene, heads, forward, two, added)
            _look(heads, added)
            _engine(scene, engine, samples, denoise, added)
            yield scene
    finally:
        (scene.frame_end, scene.camera, render.filepath, render.resolution_x, render.resolution_y,
         render.resolution_percentage, render.use_file_extension) = saved


def _open(blend_or_scene):
    if not isinstance(blend_or_scene, (str, os.PathLike)):
        return blend_or_scene
    path = Path(blend_or_scene)
    if not path.is_file():
        raise DuetError(f"{path}: no such .blend file")
    with quiet():
        bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    return bpy.context.scene


def _speaking(motion) -> dict[str, np.ndarray]:
    from duet.motion import DyadicMotion

    if not isinstance(motion, DyadicMotion):
        motion = DyadicMotion.load(motion)
    return {p: np.asarray(motion.person(p).speaking, np.float64) for p in "AB"}


def find_heads(scene) -> dict[str, tuple]:
    """{person: (armature, mesh)} of the Duet heads in ``scene`` (armatures carrying ``duet_person``)."""
    heads = {}
    for ob in scene.objects:
        person = ob.get("duet_person") if ob.type == "ARMATURE" else None
        meshes = [c for c in ob.children if c.type == "MESH"] if person else []
        if meshes:
            heads[str(person)] = (ob, meshes[0])
    if set(heads) != {"A", "B"}:
        raise DuetError(f"scene '{scene.name}' does not hold Duet's two heads A and B to frame")
    return heads


def head_rows(mesh_obj) -> np.ndarray:
    """Indices of the head proper among a head mesh's vertices: its top HEAD_FRACTION by rest height."""
    co = np.empty(len(mesh_obj.data.vertices) * 3, np.float32)
    mesh_obj.data.vertices.foreach_get("co", co)
    return head_proper(co.reshape(-1, 3)[:, 2])


def head_points(scene, heads, frames, stride: int = 3) -> dict[str, np.ndarray]:
    """{person: [N,3]} world points of each head proper, posed at each of ``frames`` (every ``stride``-th vertex)."""
    rows = {p: head_rows(mesh)[::stride] for p, (_, mesh) in heads.items()}
    out = {p: [] for p in heads}
    current = scene.frame_current
    try:
        for f in frames:
            scene.frame_set(int(f))
            depsgraph = bpy.context.evaluated_depsgraph_get()
            for p, (_, mesh) in heads.items():
                ev = mesh.evaluated_get(depsgraph)
                data = ev.to_mesh()
                try:
                    co = np.empty(len(data.vertices) * 3, np.float32)
                    data.vertices.foreach_get("co", co)
                finally:
                    ev.to_mesh_clear()
                m = np.array(mesh.matrix_world)
                out[p].append(co.reshape(-1, 3)[rows[p]].astype(np.float64) @ m[:3, :3].T + m[:3, 3])
    finally:
        scene.frame_set(current)
    return {p: np.concatenate(v) for p, v in out.items()}


def face_directions(scene, heads, frames) -> dict[str, np.ndarray]:
    """{person: unit vector} the mean direction each face looks (the neck bone's local +Z) over ``frames``."""
    out = {p: np.zeros(3) for p in heads}
    current = scene.frame_current
    try:
        for f in frames:
            scene.frame_set(int(f))
            for p, (arm, _) in heads.items():
                m = np.array(arm.matrix_world @ arm.pose.bones["neck"].matrix)
                out[p] += m[:3, 2]
    finally:
        scene.frame_set(current)
    return {p: v / max(np.linalg.norm(v), 1e-9) for p, v in out.items()}


# ---------------------------------------------------------------- staging in Blender


@contextlib.contextmanager
def _staged(scene):
    """Collects what the preview adds (objects, markers, data) and changes (``(owner, attr, value)``)."""
    added: list = []
    world = scene.world
    try:
        yield added
    finally:
        scene.world = world
        for thing in reversed(added):
            if isinstance(thing, tuple) and isinstance(thing[1], int):
                thing[0][thing[1]] = thing[2]
            elif isinstance(thing, tuple):
                setattr(*thing)
            elif isinstance(thing, bpy.types.TimelineMarker):
                scene.timeline_markers.remove(thing)
            elif isinstance(thing, bpy.types.Object):
                data = thing.data
                bpy.data.objects.remove(thing)
                if data is not None and data.users == 0:
                    (bpy.data.cameras if isinstance(data, bpy.types.Camera) else bpy.data.lights).remove(data)
            elif isinstance(thing, bpy.types.Material):
                bpy.data.materials.remove(thing)
            elif isinstance(thing, bpy.types.World):
                bpy.data.worlds.remove(thing)
            elif isinstance(thing, bpy.types.Collection):
                bpy.data.collections.remove(thing)


def _set(added, owner, attr, value):
    added.append((owner, attr, _copy(getattr(owner, attr))))
    setattr(owner, attr, value)


def _copy(value):
    return tuple(value) if hasattr(value, "__len__") and not isinstance(value, str) else value


def _camera(scene, framing: Framing, added):
    data = bpy.data.cameras.new(f"{_TAG} camera")
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = SENSOR_MM
    data.lens = framing.lens
    data.clip_start = 0.05
    cam = bpy.data.objects.new(f"{_TAG} camera {framing.who or 'both'}", data)
    scene.collection.objects.link(cam)
    r = framing.rotation
    # Blender cameras look down their local -Z with +Y up: columns right, up, -forward
    cam.matrix_world = Matrix.Translation(framing.position) @ Matrix(np.stack([r[0], r[1], -r[2]], 1)).to_4x4()
    added.append(cam)
    return cam


def _key_directions(forward: dict, two: Framing) -> dict[str, np.ndarray]:
    """Each person's key (the direction towards it): 35 degrees off the face towards the two-shot camera's
    side and 40 degrees up."""
    toward_cam = -two.rotation[2].copy()
    out = {}
    for p, f in forward.items():
        f = np.array([f[0], f[1], 0.0]) / max(np.hypot(f[0], f[1]), 1e-9)
        side = np.cross([0.0, 0.0, 1.0], f)
        side = side if side @ toward_cam >= 0 else -side
        flat = np.cos(np.deg2rad(35)) * f + np.sin(np.deg2rad(35)) * side
        out[p] = np.cos(np.deg2rad(40)) * flat + np.array([0.0, 0.0, np.sin(np.deg2rad(40))])
    return out


def _lights(scene, heads: dict, forward: dict, two: Framing, added):
    for ob in scene.objects:
        if ob.type == "LIGHT" and not ob.hide_render:
            _set(added, ob, "hide_render", True)
    for p, key in _key_directions(forward, two).items():
        data = bpy.data.lights.new(f"{_TAG} key {p}", "SUN")
        data.energy = KEY_ENERGY
        data.angle = float(KEY_ANGLE)
        lamp = bpy.data.objects.new(f"{_TAG} key {p}", data)
        lamp.matrix_world = _track(-key).to_4x4()
        scene.collection.objects.link(lamp)
        added.append(lamp)
        # light linking: the key lights its own head only (a collection outside the scene's tree)
        receivers = bpy.data.collections.new(f"{_TAG} lit by key {p}")
        added.append(receivers)
        receivers.objects.link(heads[p][1])
        lamp.light_linking.receiver_collection = receivers
    world = bpy.data.worlds.new(f"{_TAG} backdrop")
    added.append(world)
    _backdrop(world)
    world.cycles.sampling_method = "NONE"   # seen by the camera only: never a light to sample
    scene.world = world


def _track(direction):
    f = np.asarray(direction, np.float64) / np.linalg.norm(direction)
    r = np.cross(f, [0.0, 0.0, 1.0]) if abs(f[2]) < 0.99 else np.array([1.0, 0, 0])
    r /= np.linalg.norm(r)
    u = np.cross(r, f)
    return Matrix(np.stack([r, u, -f], 1))


def _backdrop(world):
    """A dark gradient seen by the camera only (no light from the world)."""
    tree = compat.node_tree(world)
    nodes, links = tree.nodes, tree.links
    nodes.clear()
    seen = nodes.new("ShaderNodeBackground")
    dark = nodes.new("ShaderNodeBackground")
    dark.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
    path = nodes.new("ShaderNodeLightPath")
    mix = nodes.new("ShaderNodeMixShader")
    out = nodes.new("ShaderNodeOutputWorld")
    links.new(_backdrop_colour(nodes, links), seen.inputs["Color"])
    links.new(path.outputs["Is Camera Ray"], mix.inputs[0])
    links.new(dark.outputs[0], mix.inputs[1])
    links.new(seen.outputs[0], mix.inputs[2])
    links.new(mix.outputs[0], out.inputs["Surface"])


def _backdrop_colour(nodes, links):
    """The backdrop's colour at the pixel being shaded (a gradient over the frame's height), as a socket."""
    coord = nodes.new("ShaderNodeTexCoord")
    sep = nodes.new("ShaderNodeSeparateXYZ")
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].position, ramp.color_ramp.elements[1].position = 0.35, 0.6
    ramp.color_ramp.elements[0].color = (*BACKDROP[1], 1.0)
    ramp.color_ramp.elements[1].color = (*BACKDROP[0], 1.0)
    map_z = nodes.new("ShaderNodeMapRange")
    map_z.inputs["From Min"].default_value, map_z.inputs["From Max"].default_value = -0.4, 0.4
    links.new(coord.outputs["Window"], sep.inputs[0])
    links.new(sep.outputs["Y"], map_z.inputs["Value"])
    links.new(map_z.outputs["Result"], ramp.inputs["Fac"])
    return ramp.outputs["Color"]


def _look(heads, added):
    """Preview copies of the heads' materials: the fill and the rim added in the shader, no subsurface."""
    copies = {}
    for _, mesh in heads.values():
        for slot, mat in enumerate(mesh.data.materials):
            if mat is None or mat.node_tree is None:
                continue
            if mat.name not in copies:
                copies[mat.name] = _lit_copy(mat)
                added.append(copies[mat.name])
            added.append((mesh.data.materials, slot, mat))
            mesh.data.materials[slot] = copies[mat.name]


def _lit_copy(mat):
    copy = mat.copy()
    copy.name = f"{_TAG} {mat.name}"
    copy.cycles.emission_sampling = "NONE"  # the fill and rim emission below light nothing else
    nodes, links = copy.node_tree.nodes, copy.node_tree.links
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    out = next((n for n in nodes if n.type == "OUTPUT_MATERIAL" and n.is_active_output), None)
    if bsdf is None or out is None:
        return copy
    bsdf.inputs["Subsurface Weight"].default_value = 0.0
    colour = bsdf.inputs["Base Color"]
    geo = nodes.new("ShaderNodeNewGeometry")

    def lit(direction, wrap, strength):
        dot = nodes.new("ShaderNodeVectorMath")
        dot.operation = "DOT_PRODUCT"
        dot.inputs[1].default_value = tuple(direction)
        links.new(geo.outputs["Normal"], dot.inputs[0])
        shade = nodes.new("ShaderNodeMath")
        shade.operation = "MULTIPLY_ADD"
        shade.use_clamp = True
        shade.inputs[1].default_value = 1 / (1 + wrap)
        shade.inputs[2].default_value = wrap / (1 + wrap)
        links.new(dot.outputs["Value"], shade.inputs[0])
        scale = nodes.new("ShaderNodeMath")
        scale.operation = "MULTIPLY"
        scale.inputs[1].default_value = strength
        links.new(shade.outputs[0], scale.inputs[0])
        return scale

    fill_term = lit((0.0, 0.0, 1.0), 1.0, FILL)   # a sky: from above, wrapped all the way round
    rim_side = lit((0.0, 0.0, 1.0), 0.5, RIM)     # edges catch it where they face up or sideways
    facing = nodes.new("ShaderNodeLayerWeight")
    facing.inputs["Blend"].default_value = 0.35
    rim_term = nodes.new("ShaderNodeMath")
    rim_term.operation = "MULTIPLY"
    links.new(facing.outputs["Facing"], rim_term.inputs[0])
    links.new(rim_side.outputs[0], rim_term.inputs[1])
    light = nodes.new("ShaderNodeMath")
    light.operation = "ADD"
    links.new(fill_term.outputs[0], light.inputs[0])
    links.new(rim_term.outputs[0], light.inputs[1])
    emit = nodes.new("ShaderNodeEmission")
    if colour.is_linked:
        links.new(colour.links[0].from_socket, emit.inputs["Color"])
    else:
        emit.inputs["Color"].default_value = tuple(colour.default_value)
    links.new(light.outputs[0], emit.inputs["Strength"])
    add = nodes.new("ShaderNodeAddShader")
    source = out.inputs["Surface"].links[0].from_socket if out.inputs["Surface"].is_linked else bsdf.outputs[0]
    links.new(source, add.inputs[0])
    links.new(emit.outputs[0], add.inputs[1])
    # the neck's cut end fades into the backdrop (rest height, 0 at the bottom of the mesh, 1 at the crown):
    # towards the backdrop's own colour at that pixel, not through transparency, which one sample per
    # pixel would resolve as speckle
    rest = nodes.new("ShaderNodeTexCoord")
    height = nodes.new("ShaderNodeSeparateXYZ")
    links.new(rest.outputs["Generated"], height.inputs[0])
    fade = nodes.new("ShaderNodeMapRange")
    fade.inputs["From Min"].default_value, fade.inputs["From Max"].default_value = NECK_FADE
    links.new(height.outputs["Z"], fade.inputs["Value"])
    clear = nodes.new("ShaderNodeEmission")
    links.new(_backdrop_colour(nodes, links), clear.inputs["Color"])
    mix = nodes.new("ShaderNodeMixShader")
    links.new(fade.outputs["Result"], mix.inputs[0])
    links.new(clear.outputs[0], mix.inputs[1])
    links.new(add.outputs[0], mix.inputs[2])
    links.new(mix.outputs[0], out.inputs["Surface"])
    return copy


def eevee_available(timeout: float = 60.0) -> bool:
    """Whether EEVEE renders here: only tried where a GPU device node exists, in a child process (a
    missing GPU context hangs or aborts Blender rather than raising)."""
    if not (glob.glob("/dev/dri/renderD*") or glob.glob("/dev/nvidia[0-9]*")) and sys.platform == "linux":
        return False
    probe = ("import bpy\ns = bpy.context.scene\ns.render.engine = 'BLENDER_EEVEE'\n"
             "s.render.resolution_x = s.render.resolution_y = 16\nbpy.ops.render.render()\nprint('EEVEE-OK')")
    try:
        r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0 and "EEVEE-OK" in r.stdout


def _engine(scene, engine, samples, denoise, added):
    render = scene.render
    use_eevee = engine == "eevee" or (engine == "auto" and eevee_available())
    if use_eevee:
        _set(added, render, "engine", "BLENDER_EEVEE")
        _set(added, scene.eevee, "taa_render_samples", max(4, samples * 4))
        return
    _set(added, render, "engine", "CYCLES")
    cycles = scene.cycles
    for attr, value in (("device", "CPU"), ("samples", samples), ("use_adaptive_sampling", False),
                        ("max_bounces", 0), ("use_light_tree", True), ("use_denoising", denoise),
                        ("denoiser", "OPENIMAGEDENOISE"),
                        ("denoising_input_passes", "RGB_ALBEDO_NORMAL"), ("denoising_prefilter", "FAST"),
                        ("denoising_quality", "FAST"), ("seed", 0)):
        _set(added, cycles, attr, value)
    _set(added, render, "use_persistent_data", True)
    _set(added, scene.view_settings, "view_transform", "AgX")


def _encode(scene, out_mp4: Path):
    render = scene.render
    compat.set_video_output(render.image_settings)
    render.ffmpeg.format = "MPEG4"
    render.ffmpeg.codec = "H264"
    render.ffmpeg.audio_codec = "AAC"
    render.use_file_extension = False
    with atomic_output(out_mp4) as tmp, Progress("preview") as progress, quiet(stderr=False):
        render.filepath = str(tmp)
        first, count = scene.frame_start, scene.frame_end - scene.frame_start + 1

        def frame_done(sc, *_):
            done = sc.frame_current - first + 1
            progress.update(done / count, f"frame {done}/{count}")

        bpy.app.handlers.render_write.append(frame_done)
        try:
            bpy.ops.render.render(animation=True, scene=scene.name)
        finally:
            bpy.app.handlers.render_write.remove(frame_done)
