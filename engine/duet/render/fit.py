"""Fit a Gaussian avatar to multi-view renders of a posed head, and build the shipped demo avatars.

Gaussians start one per triangle, coloured from the views that see the triangle, then Adam optimises
colours, opacities, local offsets, scales and rotations against the renders (L1 on random backgrounds,
so the alpha is learned too), splitting the Gaussians with the largest offset gradients and pruning the
transparent ones. Skin triangles facing away from the camera are culled exactly as the scene renderer
culls them.

``python -m duet.render.fit [--person A B] [--work DIR]`` renders the source views with Blender
(``duet.render.avatar_views``), fits, measures PSNR on held-out views and writes rigs/avatars/P.npz and
P.json; each finished stage is kept in DIR, so a rerun resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from duet.render import avatar as avatars
from duet.render.scene import torch_threads
from duet.render.views import View, sample_views

TRAIN_VIEWS, HELD_OUT_VIEWS = 48, 8
TRAIN_SEED, HELD_OUT_SEED = 11, 12
SIZE = 128
EVAL_BACKGROUND = (0.5, 0.5, 0.5)


@dataclass
class FitConfig:
    iterations: int = 600            # 160 gave 32.7 / 31.2 dB held-out; 600 (with the regularisers): 37.0 / 35.8
    max_gaussians: int = 30_000
    densify_every: int = 50
    densify_until: int = 110
    split_fraction: float = 0.15    # of the Gaussians split at each densify step (within max_gaussians)
    min_opacity: float = 0.01
    lr_mu: float = 0.005            # local units: triangle scales
    lr_log_scale: float = 0.01
    lr_quat: float = 0.005
    lr_opacity: float = 0.03
    lr_color: float = 0.003
    # GaussianAvatars' regularisers (Qian et al. 2024; RSATalker eq. 11 has the position one): local
    # scales over max_scale triangle units and offsets over max_offset are penalised, so that Gaussians
    # no view constrains (under the neck's cut end) do not grow into smudges in long fits
    max_scale: float = 0.6
    max_offset: float = 1.0
    w_scale: float = 1.0
    w_offset: float = 0.01
    seed: int = 0


def load_targets(folder: Path, n: int):
    """Straight-alpha RGBA renders -> colours [n,H,W,3] and alphas [n,H,W] in [0,1]."""
    from PIL import Image

    imgs = np.stack([np.asarray(Image.open(folder / f"{i:03d}.png").convert("RGBA")) for i in range(n)])
    imgs = imgs.astype(np.float32) / 255.0
    return imgs[..., :3], imgs[..., 3]


def posed_vertices(head, views: list[View]) -> np.ndarray:
    from duet.rigs import openhead

    expr = np.stack([v.expr for v in views])
    poses = {j: np.stack([v.poses.get(j, np.zeros(3)) for v in views]) for j in ("global", "neck", "jaw", "eye_L", "eye_R")}
    return openhead.forward(head, expr, poses, np.zeros((len(views), 3)))


def camera_position(view: View) -> np.ndarray:
    r, t = view.viewmat[:3, :3], view.viewmat[:3, 3]
    return -r.T @ t


def _zbuffer_visible(points_cam, uv, size, occluders_cam, occluders_uv, tolerance=0.004):
    """Which points are in front of a point-splat depth buffer of the occluders (3x3 min-filtered)."""
    zbuf = np.full((size + 2, size + 2), np.inf)
    px = np.clip(np.floor(occluders_uv).astype(int) + 1, 0, size + 1)
    np.minimum.at(zbuf, (px[:, 1], px[:, 0]), occluders_cam[:, 2])
    pad = np.pad(zbuf, 1, constant_values=np.inf)
    filt = np.min([pad[dy:dy + size + 2, dx:dx + size + 2] for dy in range(3) for dx in range(3)], 0)
    q = np.clip(np.floor(uv).astype(int) + 1, 0, size + 1)
    return points_cam[:, 2] <= filt[q[:, 1], q[:, 0]] + tolerance


def initial_avatar(head, verts: np.ndarray, views: list[View], rgb: np.ndarray, alpha: np.ndarray) -> avatars.Avatar:
    """One Gaussian per triangle: a disc in the triangle's plane, coloured by the median of the views that see it."""
    faces = head.faces
    n_faces = len(faces)
    samples = np.full((len(views), n_faces, 3), np.nan, np.float32)
    for i, view in enumerate(views):
        v = verts[i]
        tri = v[faces]
        centre = tri.mean(1)
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
        to_cam = camera_position(view) - centre
        facing = (normal * to_cam).sum(-1) / np.linalg.norm(to_cam, axis=-1)
        r, t = view.viewmat[:3, :3], view.viewmat[:3, 3]
        cam_c, cam_v = centre @ r.T + t, v @ r.T + t
        uv_c = cam_c[:, :2] / cam_c[:, 2:] * view.K[0, 0] + view.K[:2, 2]
        uv_v = cam_v[:, :2] / cam_v[:, 2:] * view.K[0, 0] + view.K[:2, 2]
        seen = _zbuffer_visible(cam_c, uv_c, view.size, np.concatenate([cam_c, cam_v]), np.concatenate([uv_c, uv_v]))
        inside = (uv_c >= 0).all(-1) & (uv_c < view.size).all(-1)
        ok = seen & inside & (facing > 0.3)
        q = np.clip(uv_c[ok].astype(int), 0, view.size - 1)
        good = alpha[i][q[:, 1], q[:, 0]] > 0.9
        idx = np.nonzero(ok)[0][good]
        samples[i, idx] = rgb[i][q[good, 1], q[good, 0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # triangles no view sees are handled below
        color = np.nanmedian(samples, 0)
    unseen = np.isnan(color).any(-1)
    if unseen.any():  # never seen: take the mean colour of the triangle's material where it was seen
        material = head.face_material
        for m in np.unique(material[unseen]):
            pool = color[(material == m) & ~unseen]
            color[(material == m) & unseen] = pool.mean(0) if len(pool) else 0.5
    n = n_faces
    return avatars.Avatar(
        binding=np.arange(n), mu=np.zeros((n, 3), np.float32),
        log_scale=np.tile(np.log(np.array([0.45, 0.06, 0.45], np.float32)), (n, 1)),
        quat=np.tile(np.array([1, 0, 0, 0], np.float32), (n, 1)), opacity=np.full(n, 0.9, np.float32),
        color=color.astype(np.float32), rig=avatars.rig_signature(faces), person=head.name,
        rest_vertices=np.asarray(head.vertices), rest_faces=np.asarray(faces))


class _Params:
    """The optimised tensors (opacity as a logit) and their Adam optimiser."""

    def __init__(self, avatar: avatars.Avatar, config: FitConfig):
        import torch

        self.config = config
        self.binding = torch.as_tensor(avatar.binding, dtype=torch.long)
        op = np.clip(avatar.opacity, 1e-4, 1 - 1e-4)
        self.t = {"mu": avatar.mu, "log_scale": avatar.log_scale, "quat": avatar.quat,
                  "opacity": np.log(op / (1 - op)), "color": avatar.color}
        self.t = {k: torch.tensor(np.asarray(v, np.float32), requires_grad=True) for k, v in self.t.items()}
        self._optimiser()

    def _optimiser(self):
        import torch

        c = self.config
        lrs = {"mu": c.lr_mu, "log_scale": c.lr_log_scale, "quat": c.lr_quat, "opacity": c.lr_opacity,
               "color": c.lr_color}
        self.opt = torch.optim.Adam([{"params": [self.t[k]], "lr": lr} for k, lr in lrs.items()], eps=1e-15)
        self.grad_sum = torch.zeros(len(self.binding))
        self.seen = torch.zeros(len(self.binding))

    def edit(self, keep, split):
        """Keep Gaussians ``keep`` (bool) and split ``split`` (indices into the kept set) in two."""
        import torch

        from duet.render.binding import quat_to_matrix

        with torch.no_grad():
            t = {k: v.detach()[keep] for k, v in self.t.items()}
            b = self.binding[keep]
            scale = torch.exp(t["log_scale"][split])
            axis = scale.argmax(-1)
            rot = quat_to_matrix(t["quat"][split])
            step = rot[torch.arange(len(split)), :, axis] * scale[torch.arange(len(split)), axis, None] * 0.5
            child = {k: v[split].clone() for k, v in t.items()}
            t["mu"][split] += step
            child["mu"] -= step
            t["log_scale"][split] -= math.log(1.6)
            child["log_scale"] -= math.log(1.6)
            self.t = {k: torch.cat([t[k], child[k]]).requires_grad_(True) for k in t}
            self.binding = torch.cat([b, b[split]])
        self._optimiser()

    def avatar(self, init: avatars.Avatar) -> avatars.Avatar:
        import torch

        t = {k: v.detach().numpy() for k, v in self.t.items()}
        quat = t["quat"] / np.linalg.norm(t["quat"], axis=-1, keepdims=True)
        return avatars.Avatar(binding=self.binding.numpy().copy(), mu=t["mu"], log_scale=t["log_scale"],
                              quat=quat, opacity=torch.sigmoid(self.t["opacity"]).detach().numpy(),
                              color=np.clip(t["color"], 0, 1), rig=init.rig, person=init.person,
                              rest_vertices=init.rest_vertices, rest_faces=init.rest_faces)


def _hidden_faces(verts, faces, skin, cam_pos):
    tri = verts[faces]
    centre = tri.mean(1)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
    away = centre - cam_pos
    return skin & ((normal * away).sum(-1) / np.linalg.norm(away, axis=-1) > avatars.CULL_COS)


def fit(head, verts: np.ndarray, views: list[View], rgb: np.ndarray, alpha: np.ndarray, config: FitConfig,
        init: avatars.Avatar | None = None, progress=None) -> avatars.Avatar:
    """Optimise an avatar against ``views`` (posed vertices ``verts`` [n,V,3], targets ``rgb``/``alpha``)."""
    import torch

    gen = np.random.default_rng(config.seed)
    init = init or initial_avatar(head, verts, views, rgb, alpha)
    p = _Params(init, config)
    faces_t = torch.as_tensor(head.faces, dtype=torch.long)
    skin = head.face_part == 0
    hidden = [torch.as_tensor(_hidden_faces(verts[i], head.faces, skin, camera_position(v)))
              for i, v in enumerate(views)]
    verts_t = torch.as_tensor(verts, dtype=torch.float32)
    rgb_t, alpha_t = torch.as_tensor(rgb), torch.as_tensor(alpha)
    with torch_threads():
        return _optimise(p, gen, verts_t, faces_t, hidden, views, rgb_t, alpha_t, config, progress, init)


def _optimise(p, gen, verts_t, faces_t, hidden, views, rgb_t, alpha_t, config, progress, init):
    import torch

    from duet.render.binding import to_world
    from duet.render.raster import rasterize_tiles

    for it in range(config.iterations):
        i = int(gen.integers(len(views)))
        view = views[i]
        keep = ~hidden[i][p.binding]
        means, scales, rots = to_world(verts_t[i], faces_t, p.binding[keep], p.t["mu"][keep],
                                       p.t["log_scale"][keep], p.t["quat"][keep])
        bg = torch.as_tensor(gen.uniform(0, 1, 3), dtype=torch.float32)
        out, _ = rasterize_tiles(means, rots, scales, torch.sigmoid(p.t["opacity"][keep]), p.t["color"][keep],
                                 torch.as_tensor(view.viewmat, dtype=torch.float32),
                                 torch.as_tensor(view.K, dtype=torch.float32), view.size, view.size, background=bg)
        target = rgb_t[i] * alpha_t[i][..., None] + bg * (1 - alpha_t[i][..., None])
        loss = (out - target).abs().mean()
        big = torch.relu(torch.exp(p.t["log_scale"]) - config.max_scale).norm(dim=-1).mean()
        far = torch.relu(p.t["mu"].norm(dim=-1) - config.max_offset).mean()
        loss = loss + config.w_scale * big + config.w_offset * far
        p.opt.zero_grad()
        loss.backward()
        p.opt.step()
        with torch.no_grad():
            p.t["color"].clamp_(0, 1)
            g = p.t["mu"].grad.norm(dim=-1) if p.t["mu"].grad is not None else torch.zeros(len(p.binding))
            p.grad_sum += g
            p.seen += keep.float()
        step = it + 1
        if step % config.densify_every == 0 and step <= config.densify_until:
            with torch.no_grad():
                keep_g = torch.sigmoid(p.t["opacity"]) > config.min_opacity
                score = (p.grad_sum / p.seen.clamp(min=1))[keep_g]
                room = config.max_gaussians - int(keep_g.sum())
                n_split = max(0, min(room, int(config.split_fraction * int(keep_g.sum()))))
                split = torch.argsort(score, descending=True)[:n_split]
                p.edit(keep_g, split)
        if progress is not None:
            progress(step / config.iterations, f"loss {loss.item():.4f}, {len(p.binding)} Gaussians")
    return p.avatar(init)


def render_view(avatar: avatars.Avatar, head, verts: np.ndarray, view: View, background=EVAL_BACKGROUND):
    """Render the avatar on posed vertices ``verts`` [V,3] from ``view``; (rgb [H,W,3], alpha) numpy."""
    import torch

    from duet.render.raster import rasterize

    with torch.no_grad(), torch_threads():
        g = avatars.gaussians(avatar, verts, head.faces, camera_position(view), head.face_part == 0)
        rgb, a = rasterize(*g, torch.as_tensor(view.viewmat, dtype=torch.float32),
                           torch.as_tensor(view.K, dtype=torch.float32), view.size, view.size,
                           background=torch.as_tensor(background, dtype=torch.float32))
    return rgb.clamp(0, 1).numpy(), a.numpy()


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    err = (a - b) ** 2
    mse = err[mask].mean() if mask is not None else err.mean()
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def evaluate(avatar, head, verts, views, rgb, alpha) -> dict:
    """PSNR over whole frames and over the head (pixels either image covers), on a grey background."""
    bg = np.asarray(EVAL_BACKGROUND, np.float32)
    full, masked = [], []
    for i, view in enumerate(views):
        out, a = render_view(avatar, head, verts[i], view)
        target = rgb[i] * alpha[i][..., None] + bg * (1 - alpha[i][..., None])
        region = (alpha[i] > 0.01) | (a > 0.01)
        full.append(psnr(out, target))
        masked.append(psnr(out[region], target[region]))
    return {"psnr_frame": float(np.mean(full)), "psnr_head": float(np.mean(masked)),
            "psnr_head_min": float(np.min(masked)), "views": len(views)}


def build(person: str, work: Path, out: Path, config: FitConfig) -> dict:
    """Render (Blender), fit and evaluate the demo avatar for open head ``person``; resumable through ``work``."""
    from duet.progress import Progress
    from duet.rigs import openhead

    work.mkdir(parents=True, exist_ok=True)
    head = openhead.load(person)
    stamp = work / f"{person}-rig.txt"
    if stamp.exists() and stamp.read_text() != avatars.rig_signature(head.faces):
        for stale in work.glob(f"{person}-*"):  # the rig changed: its renders and fit no longer match
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    stamp.write_text(avatars.rig_signature(head.faces))
    sets = {"train": sample_views(TRAIN_VIEWS, TRAIN_SEED, SIZE), "heldout": sample_views(HELD_OUT_VIEWS, HELD_OUT_SEED, SIZE)}
    for name, views in sets.items():
        spec = work / f"{person}-{name}.json"
        spec.write_text(json.dumps([v.to_json() for v in views]))
        subprocess.run([sys.executable, "-m", "duet.render.avatar_views", person, str(spec), str(work / f"{person}-{name}")],
                       check=True)
    fitted, cost, made_by = (work / f"{person}-avatar.npz", work / f"{person}-fit-cpu.txt",
                             work / f"{person}-fit-config.json")
    settings = json.dumps(asdict(config), sort_keys=True)
    if fitted.exists() and (not made_by.exists() or made_by.read_text() != settings):
        fitted.unlink()   # fitted with other settings (or before they were recorded): fit again
    if not fitted.exists():
        cpu = time.process_time()
        views = sets["train"]
        rgb, alpha = load_targets(work / f"{person}-train", len(views))
        with Progress(f"fit {person}") as bar:
            avatar = fit(head, posed_vertices(head, views), views, rgb, alpha, config, progress=bar.update)
        avatars.save(avatar, fitted)
        cost.write_text(f"{time.process_time() - cpu:.1f}")
        made_by.write_text(settings)
    avatar = avatars.load(fitted)
    views = sets["heldout"]
    rgb, alpha = load_targets(work / f"{person}-heldout", len(views))
    result = evaluate(avatar, head, posed_vertices(head, views), views, rgb, alpha)
    result.update(person=person, gaussians=len(avatar), size=SIZE, train_views=TRAIN_VIEWS,
                  fit_cpu_s=float(cost.read_text()) if cost.exists() else None, config=asdict(config))
    out.mkdir(parents=True, exist_ok=True)
    avatars.save(avatar, out / f"{person}.npz")
    (out / f"{person}.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m duet.render.fit", description=__doc__.splitlines()[0])
    ap.add_argument("--person", nargs="+", default=["A", "B"])
    ap.add_argument("--work", default="build/avatars", help="folder for source renders and checkpoints")
    ap.add_argument("--out", default=str(avatars.AVATARS))
    ap.add_argument("--iterations", type=int, default=FitConfig.iterations)
    args = ap.parse_args(argv)
    for person in args.person:
        result = build(person, Path(args.work), Path(args.out), FitConfig(iterations=args.iterations))
        print(json.dumps({k: v for k, v in result.items() if k != "config"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
