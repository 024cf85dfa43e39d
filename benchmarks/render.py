"""Gaussian avatar rendering speed: one 256x256 frame of both shipped avatars on the CPU (target <= 1.5 s).

Run: .venv/bin/python benchmarks/render.py  — poses both open heads face to face (the default layout,
mid-sentence: jaw open, a smile, a turned head), then times side by side (best of 5 after one warm-up)
with one torch thread and with one per core: posing + binding (mesh forward, culling, Gaussians to the
world) and rasterization. It prints the load average, since the machine is shared; ``duet render``
picks one thread when the load exceeds the cores (scene.torch_threads).
"""

from __future__ import annotations

import os
import time

import numpy as np


def motion():
    from duet.arkit import ARKIT_52
    from duet.animators.baseline import DEFAULT_LAYOUT
    from duet.frames import facing_yaw
    from duet.motion import DyadicMotion, PersonMotion
    from duet.rigs.kinematics import transl_for_head

    people = {}
    for p, other in (("A", "B"), ("B", "A")):
        yaw = facing_yaw(np.asarray(DEFAULT_LAYOUT[p]), np.asarray(DEFAULT_LAYOUT[other]))
        m = PersonMotion.still(1, len(ARKIT_52), transl_for_head(np.asarray(DEFAULT_LAYOUT[p]), yaw))
        m.poses["global"][:] = [0.0, yaw, 0.0]
        m.poses["neck"][:] = [0.05, 0.15, 0.0]
        m.poses["jaw"][:] = [0.2, 0.0, 0.0]
        m.expr[:, ARKIT_52.index("mouthSmileLeft")] = m.expr[:, ARKIT_52.index("mouthSmileRight")] = 0.5
        people[p] = m
    return DyadicMotion(A=people["A"], B=people["B"], expr_names=ARKIT_52)


def main() -> None:
    import torch
    from duet.render import avatar as avatars
    from duet.render.raster import rasterize
    from duet.render.scene import BACKGROUND, frame_both, heads_for, torch_threads
    from duet.rigs import openhead

    m = motion()
    heads = heads_for(m)
    avs = {p: avatars.shipped(p) for p in "AB"}
    cam = frame_both(m, 256)
    viewmat, K = torch.as_tensor(cam.viewmat, dtype=torch.float32), torch.as_tensor(cam.K, dtype=torch.float32)

    def pose():
        parts = []
        for p in "AB":
            person = m.person(p)
            v = openhead.forward(heads[p], person.expr, person.poses, person.transl)[0]
            parts.append(avatars.gaussians(avs[p], v, heads[p].faces, cam.position, heads[p].face_part == 0))
        return [torch.cat(x) for x in zip(*parts)]

    def draw(g):
        with torch.no_grad():
            return rasterize(*g, viewmat, K, 256, 256, background=torch.as_tensor(BACKGROUND))

    n = sum(len(a) for a in avs.values())
    print(f"Gaussians: {n} shipped ({len(pose()[0])} after culling), 256x256")
    totals = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        draw(pose())
        t_pose, t_draw, cpu = [], [], []
        for _ in range(5):
            c0, t0 = time.process_time(), time.perf_counter()
            g = pose()
            t1 = time.perf_counter()
            draw(g)
            t_pose.append(t1 - t0)
            t_draw.append(time.perf_counter() - t1)
            cpu.append(time.process_time() - c0)
        totals[threads] = min(a + b for a, b in zip(t_pose, t_draw))
        print(f"{threads} thread(s): pose + bind {min(t_pose):6.3f} s, rasterize {min(t_draw):6.3f} s, "
              f"frame {totals[threads]:6.3f} s wall = {totals[threads] / 1.5:.2f} x the 1.5 s budget "
              f"(CPU time {min(cpu):.3f} s)")
    with torch_threads():
        chosen = torch.get_num_threads()
    print(f"duet render would use {chosen} thread(s): {totals[chosen]:.3f} s per frame")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
