"""Front-end speed: features and speaking masks for 60 s of real two-voice speech (target <= 1 s), and
the shipped model's whole front end (log-mel features, the Whisper encoder, mono masks). numpy's BLAS
runs on one thread, as in `duet generate` and the add-on's worker (Duet's own threads share the CPUs).

Run: .venv/bin/python benchmarks/frontend.py  — builds a 60 s espeak-ng dialogue, then times each
stage side by side (best of 3 after one warm-up call) and prints the ratio to the 1 s budget.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duet

duet.one_blas_thread()  # as `duet generate` and the add-on's worker run: before numpy loads
import numpy as np  # noqa: E402

from duet.constants import SAMPLE_RATE as SR  # noqa: E402
SECONDS = 60
LINES = ["Did you see the game last night? It was unbelievable.", "I missed it, I was working late again.",
         "You have to watch the replay, really.", "Maybe this weekend, if the weather is bad.",
         "It is supposed to rain on Saturday.", "Then it is settled, replay and pizza."]


def dialogue() -> np.ndarray:
    """[2, 60 s] tracks: two espeak-ng voices taking turns with short pauses."""
    from duet.audio.io import load_audio

    tracks = np.zeros((2, SECONDS * SR), np.float32)
    t, i = int(0.3 * SR), 0
    with tempfile.TemporaryDirectory() as d:
        while t < SECONDS * SR:
            voice = ("en-us+m3", "en-us+f4")[i % 2]
            path = Path(d) / f"{i % len(LINES)}_{i % 2}.wav"
            if not path.exists():
                subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), LINES[i % len(LINES)]], check=True)
            x = load_audio(path).mono[: SECONDS * SR - t]
            tracks[i % 2, t: t + len(x)] = x
            t += len(x) + int(0.4 * SR)
            i += 1
    return tracks


def best_of(fn, repeats: int = 3) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of `repeats` calls after a warm-up. CPU time (all threads)
    says what the stage costs when the shared machine is busy and wall time does not."""
    from duet.audio import features

    fn()
    times = []
    for _ in range(repeats):
        features.forget()  # each call computes its clip's log-mel and pitch, as a new clip would
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return min(times)


def main() -> int:
    from duet.audio import features, whisper
    from duet.audio.masks import speaking_masks

    tracks = dialogue()
    mix = 0.5 * tracks.sum(0)
    rows = [
        ("features", best_of(lambda: features.compute(mix))),
        ("masks two-track", best_of(lambda: speaking_masks(tracks, "two-track"))),
        ("masks mono", best_of(lambda: speaking_masks(mix[None], "mono"))),
    ]
    # stages run together share the clip's log-mel and pitch (computed once, as in `duet generate`)
    rows.append(("features + masks two-track", best_of(lambda: (features.compute(mix),
                                                                speaking_masks(tracks, "two-track")))))
    rows.append(("features + masks mono", best_of(lambda: (features.compute(mix),
                                                           speaking_masks(mix[None], "mono")))))
    # the shipped model also hears the Whisper encoder (duet.audio.whisper): its whole front end
    rows.append(("Whisper encoder", best_of(lambda: whisper.compute(mix))))
    rows.append(("model's front end, mono", best_of(lambda: (whisper.model_features(mix, "both"),
                                                             speaking_masks(mix[None], "mono")))))
    print(f"{SECONDS} s of audio, {features.FEATURE_DIM} features/frame")
    for name, (sec, cpu) in rows:
        print(f"{name:<28} {sec:6.3f} s   {sec / 1.0:5.2f} x budget   {SECONDS / sec:6.0f} x real time   "
              f"CPU {cpu:6.3f} s")
    return 0 if max(sec for _, (sec, _) in rows) <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
