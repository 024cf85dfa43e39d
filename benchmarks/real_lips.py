"""Lips on recorded people (issue 25), scored from the baked .blend: m/b/p closed, open vowels opened,
lip gap ~ phone openness r at lag 0, and listener leakage, for two tracks and for the mono mix.

    .venv/bin/python benchmarks/real_lips.py [DIR] [--no-bake] [--weights CHECKPOINT] [--plot PNG] [--speakers 2]

DIR (default data/timing/real) holds two-person clips of recorded people, NAME.wav (two channels, one
voice each) and NAME.json (their phones, hand-labelled or force-aligned, and who speaks first), as
`benchmarks/lip_lag.py --make-real DIR` makes them from benchmarks/real_voices.py's sources. Each clip
goes through the real commands a user runs: `duet generate A.wav --audio-b B.wav` (two tracks) and
`duet generate MIX.wav --first-speaker X` (mono, the front end deciding who speaks), then `duet bake`
with the mix as the sound strip; the lip gap of each baked head is read back per scene frame from the
sound strip's start (lip_lag.baked_gaps). The loudness-driven baseline animator on the two tracks is
the peer row. With --no-bake the motion's own lip gap is scored instead (faster, the same head).

Closure and open-vowel counts pool over clips and people; the open vowels are also split into the
aligner's "ah" and the rest (ARPAbet's 39 phones fold the schwa into "ah", so on force-aligned
recordings most "ah" are short reduced vowels; the synthetic corpus labels those "ax", not counted);
r at lag 0 is read off the lagged correlation curves (lags -3..+3 frames) averaged over people and
clips, with the best lag beside it.
Leakage: on frames where exactly one person speaks (by the phones), the listener's lip-gap std over
the speaker's, averaged over both directions; the median over clips (and the mean, which one clip
whose speech went to the wrong head can blow up, its true speaker's mouth being still).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

ROWS = (("model, two tracks", "two-track", "model"), ("model, mono mix", "mono", "model"),
        ("baseline animator (loudness), two tracks", "two-track", "baseline"))
COUNTS = ("closure", "open", "open_ah")  # pooled hits / totals: m/b/p closed, open vowels opened, of them "ah"
TARGETS = {"two-track": (0.92, 0.90, 0.62), "mono": (0.90, 0.85, 0.58)}  # closure, open, r (issue 25)


def generate_with(weights: str, clip: Path, shape: str, folder: Path, first: str):
    """Another checkpoint (.pt or .onnx) the way duet generate runs the shipped one (its masks, the
    default layout), at the checkpoint's own sampling scales: a bundle made by `duet train --ship`
    samples as shipped; a training snapshot at its ModelConfig's defaults."""
    import soundfile as sf

    from duet.audio.io import save_wav
    from duet.model import generate as model_generate
    from duet.pipeline import Request, load_tracks, scene_layout, speaking_masks

    x, sr = sf.read(clip, dtype="float32", always_2d=True)
    save_wav(folder / "a.wav", x[:, 0], sr)
    save_wav(folder / "b.wav", x[:, 1], sr)
    save_wav(folder / "mix.wav", x.mean(1), sr)
    req = (Request(audio=str(folder / "a.wav"), audio_b=str(folder / "b.wav"), input_shape="two-track")
           if shape == "two-track" else Request(audio=str(folder / "mix.wav"), input_shape="mono", first_speaker=first))
    tracks, shape = load_tracks(req)
    masks, _ = speaking_masks(req, tracks, shape)
    motion = model_generate(tracks, shape, layout=scene_layout("")[0], seed=0, masks=masks, weights=weights,
                            first_speaker=first if shape == "mono" else "A")
    return motion, x.mean(1)


