"""Scene settings of the Duet panel (``scene.duet``) and the state of a running job."""

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty, IntVectorProperty,
                       PointerProperty, StringProperty)

AUDIO_MODES = (
    ("MIX", "One mixed file", "Both voices in one recording; Duet tells the speakers apart"),
    ("TRACKS", "Two tracks", "One recording per person: A's file and B's file"),
    ("STEREO", "Stereo", "One file with one voice per channel (left A, right B)"),
    ("PROMPT", "Write from prompt", "Write the dialogue from the scene prompt and speak it"),
)
EMOTIONS = [("AUTO", "Auto", "From the voices and the prompt")] + [
    (e, e.capitalize(), "") for e in ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted")]
RELATIONS = [("AUTO", "Auto", "From the prompt")] + [
    (r, r.replace("-", " ").capitalize(), "") for r in
    ("friends", "colleagues", "family", "couple", "parent-child", "strangers", "adversaries")]
EXPORTS = (("GLB", "glTF (.glb)", ""), ("FBX", "FBX (.fbx)", ""), ("LIVELINK", "Live Link Face CSV", ""))


def is_armature(_self, ob) -> bool:
    return ob.type == "ARMATURE"


class DuetSettings(bpy.types.PropertyGroup):
    head_a: PointerProperty(name="Head A", type=bpy.types.Object, poll=is_armature,
                            description="Person A's head rig (an armature)")
    head_b: PointerProperty(name="Head B", type=bpy.types.Object, poll=is_armature,
                            description="Person B's head rig (an armature)")
    audio_mode: EnumProperty(name="Audio", items=AUDIO_MODES, default="MIX")
    audio: StringProperty(name="Audio", subtype="FILE_PATH", description="The conversation (or A's track)")
    audio_b: StringProperty(name="Track B", subtype="FILE_PATH", description="Person B's own track")
    prompt: StringProperty(name="Scene", description="A sentence about the scene, e.g. 'whispering on a park bench'")
    emotion: EnumProperty(name="Emotion", items=EMOTIONS)
    relation: EnumProperty(name="Relation", items=RELATIONS)
    seed: IntProperty(name="Seed", default=0, min=0, description="Same seed, same motion")
    placement: EnumProperty(
        name="Placement",
        items=(("absolute", "Move heads", "Place the heads where the layout puts them"),
               ("keep", "Keep in place", "Keep the heads where they are; animate relative to the first frame")),
        default="absolute")
    motion_file: StringProperty(name="Motion", subtype="FILE_PATH",
                                description="A DyadicMotion (.npz) from 'duet generate' or the last Generate")
    export_format: EnumProperty(name="Format", items=EXPORTS, default="GLB")
    export_path: StringProperty(name="Export to", subtype="FILE_PATH",
                                description="File (GLB, FBX) or folder (Live Link CSV)")
    render_size: IntVectorProperty(name="Frame Size", size=2, default=(640, 360), min=16, max=4096,
                                   description="Width and height of the Gaussian avatar render, in pixels")
    # the running job (Generate or Render), shown by the panel
    running: BoolProperty(default=False, options={"SKIP_SAVE"})
    job: StringProperty(default="", options={"SKIP_SAVE"}, description="Which job runs: generate or render")
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"})
    stage: StringProperty(default="", options={"SKIP_SAVE"})
    message: StringProperty(default="", description="The last result or error")
    message_is_error: BoolProperty(default=False)


def attach():
    bpy.types.Scene.duet = PointerProperty(type=DuetSettings)


def detach():
    del bpy.types.Scene.duet


CLASSES = (DuetSettings,)
