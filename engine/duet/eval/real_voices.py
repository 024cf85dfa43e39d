"""Speaking masks on the real-voice development set (`benchmarks/real_voices.py build`): mono mixes of
recorded people with speech-frame references, scored as issue 24 asks.

Monologue: the share of the speaker's speech frames (those heard as speech) that sit on one head.
Dialogue: the share of frames where exactly one person speaks (and speech is heard) given to that
person, under the better of the two A/B namings (a mono mix names its first voice A).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from duet.constants import SAMPLE_RATE as SR
from duet.errors import DuetError


def score_clip(pred: np.ndarray, ref: np.ndarray, kind: str) -> dict:
    """Monologue: share of the speaker's frames (heard as speech) that sit on one head. Dialogue:
    share of frames where one person speaks (and speech is heard) given to that person, under the
    better of the two A/B namings; also mask F1 under that naming."""
    n = min(pred.shape[1], ref.shape[1])
    p, r = pred[:, :n] >= 0.5, ref[:, :n]
    if kind == "monologue":
        heard = r[0] & (p[0] | p[1])
        on = [int((heard & p[h] & ~p[1 - h]).sum()) for h in (0, 1)]
        return {"one_head": max(on) / max(int(heard.sum()), 1), "heard": int(heard.sum()),
                "recall": int(heard.sum()) / max(int(r[0].sum()), 1)}
    single = (r[0] ^ r[1]) & (p[0] | p[1])
    best = None
    for q in (p, p[::-1]):
        right = int((single & r[0] & q[0] & ~q[1]).sum() + (single & r[1] & q[1] & ~q[0]).sum())
        tp, fp, fn = int((q & r).sum()), int((q & ~r).sum()), int((~q & r).sum())
        cand = {"right": right, "single": int(single.sum()), "f1": 2 * tp / max(2 * tp + fp + fn, 1)}
        if best is None or cand["right"] > best["right"]:
            best = cand
    best["attribution"] = best["right"] / max(best["single"], 1)
    return best


def evaluate(data: Path, split: str, speakers: int | None = None, verbose: bool = False) -> dict:
    from duet.audio.io import load_audio
    from duet.audio.masks import speaking_masks

    if not (data / "manifest.json").is_file():
        raise DuetError(f"{data}: no real-voice set there (make one with benchmarks/real_voices.py build -o {data})")
    manifest = json.loads((data / "manifest.json").read_text())
    mono_on = mono_heard = right = single = 0
    f1s, rows, seconds, audio_s = [], [], 0.0, 0.0
    groups: dict[str, list[int]] = {}  # attribution [right, single] by pair kind and by room variant
    for clip in manifest["clips"]:
        if clip["split"] != split:
            continue
        x = load_audio(data / split / f"{clip['id']}.wav").mono
        ref = np.load(data / split / f"{clip['id']}.ref.npy")
        t0 = time.perf_counter()
        pred = speaking_masks(x[None], "mono", speakers=speakers)
        seconds += time.perf_counter() - t0
        audio_s += len(x) / SR
        s = score_clip(pred, ref, clip["kind"])
        rows.append((clip["id"], s))
        if clip["kind"] == "monologue":
            mono_on += s["one_head"] * s["heard"]
            mono_heard += s["heard"]
        else:
            right, single = right + s["right"], single + s["single"]
            f1s.append(s["f1"])
            for key in (clip["kind"], clip["variant"]):
                g = groups.setdefault(key, [0, 0])
                g[0], g[1] = g[0] + s["right"], g[1] + s["single"]
        if verbose:
            print(clip["id"], {k: round(v, 3) if isinstance(v, float) else v for k, v in s.items()})
    return {"split": split, "monologue_one_head": mono_on / max(mono_heard, 1),
            "attribution": right / max(single, 1),
            "attribution_by": {k: r / max(n, 1) for k, (r, n) in sorted(groups.items())}, "dialogue_f1": float(np.mean(f1s)) if f1s else 0.0,
            "worst_monologue": min((s["one_head"], c) for c, s in rows if "one_head" in s),
            "worst_dialogue": min((s["attribution"], c) for c, s in rows if "attribution" in s),
            "seconds_per_minute": 60 * seconds / max(audio_s, 1e-9)}
