"""Two-channel files as users record them: is each one heard as one voice per channel, two voices
panned apart, or a mix (`duet.pipeline.load_tracks` with --input-shape auto, then the speaking masks
`duet generate` uses), and are the speech frames given to the right person?

    .venv/bin/python benchmarks/stereo_files.py [DIR]

DIR (default data/timing/real-read) holds two-person clips of recorded people, NAME.wav (one voice
per channel) and NAME.json (each person's phones), as `benchmarks/lip_lag.py --make-real DIR
--read-voices` makes them. Each clip is recorded again in several ways: one voice per channel, with
-20 dB crosstalk, panned 80/20, 70/30 and 60/40, and the mix on both channels (two microphones
0.5 ms apart; a separate synthetic room per channel, `duet.corpus.augment.reverb`); and two files
(--audio-b) whose microphones hear each other at -10 dB, or that both hold the mix. Reference: a frame is a person's when its centre lies in one of
their phones; attribution as `duet.eval.real_voices.score_clip` counts it (frames where one person
speaks, given to that person, better A/B naming), beside the share of frames where both heads talk.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def recordings(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    from duet.corpus.augment import reverb  # a synthetic room as each microphone hears it

    mix = a + b
    pan = lambda k: np.stack([k * a + (1 - k) * b, (1 - k) * a + k * b])  # noqa: E731
    return {"one voice per channel": np.stack([a, b]),
            "one voice per channel, -20 dB crosstalk": np.stack([a + 0.1 * b, b + 0.1 * a]),
            "panned 80/20": pan(0.8), "panned 70/30": pan(0.7), "panned 60/40": pan(0.6),
            "mix on two microphones 0.5 ms apart": np.stack([mix, np.roll(mix, 8)]),
            "mix, a room per channel (RT60 0.1-0.6 s)": np.stack([reverb(mix, rng), reverb(mix, rng)]),
            "two tracks, each microphone hearing the other at -10 dB": np.stack([a + 0.32 * b, b + 0.32 * a]),
            "two tracks, both the mix": np.stack([mix, mix])}


def main() -> None:
    import soundfile as sf

    from duet.audio.io import save_wav
    from duet.eval.metrics import speech_frames
    from duet.eval.real_voices import score_clip
    from duet.pipeline import Request, load_tracks, speaking_masks

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "data/timing/real-read")
    clips = sorted(folder.glob("*.json"))
    if not clips:
        sys.exit(f"{folder}: no clips (make them with benchmarks/lip_lag.py --make-real {folder} --read-voices)")
    totals: dict[str, dict] = {}
    for meta in clips:
        info = json.loads(meta.read_text())
        x, sr = sf.read(meta.with_suffix(".wav"), dtype="float32", always_2d=True)
        n = len(x) // 640
        ref = np.stack([speech_frames([tuple(p) for p in info["phones"][q]], 25.0, n) for q in "AB"])
        for name, stereo in recordings(x[:, 0], x[:, 1], np.random.default_rng(0)).items():
            with tempfile.TemporaryDirectory() as d:
                if name.startswith("two tracks"):  # two files, as --audio-b gives them
                    save_wav(Path(d) / "a.wav", stereo[0], sr)
                    save_wav(Path(d) / "b.wav", stereo[1], sr)
                    req = Request(audio=str(Path(d) / "a.wav"), audio_b=str(Path(d) / "b.wav"))
                else:
                    save_wav(Path(d) / "s.wav", stereo, sr)
                    req = Request(audio=str(Path(d) / "s.wav"))
                tracks, shape = load_tracks(req)
                masks, verdict = speaking_masks(req, tracks, shape)
            s = score_clip(masks, ref, "dialogue")
            on = masks >= 0.5
            t = totals.setdefault(name, {"right": 0, "single": 0, "both": [], "heard": []})
            t["right"] += s["right"]
            t["single"] += s["single"]
            t["both"].append(float((on[0] & on[1]).mean()))
            t["heard"].append(f"{shape}: {verdict}")
    print(f"{len(clips)} clips of {folder}\n")
    print("| recorded as | heard as (per clip) | attribution | both heads talk |")
    print("|---|---|---:|---:|")
    for name, t in totals.items():
        heard = "; ".join(f"{h} ({t['heard'].count(h)})" for h in dict.fromkeys(t["heard"]))
        print(f"| {name} | {heard} | {t['right'] / max(t['single'], 1):.3f} | {np.mean(t['both']):.3f} |")


if __name__ == "__main__":
    main()
