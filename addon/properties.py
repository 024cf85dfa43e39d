"""Scene settings of the Duet panel (``scene.duet``): heads, conversation, each person's mapping and
polish, and the state of a running job."""

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       IntVectorProperty, PointerProperty, StringProperty)

AUDIO_MODES = (
    ("MIX", "One mixed file", "Both voices in one recording; Duet tells the speakers apart"),
    ("TRACKS", "Two tracks", "One recording per person: A's file and B's file"),
    ("STEREO", "Stereo", "One file with A on the left and B on the right, each on their own channel or "
                         "panned apart; a stereo recording of both at once is heard as a mix"),
    ("PROMPT", "Write from prompt", "Write the dialogue from the scene prompt and speak it"),
)
EMOTIONS = [("AUTO", "Auto", "Write from prompt: the script's emotion, turn by turn; otherwise neutral")] + [
    (e, e.capitalize(), "") for e in ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted")]
RELATIONS = [("AUTO", "Auto", "From the prompt")] + [
    (r, r.replace("-", " ").capitalize(), "") for r in
    ("friends", "colleagues", "family", "couple", "parent-child", "boss-employee", "teacher-student", "strangers",
     "adversaries")]
EXPORTS = (("GLB", "glTF (.glb)", ""), ("FBX", "FBX (.fbx)", ""), ("LIVELINK", "Live Link Face CSV", ""))


FORWARDS = (("-Y", "-Y", "The character faces -Y (Blender's front view)"), ("+Y", "+Y", ""),
            ("+X", "+X", ""), ("-X", "-X", ""))


def is_armature(_self, ob) -> bool:
    return ob.type == "ARMATURE"


class DuetChannel(bpy.types.PropertyGroup):
    """One row of a person's mapping: a motion channel and the shape key it drives ("" drives none)."""

    channel: StringProperty(name="Channel")
    key: StringProperty(name="Shape Key", description="The shape key this channel drives (empty: none)")


class DuetPerson(bpy.types.PropertyGroup):
    """What Duet drives on one person's character (the mapping, as `duet bake --mapping` reads it) and
    how strongly."""

    channels: CollectionProperty(type=DuetChannel)
    channel_index: IntProperty()
    matched_for: StringProperty(description="The head these rows were matched on (another head is matched anew)")
    head_bone: StringProperty(name="Head", description="The bone that turns the head (the motion's neck joint)")
    jaw_bone: StringProperty(name="Jaw")
    eye_l_bone: StringProperty(name="Left Eye")
    eye_r_bone: StringProperty(name="Right Eye")
    place_bone: StringProperty(name="Place Bone",
                               description="Moves and turns the whole character with the head (empty: never)")
    place_object: PointerProperty(name="Place Object", type=bpy.types.Object,
                                  description="An object moved and turned with the head instead of a bone")
    forward: EnumProperty(name="Facing", items=FORWARDS, default="-Y",
                          description="The armature axis the character faces")
    mouth: FloatProperty(name="Mouth", default=1.0, min=0.0, soft_max=2.0,
                         description="Jaw, mouth and tongue: 1 as generated, 0 none")
    expression: FloatProperty(name="Expression", default=1.0, min=0.0, soft_max=2.0,
                              description="Brows, cheeks, nose, eye squint and wide")
    head: FloatProperty(name="Head Motion", default=1.0, min=0.0, soft_max=2.0, description="Head turns and nods")
    blinks: FloatProperty(name="Blinks", default=1.0, min=0.0, soft_max=2.0)
    gaze_aversion: FloatProperty(name="Gaze Aversion", default=1.0, min=0.0, max=3.0,
                                 description="How far this person looks away from the partner's eyes, applied "
                                             "when generating: 0 always on them, 1 as people do, 2 twice as far")
    emotion: EnumProperty(name="Emotion", items=EMOTIONS, description="The emotion this person shows")
    emotion_intensity: FloatProperty(name="Intensity", default=1.0, min=0.0, max=2.0,
                                     description="How strongly the emotion shows: 0 neutral, 1 as the model "
                                                 "learned it, 2 stronger")


class DuetSettings(bpy.types.PropertyGroup):
    head_a: PointerProperty(name="Head A", type=bpy.types.Object, poll=is_armature,
                            description="Person A's head rig (an armature)")
    head_b: PointerProperty(name="Head B", type=bpy.types.Object, poll=is_armature,
                            description="Person B's head rig (an armature)")
    audio_mode: EnumProperty(name="Audio", items=AUDIO_MODES, default="MIX")
    audio: StringProperty(name="Audio", subtype="FILE_PATH", description="The conversation (or A's track)")
    audio_b: StringProperty(name="Track B", subtype="FILE_PATH", description="Person B's own track")
    first_speaker: EnumProperty(name="First Speaker", items=(("A", "A", "The first voice heard is person A"),
                                                              ("B", "B", "The first voice heard is person B")),
                                description="In a mixed recording, who speaks first")
    speakers: EnumProperty(name="Speakers", items=(("AUTO", "Auto", "Decided from the recording"),
                                                   ("1", "One", "One person talks; the other listens throughout"),
                                                   ("2", "Two", "Two people talk")),
                           description="In a mixed recording, how many people talk")
    turns_file: StringProperty(name="Turns File", subtype="FILE_PATH",
                               description="Who speaks when, from an Audacity label file (start, end, A or B), "
                                           "e.g. the one Generate wrote, corrected; replaces Duet's own hearing")
    prompt: StringProperty(name="Scene", description="A sentence about the scene, e.g. 'whispering on a park bench'")
    emotion_script: StringProperty(name="Emotion Script", subtype="FILE_PATH",
                                   description="Optional JSON list of turns ({speaker, start, emotion, intensity}) "
                                               "that sets a person's emotion from each turn's start, over theirs")
    relation: EnumProperty(name="Relation", items=RELATIONS)
    senior: EnumProperty(name="Senior", items=(("AUTO", "Auto", "From the scene: the side it names first is "
                                                "person A ('an employee asks her boss': B is the boss); else A", 2),
                                               ("A", "A", "Person A is the parent, the boss, the teacher", 0),
                                               ("B", "B", "Person B is the parent, the boss, the teacher", 1)),
                         default="AUTO",
                         description="In an unequal relation (parent and child, boss and employee), which "
                                     "person is the senior")
    seed: IntProperty(name="Seed", default=0, min=0, description="Same seed, same motion")
    placement: EnumProperty(
        name="Placement",
        items=(("absolute", "Move heads", "Place the heads where the layout puts them"),
               ("keep", "Keep in place", "Keep the heads where they are; animate relative to the first frame")),
        default="absolute")
    person_a: PointerProperty(type=DuetPerson)
    person_b: PointerProperty(type=DuetPerson)
    unmatched_only: BoolProperty(name="Unmatched Only", default=False,
                                 description="List only the channels that drive no shape key")
    mapping_person: EnumProperty(name="Person", items=(("A", "A", "Person A's character"),
                                                       ("B", "B", "Person B's character")))
    thin: BoolProperty(name="Thin Keys", default=False,
                       description="Keep only the keys the curves need (within 0.02 and 0.5 degrees)")
    blend: IntProperty(name="Blend In/Out", default=5, min=0, soft_max=50,
                       description="Frames over which the take's bones blend in and out")
    fit_range: BoolProperty(name="Fit Frame Range", default=False,
                            description="Grow the scene's frame range to the take (else it stays as it is)")
    markers: BoolProperty(name="Mark Turns", default=False,
                          description="Add timeline markers where each turn begins and where Duet was unsure who "
                                      "speaks (Clear removes them)")
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


CLASSES = (DuetChannel, DuetPerson, DuetSettings)
