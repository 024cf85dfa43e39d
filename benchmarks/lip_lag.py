"""Where lip lateness enters, stage by stage: the best lag (frames, lags -3..+3; positive: the mouth is
late) of each stage's lip gap against phone times, per clip and pooled, on the corpus's test split.

    .venv/bin/python benchmarks/lip_lag.py [--corpus data/test-split] [--clips 21] [--bake-clips 1]
                                           [--held-out DIR]

Phone times: the corpus's own labels, and an independent pocketsphinx forced alignment of each
person's track (duet.eval.timing.turn_phones). Stages:
  labels     the labels' openness against the aligner's, 5 ms steps (ms; positive: labels later)
  truth      the corpus animator's lip gap (the training target)
  features   where frame k's audio features are centred, ms after k / 25 s (a click swept across it)
  model      the shipped model on the mono mix, as `duet generate` runs it; also at 5 ms steps (ms)
  blend      the model's frames within the window boundary blends only, and the rest (pooled)
  sampling   the model with 4x the DDIM steps
  bake       `duet bake` of the model's motion with the mix as its sound strip, re-opened in Blender:
             the lip gap of the baked head per scene frame, timed from the sound strip's start
  held-out   with --held-out DIR: DIR/NAME.wav (two channels, one voice each) + DIR/NAME.json
             ({"turns": [{speaker, start, end, text}] or "phones": {"A": [[start, end, phone]], "B": ...},
             "first_speaker", "layout"}), the model on the mix against the turns' forced alignment or
             the given phones (recordings or voices the corpus never had)
The test split is made on first use (duet.eval.timing.make_test_split, about 5 s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

READ_BLEND = r'''
import json, sys
import bpy
import numpy as np
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
scene = bpy.context.scene
seq = scene.sequence_editor
out = {"frame_start": scene.frame_start, "fps": scene.render.fps / scene.render.fps_base,
       "sound_start": min(s.frame_start for s in seq.strips if s.type == "SOUND"), "gap": {}}
heads = {}
for ob in bpy.data.objects:
    if ob.type == "ARMATURE" and ob.get("duet_person"):
        mesh = [c for c in ob.children if c.type == "MESH"][0]
        idx = {g.name: g.index for g in mesh.vertex_groups}
        heads[ob["duet_person"]] = (mesh, [[v.index for v in mesh.data.vertices if any(e.group == idx[n] for e in v.groups)]
                                           for n in ("lip_upper_mid", "lip_lower_mid")])
        out["gap"][ob["duet_person"]] = []
dg = bpy.context.evaluated_depsgraph_get()
for f in range(scene.frame_start, scene.frame_end + 1):
    scene.frame_set(f)
    for p, (mesh, (up, lo)) in heads.items():
        ev = mesh.evaluated_get(dg)
        me = ev.to_mesh()
        co = np.empty(3 * len(me.vertices))
        me.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3)
        ev.to_mesh_clear()
        out["gap"][p].append(float(np.linalg.norm(co[up].mean(0) - co[lo].mean(0))))
print(json.dumps(out))
'''


class Stage:
    """One stage's pooled lag curve (summed over people and clips) and its per-clip best lags."""

    def __init__(self):
        self.curve, self.n, self.lags = 0.0, 0, []

    def add(self, curves) -> int:
        from duet.eval.timing import best_lag

        pooled = np.nansum([np.nan_to_num(c) for c in curves], 0)
        self.curve, self.n = self.curve + pooled, self.n + len(curves)
        self.lags.append(best_lag(pooled))
        return self.lags[-1]

    def line(self, name: str) -> str:
        from duet.eval.timing import best_lag

        r = np.asarray(self.curve) / max(self.n, 1)
        counts = {k: self.lags.count(k) for k in sorted(set(self.lags))}
        return (f"| {name} | {best_lag(r):+d} | " + " ".join(f"{v:.3f}" for v in r)
                + f" | {', '.join(f'{k:+d}: {v}' for k, v in counts.items())} |")


