"""Whole-process `duet generate` on 60 s of conversation: the torch path and the runtime path side by side.

    .venv/bin/python benchmarks/infer.py [--seconds 60] [--repeats 3] [--against REV]

The audio is a two-voice espeak-ng conversation (real speech, the same every run). Each row is a
fresh Python process doing everything `duet generate AUDIO --prompt P -o OUT.npz` does (start-up and
imports, loading the audio, the layout from the prompt, features, speaking masks, sampling, writing
the .npz); the two paths differ only in the model file: the torch bundle (.pt) or its ONNX export run
by ONNX Runtime. The third row is the real `duet generate` command; ``--against REV`` adds the same
command run from the engine as git revision REV had it (its files extracted to a temporary folder),
so a change is measured beside the code before it in one run. Each row shows the best of
``--repeats`` runs, taken in turn (row after row, round after round, so a burst of other work slows
every row alike): wall seconds (on a shared machine other work inflates these) and the process's
CPU seconds. The target is 3 s wall for 60 s of audio (20x real time). The child rows run with one
BLAS thread, as the `duet generate` command sets (duet.cli.ONE_BLAS_THREAD).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "two friends arguing across a kitchen table"
LINES = ["Did you see the game last night? It was unbelievable, honestly.",
         "I missed it. I was working late again, sadly, and the bus was slow.",
         "You have to watch the replay. The second half was something else.",
         "Fine, I will, but only if you stop telling me the score first."]


def conversation(path: Path, seconds: float) -> Path:
    """Alternating lines of two espeak-ng voices with half-second gaps, cut to ``seconds``."""
    import numpy as np

    from duet.audio.io import save_wav
    from duet.constants import SAMPLE_RATE
    from duet.speech import synthesize

    parts, total, i = [], 0, 0
    while total < seconds * SAMPLE_RATE:
        speech = synthesize(LINES[i % len(LINES)], "espeak:en-us+m3" if i % 2 == 0 else "espeak:en-us+f4")
        parts += [speech.samples, np.zeros(SAMPLE_RATE // 2, np.float32)]
        total += len(speech.samples) + SAMPLE_RATE // 2
        i += 1
    save_wav(path, np.concatenate(parts)[: int(seconds * SAMPLE_RATE)])
    return path


def one(kind: str, audio: str, out: str) -> None:
    """The child: `duet generate`'s steps (duet.pipeline.generate) with the model file of ``kind``."""
    from duet.model import bundle, exported
    from duet.model.infer import generate
    from duet.pipeline import Request, labels, load_tracks, scene_layout

    req = Request(audio=audio, prompt=PROMPT)
    emotion, relation = labels(req)
    tracks, shape = load_tracks(req)
    layout, _ = scene_layout(req.prompt)
    weights = bundle.SHIPPED if kind == "torch" else exported.SHIPPED
    generate(tracks, shape, layout=layout, emotion=emotion, relation=relation, weights=weights,
             first_speaker="A").save(out)
    print("torch imported" if "torch" in sys.modules else "no torch")


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall s, the child's CPU s, its last stdout line: whether torch was imported) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {p.stderr.strip().splitlines()[-1:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, (p.stdout.strip().splitlines() or [""])[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--against", metavar="REV", help="also time duet generate as git revision REV had it")
    ap.add_argument("--one", nargs=3, metavar=("KIND", "AUDIO", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(*args.one)
    with tempfile.TemporaryDirectory() as tmp:
        audio = conversation(Path(tmp) / "conversation.wav", args.seconds)
        out = str(Path(tmp) / "m.npz")
        duet = str(Path(sys.executable).with_name("duet"))
        one_blas = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        command = ["generate", str(audio), "--prompt", PROMPT, "-o", out]
        rows = {"torch path (.pt, torch)": ([sys.executable, __file__, "--one", "torch", str(audio), out], one_blas),
                "runtime path (.onnx, ONNX Runtime)": ([sys.executable, __file__, "--one", "runtime", str(audio), out],
                                                       one_blas),
                "duet generate (the command)": ([duet, *command], None)}
        if args.against:
            old = Path(tmp) / "old"
            old.mkdir()
            archive = subprocess.run(["git", "archive", args.against, "engine"], capture_output=True,
                                     cwd=Path(__file__).resolve().parent.parent, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            rows[f"duet generate at {args.against}"] = ([sys.executable, "-m", "duet", *command],
                                                        {**os.environ, "PYTHONPATH": str(old / "engine")})
        print(f"{args.seconds:.0f} s of audio, prompt {PROMPT!r}; whole process, best of {args.repeats}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start")
        runs = {name: [] for name in rows}
        for _ in range(args.repeats):
            for name, (cmd, env) in rows.items():
                runs[name].append(timed(cmd, env))
        best = {}
        for name in rows:
            wall, cpu, note = min(runs[name])
            best[name] = wall
            print(f"  {name:36s} {wall:6.2f} s wall ({args.seconds / wall:5.1f}x real time), {cpu:5.2f} s CPU"
                  f"{'  (' + note + ')' if note else ''}")
        torch_wall, runtime_wall = best["torch path (.pt, torch)"], best["runtime path (.onnx, ONNX Runtime)"]
        print(f"runtime / torch: {runtime_wall / torch_wall:.2f}x the time; target <= 3 s wall -> "
              f"{best['duet generate (the command)']:.2f} s")


if __name__ == "__main__":
    main()
