"""Both avatars in one shot: posed by a DyadicMotion, framed by one camera, written as PNG frames + MP4.

The camera is the Blender preview's two-shot (``framing.two_shot``): both heads at least 0.56 of the
frame height side by side, the face of whoever speaks more near a three-quarter view.
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
from duet.render.framing import SENSOR_MM, head_proper, two_shot
from duet.render.views import intrinsics

BACKGROUND = (0.16, 0.17, 0.19)
STRIDE = 9  # framing reads every 9th vertex of each head: the same camera as every 3rd (focal within 0.2%), 3x sooner
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


def frame_both(motion: DyadicMotion, size, heads: dict | None = None) -> Camera:
    """The preview's two-shot (``framing.two_shot``) for a ``size`` frame (see parse_size): both heads
    large and side by side, the face of whoever speaks more near a three-quarter view, found on the heads
    posed at six frames spread over the clip. ``heads``: the rigs (``heads_for``) when already loaded."""
    from duet.frames import blender_to_conv, conv_to_blender, rotmat
    from duet.rigs import openhead
    from duet.rigs.kinematics import REST_GAZE

    heads = heads or heads_for(motion)
    w, h = parse_size(size)
    idx = np.unique(np.linspace(0, motion.n_frames - 1, min(6, motion.n_frames)).round().astype(int))
    points, forward, talk = {}, {}, {}
    for p in PERSONS:
        person, head = motion.person(p), heads[p]
        rows = head_proper(head.vertices[:, 1])[::STRIDE]   # rest heights: +Y is up in the conversation frame
        posed = openhead.forward(head, person.expr[idx], {j: person.poses[j][idx] for j in JOINTS},
                                 person.transl[idx])[:, rows]
        points[p] = conv_to_blender(posed.reshape(-1, 3))
        face = (rotmat(person.poses["global"][idx]) @ rotmat(person.poses["neck"][idx]) @ REST_GAZE).mean(0)
        forward[p] = conv_to_blender(face / max(np.linalg.norm(face), 1e-9))
        talk[p] = float(np.sum(person.speaking))
    shot = two_shot(points, forward, w / h, "B" if talk["B"] > talk["A"] else "A")
    right, up, ahead = blender_to_conv(shot.rotation)              # the camera's axes, back in the conversation frame
    rot = np.stack([right, -up, ahead])                           # OpenCV: +X right, +Y down, +Z ahead
    view = np.eye(4)
    view[:3, :3], view[:3, 3] = rot, -rot @ blender_to_conv(shot.position)
    return Camera(view, intrinsics(shot.lens / SENSOR_MM * w, w, h), w, h)


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
    camera = frame_both(motion, size, heads)
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