def baked_gaps(motion, mix: np.ndarray, folder: Path) -> tuple[dict, float]:
    """Bake ``motion`` with ``mix`` as its sound strip through `duet bake`; read the lip gap of each
    baked head per scene frame back from the .blend. Returns ({person: [T]}, sound strip start minus
    the first scene frame, in frames)."""
    from duet.audio.io import save_wav

    motion.save(folder / "m.npz")
    save_wav(folder / "mix.wav", mix)
    r = subprocess.run([sys.executable, "-m", "duet", "bake", str(folder / "m.npz"), "-o", str(folder / "m.blend"),
                        "--audio", str(folder / "mix.wav")], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"duet bake failed: {r.stderr.strip().splitlines()[-1:]}")
    r = subprocess.run([sys.executable, "-c", READ_BLEND, str(folder / "m.blend")], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"reading the .blend failed: {r.stderr.strip().splitlines()[-1:]}")
    info = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
    return {p: np.asarray(g) for p, g in info["gap"].items()}, info["sound_start"] - info["frame_start"]


def blend_zones(n_frames: int, cfg) -> np.ndarray:
    """[T] bool: frames whose value mixes two windows (duet.model.windows' blend weights)."""
    from duet.model.windows import blend_weights, window_starts

    length = min(cfg.window, n_frames + (n_frames % 2))
    starts = window_starts(n_frames, length, cfg.blend)
    w = blend_weights(starts, length, n_frames, cfg.blend)
    return (w > 1e-9).sum(0) > 1


