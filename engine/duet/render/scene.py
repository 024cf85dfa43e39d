"""Both avatars in one shot: posed by a DyadicMotion, framed by one camera, written as PNG frames + MP4.

The camera stands on the side of the pair that their faces turn to, perpendicular to the line between
them, at eye height, far enough that both heads (with a margin) fill the square frame.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from duet.errors import DuetError
from duet.files import atomic_folder, atomic_output
from duet.motion import JOINTS, PERSONS, DyadicMotion
from duet.render import avatar as avatars
from duet.render.views import intrinsics, look_at

BACKGROUND = (0.16, 0.17, 0.19)
FOCAL = 1.25           # focal length in image widths (about 44 degrees across)
HEAD_MARGIN = 0.6      # metres added to the eyes' span: the backs of both heads in profile, plus air
MIN_SPAN = 0.55
FRAME_NAME = "frame_{:05d}.png"


@dataclass
class Camera:
    viewmat: np.ndarray  # [4,4] OpenCV world -> camera
    K: np.ndarray        # [3,3]
    width: int
    height: int

    @property
    def position(self) -> np.ndarray:
        return -self.viewmat[:3, :3].T @ self.viewmat[:3, 3]


@contextlib.contextmanager
def torch_threads():
    """Every core on an idle machine, one thread on a busy one (threads that wait on each other's time
    slices run many times slower than one); the previous setting is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    cores = os.cpu_count() or 1
    torch.set_num_threads(1 if os.getloadavg()[0] > cores else cores)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def parse_size(size) -> tuple[int, int]:
    """``256`` (square) or ``"640x360"`` -> (width, height), each 16..4096 pixels."""
    text = str(size).lower()
    try:
        w, h = (int(x) for x in text.split("x")) if "x" in text else (int(text), int(text))
    except ValueError:
        raise DuetError(f"--size must be pixels (256) or WIDTHxHEIGHT (640x360), got {size!r}") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise DuetError(f"--size must be between 16 and 4096 pixels a side, got {size}")
    return w, h


def frame_both(motion: DyadicMotion, size) -> Camera:
    """A fixed camera that sees both people's heads over the whole clip in a ``size`` frame (see parse_size)."""
    from duet.frames import rotmat
    from duet.rigs import kinematics

    eyes, facing = [], []
    for p in PERSONS:
        person = motion.person(p)
        eyes.append(kinematics.eye_midpoint(person.poses, person.transl))          # [T,3]
        facing.append(rotmat(person.poses["global"]) @ kinematics.REST_GAZE)     # [T,3]
    centre = np.concatenate(eyes).mean(0)
    across = eyes[1].mean(0) - eyes[0].mean(0)
    across[1] = 0.0
    width = np.linalg.norm(across)
    up = np.array([0.0, 1.0, 0.0])
    side = np.cross(across / width, up) if width > 1e-6 else np.array([0.0, 0.0, 1.0])
    faces_to = (facing[0] + facing[1]).mean(0)
    if side @ faces_to < -1e-6 or (abs(side @ faces_to) <= 1e-6 and side[2] < 0):
        side = -side
    # Extent across and vertically over the clip (heads drift and nod); the tighter image side decides.
    w, h = parse_size(size)
    pts = np.concatenate(eyes) - centre
    span_x = max(np.ptp(pts @ (across / max(width, 1e-6)) if width > 1e-6 else pts[:, 0]) + HEAD_MARGIN, MIN_SPAN)
    span_y = max(np.ptp(pts[:, 1]) + HEAD_MARGIN, MIN_SPAN * h / w)
    target = centre - np.array([0.0, 0.07, 0.0])  # below the eyes: the middle of hair to neck
    focal = FOCAL * w
    distance = max(span_x * focal / w, span_y * focal / h)
    return Camera(look_at(target + distance * side, target), intrinsics(focal, w, h), w, h)


def _device():
    """CUDA when it and gsplat are there (raster.rasterize then uses gsplat), else the CPU."""
    import torch

    if torch.cuda.is_available():
        try:
            import gsplat  # noqa: F401
            return torch.device("cuda")
        except ImportError:
            pass
    return torch.device("cpu")


def heads_for(motion: DyadicMotion, rigs: dict | None = None):
    """The head each person is rendered on: a user's FLAME model from ``rigs`` (person -> model file), else
    the open head (with the motion's identity when it chooses one). The motion's basis must be the head's."""
    from duet.rigs import flame, openhead

    heads = {}
    for p in PERSONS:
        betas = motion.person(p).betas
        model = (rigs or {}).get(p)
        if model is not None:
            heads[p] = flame.load(model, betas if np.any(betas) else None, n_expr=len(motion.expr_names), person=p)
        else:
            heads[p] = openhead.load(p) if not np.any(betas) else openhead.load(None, betas)
        names = tuple(heads[p].expr_names[: len(motion.expr_names)])
        if names != tuple(motion.expr_names):
            raise DuetError(f"the motion's expressions ({motion.expr_names[0]}, ...) are not the basis of "
                            f"person {p}'s rig ({heads[p].basis}); render it on a rig of the same basis")
    return heads


