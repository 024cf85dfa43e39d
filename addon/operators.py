"""The panel's actions. Long work (Generate, Install Engine) runs in the background: a modal timer
polls it, the panel shows a progress bar, Esc cancels. Scripts and tests call the same operators
with EXEC_DEFAULT, which runs the same job to completion without the modal loop.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bpy

from . import compat, preferences

MOVIE_KEY = "duet_movie"  # scene property: name of the movie strip of the last render
_RUNNING = []  # jobs in flight, so unregister can stop them


def stop_all():
    for job in list(_RUNNING):
        job.cancel()
    _RUNNING.clear()


def settings(context):
    return context.scene.duet


def heads_blocker(s) -> str | None:
    if s.head_a is None or s.head_b is None:
        return "Pick heads A and B, or press Add Head Pair"
    if s.head_a == s.head_b:
        return "Heads A and B must be two different rigs"
    return None


def generate_blocker(context) -> str | None:
    """Why Generate cannot run now, in words for the user; None when it can."""
    s = settings(context)
    if s.running:
        return "A job is running (Esc cancels it)"
    reason = heads_blocker(s)
    if reason:
        return reason
    prefs = preferences.get(context)
    if s.audio_mode == "PROMPT":
        if not s.prompt.strip():
            return "Describe the scene: the dialogue is written from the prompt"
        if prefs.engine_mode == "SERVICE":
            return "Writing the dialogue from the prompt runs on this computer: choose Built in or Python environment"
    elif not s.audio:
        return "Choose the conversation audio"
    elif not Path(bpy.path.abspath(s.audio)).is_file():
        return "The audio file does not exist"
    elif s.audio_mode == "TRACKS" and not (s.audio_b and Path(bpy.path.abspath(s.audio_b)).is_file()):
        return "Choose person B's track"
    elif s.audio_mode == "MIX" and s.turns_file.strip() and not Path(bpy.path.abspath(s.turns_file)).is_file():
        return "The turns file does not exist"
    if prefs.engine_mode == "SUBPROCESS" and not Path(bpy.path.abspath(prefs.python)).is_file():
        return "Set the engine's Python in the add-on preferences (or Install Engine there, or choose Built in)"
    if prefs.engine_mode == "SERVICE" and not prefs.server_url:
        return "Set the service URL in the add-on preferences"
    return None


def render_blocker(context) -> str | None:
    """Why Render Gaussian Avatars cannot run now; None when it can."""
    s = settings(context)
    prefs = preferences.get(context)
    if s.running:
        return "A job is running (Esc cancels it)"
    if prefs.engine_mode != "SUBPROCESS":
        return ("Gaussian avatars need the engine with torch: choose Python environment in the add-on "
                "preferences and Install Engine there")
    if not Path(bpy.path.abspath(prefs.python)).is_file():
        return "Set the engine's Python in the add-on preferences (or Install Engine there)"
    if not s.motion_file:
        return "No motion yet: Generate or Bake From File first"
    if not Path(bpy.path.abspath(s.motion_file)).is_file():
        return "The motion file does not exist"
    if s.render_size[0] % 2 or s.render_size[1] % 2:
        return "The frame size needs even sides (H.264 video)"
    return None


def render_outputs(motion_path: str) -> tuple[Path, Path]:
    """The render of MOTION.npz: frames in MOTION-render/, the video MOTION-render.mp4, beside it."""
    motion = Path(motion_path)
    return motion.with_name(f"{motion.stem}-render"), motion.with_name(f"{motion.stem}-render.mp4")


def sound_files(scene) -> list[str]:
    """The files behind Duet's sound strips: what the scene plays with the motion."""
    from duet.blender.scene import duet_sounds

    paths = [bpy.path.abspath(st.sound.filepath) for st in duet_sounds(scene) if st.sound]
    return [p for p in paths if Path(p).is_file()]


def add_movie(scene, video: Path):
    """The render as a movie strip on a channel of its own, above every other strip; replaces the last one."""
    from duet.blender import compat as bcompat
    from duet.errors import DuetError

    strips = bcompat.strips(scene)
    for strip in [st for st in strips if st.name == scene.get(MOVIE_KEY)]:
        strips.remove(strip)
    channel = 1 + max((st.channel for st in strips), default=0)
    strip = strips.new_movie("Duet render", str(video), channel, scene.frame_start)
    if strip.frame_final_duration <= 1:
        strips.remove(strip)
        raise DuetError(f"{video}: Blender could not read the rendered video")
    scene[MOVIE_KEY] = strip.name
    return strip


