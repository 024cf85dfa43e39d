"""ARKit Live Link Face CSV export (pure numpy): one file per person, as the Live Link Face app records.

Columns: ``Timecode`` (HH:MM:SS:FF.mmm at the motion's fps), ``BlendShapeCount`` (61), the 52 ARKit
channels with PascalCase names in the order the Live Link Face app writes them (Apple's order, except
JawRight before JawLeft and MouthRight before MouthLeft: importers read columns by position), then
HeadYaw/Pitch/Roll and Left/RightEyeYaw/Pitch/Roll in radians. Head angles are the head (global then
neck) relative to the person's first-frame facing; eye angles are each eye relative to the head. Yaw
turns to the person's left, pitch looks down, roll tilts towards the person's left shoulder
(rotations about the rig's +Y, +X and +Z).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from duet.errors import DuetError
from duet.arkit import ARKIT_52, to_arkit
from duet.files import atomic_output
from duet.frames import rotmat
from duet.motion import PERSONS, DyadicMotion

ROTATIONS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
             "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
_SWAPS = {"jawLeft": "jawRight", "jawRight": "jawLeft", "mouthLeft": "mouthRight", "mouthRight": "mouthLeft"}
CHANNELS = tuple(_SWAPS.get(n, n) for n in ARKIT_52)  # the app's column order
HEADER = ("Timecode", "BlendShapeCount", *(n[0].upper() + n[1:] for n in CHANNELS), *ROTATIONS)


def yaw_pitch_roll(r: np.ndarray) -> np.ndarray:
    """[...,3] (yaw, pitch, roll) of rotation matrices [...,3,3] written as Ry(yaw) Rx(pitch) Rz(roll)."""
    yaw = np.arctan2(r[..., 0, 2], r[..., 2, 2])
    pitch = np.arctan2(-r[..., 1, 2], np.hypot(r[..., 0, 2], r[..., 2, 2]))
    roll = np.arctan2(r[..., 1, 0], r[..., 1, 1])
    return np.stack([yaw, pitch, roll], -1)


def timecodes(n_frames: int, fps: float) -> list[str]:
    """Live Link Face timecodes for frames 0..n-1: HH:MM:SS:FF.mmm (FF counts frames within a second)."""
    rate = max(1, round(fps))
    out = []
    for i in range(n_frames):
        seconds, ff = divmod(i, rate)
        out.append(f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}.000")
    return out


def person_table(motion: DyadicMotion, person: str) -> np.ndarray:
    """[T, 61] values: 52 ARKit weights in the app's order (jaw and eye look from the joints) and 9 rotations."""
    p = motion.person(person)
    weights = to_arkit(p.expr, motion.expr_names, p.poses)[:, [ARKIT_52.index(n) for n in CHANNELS]]
    g = rotmat(p.poses["global"])
    head = np.swapaxes(g[:1], -1, -2) @ g @ rotmat(p.poses["neck"])
    angles = [yaw_pitch_roll(head), yaw_pitch_roll(rotmat(p.poses["eye_L"])),
              yaw_pitch_roll(rotmat(p.poses["eye_R"]))]
    return np.concatenate([weights, *angles], -1).astype(np.float32)


def write_csv(motion: DyadicMotion, person: str, path: str | os.PathLike) -> None:
    table = person_table(motion, person)
    count = len(HEADER) - 2
    lines = [",".join(HEADER)]
    for tc, row in zip(timecodes(len(table), motion.fps), table):
        lines.append(f"{tc},{count}," + ",".join(f"{v:.6f}" for v in row))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def export_livelink(motion: DyadicMotion, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``A.csv`` and ``B.csv`` into ``out_dir``, each atomically; other files there stay."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DuetError(f"{out_dir}: exists and is not a folder")
    paths = [out_dir / f"{p}.csv" for p in PERSONS]
    for person, path in zip(PERSONS, paths):
        with atomic_output(path) as tmp:
            write_csv(motion, person, tmp)
    return paths
