"""duet run [AUDIO] [... as generate] -o OUT.blend [--glb F] [--fbx F] [--livelink DIR]

Generate + bake in one go. With only --prompt, the dialogue is written and spoken first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from duet.cli.generate import add_request_arguments, request_from
from duet.errors import DuetError


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_request_arguments(p, audio_required=False)
    add_output_arguments(p)


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="the baked Blender scene (.blend)")
    p.add_argument("--glb", help="also export glTF binary (.glb)")
    p.add_argument("--fbx", help="also export FBX (.fbx)")
    p.add_argument("--livelink", help="also write ARKit Live Link Face CSVs into this folder")
    p.add_argument("--motion", help="where to keep the DyadicMotion (default: beside the .blend)")


def run(args) -> int:
    from duet.pipeline import dialogue_request, output_path, speak_dialogue

    out = output_path(args.output, ".blend")
    for flag, suffix in (("glb", ".glb"), ("fbx", ".fbx")):
        if getattr(args, flag):
            output_path(getattr(args, flag), suffix)
    if args.audio:
        req, sound = request_from(args), None
    elif args.prompt:
        base = request_from(args)  # its options checked before the dialogue is spoken
        folder = out.with_name(out.stem + "-dialogue")
        speak_dialogue(args.prompt, folder, args.seed)
        req, sound = dialogue_request(folder, base), [str(folder / "mix.wav")]
    else:
        raise DuetError("give an audio file, or --prompt to write and speak the dialogue first")
    produce(req, out, glb=args.glb, fbx=args.fbx, livelink=args.livelink,
            motion_path=args.motion or out.with_suffix(".npz"), sound=sound)
    return 0


def produce(req, out: Path, glb=None, fbx=None, livelink=None, motion_path=None, sound=None):
    """Generate the motion for ``req`` and bake it (the core of run, demo and batch).

    ``sound`` names the audio for the sequencer when it differs from the input tracks.
    """
    from duet.blender.bake import bake_to_file
    from duet.pipeline import generate, silent_person_note

    motion = generate(req)
    if motion_path:
        motion.save(motion_path)
    audio = sound or [req.audio] + ([req.audio_b] if req.audio_b else [])
    bake_to_file(motion, out, audio=audio, glb=glb, fbx=fbx, livelink_dir=livelink)
    written = [str(x) for x in (out, glb, fbx, livelink) if x]
    print("wrote " + ", ".join(written), file=sys.stderr)
    note = silent_person_note(motion, req)
    if note:
        print(note, file=sys.stderr)
    return motion
