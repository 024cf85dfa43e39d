"""Preview render speed: seconds per 1280x720 frame of a baked scene, shipped settings beside the slower
ones, measured side by side in one run.

Run: .venv/bin/python benchmarks/preview.py out/demo.blend out/demo.npz  (after ``./run.sh demo``).
Each setting stages the preview (cuts on, Cycles), renders frames 1-8 of the scene as stills and
reports the mean of frames 3-8 (the first frames pay for scene sync and kernel set-up). The demo's
200 frames cost about 200 times that, plus encoding.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SETTINGS = (("shipped: 1 sample", {}),
            ("3 samples", {"samples": 3}),
            ("1 sample + OpenImageDenoise", {"denoise": True}))


def per_frame(blend: Path, motion: Path, frames: int, **kw) -> float:
    from duet.blender.logs import quiet
    from duet.blender.start import bpy
    from duet.render.preview import staged_preview

    times = []
    with tempfile.TemporaryDirectory() as tmp, \
            staged_preview(str(blend), motion=str(motion), cuts=True, engine="cycles", **kw) as scene:
        scene.render.image_settings.file_format = "PNG"
        for f in range(scene.frame_start, scene.frame_start + frames):
            scene.frame_set(f)
            scene.render.filepath = str(Path(tmp) / f"{f}.png")
            t = time.perf_counter()
            with quiet(stderr=False):
                bpy.ops.render.render(write_still=True, scene=scene.name)
            times.append(time.perf_counter() - t)
    return float(np.mean(times[2:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("blend", type=Path)
    ap.add_argument("motion", type=Path)
    ap.add_argument("--frames", type=int, default=8)
    args = ap.parse_args()
    rows = [(name, per_frame(args.blend, args.motion, args.frames, **kw)) for name, kw in SETTINGS]
    base = rows[0][1]
    print("| setting | s / frame | vs shipped |\n|---|---|---|")
    for name, t in rows:
        print(f"| {name} | {t:.2f} | {t / base:.2f}x |")


if __name__ == "__main__":
    main()