def job_spec(s) -> dict:
    """The engine job for the panel's settings (see duet.service.worker): each person's emotion and
    intensity (Auto: the written script's, else neutral), and the emotion script's turns over them
    (the engine checks labels and intensities; a script that is not a JSON list stops here)."""
    import json

    from duet.service.client import EngineError

    emotion = {}
    for person, p in (("A", s.person_a), ("B", s.person_b)):
        label = None if p.emotion == "AUTO" else p.emotion
        w = round(float(p.emotion_intensity), 4)  # the slider's float32, as the number the user sees
        emotion[person] = label if w == 1.0 else {"emotion": label, "intensity": w}
    spec = {"prompt": s.prompt, "seed": s.seed,
            "emotion": None if all(v is None for v in emotion.values()) else emotion,
            "relation": None if s.relation == "AUTO" else s.relation,
            "senior": None if s.senior == "AUTO" else s.senior}
    aversion = {person: round(float(p.gaze_aversion), 4) for person, p in (("A", s.person_a), ("B", s.person_b))}
    if any(v != 1.0 for v in aversion.values()):
        spec["gaze_aversion"] = aversion
    if s.emotion_script.strip():
        path = Path(bpy.path.abspath(s.emotion_script))
        try:
            turns = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EngineError(f"Emotion script {path}: no such file") from None
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
            raise EngineError(f"Emotion script {path.name}: not readable JSON ({type(e).__name__})") from None
        if not isinstance(turns, list):
            raise EngineError(f"Emotion script {path.name}: must be a JSON list of turns "
                              "({speaker, start, emotion, intensity})")
        spec["emotion_turns"] = turns
    if s.audio_mode == "PROMPT":
        return {**spec, "write_dialogue": True}
    shape = {"MIX": "mono", "TRACKS": "two-track", "STEREO": "stereo"}[s.audio_mode]
    spec.update(audio=bpy.path.abspath(s.audio), input_shape=shape)
    if s.audio_mode == "MIX":
        spec["first_speaker"] = s.first_speaker
        if s.speakers != "AUTO":
            spec["speakers"] = int(s.speakers)
        if s.turns_file.strip():
            spec["turns"] = bpy.path.abspath(s.turns_file)
    if s.audio_mode == "TRACKS":
        spec["audio_b"] = bpy.path.abspath(s.audio_b)
    return spec


def motion_output(context) -> str:
    """Where the new motion goes: beside the saved .blend, else in a temporary folder."""
    folder = Path(bpy.path.abspath("//duet")) if bpy.data.filepath else Path(tempfile.gettempdir()) / "duet"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{bpy.path.clean_name(context.scene.name)}-{time.strftime('%Y%m%d-%H%M%S')}.npz")


def start_job(context, spec: dict, output: str):
    from duet.service.client import ServiceJob, SubprocessJob

    prefs = preferences.get(context)
    if prefs.engine_mode == "SERVICE":
        return ServiceJob(prefs.server_url, prefs.token, spec, output)
    if prefs.engine_mode == "BUILT_IN":  # Blender's own Python, with the wheels Blender installed
        from .engine_setup import builtin_env

        return SubprocessJob(sys.executable, spec, output, env={**builtin_env(), **prefs.engine_env()})
    return SubprocessJob(bpy.path.abspath(prefs.python), spec, output, env=prefs.engine_env())


def audio_files(s) -> list[str]:
    if s.audio_mode == "PROMPT":
        return []
    files = [bpy.path.abspath(s.audio)]
    if s.audio_mode == "TRACKS":
        files.append(bpy.path.abspath(s.audio_b))
    return files


def person_settings(s, person: str):
    return s.person_a if person == "A" else s.person_b


JOINT_PROPS = (("neck", "head_bone"), ("jaw", "jaw_bone"), ("eye_L", "eye_l_bone"), ("eye_R", "eye_r_bone"),
               ("global", "place_bone"))