def main() -> None:
    import torch

    from duet.eval import timing as T
    from duet.eval.baselines import first_speaker
    from duet.eval.runner import face
    from duet.model.infer import _bundle, generate

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="data/test-split", help="a corpus folder (made here if missing)")
    ap.add_argument("--clips", type=int, default=21)
    ap.add_argument("--bake-clips", type=int, default=1, help="clips also baked and read back (about 15 s each)")
    ap.add_argument("--held-out", default=None, help="folder of two-voice recordings with transcripts or phones")
    args = ap.parse_args()
    torch.set_num_threads(1)
    corpus = T.make_test_split(args.corpus, clips=args.clips)
    ids = sorted(corpus.ids("test"))[: args.clips]
    faces = {p: face(p) for p in "AB"}
    cfg = _bundle(None).cfg
    names = ("truth vs labels", "truth vs aligner", "model vs labels", "model vs aligner",
             "model, 4x DDIM steps, vs labels", "baked .blend vs labels", "held-out: model vs their phones")
    stages = {n: Stage() for n in names}
    zones = {"blend": np.zeros((7, 6)), "interior": np.zeros((7, 6))}
    label_ms, fine_ms, failed, turns = [], [], 0, 0
    print("| clip | voices | labels - aligner (ms) | truth lag (labels, aligner) | model lag (labels, aligner) "
          "| model (ms, labels) | 4x steps | baked |")
    print("|---|---|---|---|---|---|---|---|")
    for k, cid in enumerate(ids):
        clip = corpus.load(cid)
        mix = np.asarray(clip.mix, np.float32)
        first = first_speaker(clip)
        pred = generate(mix[None], "mono", layout=clip.layout, seed=0, first_speaker=first)
        slow = generate(mix[None], "mono", layout=clip.layout, seed=0, first_speaker=first, steps=4 * cfg.steps)
        aligned, ms = {}, []
        for i, p in enumerate("AB"):
            mine = [t for t in clip.turns if t.speaker == p]
            aligned[p], f = T.turn_phones(clip.tracks[i], mine)
            failed, turns = failed + f, turns + len(mine)
            if aligned[p]:
                step = 0.005
                n = int(clip.motion.duration / step)
                lab = T.M.openness_track(clip.phonemes.get(p, []), 1 / step, n)
                ali = T.M.openness_track(aligned[p], 1 / step, n)
                ms.append(T.best_lag(T.M.lagged_correlation(lab, ali, 16)) * 1000 * step)
        label_ms += ms
        gaps = {p: T.mouth_gap(pred, p, faces) for p in "AB"}
        truth = {p: T.mouth_gap(clip.motion, p, faces) for p in "AB"}
        row = [stages["truth vs labels"].add([T.lag_curve(truth[p], clip.phonemes.get(p, [])) for p in "AB"]),
               stages["truth vs aligner"].add([T.lag_curve(truth[p], aligned[p]) for p in "AB" if aligned[p]]),
               stages["model vs labels"].add([T.lag_curve(gaps[p], clip.phonemes.get(p, [])) for p in "AB"]),
               stages["model vs aligner"].add([T.lag_curve(gaps[p], aligned[p]) for p in "AB" if aligned[p]])]
        fine = [T.fine_lag_ms(gaps[p], clip.phonemes.get(p, [])) for p in "AB"]
        fine_ms += fine
        slow_lag = stages["model, 4x DDIM steps, vs labels"].add(
            [T.lag_curve(T.mouth_gap(slow, p, faces), clip.phonemes.get(p, [])) for p in "AB"])
        inside = blend_zones(len(gaps["A"]), cfg)
        for p in "AB":
            zones["blend"] += T.masked_lag_curve(gaps[p], clip.phonemes.get(p, []), inside)[0]
            zones["interior"] += T.masked_lag_curve(gaps[p], clip.phonemes.get(p, []), ~inside)[0]
        baked = "-"
        if k < args.bake_clips:
            try:
                with tempfile.TemporaryDirectory() as d:
                    got, offset = baked_gaps(pred, mix, Path(d))
            except RuntimeError as e:
                baked = f"not measured ({e})"
            else:  # scene frame f sounds at (f - sound start) / fps: read the baked curve from the sound's start
                curves = [T.lag_curve(got[p][int(offset):], clip.phonemes.get(p, [])) for p in "AB"]
                baked = f"{stages['baked .blend vs labels'].add(curves):+d} (sound at +{offset:g} frames)"
        print(f"| {cid} | {clip.voices['A']}, {clip.voices['B']} | {', '.join(f'{v:+.0f}' for v in ms)} "
              f"| {row[0]:+d}, {row[1]:+d} | {row[2]:+d}, {row[3]:+d} | {', '.join(f'{v:+.0f}' for v in fine)} "
              f"| {slow_lag:+d} | {baked} |", flush=True)
    if args.held_out:
        import soundfile as sf

        for meta in sorted(Path(args.held_out).glob("*.json")):
            info = json.loads(meta.read_text())
            x, _ = sf.read(meta.with_suffix(".wav"), dtype="float32", always_2d=True)
            pred = generate(x.T.mean(0)[None], "mono", layout=info["layout"], seed=0,
                            first_speaker=info["first_speaker"])
            curves = []
            for i, p in enumerate("AB"):
                if "phones" in info:  # labelled by hand, or aligned when the recordings were gathered
                    phones = [tuple(ph) for ph in info["phones"][p]]
                else:
                    phones, _ = T.turn_phones(x[:, i], [SimpleNamespace(**t) for t in info["turns"]
                                                        if t["speaker"] == p])
                if phones:
                    curves.append(T.lag_curve(T.mouth_gap(pred, p, faces), phones))
            print(f"held-out {meta.stem}: best lag {stages['held-out: model vs their phones'].add(curves):+d}", flush=True)
    print(f"\n{len(ids)} test clips; aligner: {turns - failed} of {turns} turns aligned\n")
    print(f"labels - aligner (5 ms steps): median {np.median(label_ms):+.1f} ms, "
          f"IQR {np.percentile(label_ms, 25):+.0f}..{np.percentile(label_ms, 75):+.0f} ms over {len(label_ms)} tracks")
    print(f"features: frame k's window is centred {T.feature_centre_ms():+.1f} ms after k / 25 s "
          "(the same in training and at inference)")
    print(f"model at 5 ms steps vs labels: median {np.median(fine_ms):+.1f} ms over {len(fine_ms)} person-clips\n")
    print("| stage | best lag (frames) | r at lags -3..+3 | clips per best lag |")
    print("|---|---|---|---|")
    for name, stage in stages.items():
        if stage.n:
            print(stage.line(name))
    for name, rows in zones.items():
        r = T.pooled_r(rows)
        print(f"| model, {name} frames (pooled), vs labels | {T.best_lag(r):+d} | "
              + " ".join(f"{v:.3f}" for v in r) + " | - |")


if __name__ == "__main__":
    main()
