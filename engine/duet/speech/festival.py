"""festival through a Scheme script: utt.synth, then utt.save.wave and utt.save.segs (segment end times)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from duet.speech.phonemes import from_arpabet
from duet.errors import DuetError

_VOICE_DIRS = (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices"))


def installed() -> list[str]:
    if not shutil.which("festival"):
        return []
    return sorted({v.name for d in _VOICE_DIRS if d.is_dir() for lang in d.iterdir() if lang.is_dir()
                   for v in lang.iterdir() if v.is_dir()})


def synth(text: str, voice: str, rate: float, pitch: float):
    return synth_many([text], voice, rate, pitch)[0]


def synth_many(texts: list[str], voice: str, rate: float = 1.0, pitch: float = 1.0):
    """Speak several texts in one festival process (its start-up costs about a second)."""
    if not shutil.which("festival"):
        raise DuetError("festival is not installed (apt install festival festvox-kallpc16k)")
    import soundfile as sf
    with tempfile.TemporaryDirectory(prefix="duet-festival-") as tmp:
        tmp = Path(tmp)
        lines = [f"(voice_{voice})", f"(Parameter.set 'Duration_Stretch {1.0 / rate:.4f})",
                 f"(set! int_lr_params '((target_f0_mean {105 * pitch:.1f}) (target_f0_std {14 * pitch:.1f})"
                 " (model_f0_mean 170) (model_f0_std 34)))"]
        for i, text in enumerate(texts):
            lines += [f"(set! u (Utterance Text {_scheme_string(text)}))", "(utt.synth u)",
                      f"(utt.save.wave u \"{tmp / f'{i}.wav'}\" 'riff)",
                      f"(utt.save.segs u \"{tmp / f'{i}.segs'}\")"]
        script = tmp / "say.scm"
        script.write_text("\n".join(lines) + "\n")
        run = subprocess.run(["festival", "-b", str(script)], capture_output=True, text=True,
                             timeout=60 + 10 * len(texts))
        out = []
        for i in range(len(texts)):
            wav, segs = tmp / f"{i}.wav", tmp / f"{i}.segs"
            if run.returncode != 0 or not wav.is_file() or not segs.is_file():
                raise DuetError(f"festival voice {voice!r} failed: {(run.stderr or run.stdout).strip()[:200]}")
            samples, sr = sf.read(wav, dtype="float32", always_2d=False)
            out.append((np.asarray(samples, np.float32), int(sr), _read_segs(segs.read_text())))
    return out


def _read_segs(text: str):
    """utt.save.segs writes '#' then one 'END_TIME 100 PHONE' line per segment."""
    phones, start = [], 0.0
    for line in text.split("#", 1)[-1].splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        end = float(parts[0])
        phones.append((start, end, from_arpabet(parts[2])))
        start = end
    return phones


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
