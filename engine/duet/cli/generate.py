"""duet generate AUDIO [--audio-b B] [--prompt P] ... -o OUT.npz"""

from __future__ import annotations

import argparse


def add_request_arguments(p: argparse.ArgumentParser, audio_required: bool = True) -> None:
    """The options every audio -> motion command shares (generate, run)."""
    from duet.pipeline import ANIMATORS, INPUT_SHAPES

    p.add_argument("audio", nargs=None if audio_required else "?",
                   help="the conversation: a mono mix, a stereo file (one voice per channel) or person A's track")
    p.add_argument("--audio-b", help="person B's own track (then AUDIO is person A's)")
    p.add_argument("--prompt", default="", help="a sentence about the scene, e.g. 'whispering on a park bench'")
    p.add_argument("--emotion", metavar="E",
                   help="emotion for both people (happy), with an intensity (happy:0.5; 0 neutral, 1 as "
                        "trained, up to 2) or per person (A=happy:0.5,B=sad); unset: neutral, or a spoken "
                        "script's own with --prompt alone")
    p.add_argument("--emotion-turns", metavar="F.json",
                   help="emotion turn by turn, from a script: a JSON list of {\"speaker\": \"A\", \"start\": "
                        "seconds, \"emotion\": \"happy\", \"intensity\": 0.5 (optional)}, over --emotion "
                        "from each turn's start")
    p.add_argument("--relation", help="social relation of the two (e.g. friends, colleagues, parent-child)")
    p.add_argument("--senior", choices=("A", "B"),
                   help="in an unequal relation (parent-child, boss-employee), who is the senior (default: the side "
                        "the scene names first, A being the person mentioned first, e.g. B for 'an employee asks "
                        "her boss'; else A)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same motion)")
    p.add_argument("--animator", default="model", choices=ANIMATORS,
                   help="model: the dual-stream diffusion model (default); model-single: its ablation "
                        "without cross-attention; baseline: the loudness-driven animator")
    p.add_argument("--input-shape", default="auto", choices=INPUT_SHAPES,
                   help="how to read AUDIO (auto: stereo with different channels = one voice each)")
    p.add_argument("--first-speaker", default="A", choices=("A", "B"),
                   help="who speaks first (default A)")
    for flag, what in (("--head-motion", "head motion"), ("--expression", "facial expression (brows, smiles, "
                       "cheeks; not the lips)"), ("--gaze-aversion", "looking away from the partner's eyes")):
        p.add_argument(flag, default="1.0", metavar="X[,Y]",
                       help=f"how much {what}: one amount for both people or A,B (default 1.0: as made; 0-3)")


def request_from(args):
    """The Request for the command line, its emotion checked (a bad one fails before anything is written)."""
    from duet.pipeline import Request, emotion_plan, read_emotion_turns

    turns = read_emotion_turns(args.emotion_turns) if args.emotion_turns else None
    emotion_plan(args.emotion, turns)
    return Request(audio=args.audio, audio_b=args.audio_b, prompt=args.prompt, emotion=args.emotion,
                   emotion_turns=turns, relation=args.relation, senior=args.senior, seed=args.seed,
                   animator=args.animator, input_shape=args.input_shape, first_speaker=args.first_speaker,
                   head_motion=args.head_motion, expression=args.expression, gaze_aversion=args.gaze_aversion)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_request_arguments(p)
    p.add_argument("-o", "--output", required=True, help="where to write the DyadicMotion (.npz)")
    p.add_argument("--speakers", type=int, choices=(1, 2),
                   help="how many people talk in a mono mix (default: decided from the audio)")
    p.add_argument("--turns", metavar="F.txt",
                   help="who speaks when, from an Audacity label file (start, end, A|B); replaces diarization")
    p.add_argument("--turns-out", metavar="F.txt",
                   help="write who speaks when as an Audacity label file, to check or edit and give back with --turns")


def _who_speaks_options(args, req) -> None:
    """--speakers and --turns go into the request (the pipeline decides who speaks once, from the
    audio it loads); none of them, nor --turns-out, applies to the baseline, which finds its own."""
    from duet.errors import DuetError

    if req.animator == "baseline" and (args.turns or args.turns_out or args.speakers):
        raise DuetError("--speakers, --turns and --turns-out work with the model animators, not baseline")
    req.speakers, req.turns = args.speakers, args.turns


def run(args) -> int:
    import sys

    import numpy as np

    from duet.audio.turns import write_labels
    from duet.pipeline import generate, output_path, silent_person_note

    out = output_path(args.output, ".npz")
    req = request_from(args)
    _who_speaks_options(args, req)
    motion = generate(req)
    if args.turns_out:  # the masks the model was given are the motion's speaking tracks
        write_labels(args.turns_out, np.stack([motion.A.speaking, motion.B.speaking]))
    motion.save(out)
    verdict = motion.meta.get("who_speaks")
    if verdict:  # said once the motion is written, so a failure stays one line
        print(f"who speaks: {verdict}", file=sys.stderr)
    note = silent_person_note(motion, req)
    if note:
        print(note, file=sys.stderr)
    print(f"wrote {out} ({motion.n_frames} frames, {motion.duration:.1f} s)", file=sys.stderr)
    return 0
