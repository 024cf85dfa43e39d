"""The two-stage training loop: stage 1 on whole conversations with every loss, stage 2 mixing
single-speaker-style windows (loss only on the speaker's lip/jaw channels) with conversation windows.
Seeded, resumable from ``<out>/last.pt`` (config saved beside it), EMA weights for sampling, and
data-parallel under ``torchrun`` (same script; rank 0 writes)."""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from duet.errors import DuetError
from duet.model.config import TrainConfig


def lr_at(step: int, tc: TrainConfig) -> float:
    total = tc.stage1_steps + tc.stage2_steps
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    frac = (step - tc.warmup) / max(1, total - tc.warmup)
    return tc.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def train_step(net, batch, tc: TrainConfig, mean, std, gen, lips_only=None):
    """One diffusion training step's loss: noise x0 to a random time, predict x0, weigh the errors."""
    import torch

    from duet.model.diffusion import logsnr, q_sample
    from duet.train.losses import motion_loss

    x0 = batch["x"]
    b = x0.shape[0]
    t = 1 - (1 - torch.rand(b, generator=gen)) ** tc.t_power  # more windows near pure noise
    lsnr = logsnr(t, net.cfg.logsnr_min, net.cfg.logsnr_max)
    noise = torch.randn(x0.shape, generator=gen)
    drop = torch.rand(b, generator=gen) < tc.cond_drop
    pred = net(q_sample(x0, lsnr, noise), lsnr, batch["audio"], batch["masks"], batch["layout"],
               batch["emotion"], batch["relation"], drop)
    return motion_loss(pred, x0, batch, net.cfg, tc, mean, std, lips_only)


def train(tc: TrainConfig, log=print) -> Path:
    """Run (or resume) training; returns the path of the final checkpoint."""
    import torch

    from duet.progress import Progress
    from duet.model import bundle
    from duet.model.network import DualStreamUNet
    from duet.train.dataset import Stats, Windows, load_split, to_torch, vocabularies

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() \
        else torch.device("cpu")
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if tc.threads:
        torch.set_num_threads(tc.threads)
    out = Path(tc.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "last.pt"
    resume = torch.load(ckpt_path, map_location="cpu", weights_only=False) if ckpt_path.is_file() else None
    tc.model.emotions, tc.model.relations = vocabularies(tc.swap_senior)
    if resume is not None:
        differ = TrainConfig.from_dict(resume["train_config"]).differences(tc)
        if differ:
            raise DuetError(f"{ckpt_path}: was trained with another config ({', '.join(differ)} differ); "
                            f"resume with its {out / 'config.json'} (--config) or use another --out")
    cfg = tc.model

    with Progress("preparing corpus", quiet=rank != 0) as p:
        clips = load_split(tc.corpus, "train", cfg, progress=p.update, variants=tc.relation_variants)
    if resume is not None:
        stats = Stats(resume["mean"], resume["std"])
    else:
        stats = Stats.of(clips)
    windows = Windows(clips, tc.window, stats, seed=tc.seed * 1000 + rank, relations=tc.model.relations)
    torch.manual_seed(tc.seed)
    net = DualStreamUNet(cfg).to(device)
    ema = copy.deepcopy(net)
    opt = torch.optim.AdamW(net.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    step = 0
    gen = torch.Generator().manual_seed(tc.seed * 7919 + rank)
    if resume is not None:
        net.load_state_dict(resume["net"])
        ema.load_state_dict(resume["ema"])
        opt.load_state_dict(resume["opt"])
        step = int(resume["step"])
        if rank < len(resume["gen"]):
            gen.set_state(resume["gen"][rank])
        else:  # only rank 0's generator is saved: the others restart from their own seed and the step
            gen.manual_seed(tc.seed * 7919 + rank + 1_000_003 * step)
        windows.rng = np.random.default_rng([tc.seed, rank, step])
        log(f"resumed from {ckpt_path} at step {step}")
    model = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        model = DistributedDataParallel(net)
        model.cfg = cfg
    mean, std = torch.from_numpy(stats.mean), torch.from_numpy(stats.std)
    total = tc.stage1_steps + tc.stage2_steps
    if rank == 0:
        (out / "config.json").write_text(json.dumps(tc.to_dict(), indent=1))
        n_params = sum(p.numel() for p in net.parameters())
        log(f"{len(windows.clips)} train clips, {n_params / 1e6:.2f} M parameters, steps {step}/{total}, "
            f"batch {tc.batch} x {world}")

    def save_ckpt():
        if rank != 0:
            return
        from duet.files import atomic_output
        with atomic_output(ckpt_path) as tmp:
            torch.save({"train_config": tc.to_dict(), "net": net.state_dict(), "ema": ema.state_dict(),
                        "opt": opt.state_dict(), "step": step, "gen": [gen.get_state()],
                        "mean": stats.mean, "std": stats.std}, tmp)
        meta = {"id": f"duet-dual-{step}", "steps": step, "seed": tc.seed, "corpus": Path(tc.corpus).name}
        bundle.save(out / "model.pt", ema, cfg, stats.mean, stats.std, meta, half=False)
        if tc.keep_every and step % tc.keep_every == 0:  # snapshots: the checkpoint is chosen on val
            (out / "snapshots").mkdir(exist_ok=True)
            bundle.save(out / "snapshots" / f"model-{step}.pt", ema, cfg, stats.mean, stats.std, meta, half=False)

    t0, running = time.perf_counter(), {}
    net.train()
    with Progress("training", quiet=rank != 0) as p:
        while step < total:
            for group in opt.param_groups:
                group["lr"] = lr_at(step, tc)
            batch = to_torch(windows.sample(tc.batch))
            batch = {k: v.to(device) for k, v in batch.items()}
            lips_only = None
            if step >= tc.stage1_steps:  # stage 2
                lips_only = torch.rand(tc.batch, generator=gen) < tc.stage2_single
            loss, parts = train_step(model, batch, tc, mean.to(device), std.to(device), gen, lips_only)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            decay = min(0.999, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pn in zip(ema.parameters(), net.parameters()):
                    pe.lerp_(pn, 1 - decay)
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                running[k] = running.get(k, 0.0) + v
            if rank == 0 and step % tc.log_every == 0:
                avg = " ".join(f"{k} {v / tc.log_every:.4f}" for k, v in running.items())
                rate = (time.perf_counter() - t0) / tc.log_every
                log(f"step {step}/{total} stage {1 if step <= tc.stage1_steps else 2} {avg} "
                    f"lr {lr_at(step, tc):.2e} {rate:.2f} s/step")
                sys.stdout.flush()
                running, t0 = {}, time.perf_counter()
            p.update(step / total, f"step {step}/{total}")
            if step % tc.ckpt_every == 0 or step == total:
                save_ckpt()
    if world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    return out / "model.pt"
