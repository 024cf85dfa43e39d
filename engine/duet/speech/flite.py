"""flite through its command line: ``-psdur`` prints each segment's end time while it writes the wave."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from duet.speech.phonemes import from_arpabet
from duet.errors import DuetError

# Mean F0 (Hz) each voice is built around, so ``pitch`` can scale it.
_F0 = {"kal": 100.0, "kal16": 100.0, "rms": 110.0}


def installed() -> list[str]:
    if not shutil.which("flite"):
        return []
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30).stdout
    return out.split(":", 1)[-1].split()


def synth(text: str, voice: str, rate: float, pitch: float):
    if not shutil.which("flite"):
        raise DuetError("flite is not installed (apt install flite)")
    import soundfile as sf
    with tempfile.TemporaryDirectory(prefix="duet-flite-") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = ["flite", "-voice", voice, "-psdur", "--setf", f"duration_stretch={1.0 / rate:.4f}",
               "--setf", f"int_f0_target_mean={_F0.get(voice, 100.0) * pitch:.1f}", "-t", text, "-o", str(wav)]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if run.returncode != 0 or not wav.is_file():
            raise DuetError(f"flite voice {voice!r} failed: {(run.stderr or run.stdout).strip()[:200]}")
        samples, sr = sf.read(wav, dtype="float32", always_2d=False)
    phones, start = [], 0.0
    for item in run.stdout.split():
        name, _, end = item.rpartition(":")
        end = float(end)
        phones.append((start, end, from_arpabet(name)))
        start = end
    return np.asarray(samples, np.float32), int(sr), phones