def generate(clip: Path, shape: str, animator: str, folder: Path, first: str, speakers: str = "auto"):
    """The motion `duet generate` makes for one clip, as a user would call it."""
    import soundfile as sf

    from duet.audio.io import save_wav
    from duet.motion import DyadicMotion

    x, sr = sf.read(clip, dtype="float32", always_2d=True)
    out = folder / f"{shape}-{animator}.npz"
    if shape == "two-track":
        save_wav(folder / "a.wav", x[:, 0], sr)
        save_wav(folder / "b.wav", x[:, 1], sr)
        args = [folder / "a.wav", "--audio-b", folder / "b.wav"]
    else:
        args = [folder / "mix.wav", "--first-speaker", first, *(["--speakers", speakers] if speakers != "auto" else [])]
    save_wav(folder / "mix.wav", x.mean(1), sr)
    r = subprocess.run([sys.executable, "-m", "duet", "generate", *map(str, args), "--animator", animator,
                        "-o", str(out)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"duet generate failed on {clip.name}: {r.stderr.strip().splitlines()[-1:]}")
    return DyadicMotion.load(out), x.mean(1)


def score(gaps: dict, phones: dict, fps: float) -> dict:
    from duet.eval import metrics as M
    from duet.eval import timing as T

    out = {**{k: M.Count(0, 0) for k in COUNTS}, "curves": []}
    for p in "AB":
        if not phones[p]:
            continue
        out["closure"] += M.bilabial_closure_rate(gaps[p], phones[p], fps)
        out["open"] += M.open_vowel_rate(gaps[p], phones[p], fps)
        out["open_ah"] += M.open_vowel_rate(gaps[p], phones[p], fps, vowels={"ah"})
        out["curves"].append(T.lag_curve(gaps[p], phones[p], fps))  # r at lags -3..+3 frames
    n = min(len(g) for g in gaps.values())
    masks = {p: M.speech_frames(phones[p], fps, n) for p in "AB"}
    out["leakage"] = M.listener_mouth_leakage({p: g[:n] for p, g in gaps.items()}, masks)
    return out


def main() -> None:
    import json

    from duet.eval import metrics as M
    from duet.eval import timing as T
    from duet.eval.runner import face

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", default="data/timing/real")
    ap.add_argument("--no-bake", action="store_true", help="score the motion's lip gap, not the baked scene's")
    ap.add_argument("--weights", help="score this checkpoint (.pt or .onnx) instead of the shipped model "
                                      "(model rows only; in-process, as duet generate runs)")
    ap.add_argument("--plot", metavar="PNG", help="also draw the first clip's first 8 s: person A's lip gap "
                                                   "(two tracks) against its open vowels and m/b/p")
    ap.add_argument("--speakers", default="auto", choices=("auto", "1", "2"),
                    help="mono rows: how many people duet generate is told it hears (default: it decides)")
    args = ap.parse_args()
    rows = [r for r in ROWS if r[2] == "model"] if args.weights else list(ROWS)
    clips = sorted(Path(args.folder).glob("*.json"))
    if not clips:
        sys.exit(f"{args.folder}: no clips (make them with benchmarks/lip_lag.py --make-real {args.folder})")
    from lip_lag import baked_gaps

    faces = {p: face(p) for p in "AB"}
    totals = {name: {**{k: M.Count(0, 0) for k in COUNTS}, "curves": [], "leakage": [], "lags": []}
              for name, *_ in rows}
    print("| clip | " + " | ".join(name for name, *_ in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for meta in clips:
        info = json.loads(meta.read_text())
        phones = {p: [tuple(ph) for ph in info["phones"][p]] for p in "AB"}
        cells = []
        for name, shape, animator in rows:
            if info.get("mono_only") and shape != "mono":  # one mixed track (a recorded conversation)
                cells.append("(one mixed track)")
                continue
            with tempfile.TemporaryDirectory() as d:
                if args.weights:
                    motion, mix = generate_with(args.weights, meta.with_suffix(".wav"), shape, Path(d),
                                                info["first_speaker"])
                else:
                    motion, mix = generate(meta.with_suffix(".wav"), shape, animator, Path(d), info["first_speaker"],
                                           args.speakers)
                if args.no_bake:
                    gaps, fps = {p: T.mouth_gap(motion, p, faces) for p in "AB"}, motion.fps
                else:
                    got, offset = baked_gaps(motion, mix, Path(d))
                    gaps, fps = {p: g[int(offset):] for p, g in got.items()}, motion.fps
            s = score(gaps, phones, fps)
            if args.plot and meta == clips[0] and shape == "two-track" and animator == "model":
                plot(Path(args.plot), gaps["A"], phones["A"], fps,
                     "/".join(Path(args.weights).parts[-2:]) if args.weights else "shipped weights", s)
            t = totals[name]
            for k in COUNTS:
                t[k] += s[k]
            t["curves"] += s["curves"]
            t["leakage"].append(s["leakage"])
            pooled = np.nanmean(s["curves"], 0)
            t["lags"].append(T.best_lag(pooled))
            mid = len(pooled) // 2
            cells.append(f"closed {s['closure'].hits}/{s['closure'].total}, open {s['open'].hits}/{s['open'].total}, "
                         f"r {pooled[mid]:.2f}, leak {s['leakage']:.2f}")
        print(f"| {meta.stem} | " + " | ".join(cells) + " |", flush=True)
    source = "motion's own lip gap" if args.no_bake else "baked .blend"
    print(f"\n{len(clips)} clips of recorded people, {source}, {args.weights or 'shipped weights'}\n")
    print("| input | m/b/p closed | open vowels open | r at lag 0 | best lag (frames; clips per lag) "
          "| leakage, median (mean) | open: the aligner's ah / the rest |")
    print("|---|---|---|---|---|---|---|")
    for name, shape, _ in rows:
        t = totals[name]
        if not t["curves"]:
            continue
        curve = np.nanmean(t["curves"], 0)
        mid = len(curve) // 2
        lags = {k: t["lags"].count(k) for k in sorted(set(t["lags"]))}
        best = T.best_lag(curve)
        goal = TARGETS[shape]
        print(f"| {name} | {t['closure'].hits / max(t['closure'].total, 1):.3f} (target {goal[0]}) "
              f"| {t['open'].hits / max(t['open'].total, 1):.3f} ({goal[1]}) | {curve[mid]:.3f} ({goal[2]}) "
              f"| {best:+d}; {', '.join(f'{k:+d}: {v}' for k, v in lags.items())} "
              f"| {np.nanmedian(t['leakage']):.3f} ({np.nanmean(t['leakage']):.2f}) "
              f"| {_share(t['open_ah'])} / "
              f"{_share(M.Count(t['open'].hits - t['open_ah'].hits, t['open'].total - t['open_ah'].total))} |")


def plot(path: Path, gap: np.ndarray, phones: list, fps: float, title: str, s: dict, seconds: float = 8.0) -> None:
    """A's lip gap over the first ``seconds`` in units of its 95th-percentile speech opening, the open
    and closed thresholds of the rates, and the phones they judge: the aligner's "ah", the other
    open vowels and m/b/p."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from duet.eval import metrics as M
    from duet.speech import phonemes

    ref = M._reference_opening(gap, phones, fps)
    n = min(len(gap), int(seconds * fps))
    t = np.arange(n) / fps
    fig, ax = plt.subplots(figsize=(10, 3.0), dpi=100)
    kinds = (("the aligner's ah", lambda p: p == "ah", "tab:orange"),
             ("other open vowels", lambda p: p in phonemes.OPEN_VOWELS and p != "ah", "tab:green"),
             ("m/b/p", lambda p: p in phonemes.BILABIAL, "0.6"))
    for label, pick, colour in kinds:
        spans = [(a, b) for a, b, p in phones if pick(p) and a < seconds]
        for i, (a, b) in enumerate(spans):
            ax.axvspan(a, b, color=colour, alpha=0.35, lw=0, label=label if i == 0 else None)
    ax.plot(t, gap[:n] / ref, color="k", lw=1.4, label="lip gap / p95 opening")
    ax.axhline(M.OPEN_FRACTION, color="tab:green", ls="--", lw=0.8)
    ax.axhline(M.CLOSURE_FRACTION, color="0.4", ls="--", lw=0.8)
    ax.set_xlim(0, t[-1])
    ax.set_ylim(0, 1.4)
    ax.set_xlabel("seconds")
    ax.set_title(f"{title}, two tracks: the clip closes {s['closure'].hits}/{s['closure'].total} m/b/p, "
                 f"opens {s['open'].hits}/{s['open'].total} open vowels", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), fontsize=8, ncol=4, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _share(count) -> str:
    return f"{count.hits / count.total:.3f} of {count.total}" if count.total else "-"


if __name__ == "__main__":
    main()
