"""Framing two people talking, in numpy (no Blender): the preview's two-shot and close-ups, the cuts
between them, and the same two-shot for the Gaussian avatars' camera.

World frame: Z up (Blender's). ``two_shot`` searches directions around the pair: both heads (crown to
under the chin) at least ``TWO_SHOT_SHARE`` of the frame height, side by side without overlapping, the
favoured face (the person who speaks more) as near a three-quarter view as that allows (face to face a
metre apart, that is a long-lens shot over the partner's shoulder). ``close_up`` frames one head at
``CLOSE_SHARE`` of the frame height from about 30 degrees off its nose, the partner out of the frame.
``shot_list`` turns speaking masks into cuts held at least a minimum length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HEAD_FRACTION = 0.71         # the head proper is the top 71% of a head mesh's height (crown to under the chin)
TWO_SHOT_SHARE = 0.56     # each head's height in the two-shot, as a share of the frame height (at least)
THREE_QUARTER = np.cos(np.deg2rad(40))  # the favoured face turned this far from the lens in the two-shot
CLOSE_SHARE = 0.74        # the speaker's head in a close-up
SENSOR_MM = 36.0


def head_proper(heights: np.ndarray) -> np.ndarray:
    """Indices of the head proper (crown to under the chin) among a head's vertices, from their rest
    heights: the top HEAD_FRACTION of the mesh's height."""
    heights = np.asarray(heights)
    return np.nonzero(heights >= heights.max() - HEAD_FRACTION * np.ptp(heights))[0]


@dataclass
class Framing:
    """A camera: position, rotation (rows: right, up, forward; Blender world frame), focal length."""

    position: np.ndarray
    rotation: np.ndarray
    lens: float
    who: str | None          # None: the two-shot; else the person in the close-up

    def project(self, points: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
        """Points [N,3] -> frame coordinates [N,2] in 0..1 (x right, y up) and depth [N]."""
        xy, depth = _tangent(np.asarray(points), self.position, self.rotation)
        half_w = SENSOR_MM / (2 * self.lens)
        return 0.5 + xy / (2 * np.array([half_w, half_w / aspect])), depth


def _aim(position, target) -> np.ndarray:
    f = np.asarray(target, np.float64) - position
    f /= np.linalg.norm(f)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    return np.stack([r, np.cross(r, f), f])


def _tangent(points, position, rotation):
    c = (points - position) @ rotation.T
    return c[:, :2] / np.maximum(c[:, 2:3], 1e-9), c[:, 2]


def _fit(position, target, points, place, aspect, iterations=3):
    """Aim from ``position`` and choose the frame's half height (tangent units) by ``place``.

    ``place(lo, hi)`` gets the tangent-space box of ``points`` and returns the frame's half height and
    where the box's centre should sit in the frame (tangent offsets); the aim is refined to match.
    """
    rot = _aim(position, target)
    for _ in range(iterations):
        xy, _ = _tangent(points, position, rot)
        lo, hi = xy.min(0), xy.max(0)
        half_h, offset = place(lo, hi)
        centre = (lo + hi) / 2 - offset
        direction = rot.T @ np.array([centre[0], centre[1], 1.0])
        rot = _aim(position, position + direction)
    return rot, half_h


def _lens(half_h, aspect):
    return SENSOR_MM / (2 * half_h * aspect)


def two_shot(points: dict, forward: dict, aspect: float, favour: str = "A") -> Framing:
    """The two-shot: searched over directions around the pair (see the module's docstring)."""
    centre = {p: (v.min(0) + v.max(0)) / 2 for p, v in points.items()}
    mid = (centre["A"] + centre["B"]) / 2
    both = np.concatenate([points["A"], points["B"]])
    other = "B" if favour == "A" else "A"
    margin_x, margin_top, margin_bottom = 0.05, 0.06, 0.04

    def place(lo, hi):
        half_h = max((hi[1] - lo[1]) / (2 * (1 - margin_top - margin_bottom)),
                     (hi[0] - lo[0]) / (2 * aspect * (1 - 2 * margin_x)))
        # the heads' crowns margin_top below the frame's top edge
        return half_h, np.array([0.0, half_h * (1 - 2 * margin_top) - (hi[1] - lo[1]) / 2])

    best, best_key = None, None
    for distance in (2.2, 3.0, 4.5, 6.0):
        for elevation in (0.06, 0.14):
            for azimuth in np.deg2rad(np.arange(0, 360, 3)):
                d = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                              np.sin(elevation)])
                pos = mid + distance * d
                if min(np.linalg.norm(pos - c) for c in centre.values()) < 0.6:
                    continue
                rot, half_h = _fit(pos, mid, both, place, aspect)
                boxes = {}
                for p in points:
                    xy, depth = _tangent(points[p], pos, rot)
                    if depth.min() < 0.3:
                        break
                    boxes[p] = (xy.min(0), xy.max(0))
                else:
                    share = min((hi[1] - lo[1]) / (2 * half_h) for lo, hi in boxes.values())
                    (la, ha), (lb, hb) = boxes["A"], boxes["B"]
                    gap = max(la[0], lb[0]) - min(ha[0], hb[0])  # > 0: the boxes do not overlap
                    facing = {p: forward[p] @ (pos - centre[p]) / np.linalg.norm(pos - centre[p]) for p in points}
                    ok = share >= TWO_SHOT_SHARE and gap > 0.02 * half_h
                    # the favoured face seen; then as near a three-quarter view as the sizes allow, the other's
                    # turned most; where no direction gives the sizes (a narrow frame), the largest heads
                    look = 0.25 * facing[other] - abs(facing[favour] - THREE_QUARTER)
                    key = (facing[favour] > 0.3, ok, look if ok else share + min(gap, 0))
                    if best_key is None or key > best_key:
                        best_key, best = key, Framing(pos, rot, _lens(half_h, aspect), None)
    return best


