"""``duet train``: train the dual-stream diffusion model on a corpus (resumable), train the voice
prints that mono diarization clusters (--voiceprint), or ship weights."""

from __future__ import annotations

from pathlib import Path

from duet.errors import DuetError

VOICEPRINT_STEPS = 1500


def add_arguments(p) -> None:
    p.add_argument("--config", metavar="FILE", help="a TrainConfig as TOML or JSON (e.g. a run's "
                   "config.json); the options below override it")
    p.add_argument("--corpus", default=None, help="corpus folder (made by 'duet data synth'; default data/corpus)")
    p.add_argument("--out", default=None, help="checkpoint folder; training resumes from it "
                   "(default data/train; data/voiceprint with --voiceprint)")
    p.add_argument("--steps", type=int, default=None, help="stage-1 steps (default from the config)")
    p.add_argument("--stage2-steps", type=int, default=None, help="stage-2 (lip fine-tuning) steps")
    p.add_argument("--batch", type=int, default=None, help="windows per step and process")
    p.add_argument("--seed", type=int, default=None, help="default 0")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch per process (0: torch's default; default 1, or all with --voiceprint)")
    p.add_argument("--no-cross-attention", action="store_true", help="train the single-stream ablation")
    p.add_argument("--voiceprint", action="store_true",
                   help="train the voice-print network for mono diarization instead (writes OUT/voiceprint.pt; "
                   f"--steps default {VOICEPRINT_STEPS})")
    p.add_argument("--ship", metavar="BUNDLE", help="instead of training: copy BUNDLE (fp16) into the "
                   "package as the shipped weights")
    p.add_argument("--name", default="duet-dual", help="shipped name (duet-dual; duet-single for the ablation)")
    p.add_argument("--guidance", type=float, nargs=3, default=None, metavar=("SPEAK", "LISTEN", "POSE"),
                   help="with --ship: sampling guidance on speaking frames' face, listening frames' face, and "
                        "head and eye rotations (tune on the val split)")
    p.add_argument("--gaze-guidance", type=float, nargs=2, default=None, metavar=("SPEAK", "LISTEN"),
                   help="with --ship: sampling guidance on the eye rotations while speaking and while listening "
                        "(default: as POSE; tune on the val split by eye contact)")
    p.add_argument("--head-guidance", type=float, nargs=2, default=None, metavar=("SPEAK", "LISTEN"),
                   help="with --ship: sampling guidance on the head's rotations and translation while speaking and "
                        "while listening (default: as POSE; tune on the val split by nods and head motion)")
    p.add_argument("--expression-guidance", type=float, nargs=2, default=None, metavar=("SPEAK", "LISTEN"),
                   help="with --ship: sampling guidance on the expression channels that do not articulate (blinks, "
                        "brows, cheeks, nose, smile, frown) while speaking and while listening (default: as the "
                        "face; tune on the val split by the listener's repertoire and leakage)")
    p.add_argument("--blink-guidance", type=float, nargs=2, default=None, metavar=("SPEAK", "LISTEN"),
                   help="with --ship: sampling guidance on the blinks while speaking and while listening "
                        "(default: as --expression-guidance; tune on the val split by the blink rate)")
    p.add_argument("--relation-guidance", metavar="RELATION", default=None,
                   help="with --ship: the relation the unconditional branch hears in place of a known one "
                        "(nonblood-equal: the corpus's default), so guidance scales the relation's effect too "
                        "(measure it with benchmarks/relations.py on the val split)")
    p.add_argument("--intensity-power", type=float, default=None, metavar="POWER",
                   help="with --ship: an emotion at intensity w blends its conditioning by w ** POWER, so that "
                        "0.5 moves the face about half of the way (default 1; measure it with "
                        "benchmarks/intensity.py on the val split)")
    p.add_argument("--mouth-power", type=float, default=None, metavar="POWER",
                   help="with --ship: the jaw's opening, as a share u of the rig's full opening, becomes u ** POWER "
                        "(default 1; below 1 opens the short vowels more; measure it with benchmarks/real_lips.py "
                        "on the lips' dev set and benchmarks/model_quality.py on the val split)")


def train_config(args):
    """The run's TrainConfig: the --config file (or the defaults), then the options given."""
    from duet.model.config import TrainConfig

    tc = TrainConfig.load(args.config) if args.config else TrainConfig()
    overrides = {"corpus": args.corpus, "out": args.out, "seed": args.seed, "threads": args.threads,
                 "stage1_steps": args.steps, "stage2_steps": args.stage2_steps, "batch": args.batch}
    for name, value in overrides.items():
        if value is not None:
            setattr(tc, name, value)
    if args.no_cross_attention:
        tc.model.cross_attention = False
    if tc.stage1_steps < 0 or tc.stage2_steps < 0 or tc.batch < 1:
        raise DuetError("--steps and --stage2-steps must be >= 0 and --batch >= 1")
    tc.model.window = tc.window
    return tc


def run(args) -> int:
    from duet.model.config import GUIDANCE_PAIRS

    scales = {"--guidance": args.guidance,
              **{f"--{group}-guidance": getattr(args, f"{group}_guidance") for group in GUIDANCE_PAIRS},
              "--intensity-power": None if args.intensity_power is None else (args.intensity_power,),
              "--mouth-power": None if args.mouth_power is None else (args.mouth_power,)}
    if args.ship:
        return _ship(Path(args.ship), args.name, scales, args.relation_guidance)
    given = [flag for flag, v in {**scales, "--relation-guidance": args.relation_guidance}.items() if v is not None]
    if given:
        raise DuetError(f"{', '.join(given)}: only with --ship")
    corpus = args.corpus or "data/corpus"
    if args.voiceprint:
        if not (Path(corpus) / "manifest.json").is_file():
            raise DuetError(f"{corpus}: not a Duet corpus (make one with 'duet data synth')")
        return _voiceprint(args)
    tc = train_config(args)
    if not (Path(tc.corpus) / "manifest.json").is_file():
        raise DuetError(f"{tc.corpus}: not a Duet corpus (make one with 'duet data synth')")
    from duet.train.loop import train

    path = train(tc)
    print(f"model bundle: {path}")
    return 0


def _voiceprint(args) -> int:
    from duet.train.voiceprint import train
    from duet.progress import Progress

    others = {"--config": args.config, "--stage2-steps": args.stage2_steps, "--batch": args.batch,
              "--no-cross-attention": args.no_cross_attention or None}
    given = [flag for flag, v in others.items() if v is not None]
    if given:
        raise DuetError(f"{', '.join(given)}: not an option of --voiceprint "
                        "(it takes --corpus, --out, --steps, --seed, --threads)")
    steps = VOICEPRINT_STEPS if args.steps is None else args.steps
    if steps < 1:
        raise DuetError("--steps must be >= 1")
    with Progress("training voice prints") as p:
        path = train(args.corpus or "data/corpus", Path(args.out or "data/voiceprint") / "voiceprint.pt", steps=steps, seed=args.seed or 0,
                     threads=args.threads or 0, progress=lambda f, loss: p.update(f, f"loss {loss:.3f}"))
    print(f"voice-print bundle: {path} (ship it with 'duet train --ship {path}')")
    return 0


def _ship(src: Path, name: str, scales: dict | None = None, relation_guidance: str | None = None) -> int:
    """Copy a training bundle into the package (fp16), with the sampling scales chosen on val
    (``scales``: {flag: values or None}) and the unconditional branch's relation
    (``relation_guidance``, ModelConfig.guidance_relation); a voice-print bundle goes in as the package's
    voiceprint.pt. Either is exported to ONNX beside it."""
    import shutil

    from duet.audio import voiceprint
    from duet.files import atomic_output
    from duet.model import bundle
    from duet.model.config import GUIDANCE_PAIRS
    from duet.model.export import export_model, export_voiceprint

    scales = {flag: v for flag, v in (scales or {}).items() if v is not None}
    if src.is_file() and voiceprint.is_bundle(src):
        if scales or name != "duet-dual":
            raise DuetError("--name and the guidance scales belong to model bundles, not voice prints")
        voiceprint.load(str(src))  # refuses a broken file before anything is replaced
        for s, d in ((src, voiceprint.WEIGHTS), (src.with_suffix(".json"), voiceprint.WEIGHTS.with_suffix(".json"))):
            with atomic_output(d) as tmp:
                shutil.copyfile(s, tmp)
        voiceprint.load.cache_clear()
        print(f"shipped {src} -> {voiceprint.WEIGHTS} ({voiceprint.WEIGHTS.stat().st_size / 1e6:.1f} MB)")
        print(f"exported {export_voiceprint(voiceprint.WEIGHTS)} (what duet generate runs)")
        return 0

    if not name.replace("-", "").isalnum():
        raise DuetError(f"--name {name!r}: use letters, digits and dashes")
    for flag, values in scales.items():
        if not all(0.0 <= v <= 20.0 for v in values):
            raise DuetError(f"{flag} {' '.join(f'{v:g}' for v in values)}: use scales between 0 and 20")
    for flag in ("--intensity-power", "--mouth-power"):
        if not 0.25 <= scales.get(flag, (1.0,))[0] <= 4.0:
            raise DuetError(f"{flag} {scales[flag][0]:g}: use a power between 0.25 and 4")
    b = bundle.load(src)
    if "--guidance" in scales:
        b.cfg.guidance, b.cfg.guidance_listen, b.cfg.guidance_pose = scales["--guidance"]
    for group in GUIDANCE_PAIRS:
        if f"--{group}-guidance" in scales:
            setattr(b.cfg, f"guidance_{group}", tuple(scales[f"--{group}-guidance"]))
    if "--intensity-power" in scales:
        b.cfg.intensity_power = scales["--intensity-power"][0]
    if "--mouth-power" in scales:
        b.cfg.mouth_power = scales["--mouth-power"][0]
    if relation_guidance is not None:
        if relation_guidance not in b.cfg.relations[1:]:
            raise DuetError(f"--relation-guidance {relation_guidance!r}: one of {', '.join(b.cfg.relations[1:])}")
        b.cfg.guidance_relation = relation_guidance
    dst = bundle.save(bundle.WEIGHTS_DIR / f"{name}.pt", b.net, b.cfg, b.mean, b.std, {**b.meta, "id": name},
                      half=True)
    print(f"shipped {src} -> {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
    print(f"exported {export_model(dst)} (what duet generate runs)")
    return 0
