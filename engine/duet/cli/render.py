"""``duet render MOTION.npz --out DIR``: Gaussian avatars of both people, as PNG frames and an MP4."""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("motion", help="a DyadicMotion .npz (from duet generate or duet run)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for frame_00001.png ... (replaced whole)")
    p.add_argument("--size", default="256", metavar="PX",
                   help="frame size: PX for a square or WIDTHxHEIGHT, e.g. 640x360 (default 256)")
    p.add_argument("--video", metavar="F.mp4", help="also encode the frames with the conversation audio")
    p.add_argument("--audio", nargs="+", metavar="WAV",
                   help="the video's sound (a mix, or one file per person); default: the motion's audio "
                        "file names, looked up next to the motion file")
    for person in ("a", "b"):
        p.add_argument(f"--avatar-{person}", metavar="FILE",
                       help=f"person {person.upper()}'s avatar: a Duet .npz or a FLAME-bound point_cloud.ply "
                            f"(default: the shipped demo avatar)")
        p.add_argument(f"--rig-{person}", metavar="FLAME",
                       help=f"the FLAME model person {person.upper()}'s avatar is bound to (default: the open head)")


def run(args) -> int:
    from duet.errors import DuetError
    from duet.motion import DyadicMotion
    from duet.render import avatar as avatars
    from duet.render.scene import heads_for, render_motion

    motion = DyadicMotion.load(args.motion)
    rigs = {"A": args.rig_a, "B": args.rig_b}
    avatar_set = {}
    given = {"A": args.avatar_a, "B": args.avatar_b}
    if any(given.values()):
        heads = heads_for(motion, rigs)
        for p, path in given.items():
            if path is None:
                continue
            if Path(path).suffix.lower() == ".ply":
                avatar_set[p] = avatars.import_ply(path, heads[p].faces, person=p)
            elif Path(path).suffix.lower() == ".npz":
                avatar_set[p] = avatars.load(path)
            else:
                raise DuetError(f"{path}: an avatar is a .npz (Duet) or .ply (FLAME-bound Gaussians)")
    summary = render_motion(motion, args.out, args.size, video=args.video, audio=args.audio,
                            avatar_set=avatar_set, rigs=rigs, base=Path(args.motion).parent)
    where = f"{summary['frames']} frames in {args.out}" + (f", video {args.video}" if args.video else "")
    print(f"duet render: {where}", file=sys.stderr)
    return 0
