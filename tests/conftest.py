"""Shared fixtures: real two-speaker audio synthesized with espeak-ng, and a way to run the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    rc: int
    out: str
    err: str


def run_duet(*args, env: dict | None = None, cwd=None, timeout: float = 600) -> Run:
    """Run the real ``duet`` command in a fresh process."""
    full_env = {**os.environ, **(env or {})}
    p = subprocess.run([sys.executable, "-m", "duet", *map(str, args)], capture_output=True, text=True,
                       env=full_env, cwd=cwd, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)


def espeak(text: str, voice: str, path: Path) -> np.ndarray:
    """Speak ``text`` with the espeak-ng command line; return 16 kHz float32 samples."""
    from duet.audio.io import load_audio

    if not shutil.which("espeak-ng"):
        pytest.fail("espeak-ng is not installed (tools/bootstrap.sh installs it)")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), text], check=True)
    return load_audio(path).mono


@dataclass
class Conversation:
    mix: Path
    a: Path
    b: Path
    stereo: Path
    turns: list  # (person, start_s, end_s)
    seconds: float


@pytest.fixture(scope="session")
def conversation(tmp_path_factory) -> Conversation:
    """A: sentence, pause, B: sentence, pause, A: sentence. Distinct male/female voices."""
    from duet.audio.io import save_wav

    d = tmp_path_factory.mktemp("conversation")
    lines = [("A", "en-us+m3", "Did you see the game last night? It was unbelievable."),
             ("B", "en-us+f4", "I missed it. I was working late again, sadly."),
             ("A", "en-us+m3", "You have to watch the replay. Really, you do.")]
    sr, gap = 16000, 0.6
    a = np.zeros(0, np.float32)
    b = np.zeros(0, np.float32)
    turns, t = [], 0.3
    parts = []
    for i, (who, voice, text) in enumerate(lines):
        x = espeak(text, voice, d / f"line{i}.wav")
        parts.append((who, t, x))
        turns.append((who, t, t + len(x) / sr))
        t += len(x) / sr + gap
    n = int((t + 0.3) * sr)
    a, b = np.zeros(n, np.float32), np.zeros(n, np.float32)
    for who, start, x in parts:
        s = int(start * sr)
        (a if who == "A" else b)[s: s + len(x)] += x
    conv = Conversation(d / "mix.wav", d / "a.wav", d / "b.wav", d / "stereo.wav", turns, n / sr)
    save_wav(conv.mix, 0.5 * (a + b))
    save_wav(conv.a, a)
    save_wav(conv.b, b)
    save_wav(conv.stereo, np.stack([a, b]))
    return conv