def fill_mapping(p, head, overrides=None) -> None:
    """Fill person ``p``'s rows for ``head``: ARKit-52 shape keys and the head, jaw and eye bones matched
    by name (duet.blender.mapping), then ``overrides`` (a Mapping, e.g. a loaded preset) on top."""
    from duet.arkit import ARKIT_52
    from duet.blender import bake
    from duet.blender.mapping import Mapping

    overrides = overrides or Mapping()
    armature, meshes = bake.head_parts(head)
    keys = [kb.name for m in meshes for kb in m.data.shape_keys.key_blocks[1:]]
    matched = bake.match_shape_keys(keys, ARKIT_52, overrides)
    p.channels.clear()
    for channel in ARKIT_52:
        row = p.channels.add()
        row.name = row.channel = channel
        row.key = matched.get(channel, "")
    bones = bake.match_bones(armature, overrides) if armature is not None else {}
    for joint, prop in JOINT_PROPS:
        setattr(p, prop, bones.get(joint, ""))
    p.place_object = bpy.data.objects.get(overrides.place_object) if overrides.place_object else None
    p.forward = overrides.forward
    p.matched_for = head.name


def panel_mapping(p):
    """Person ``p``'s rows as the Mapping the CLI's --mapping would give: every row and joint explicit."""
    from duet.blender.mapping import Mapping

    return Mapping(shape_keys={row.channel: row.key or None for row in p.channels},
                   bones={joint: getattr(p, prop) or None for joint, prop in JOINT_PROPS},
                   place_object=p.place_object.name if p.place_object else None, forward=p.forward)


def unmatched(p) -> list[str]:
    return [row.channel for row in p.channels if not row.key]


def strength(p):
    from duet.blender.take import Strength

    return Strength(mouth=p.mouth, expression=p.expression, head=p.head, blinks=p.blinks)


def apply_motion(context, motion_path: str, audio: list[str], motion=None) -> str:
    """Key the motion (``motion``: the file at ``motion_path``, loaded here when not given) onto the two
    heads as one take (duet.blender, as 'duet bake --into') through the panel's mapping and polish,
    and add its audio on free channels; the scene's timing stays."""
    from duet.blender import bake, scene as scene_setup
    from duet.motion import DyadicMotion

    s, scene = settings(context), context.scene
    motion = motion or DyadicMotion.load(motion_path)
    people = {"A": (s.person_a, s.head_a), "B": (s.person_b, s.head_b)}
    for p, head in people.values():
        if p.matched_for != head.name or not p.channels:
            fill_mapping(p, head)
    take = Path(motion_path).stem
    reports = bake.bake_motion(motion, s.head_a, s.head_b, scene=scene, take=take, placement=s.placement,
                               mapping={k: panel_mapping(p) for k, (p, _) in people.items()},
                               strength={k: strength(p) for k, (p, _) in people.items()},
                               thinned=s.thin, blend=s.blend, fit_range=s.fit_range, markers=s.markers)
    scene_setup.remove_sounds(scene)
    if audio:
        scene_setup.add_audio(scene, audio, frame_start=scene.frame_start, pack=False, take=take)
    scene.frame_set(scene.frame_current)
    s.motion_file = motion_path
    first, last = reports["A"].frames
    note = f"Keyed take '{take}' on both heads: frames {first}-{last}, {sum(r.keys for r in reports.values())} keys"
    missing = sorted({c for r in reports.values() for c in r.unmatched_channels})
    if missing:
        note += f"; {len(missing)} channels had no shape key"
    if last > scene.frame_end:
        note += f"; it runs past the scene's end (frame {scene.frame_end}): tick Fit Frame Range to grow it"
    return note


def say(s, message: str, error: bool = False) -> None:
    s.message, s.message_is_error = message, error


