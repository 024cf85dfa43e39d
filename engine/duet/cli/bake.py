"""duet bake MOTION.npz -o OUT.blend [--glb F] [--fbx F] [--livelink DIR] [--into SCENE --head-a O --head-b O]"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

from duet.errors import DuetError


def add_arguments(p) -> None:
    p.add_argument("motion", help="DyadicMotion .npz (from 'duet generate')")
    p.add_argument("-o", "--output", required=True, help="the .blend to write")
    p.add_argument("--glb", help="also export glTF binary (one animation per head)")
    p.add_argument("--fbx", help="also export FBX (bones and shape-key curves)")
    p.add_argument("--livelink", metavar="DIR", help="also write ARKit Live Link Face CSVs DIR/A.csv, DIR/B.csv")
    p.add_argument("--audio", nargs="+", metavar="WAV",
                   help="sound strips (a mix, or one file per person); default: the motion's audio "
                        "file names, looked up next to the motion file")
    p.add_argument("--into", metavar="SCENE", help="bake onto your own characters in this .blend")
    p.add_argument("--head-a", metavar="OBJ", help="with --into: the armature (or mesh) of person A")
    p.add_argument("--head-b", metavar="OBJ", help="with --into: the armature (or mesh) of person B")
    p.add_argument("--mapping", metavar="JSON",
                   help='with --into: {"shape_keys": {channel: key}, "bones": {joint: bone}} (joint "global" '
                        'places the character; docs/addon.md)')
    p.add_argument("--take", metavar="NAME", help="the take's name (its NLA track); default: the motion file's name")
    p.add_argument("--thin", action="store_true",
                   help="with --into: keep only the keys the curves need (within 0.02 and 0.5 degrees)")
    p.add_argument("--blend", type=int, metavar="FRAMES", help="with --into: blend in and out (default 0.2 s)")
    p.add_argument("--fit-range", action="store_true", help="with --into: grow the scene's frame range to the take")
    p.add_argument("--markers", action="store_true",
                   help="with --into: mark on the timeline where each turn begins and where Duet was unsure who "
                        "speaks (a new scene always gets them)")


@contextlib.contextmanager
def _stdout_to_stderr():
    """Blender's exporters print to file descriptor 1; keep stdout for the command's own answer."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def _blend1(scene: Path):
    """Like Blender's own save over a file: the file being replaced is kept as NAME.blend1, written
    only once the bake has succeeded."""
    from duet.files import atomic_output

    if not scene.is_file():  # the bake says so
        yield
        return
    with atomic_output(scene.with_name(scene.name + "1")) as tmp:
        shutil.copyfile(scene, tmp)
        yield


def run(args) -> int:
    from duet.progress import Progress
    from duet.motion import DyadicMotion

    if args.into and not (args.head_a and args.head_b):
        raise DuetError("--into needs --head-a and --head-b (the objects to animate)")
    if not args.into and (args.head_a or args.head_b or args.mapping or args.thin or args.blend is not None
                          or args.fit_range or args.markers):
        raise DuetError("--head-a, --head-b, --mapping, --thin, --blend, --fit-range and --markers only apply with "
                        "--into SCENE")
    if Path(args.output).suffix.lower() != ".blend":
        raise DuetError(f"{args.output}: the output must be a .blend file")
    for flag, path, suffix in (("--glb", args.glb, ".glb"), ("--fbx", args.fbx, ".fbx")):
        if path and Path(path).suffix.lower() != suffix:
            raise DuetError(f"{flag} {path}: the file name must end in {suffix}")
    motion = DyadicMotion.load(args.motion)

    from duet.blender import bake
    from duet.blender.scene import audio_paths

    audio = audio_paths(motion, args.audio, base=Path(args.motion).parent)
    same = args.into and Path(args.output).resolve() == Path(args.into).resolve()
    backup = _blend1(Path(args.into)) if same else contextlib.nullcontext()
    with Progress("bake") as progress, _stdout_to_stderr(), backup:
        take = args.take or Path(args.motion).stem
        outputs = dict(glb=args.glb, fbx=args.fbx, livelink_dir=args.livelink, progress=progress.update)
        if args.into:
            from duet.blender.mapping import load_mapping

            mapping = load_mapping(args.mapping) if args.mapping else None
            reports = bake.bake_into_file(motion, args.into, args.head_a, args.head_b, args.output,
                                          mapping=mapping, audio=audio, take=take, thinned=args.thin,
                                          blend=args.blend, fit_range=args.fit_range, markers=args.markers,
                                          **outputs)
        else:
            reports = bake.bake_to_file(motion, args.output, audio=audio, take=take, **outputs)
    for report in reports.values():
        for line in report.lines():
            print(line, file=sys.stderr)
    print(args.output)
    return 0