def close_up(points: dict, forward: dict, aspect: float, who: str) -> Framing:
    """A close-up of ``who``: about 30 degrees off the nose, the head CLOSE_SHARE of the frame height,
    the partner out of the frame."""
    other = "B" if who == "A" else "A"
    head = points[who]
    centre = (head.min(0) + head.max(0)) / 2
    fwd = forward[who].copy()
    fwd[2] = 0
    fwd /= max(np.linalg.norm(fwd), 1e-9)
    side = np.cross([0.0, 0.0, 1.0], fwd)
    best, best_key = None, None
    for turn in np.deg2rad(np.arange(-50, 51, 5)):
        if abs(turn) < np.deg2rad(12):
            continue
        look_room = -np.sign(turn)  # the face turns away from the lens's side: leave room in front of it

        def place(lo, hi, look_room=look_room):
            half_h = (hi[1] - lo[1]) / (2 * CLOSE_SHARE)
            dy = half_h * (1 - 2 * 0.06) - (hi[1] - lo[1]) / 2   # crown 6% below the top edge
            return half_h, np.array([look_room * 0.12 * half_h * aspect, dy])

        for distance in (0.9, 1.2):
            d = np.cos(turn) * fwd + np.sin(turn) * side
            pos = centre + distance * (d + np.array([0.0, 0.0, 0.08]))
            rot, half_h = _fit(pos, centre, head, place, aspect)
            cam = Framing(pos, rot, _lens(half_h, aspect), who)
            uv, depth = cam.project(points[other], aspect)
            seen = (depth > 0.05) & np.all((uv > -0.02) & (uv < 1.02), axis=1)
            facing = forward[who] @ (pos - centre) / np.linalg.norm(pos - centre)
            key = (-seen.mean(), -abs(facing - np.cos(np.deg2rad(30))))
            if best_key is None or key > best_key:
                best_key, best = key, cam
    return best


def shot_list(speaking: dict, n_frames: int, min_frames: int) -> list[tuple[int, int, str | None]]:
    """Shots (start, end exclusive, who) over ``n_frames``: who speaks alone gets a close-up, both at once
    the two-shot, a pause keeps the shot; the first shot is the two-shot. Every shot is held at least
    ``min_frames`` (a cut waits until then, then goes to whoever speaks at that moment)."""
    n_frames, min_frames = int(n_frames), max(1, int(min_frames))
    a = np.zeros(n_frames)
    b = np.zeros(n_frames)
    a[: min(n_frames, len(speaking["A"]))] = speaking["A"][:n_frames]
    b[: min(n_frames, len(speaking["B"]))] = speaking["B"][:n_frames]
    label = np.where((a > 0.5) & (b > 0.5), 2, np.where(a > 0.5, 0, np.where(b > 0.5, 1, -1)))
    label[0] = 2
    for t in range(1, n_frames):
        if label[t] < 0:
            label[t] = label[t - 1]
    shots = []
    start = 0
    while start < n_frames:
        cur = label[start]
        later = np.nonzero(label[start + min_frames:] != cur)[0]
        end = start + min_frames + int(later[0]) if len(later) else n_frames
        if n_frames - end < min_frames:
            end = n_frames
        shots.append((start, end, cur))
        start = end
    names = {0: "A", 1: "B", 2: None}
    return [(s, e, names[int(w)]) for s, e, w in shots]