def render_frames(motion: DyadicMotion, size, avatar_set: dict | None = None, rigs: dict | None = None,
                  progress=None, quiet: bool = False):
    """Yield (frame index, rgb uint8 [height,width,3]) for every frame of ``motion``."""
    import torch

    from duet.render.raster import rasterize
    from duet.rigs import openhead

    heads = heads_for(motion, rigs)
    avatar_set = {p: (avatar_set or {}).get(p) or avatars.shipped(p) for p in PERSONS}
    for p in PERSONS:
        if avatar_set[p].rig != avatars.rig_signature(heads[p].faces) and not quiet:
            print(f"[render] person {p}'s avatar was fitted to another version of the rig; rebinding it "
                  f"(refit with python -m duet.render.fit for best quality)", file=sys.stderr)
        avatar_set[p] = avatars.bind_to(avatar_set[p], heads[p].vertices, heads[p].faces)
    camera = frame_both(motion, size)
    device = _device()
    viewmat = torch.as_tensor(camera.viewmat, dtype=torch.float32, device=device)
    K = torch.as_tensor(camera.K, dtype=torch.float32, device=device)
    bg = torch.as_tensor(BACKGROUND, dtype=torch.float32, device=device)
    n, chunk = motion.n_frames, 32
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        verts = {}
        for p in PERSONS:
            person = motion.person(p)
            verts[p] = openhead.forward(heads[p], person.expr[sl], {j: person.poses[j][sl] for j in JOINTS},
                                        person.transl[sl])
        for t in range(sl.stop - sl.start):
            parts = [avatars.gaussians(avatar_set[p], verts[p][t], heads[p].faces, camera.position,
                                       heads[p].face_part == 0) for p in PERSONS]
            g = [torch.cat(x).to(device) for x in zip(*parts)]
            with torch.no_grad(), torch_threads():
                rgb, _ = rasterize(*g, viewmat, K, camera.width, camera.height, background=bg)
            yield start + t, (rgb.clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
            if progress is not None:
                progress((start + t + 1) / n, f"frame {start + t + 1}/{n}")


def audio_paths(motion: DyadicMotion, audio, base) -> list[Path]:
    """``audio`` if given, else the motion's meta audio file names found next to ``base``."""
    if audio:
        paths = [Path(a) for a in ([audio] if isinstance(audio, (str, os.PathLike)) else audio)]
        for a in paths:
            if not a.is_file():
                raise DuetError(f"{a}: no such audio file")
        return paths
    names = motion.meta.get("audio", [])
    names = [names] if isinstance(names, str) else names
    if base is None:
        return []
    return [Path(base) / n for n in names if isinstance(n, str) and (Path(base) / n).is_file()]


def _check_out_dir(out_dir: Path) -> None:
    """Refuse to replace a folder that holds anything but a previous render."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise DuetError(f"{out_dir}: exists and is not a folder")
        foreign = [f.name for f in out_dir.iterdir() if not (f.name.startswith("frame_") and f.suffix == ".png")
                   and f.name != "render.json"]
        if foreign:
            raise DuetError(f"{out_dir}: holds other files ({foreign[0]}, ...); choose an empty or new folder")


def write_video(frames_dir: Path, fps: float, video: Path, audio: list[Path]) -> None:
    """Encode the frames (H.264) with the conversation audio (AAC; two files are mixed) into ``video``."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise DuetError("ffmpeg was not found; install it to write videos (the PNG frames are written)")
    cmd = [ffmpeg, "-v", "error", "-y", "-framerate", f"{fps:g}", "-i", str(frames_dir / "frame_%05d.png")]
    for a in audio:
        cmd += ["-i", str(a)]
    cmd += ["-map", "0:v", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18"]
    if len(audio) == 1:
        cmd += ["-map", "1:a", "-c:a", "aac", "-b:a", "128k"]
    elif len(audio) > 1:
        inputs = "".join(f"[{k + 1}:a]" for k in range(len(audio)))
        cmd += ["-filter_complex", f"{inputs}amix=inputs={len(audio)}:duration=longest:normalize=0[a]",
                "-map", "[a]", "-c:a", "aac", "-b:a", "128k"]
    n = len(list(frames_dir.glob("frame_*.png")))
    cmd += ["-t", f"{n / fps:.6f}"]  # the motion's length: longer audio is cut, shorter audio leaves silence
    with atomic_output(video) as tmp:
        done = subprocess.run(cmd + [str(tmp)], check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise DuetError(f"ffmpeg could not write {video}: {(done.stderr.strip().splitlines() or ['?'])[-1]}")


def render_motion(motion: DyadicMotion, out_dir, size=256, video=None, audio=None,
                  avatar_set: dict | None = None, rigs: dict | None = None, base=None, quiet: bool = False) -> dict:
    """Render ``motion`` into ``out_dir`` (frame_00001.png ... and render.json) and optionally an MP4.

    ``audio``: file(s) for the video's sound; by default the motion's audio names next to ``base``.
    ``avatar_set`` maps "A"/"B" to avatars (default: the shipped demo avatars), ``rigs`` to FLAME model
    files for avatars bound to FLAME (default: the open heads). Returns a summary.
    """
    from PIL import Image

    from duet.progress import Progress

    w, h = parse_size(size)
    if video is not None and (w % 2 or h % 2):
        raise DuetError(f"--size {w}x{h}: a video needs even sides (H.264 with 4:2:0 colour)")
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    if video is not None and Path(video).resolve().parent == out_dir.resolve():
        raise DuetError("put the video outside the frames folder (it is replaced as a whole)")
    sounds = audio_paths(motion, audio, base) if video is not None else []
    with atomic_folder(out_dir) as tmp:
        with Progress("render", quiet=quiet) as bar:
            for t, rgb in render_frames(motion, size, avatar_set, rigs, progress=bar.update, quiet=quiet):
                Image.fromarray(rgb).save(tmp / FRAME_NAME.format(t + 1))
        summary = {"frames": motion.n_frames, "fps": motion.fps, "size": [w, h],
                   "video": str(video) if video else None, "audio": [a.name for a in sounds]}
        (tmp / "render.json").write_text(json.dumps(summary, indent=1))
        if video is not None:
            write_video(tmp, motion.fps, Path(video), sounds)
    return summary
