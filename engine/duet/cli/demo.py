"""duet demo [-o DIR]: the quickstart. A written and spoken two-person dialogue becomes a baked
.blend, a .glb and a 1280x720 preview video that cuts to whoever speaks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PREVIEW_SECONDS = 8.0  # the .blend holds the whole conversation; the video is a quick look
PROMPT = "two old friends arguing about football across a kitchen table"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="out", help="folder for demo.blend, demo.glb, demo.mp4")
    p.add_argument("--prompt", default=PROMPT, help="the scene to write, speak and animate")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cuts", action=argparse.BooleanOptionalAction, default=True,
                   help="cut to a close-up of whoever speaks (default); --no-cuts keeps the two-shot")
    p.add_argument("--seconds", type=float, default=PREVIEW_SECONDS,
                   help=f"length of the preview video (default {PREVIEW_SECONDS:g} s)")


def run(args) -> int:
    from duet.errors import DuetError

    if not 0 < args.seconds <= 600:
        raise DuetError(f"--seconds must be in (0, 600], got {args.seconds:g}")
    from duet.render.preview import render_preview
    from duet.cli.run import produce
    from duet.pipeline import dialogue_request, speak_dialogue
    from duet.pipeline import Request

    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    speak_dialogue(args.prompt, folder / "dialogue", args.seed)
    req = dialogue_request(folder / "dialogue", Request(audio="", prompt=args.prompt, seed=args.seed))
    produce(req, folder / "demo.blend", glb=folder / "demo.glb", motion_path=folder / "demo.npz",
            sound=[str(folder / "dialogue" / "mix.wav")])
    render_preview(folder / "demo.blend", folder / "demo.mp4", seconds=args.seconds, motion=folder / "demo.npz",
                   cuts=args.cuts)
    print(f"demo ready: {folder / 'demo.blend'}, {folder / 'demo.glb'}, {folder / 'demo.mp4'}", file=sys.stderr)
    return 0
