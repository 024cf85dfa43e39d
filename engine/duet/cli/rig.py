"""``duet rig build`` regenerates the open heads' asset; ``duet rig render`` pictures both heads."""

from __future__ import annotations

import argparse
from pathlib import Path

from duet.errors import DuetError
from duet.files import atomic_output
from duet.progress import Progress

# The sheets ``duet rig render`` draws: file name -> cells of (person, caption, ARKit weights, joint rotations).
SHEETS = {
    "heads.png": [
        ("A", "A", {}, {}),
        ("B", "B", {}, {}),
        ("A", "A, turned", {}, {"neck": (0.0, 0.5, 0.0)}),
        ("B", "B, turned", {}, {"neck": (0.0, -0.5, 0.0)}),
    ],
    **{f"check_{p}.png": [
        (p, "front", {}, {}),
        (p, "three-quarter", {}, {"neck": (0.0, 0.6, 0.0)}),
        (p, "profile", {}, {"neck": (0.0, 1.5708, 0.0)}),
        (p, "jawOpen", {"jawOpen": 1.0}, {"neck": (0.0, 0.35, 0.0)}),
        (p, "m/b/p: mouthClose", {"mouthClose": 1.0}, {"jaw": (0.15, 0, 0), "neck": (0.0, 0.35, 0.0)}),
        (p, "smile", {"mouthSmileLeft": 1, "mouthSmileRight": 1}, {"neck": (0.0, 0.35, 0.0)}),
        (p, "blink", {"eyeBlinkLeft": 1, "eyeBlinkRight": 1}, {"neck": (0.0, 0.35, 0.0)}),
    ] for p in "AB"},
    "expressions_A.png": [
        ("A", "smile", {"mouthSmileLeft": 1, "mouthSmileRight": 1, "cheekSquintLeft": 0.6,
                        "cheekSquintRight": 0.6, "eyeSquintLeft": 0.4, "eyeSquintRight": 0.4}, {}),
        ("A", "jaw open 'ah'", {"browInnerUp": 0.3}, {"jaw": (0.3, 0, 0)}),
        ("A", "'oo' funnel", {"mouthFunnel": 1, "mouthPucker": 0.4}, {"jaw": (0.08, 0, 0)}),
        ("A", "blink", {"eyeBlinkLeft": 1, "eyeBlinkRight": 1}, {}),
        ("A", "brows up, look left", {"browInnerUp": 1, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8,
                                      "eyeWideLeft": 0.5, "eyeWideRight": 0.5},
         {"eye_L": (0, 0.4, 0), "eye_R": (0, 0.4, 0)}),
    ],
    "expressions_B.png": [
        ("B", "frown", {"browDownLeft": 1, "browDownRight": 1, "mouthFrownLeft": 1, "mouthFrownRight": 1,
                        "mouthPressLeft": 0.5, "mouthPressRight": 0.5}, {}),
        ("B", "'ee' stretch", {"mouthStretchLeft": 0.7, "mouthStretchRight": 0.7, "mouthSmileLeft": 0.3,
                               "mouthSmileRight": 0.3}, {"jaw": (0.1, 0, 0)}),
        ("B", "pucker", {"mouthPucker": 1}, {}),
        ("B", "sneer, squint", {"noseSneerLeft": 1, "noseSneerRight": 1, "eyeSquintLeft": 0.8,
                                "eyeSquintRight": 0.8, "mouthUpperUpLeft": 0.6, "mouthUpperUpRight": 0.6}, {}),
        ("B", "cheek puff", {"cheekPuff": 1, "mouthPucker": 0.3}, {}),
    ],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{build,render}")
    b = sub.add_parser("build", help="regenerate the open heads' asset (deterministic)")
    from duet.rigs.openhead import ASSET
    b.add_argument("-o", "--out", type=Path, default=ASSET, help=f"asset file (default: {ASSET})")
    r = sub.add_parser("render", help="render PNG pictures of both heads: neutral and expressions")
    r.add_argument("-o", "--out", type=Path, required=True, help="folder for the PNGs")
    r.add_argument("--size", type=int, default=320, help="picture height in pixels (default 320)")
    r.add_argument("--samples", type=int, default=24, help="Cycles samples per pixel (default 24)")


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        return _build(args.out)
    return _render(args.out, args.size, args.samples)


def _build(out: Path) -> int:
    import numpy as np

    from duet.rigs.build import build_arrays

    if out.suffix != ".npz":
        raise DuetError(f"{out}: the asset must be a .npz file")
    with Progress("rig build") as p:
        arrays = build_arrays()
        p.update(0.9, "writing")
        with atomic_output(out) as tmp:
            np.savez_compressed(tmp, **arrays)
    print(out)
    return 0


def _render(out: Path, size: int, samples: int) -> int:
    if not 64 <= size <= 2048:
        raise DuetError(f"--size must be between 64 and 2048 pixels, got {size}")
    if not 1 <= samples <= 4096:
        raise DuetError(f"--samples must be between 1 and 4096, got {samples}")
    if out.exists() and not out.is_dir():
        raise DuetError(f"{out}: exists and is not a folder")
    try:
        from duet.blender.rig_pictures import Cell, render_row
    except ImportError as e:
        raise DuetError(f"rendering needs Blender's bpy module ({e}); install the 'blender' extra") from None
    with Progress("rig render") as p:
        for k, (name, cells) in enumerate(SHEETS.items()):
            p.update(k / len(SHEETS), name)
            with atomic_output(out / name) as tmp:
                render_row([Cell(*c) for c in cells], tmp, height_px=size, samples=samples)
            print(out / name)
    return 0
