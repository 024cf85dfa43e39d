"""``duet dialogue PROMPT -o DIR``: a scripted, spoken conversation with exact timings."""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("prompt", nargs="+", help="the scenario, e.g. 'two old friends arguing about football'")
    p.add_argument("-o", "--out", required=True, help="folder to write (mix.wav, a.wav, b.wav, script.json, timings.json)")
    p.add_argument("--seed", type=int, default=0, help="varies the offline script and the voices")
    p.add_argument("--offline", action="store_true", help="never ask the LLM endpoint, even when configured")
    p.add_argument("--tts", choices=("espeak", "openai"), default=None,
                   help="speech synthesizer (default espeak, or DUET_TTS); openai needs the endpoint configured")
    p.add_argument("--force", action="store_true", help="replace a folder that already has files in it")


def run(args) -> int:
    from duet import dialogue
    from duet.errors import DuetError

    tts = args.tts
    if args.offline:
        if tts == "openai":
            raise DuetError("--offline and --tts openai contradict each other")
        tts = "espeak"
    script = dialogue.write(" ".join(args.prompt), seed=args.seed, use_llm=not args.offline)
    if script.reason:
        print(f"duet dialogue: {script.reason}; used the offline script writer", file=sys.stderr)
    folder = dialogue.speak(script, args.out, force=args.force, tts=tts)
    why = dialogue.speech_fallback(folder)
    if why:
        print(f"duet dialogue: {why}; spoke it with espeak-ng", file=sys.stderr)
    d = dialogue.load(folder)
    print(f"{folder}: {len(script.turns)} turns, {d.timings.duration:.1f} s, script by {script.source}")
    return 0