def redraw(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class JobOperator:
    """Long work in the background: a modal timer polls the job (0.1 s), the panel's bar follows it, Esc
    cancels. From scripts (EXEC_DEFAULT) ``execute`` waits for the same job. Subclasses make the job in
    ``make_job`` and use its result in ``use_result``."""

    job_name = ""

    def make_job(self, context):
        raise NotImplementedError

    def use_result(self, context, status) -> str:
        raise NotImplementedError

    def _start(self, context) -> bool:
        from duet.service.client import EngineError

        s = settings(context)
        try:
            self.job = self.make_job(context)
        except EngineError as e:
            self.report({"ERROR"}, str(e))
            say(s, str(e), error=True)
            return False
        _RUNNING.append(self.job)
        s.running, s.job, s.progress, s.stage = True, self.job_name, 0.0, "starting"
        say(s, "")
        return True

    def _finish(self, context, status) -> set:
        from duet.errors import DuetError

        s = settings(context)
        s.running, s.progress, s.stage = False, status.fraction, status.stage
        if self.job in _RUNNING:
            _RUNNING.remove(self.job)
        try:
            if status.state == "cancelled":
                say(s, f"{self.bl_label} cancelled")
                self.report({"WARNING"}, f"{self.bl_label} cancelled")
                return {"CANCELLED"}
            if status.state != "done":
                raise DuetError(f"{self.bl_label} failed: {status.error}")
            message = self.use_result(context, status)
        except DuetError as e:
            say(s, str(e), error=True)
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        say(s, message)
        self.report({"INFO"}, message)
        return {"FINISHED"}

    def execute(self, context):
        if not self._start(context):
            return {"CANCELLED"}
        try:
            status = self.job.wait(self.timeout)
        except TimeoutError:
            self.job.cancel()
            status = self.job.wait(15)
        return self._finish(context, status)

    def invoke(self, context, event):
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self.job.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        status = self.job.poll()
        s = settings(context)
        s.progress, s.stage = status.fraction, status.stage
        context.window_manager.progress_update(int(100 * status.fraction))
        redraw(context)
        if not status.finished:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        context.window_manager.progress_end()
        result = self._finish(context, status)
        redraw(context)
        return result


class DUET_OT_generate(JobOperator, bpy.types.Operator):
    """Animate both heads from the audio (runs in the background; Esc cancels)"""

    bl_idname = "duet.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}
    job_name = "generate"

    timeout: bpy.props.FloatProperty(default=600.0, options={"HIDDEN", "SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return compat.poll_answer(cls, generate_blocker(context))

    def make_job(self, context):
        return start_job(context, job_spec(settings(context)), motion_output(context))

    def use_result(self, context, status) -> str:
        from duet.motion import DyadicMotion

        motion = DyadicMotion.load(status.motion)
        note = apply_motion(context, status.motion, list(status.audio) or audio_files(settings(context)), motion)
        return note + who_speaks(settings(context), motion, status.motion)


def who_speaks(s, motion, motion_path: str) -> str:
    """For a mixed recording: what Duet heard, and the turns written beside the motion as an Audacity
    label file, to check, correct and give back as the Turns File. For a stereo file, what Duet heard
    (one voice per channel, voices panned apart, or a mix recorded in stereo)."""
    if s.audio_mode == "STEREO":
        return f"; who speaks: {motion.meta['who_speaks']}" if motion.meta.get("who_speaks") else ""
    if s.audio_mode != "MIX":
        return ""
    import numpy as np

    from duet.audio.turns import write_labels

    turns = Path(motion_path).with_suffix(".turns.txt")
    write_labels(turns, np.stack([motion.A.speaking, motion.B.speaking]))
    return f"; who speaks: {motion.meta.get('who_speaks', 'as given')} (turns in {turns.name})"


class DUET_OT_add_head_pair(bpy.types.Operator):
    """Add Duet's two open heads (A and B) to the scene and pick them"""

    bl_idname = "duet.add_head_pair"
    bl_label = "Add Head Pair"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from duet.blender import rig

        s = settings(context)
        collection = bpy.data.collections.new("Duet heads")
        context.scene.collection.children.link(collection)
        s.head_a = rig.build_head("A", collection=collection)
        s.head_b = rig.build_head("B", collection=collection)
        say(s, "Added heads A and B")
        return {"FINISHED"}


class DUET_OT_bake_file(bpy.types.Operator):
    """Key a DyadicMotion file (.npz) onto the two heads"""

    bl_idname = "duet.bake_file"
    bl_label = "Bake From File"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        s = settings(context)
        reason = heads_blocker(s) or (None if s.motion_file else "Choose a motion file (.npz)")
        return compat.poll_answer(cls, reason)

    def execute(self, context):
        from duet.errors import DuetError

        s = settings(context)
        path = bpy.path.abspath(s.motion_file)
        audio = [a for a in audio_files(s) if Path(a).is_file()] if s.audio else []
        try:
            message = apply_motion(context, path, audio)
        except DuetError as e:
            say(s, str(e), error=True)
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        say(s, message)
        self.report({"INFO"}, message)
        return {"FINISHED"}


class DUET_OT_clear(bpy.types.Operator):
    """Remove Duet's takes and sound strips and put back every value Duet changed; nothing else is touched"""

    bl_idname = "duet.clear"
    bl_label = "Clear"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return compat.poll_answer(cls, heads_blocker(settings(context)))

    def execute(self, context):
        from duet.blender import bake

        s = settings(context)
        n = bake.clear([s.head_a, s.head_b], context.scene)
        context.scene.frame_set(context.scene.frame_current)
        say(s, f"Cleared Duet's take ({n} strips); the rigs are back as they were")
        return {"FINISHED"}


class DUET_OT_match_channels(bpy.types.Operator):
    """Match the ARKit-52 channels to this character's shape keys and pick its head, jaw and eye bones by name"""

    bl_idname = "duet.match_channels"
    bl_label = "Match"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        s = settings(context)
        head = s.head_a if s.mapping_person == "A" else s.head_b
        return compat.poll_answer(cls, None if head else f"Pick head {s.mapping_person} first")

    def execute(self, context):
        s = settings(context)
        p = person_settings(s, s.mapping_person)
        fill_mapping(p, s.head_a if s.mapping_person == "A" else s.head_b)
        say(s, f"{s.mapping_person}: {len(p.channels) - len(unmatched(p))} of {len(p.channels)} channels matched")
        return {"FINISHED"}


class DUET_OT_save_mapping(bpy.types.Operator):
    """Save both people's mappings as a preset: the JSON that 'duet bake --mapping' reads"""

    bl_idname = "duet.save_mapping"
    bl_label = "Save Preset"

    filepath: bpy.props.StringProperty(subtype="FILE_PATH")
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    def invoke(self, context, event):
        self.filepath = "duet-mapping.json"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        import json

        from duet.blender.mapping import mapping_json
        from duet.files import atomic_output

        s = settings(context)
        path = Path(bpy.path.abspath(self.filepath)).with_suffix(".json")
        data = mapping_json({k: panel_mapping(person_settings(s, k)) for k in ("A", "B")})
        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        say(s, f"Saved the mapping to {path}")
        return {"FINISHED"}


class DUET_OT_load_mapping(bpy.types.Operator):
    """Load a mapping preset (the JSON of 'duet bake --mapping') onto both people's characters"""

    bl_idname = "duet.load_mapping"
    bl_label = "Load Preset"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(subtype="FILE_PATH")
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return compat.poll_answer(cls, heads_blocker(settings(context)))

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        from duet.blender.mapping import load_mapping
        from duet.errors import DuetError

        s = settings(context)
        try:
            mappings = load_mapping(bpy.path.abspath(self.filepath))
            for person, head in (("A", s.head_a), ("B", s.head_b)):
                fill_mapping(person_settings(s, person), head, mappings[person])
        except DuetError as e:
            say(s, str(e), error=True)
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        say(s, f"Loaded the mapping from {Path(self.filepath).name}")
        return {"FINISHED"}


class DUET_OT_export(bpy.types.Operator):
    """Export the animated heads (GLB, FBX) or the motion as Live Link Face CSV"""

    bl_idname = "duet.export"
    bl_label = "Export"

    @classmethod
    def poll(cls, context):
        s = settings(context)
        reason = None
        if not s.export_path:
            reason = "Choose where to export"
        elif s.export_format == "LIVELINK" and not s.motion_file:
            reason = "Live Link needs a motion: Generate or Bake From File first"
        return compat.poll_answer(cls, reason)

    def execute(self, context):
        from duet.exports import scene_export as export
        from duet.errors import DuetError
        from duet.files import atomic_output

        s = settings(context)
        path = Path(bpy.path.abspath(s.export_path))
        try:
            if s.export_format == "LIVELINK":
                from duet.exports.livelink import write_csv
                from duet.motion import DyadicMotion

                motion = DyadicMotion.load(bpy.path.abspath(s.motion_file))
                for person in ("A", "B"):
                    with atomic_output(path / f"{person}.csv") as tmp:
                        write_csv(motion, person, tmp)
            else:
                suffix = ".glb" if s.export_format == "GLB" else ".fbx"
                path = path if path.suffix.lower() == suffix else path.with_suffix(suffix)
                with atomic_output(path) as tmp:
                    (export.write_glb if suffix == ".glb" else export.write_fbx)(tmp)
        except DuetError as e:
            say(s, str(e), error=True)
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        say(s, f"Exported {path}")
        self.report({"INFO"}, f"Exported {path}")
        return {"FINISHED"}


class DUET_OT_render_avatars(JobOperator, bpy.types.Operator):
    """Render the motion with photoreal Gaussian avatars (duet render; Esc cancels) and load the video into the sequencer"""

    bl_idname = "duet.render_avatars"
    bl_label = "Render Gaussian Avatars"
    bl_options = {"REGISTER", "UNDO"}
    job_name = "render"

    timeout: bpy.props.FloatProperty(default=3600.0, options={"HIDDEN", "SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return compat.poll_answer(cls, render_blocker(context))

    def make_job(self, context):
        from duet.service.client import RenderJob

        s, prefs = settings(context), preferences.get(context)
        motion = bpy.path.abspath(s.motion_file)
        frames, video = render_outputs(motion)
        return RenderJob(bpy.path.abspath(prefs.python), motion, frames, video, tuple(s.render_size),
                         audio=sound_files(context.scene))

    def use_result(self, context, status) -> str:
        strip = add_movie(context.scene, Path(self.job.video))
        n = len(list(Path(self.job.out_dir).glob("frame_*.png")))
        return f"Rendered {n} frames to {self.job.out_dir}; the video is on sequencer channel {strip.channel}"


class DUET_OT_check_engine(bpy.types.Operator):
    """Ask the engine service for its version"""

    bl_idname = "duet.check_engine"
    bl_label = "Check Connection"

    def execute(self, context):
        from duet.service.client import EngineError, request

        prefs = preferences.get(context)
        try:
            v = request(prefs.server_url.rstrip("/") + "/version", prefs.token, timeout=5)
        except EngineError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Duet engine {v['duet']} at {prefs.server_url}")
        return {"FINISHED"}


class DUET_OT_install_engine(bpy.types.Operator):
    """Create a virtual environment with the Duet engine and use it for Generate (downloads packages)"""

    bl_idname = "duet.install_engine"
    bl_label = "Install Engine"

    @classmethod
    def poll(cls, context):
        prefs = preferences.get(context)
        reason = None
        if not compat.online_access():
            reason = "Installing downloads packages: allow online access in Preferences > System"
        elif not prefs.venv:
            reason = "Choose the environment folder"
        return compat.poll_answer(cls, reason)

    def invoke(self, context, event):
        from .engine_setup import install_commands

        prefs = preferences.get(context)
        self.venv = bpy.path.abspath(prefs.venv)
        try:
            self.commands = install_commands(self.venv, prefs.source)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.proc = None
        self.log = Path(tempfile.gettempdir()) / "duet-install.log"
        self._timer = context.window_manager.event_timer_add(0.5, window=context.window)
        context.window_manager.modal_handler_add(self)
        self.report({"INFO"}, f"Installing the Duet engine into {self.venv} (log: {self.log})")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and self.proc:
            self.proc.terminate()
            return self._end(context, "Install cancelled", "WARNING")
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if self.proc is not None:
            rc = self.proc.poll()
            if rc is None:
                return {"PASS_THROUGH"}
            if rc != 0:
                return self._end(context, f"Install failed (exit {rc}); see {self.log}", "ERROR")
        if not self.commands:
            from .engine_setup import venv_python

            preferences.get(context).python = venv_python(self.venv)
            return self._end(context, "Engine installed", "INFO")
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.commands.pop(0), stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        return {"PASS_THROUGH"}

    def _end(self, context, message, level):
        context.window_manager.event_timer_remove(self._timer)
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}


CLASSES = (DUET_OT_generate, DUET_OT_add_head_pair, DUET_OT_bake_file, DUET_OT_clear, DUET_OT_match_channels,
           DUET_OT_save_mapping, DUET_OT_load_mapping, DUET_OT_export, DUET_OT_render_avatars,
           DUET_OT_check_engine, DUET_OT_install_engine)
