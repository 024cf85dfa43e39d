"""Does a model use its partner's motion? Sample person B while person A is held to the ground truth.

For random 8 s windows of a split's clips, person A's noisy motion is replaced at every DDIM step by
the true A noised to that step's level (inpainting), so B is generated beside a partner whose motion
is exactly the corpus's. The corpus must mirror heads (`duet data synth --mirror 0.5`: B's neck
follows A's 0.3 s later), so a model that reads its partner makes B's neck follow A's true neck; one
that does not can only follow what the shared audio and speaking masks say. The number is the best
correlation of A's and B's neck rotation over lags of up to 0.6 s, pitch and yaw averaged
(duet.eval.metrics.head_synchrony), for the truth's B and the generated B. The single-stream
ablation is the floor: it cannot see A.

With ``--shift RAD`` (any corpus) it asks instead how B's head answers A's: A is held to the truth
pitched by -RAD and by +RAD on every frame (its neck alone; its neck with the eyes turned back, so
the gaze stays; its eyes alone), and the change in B's mean neck pitch (for a bundle with a
``head_share``: its whole head's, which that packing keeps in one slot) is printed as a multiple of
A's change. The single-stream ablation answers 0. In the corpus B's head does not answer A's at all
(the animator turns each neck towards where the partner was placed, and solves the eyes onto the
partner's eyes).

Run: .venv/bin/python benchmarks/partner_coupling.py --weights W [W ...] [--corpus data/corpus-mirror]
     [--split val] [--windows 24] [--seed 0] [--shift 0.08 --corpus data/corpus]
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np


def sample_beside(net, batch, steps: int, seed: int):
    """Standardized x0 [N, 2, T, D] from DDIM (no guidance) with person A held to batch["x"][:, 0]:
    before every denoising call A's noisy motion becomes the true A noised to that step's level."""
    import torch

    from duet.model.diffusion import ddim_sample, q_sample

    x0 = batch["x"].float()
    n = x0.shape[0]
    cond = (batch["audio"], batch["masks"], batch["layout"], batch["emotion"], batch["relation"],
            torch.zeros(n, dtype=torch.bool))
    gen = torch.Generator().manual_seed(seed)

    def beside_true_a(x, lsnr):
        x[:, 0] = q_sample(x0[:, 0], lsnr, torch.randn(x0[:, 0].shape, generator=gen))
        return net(x, lsnr, *cond)

    with torch.inference_mode():
        return ddim_sample(beside_true_a, x0.shape, steps, gen, net.cfg.logsnr_min, net.cfg.logsnr_max)


def model_and_windows(w: str, args):
    """(bundle, float32 network in eval mode, a batch of ``args.windows`` random windows of the split)."""
    from duet.model import bundle
    from duet.train.dataset import Stats, Windows, load_split, to_torch

    b = bundle.load(w)
    clips = load_split(args.corpus, args.split, b.cfg)
    batch = to_torch(Windows(clips, b.cfg.window, Stats(mean=b.mean, std=b.std), seed=args.seed + 7)
                     .sample(args.windows))
    return b, b.net.float().eval(), batch


def head_slot(cfg) -> int:
    """First dimension of the head's turn in a bundle's packed motion: the neck joint, or with a
    ``head_share`` (duet.model.packing.to_partner_eyes) the global slot, which then holds all of it."""
    return cfg.n_expr + (0 if cfg.head_share is not None else 3)


def main() -> None:
    import torch

    from duet.corpus.animator import MIRROR_LAG
    from duet.corpus.build import open_corpus
    from duet.eval.metrics import head_synchrony

    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", nargs="+", required=True)
    ap.add_argument("--corpus", default="data/corpus-mirror")
    ap.add_argument("--split", default="val", help="corpus split (develop on val, report test)")
    ap.add_argument("--windows", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shift", type=float, default=None, metavar="RAD",
                    help="instead: B's neck pitch response to A's neck and eyes pitched by +-RAD")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.shift is not None:
        return answer_to_shift(args)

    def necks(x, b):
        """Person A's and B's head turn (neck, or all of it: head_slot) [N, T, 3] from standardized motion."""
        raw = x.numpy() * b.std + b.mean
        h = head_slot(b.cfg)
        return raw[:, 0, :, h:h + 3], raw[:, 1, :, h:h + 3]

    def sync(a_neck, b_neck):
        pair = SimpleNamespace(A=SimpleNamespace(poses={"neck": a_neck}), B=SimpleNamespace(poses={"neck": b_neck}))
        return float(np.mean(head_synchrony(pair)))

    gain = open_corpus(args.corpus).manifest.get("mirror", 0.0)
    if not gain:
        raise SystemExit(f"{args.corpus}: its heads do not mirror each other; "
                         "make one with 'duet data synth --mirror 0.5'")
    print(f"{args.corpus}, {args.split} windows: {args.windows}, heads mirrored at gain {gain}, {MIRROR_LAG} s later\n")
    print("| weights | head sync, true B | head sync, generated B | B neck std, true / generated (rad) |")
    print("|---|---|---|---|")
    for w in args.weights:
        b, net, batch = model_and_windows(w, args)
        pred = sample_beside(net, batch, b.cfg.steps, args.seed)
        true_a, true_b = necks(batch["x"].float(), b)
        _, gen_b = necks(pred, b)
        s_true = np.mean([sync(true_a[k], true_b[k]) for k in range(args.windows)])
        s_gen = np.mean([sync(true_a[k], gen_b[k]) for k in range(args.windows)])
        print(f"| {w} | {s_true:.2f} | {s_gen:.2f} | {true_b.std(1).mean():.4f} / {gen_b.std(1).mean():.4f} |",
              flush=True)


def answer_to_shift(args) -> None:
    """B's mean neck-pitch change per unit of A's pitch change, A held to the truth and turned by
    -+``args.shift`` in three ways: the neck alone (head and gaze turn), the neck with the eyes turned
    back (the head turns, the gaze stays), the eyes alone (the gaze turns, the head stays)."""
    print(f"{args.corpus}, {args.split} windows: {args.windows}, A's neck or eyes pitched by -{args.shift} and "
          f"+{args.shift} rad\n")
    print("| weights | B's neck pitch change / A's: A's neck | A's neck, eyes back | A's eyes |")
    print("|---|---|---|---|")
    for w in args.weights:
        b, net, batch = model_and_windows(w, args)
        e = b.cfg.n_expr
        true_x = batch["x"].clone()
        neck, eyes = head_slot(b.cfg), (e + 9, e + 12)  # pitch components of the head's turn, eye_L, eye_R
        cells = []
        for turn_neck, turn_eyes in ((1.0, 0.0), (1.0, -1.0), (0.0, 1.0)):
            means = []
            for sign in (-1.0, 1.0):
                batch["x"] = true_x.clone()
                for d, how in ((neck, turn_neck), (eyes[0], turn_eyes), (eyes[1], turn_eyes)):
                    batch["x"][:, 0, :, d] += how * sign * args.shift / float(b.std[d])
                pred = sample_beside(net, batch, b.cfg.steps, args.seed)
                means.append(float((pred[:, 1, :, neck] * float(b.std[neck]) + float(b.mean[neck])).mean()))
            cells.append(f"{(means[1] - means[0]) / (2 * args.shift):+.2f}")
        print(f"| {w} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
