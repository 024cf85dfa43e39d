"""``duet train``: train the dual-stream diffusion model on a corpus (resumable), train the voice
prints that mono diarization clusters (--voiceprint), or ship weights."""

from __future__ import annotations

from pathlib import Path

from duet.errors import DuetError

VOICEPRINT_STEPS = 1500


def add_arguments(p) -> None:
    p.add_argument("--corpus", default="data/corpus", help="corpus folder (made by 'duet data synth')")
    p.add_argument("--out", default=None, help="checkpoint folder; training resumes from it "
                   "(default data/train; data/voiceprint with --voiceprint)")
    p.add_argument("--steps", type=int, default=None, help="stage-1 steps (default from the config)")
    p.add_argument("--stage2-steps", type=int, default=None, help="stage-2 (lip fine-tuning) steps")
    p.add_argument("--batch", type=int, default=None, help="windows per step and process")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch per process (0: torch's default; default 1, or all with --voiceprint)")
    p.add_argument("--augment", type=float, default=None, metavar="P",
                   help="fraction of training windows given a random voice change (default from the config)")
    p.add_argument("--band-masks", type=int, default=None, metavar="N",
                   help="masked mel-band runs per training window (default from the config)")
    p.add_argument("--gap-power", type=float, default=None, metavar="P",
                   help="lip-gap loss |error|**P (2: mean-seeking, 1: median-seeking; default from the config)")
    p.add_argument("--dropout", type=float, default=None, metavar="P",
                   help="dropout in the network's blocks and conditioning while training (default: 0)")
    p.add_argument("--pose-jitter", type=float, default=None, metavar="RAD",
                   help="turn each person's neck by a random constant pitch and yaw per training window "
                        "(std RAD; eyes turned back, gaze kept), so a partner's head says nothing of one's "
                        "own beyond the layout (default 0)")
    p.add_argument("--no-cross-attention", action="store_true", help="train the single-stream ablation")
    p.add_argument("--partner-input", action="store_true",
                   help="dual model: also give each stream its partner's noisy motion, frame-aligned, at the input")
    p.add_argument("--coarse-cross-attention", action="store_true",
                   help="dual model: cross-attention only at the decoder's stride-2 level, none at full rate")
    p.add_argument("--partner-drop", type=float, default=None, metavar="P",
                   help="dual model: train this fraction of pairs without cross-attention (default 0)")
    p.add_argument("--head-share", type=float, nargs=2, default=None, metavar=("YAW", "PITCH"),
                   help="pack each head relative to turning these shares of the way from the body to the "
                        "partner's eyes, and the eyes relative to the rest, so no head or gaze carries the "
                        "layout (the corpus's: 0.75 0.6; default: heads in yaw-only facing frames)")
    p.add_argument("--pose-scale", choices=("corpus", "clip"), default=None,
                   help="clip: scale neck, jaw, eye and translation values by their std about each clip's mean "
                        "(rotation loss weight 2 instead of 8); default corpus")
    p.add_argument("--voiceprint", action="store_true",
                   help="train the voice-print network for mono diarization instead (writes OUT/voiceprint.pt; "
                   f"--steps default {VOICEPRINT_STEPS})")
    p.add_argument("--ship", metavar="BUNDLE", help="instead of training: copy BUNDLE (fp16) into the "
                   "package as the shipped weights")
    p.add_argument("--name", default="duet-dual", help="shipped name (duet-dual; duet-single for the ablation)")
    p.add_argument("--guidance", type=float, default=None,
                   help="with --ship: sampling guidance on speaking frames' face (tune on the val split)")
    p.add_argument("--listener-guidance", type=float, default=None,
                   help="with --ship: guidance on listening frames' face")
    p.add_argument("--pose-guidance", type=float, default=None,
                   help="with --ship: guidance on head and eye rotations and translation")


def run(args) -> int:
    from duet.model.config import TrainConfig

    if args.ship:
        return _ship(Path(args.ship), args.name, args.guidance, args.listener_guidance, args.pose_guidance)
    if (args.guidance, args.listener_guidance, args.pose_guidance) != (None, None, None):
        raise DuetError("--guidance, --listener-guidance and --pose-guidance go with --ship")
    if not (Path(args.corpus) / "manifest.json").is_file():
        raise DuetError(f"{args.corpus}: not a Duet corpus (make one with 'duet data synth')")
    if args.voiceprint:
        return _voiceprint(args)
    tc = TrainConfig(corpus=args.corpus, out=args.out or "data/train", seed=args.seed,
                     threads=1 if args.threads is None else args.threads)
    overrides = {"stage1_steps": args.steps, "stage2_steps": args.stage2_steps, "batch": args.batch,
                 "augment": args.augment, "band_masks": args.band_masks, "gap_power": args.gap_power,
                 "pose_jitter": args.pose_jitter, "partner_drop": args.partner_drop}
    for name, value in overrides.items():
        if value is not None:
            setattr(tc, name, value)
    if tc.stage1_steps < 0 or tc.stage2_steps < 0 or tc.batch < 1:
        raise DuetError("--steps and --stage2-steps must be >= 0 and --batch >= 1")
    if not 0.5 <= tc.gap_power <= 2:
        raise DuetError("--gap-power must be from 0.5 to 2")
    if tc.band_masks < 0:
        raise DuetError("--band-masks must be >= 0")
    if not 0 <= tc.augment <= 1:
        raise DuetError("--augment is a fraction of windows: give a value from 0 to 1")
    if not 0 <= tc.pose_jitter <= 0.5:
        raise DuetError("--pose-jitter is an angle in radians: give a value from 0 to 0.5")
    if args.head_share is not None and not all(0 <= k <= 1 for k in args.head_share):
        raise DuetError("--head-share takes two fractions (yaw, pitch) of the turn to the partner: "
                        "give values from 0 to 1")
    if args.head_share is not None and tc.pose_jitter:
        raise DuetError("--pose-jitter turns the neck of the facing-frame packing; it does not go with --head-share")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        raise DuetError("--dropout must be from 0 to below 1")
    for flag, given in (("--partner-input", args.partner_input), ("--partner-drop", args.partner_drop),
                        ("--coarse-cross-attention", args.coarse_cross_attention)):
        if given and args.no_cross_attention:
            raise DuetError(f"{flag} is a dual-model option; the single-stream ablation sees no partner")
    if not 0 <= tc.partner_drop < 1:
        raise DuetError("--partner-drop is a fraction of training pairs: give a value from 0 to below 1")
    if args.coarse_cross_attention:
        tc.model.cross_levels = (2,)
    tc.model.cross_attention = not args.no_cross_attention
    tc.model.partner_input = args.partner_input
    tc.model.head_share = None if args.head_share is None else tuple(args.head_share)
    if args.pose_scale == "clip":
        tc.pose_scale, tc.w_rot = "clip", 2.0
    if args.dropout is not None:
        tc.model.dropout = args.dropout
    tc.model.window = tc.window
    from duet.train.loop import train

    path = train(tc)
    print(f"model bundle: {path}")
    return 0


def _voiceprint(args) -> int:
    from duet.train.voiceprint import train
    from duet.progress import Progress

    others = {"--stage2-steps": args.stage2_steps, "--batch": args.batch, "--augment": args.augment,
              "--band-masks": args.band_masks, "--gap-power": args.gap_power, "--dropout": args.dropout,
              "--pose-jitter": args.pose_jitter}
    others.update({"--pose-scale": args.pose_scale, "--no-cross-attention": args.no_cross_attention or None,
                   "--partner-input": args.partner_input or None, "--head-share": args.head_share,
                   "--partner-drop": args.partner_drop,
                   "--coarse-cross-attention": args.coarse_cross_attention or None})
    given = [flag for flag, v in others.items() if v is not None]
    if given:
        raise DuetError(f"{', '.join(given)}: not an option of --voiceprint "
                        "(it takes --corpus, --out, --steps, --seed, --threads)")
    steps = VOICEPRINT_STEPS if args.steps is None else args.steps
    if steps < 1:
        raise DuetError("--steps must be >= 1")
    with Progress("training voice prints") as p:
        path = train(args.corpus, Path(args.out or "data/voiceprint") / "voiceprint.pt", steps=steps, seed=args.seed,
                     threads=args.threads or 0, progress=lambda f, loss: p.update(f, f"loss {loss:.3f}"))
    print(f"voice-print bundle: {path} (ship it with 'duet train --ship {path}')")
    return 0


def _ship(src: Path, name: str, guidance=None, listener=None, pose=None) -> int:
    """Copy a training bundle into the package (fp16), with the sampling scales chosen on val; a
    voice-print bundle goes in as the package's voiceprint.pt."""
    import shutil

    from duet.audio import voiceprint
    from duet.files import atomic_output
    from duet.model import bundle

    if src.is_file() and voiceprint.is_bundle(src):
        if (guidance, listener, pose) != (None, None, None) or name != "duet-dual":
            raise DuetError("--name and the guidance scales belong to model bundles, not voice prints")
        voiceprint.load(str(src))  # refuses a broken file before anything is replaced
        for s, d in ((src, voiceprint.WEIGHTS), (src.with_suffix(".json"), voiceprint.WEIGHTS.with_suffix(".json"))):
            with atomic_output(d) as tmp:
                shutil.copyfile(s, tmp)
        voiceprint.load.cache_clear()
        print(f"shipped {src} -> {voiceprint.WEIGHTS} ({voiceprint.WEIGHTS.stat().st_size / 1e6:.1f} MB)")
        return 0

    if not name.replace("-", "").isalnum():
        raise DuetError(f"--name {name!r}: use letters, digits and dashes")
    for flag, v in (("--guidance", guidance), ("--listener-guidance", listener), ("--pose-guidance", pose)):
        if v is not None and not 0.0 <= v <= 20.0:
            raise DuetError(f"{flag} {v:g}: use a scale between 0 and 20")
    b = bundle.load(src)
    if guidance is not None:
        b.cfg.guidance = guidance
    if listener is not None:
        b.cfg.guidance_listen = listener
    if pose is not None:
        b.cfg.guidance_pose = pose
    dst = bundle.save(bundle.WEIGHTS_DIR / f"{name}.pt", b.net, b.cfg, b.mean, b.std, {**b.meta, "id": name},
                      half=True)
    print(f"shipped {src} -> {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
    return 0
