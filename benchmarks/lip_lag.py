"""Where lip lateness enters, stage by stage: the best lag (frames, lags -3..+3; positive: the mouth is
late) of each stage's lip gap against phone times, per clip and pooled, on the corpus's test split.

    .venv/bin/python benchmarks/lip_lag.py [--corpus data/test-split] [--clips 21] [--bake-clips 1]
                                           [--make-piper DIR] [--make-real DIR] [--held-out DIR ...]

Phone times: the corpus's own labels, and an independent pocketsphinx forced alignment of each
person's track (duet.eval.timing.turn_phones). Stages:
  labels     the labels' openness against the aligner's, 5 ms steps (ms; positive: labels later)
  truth      the corpus animator's lip gap (the training target)
  features   where frame k's audio features are centred, ms after k / 25 s (a click swept across it)
  model      the shipped model on the mono mix, as `duet generate` runs it; also at 5 ms steps (ms)
  blend      the model's frames within the window boundary blends only, and the rest (pooled)
  sampling   the model with 4x the DDIM steps
  baseline   the baseline animator (a loudness-driven jaw), for comparison
  bake       `duet bake` of the model's motion with the mix as its sound strip, re-opened in Blender:
             the lip gap of the baked head per scene frame, timed from the sound strip's start
  held-out   with --held-out DIR ...: DIR/NAME.wav (two channels, one voice each) + DIR/NAME.json
             ({"turns": [{speaker, start, end, text}] or "phones": {"A": [[start, end, phone]], "B": ...},
             "first_speaker", "layout"}), the model on the mix against the turns' forced alignment or
             the given phones (recordings or voices the corpus never had). --make-piper DIR makes one
             from the test clips with A re-spoken by piper's joe voice; --make-real DIR one from the
             recorded people of benchmarks/real_voices.py (English lines, phones hand-labelled or
             force-aligned; with --read-voices, two men reading, held out; with --dev-voices, a woman
             reading Asterisk's prompts with klettres' English speaker and with a man lecturing, the lips'
             real-voice dev set)
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


def _write_held_out(folder: Path, name: str, tracks: np.ndarray, phones: dict, first: str, layout) -> None:
    from duet.audio.io import save_wav

    folder.mkdir(parents=True, exist_ok=True)
    save_wav(folder / f"{name}.wav", tracks)
    (folder / f"{name}.json").write_text(json.dumps({"phones": phones, "first_speaker": first, "layout": layout}))


def make_piper_set(corpus, ids, folder: Path) -> None:
    """Each test clip with A's lines re-spoken by piper's neural voice (joe; the shipped model never
    heard it) at the same start times (later if the previous line ran long); B's track as it is.
    Phones: A's from the voice's forced alignment, B's the corpus labels."""
    from duet.audio.features import loudness_gain_db
    from duet.speech import synthesize

    sr = 16000
    for cid in ids:
        clip = corpus.load(cid)
        parts, phones, free = [], [], 0.0
        for t in clip.turns:
            if t.speaker == "A":
                said = synthesize(t.text, "piper:joe")
                start = max(t.start, free + 0.15)
                parts.append((int(start * sr), said.samples))
                phones += [(a + start, b + start, ph) for a, b, ph in said.phonemes]
                free = start + len(said.samples) / sr
        n = max(clip.tracks.shape[1], int((free + 0.5) * sr))
        tracks = np.zeros((2, n), np.float32)
        for at, x in parts:
            tracks[0, at: at + len(x)] += x
        tracks[0] *= np.float32(10 ** ((loudness_gain_db(clip.tracks[0]) - loudness_gain_db(tracks[0])) / 20))
        tracks[1, : clip.tracks.shape[1]] = clip.tracks[1]
        first = min(clip.turns, key=lambda t: t.start).speaker
        _write_held_out(folder, cid, tracks, {"A": phones, "B": clip.phonemes.get("B", [])}, first, clip.layout)


REAL_PAIRS = (("klettres:en", "hw:Default"), ("hw:British", "hw:Classic"), ("hw:HillBilly", "hw:Singer"),
              ("hw:Mobster", "hw:Surfer"), ("hw:Pirate", "klettres:en"), ("praatio:bobby-mary", "hw:Default"),
              ("hw:Singer", "hw:British"), ("hw:Surfer", "hw:Pirate"))
# Only speakers of real_voices.HELDOUT (their English packs): for weights trained on the dev split's lines
HELDOUT_PAIRS = (("hw:Classic", "hw:Singer"), ("hw:Singer", "hw:Surfer"), ("hw:Surfer", "hw:Classic"),
                 ("hw:Singer", "hw:Classic"), ("hw:Surfer", "hw:Singer"), ("hw:Classic", "hw:Surfer"))

# Read speech (real_voices.READ: two men reading, clean): held out, never trained or tuned on
READ_PAIRS = (("ps:librivox", "ps:cards"), ("ps:cards", "ps:librivox")) * 2
# A real-voice dev set for the lips (tune here, report on READ_PAIRS): a woman reading Asterisk's prompts
# (real_voices.ASTERISK_SPEAKER; not in the shipped weights' training lines) and klettres' English speaker,
# then the same woman with a man lecturing (real_voices.LECTURER; natural speech, wideband)
DEV_PAIRS = ((("ast:allison", "klettres:en"), ("klettres:en", "ast:allison")) * 4
             + (("sv:lecturer", "ast:allison"), ("ast:allison", "sv:lecturer")) * 2)


def make_real_set(folder: Path, cache: Path, seed: int = 0, pairs=REAL_PAIRS) -> None:
    """Two-person clips (20 s) of recorded people from benchmarks/real_voices.py's sources, English
    lines only: praatio's two with their hand-labelled phones, hedgewars' and klettres' lines with
    the words their file names spell, force-aligned (duet.speech.align). A speaks 2-3 lines, then B."""
    import re
    import tarfile

    sys.path.insert(0, str(Path(__file__).parent))
    import real_voices as rv

    from duet.audio.features import loudness_gain_db
    from duet.errors import DuetError
    from duet.speech.align import forced_phones
    from duet.speech.phonemes import INVENTORY, from_arpabet

    def grid(text: str) -> list:  # the "phone" tier of a TextGrid, labels kept
        toks = re.findall(r'"[^"]*"|-?\d+(?:\.\d+)?(?:e-?\d+)?', re.sub(r"\[\d*\]", "", text))
        i = toks.index('"phone"') + 3
        out = []
        for k in range(int(toks[i])):
            a, b, label = toks[i + 1 + 3 * k: i + 4 + 3 * k]
            label = re.sub(r"\d", "", label.strip('"').strip()).lower()
            if label:
                try:
                    phone = from_arpabet(label)
                except KeyError:  # praatio's closures ("pt") and the like
                    phone = "sil"
                out.append((float(a), float(b), phone if phone in INVENTORY else "sil"))
        return out

    cache = rv.fetch(cache)
    with tarfile.open(next(cache.glob("praatio-*.tar.gz"))) as tar:
        grids = {Path(m.name).name: tar.extractfile(m).read().decode() for m in tar.getmembers()
                 if m.name.endswith(("/examples/files/bobby_phones.TextGrid", "/examples/files/mary.TextGrid"))}
    words = rv.Aligner()
    pool: dict[str, list] = {}
    speakers = {s for pair in pairs for s in pair}
    read = rv.read_sources(cache) if speakers & set(rv.READ) else ()
    prompts = rv.asterisk_sources(cache) if rv.ASTERISK_SPEAKER in speakers else ()
    lecture = rv.lecture_sources(cache) if rv.LECTURER in speakers else ()
    for spk, name, x, given in (*rv.raw_sources(cache), *read, *prompts, *lecture):  # given: praatio's intervals, or the read lines' words
        if spk not in speakers:
            continue
        x = (x * np.float32(10 ** (loudness_gain_db(x) / 20))).astype(np.float32)
        if spk.startswith("praatio"):
            phones = grid(grids["bobby_phones.TextGrid" if name == "bobby" else "mary.TextGrid"])
        else:
            said = given or words.words(name.split("/")[-1])
            try:
                phones = forced_phones(x, " ".join(said)) if said else []
            except DuetError:
                phones = []
        if sum(p != "sil" for _, _, p in phones) >= 2:
            pool.setdefault(spk, []).append((x, phones))
    rng = np.random.default_rng(seed)
    sr, n = 16000, 20 * 16000
    for k, pair in enumerate(pairs):
        tracks, phones, t, who = np.zeros((2, n), np.float32), {"A": [], "B": []}, 0.3, 0
        while t < 19.0:
            for _ in range(int(rng.integers(*(1, 3) if pair[who] in (*rv.READ, rv.LECTURER) else (2, 4)))):  # long lines
                x, ph = pool[pair[who]][int(rng.integers(len(pool[pair[who]])))]
                at = int(t * sr)
                if at + len(x) > n:
                    t = 20.0
                    break
                tracks[who, at: at + len(x)] += x
                phones["AB"[who]] += [(a + at / sr, b + at / sr, p) for a, b, p in ph]
                t = (at + len(x)) / sr + float(rng.uniform(0.15, 0.35))
            t, who = t + float(rng.uniform(0.2, 0.6)), 1 - who
        name = f"real{k}_{pair[0]}_{pair[1]}".replace(":", "-")
        _write_held_out(folder, name, tracks, phones, "A", {"A": [0.0, 1.6, -0.5], "B": [0.0, 1.6, 0.5]})


def make_call_set(folder: Path, cache: Path) -> None:
    """The telephone call of benchmarks/real_voices.py's conversations (two women, one mixed track,
    30 s) as a mono-only clip: the mix in both channels, each person's phones from PocketSphinx
    forced alignment of their transcript lines on the mix (duet.eval.timing.turn_phones; where both
    talk at once the other voice is heard as well)."""
    import re

    sys.path.insert(0, str(Path(__file__).parent))
    import real_voices as rv

    from duet.eval.timing import turn_phones

    clip = next(x for cid, _, x, _ in rv.conversations(cache) if cid == "phone-call")
    lines = rv.phone_call_lines(cache)
    people = list(dict.fromkeys(who for _, _, who, _ in lines))
    phones = {}
    for p, who in zip("AB", people):
        turns = [SimpleNamespace(start=a, end=b, text=re.sub(r"[^a-z' ]", " ", words.lower()))
                 for a, b, w, words in lines if w == who]
        phones[p], failed = turn_phones(clip, turns)
        if failed:
            print(f"phone call, {who}: {failed} of {len(turns)} lines could not be aligned")
    folder.mkdir(parents=True, exist_ok=True)
    _write_held_out(folder, "call0_pyannote-sample", np.stack([clip, clip]), phones, "A",
                    {"A": [0.0, 1.6, -0.5], "B": [0.0, 1.6, 0.5]})
    meta = folder / "call0_pyannote-sample.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "mono_only": True}))


def main() -> None:
    import soundfile as sf
    import torch

    from duet.animators.baseline import animate
    from duet.eval import timing as T
    from duet.eval.baselines import first_speaker
    from duet.eval.runner import face
    from duet.model.infer import _bundle, generate

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="data/test-split", help="a corpus folder (made here if missing)")
    ap.add_argument("--clips", type=int, default=21)
    ap.add_argument("--bake-clips", type=int, default=1, help="clips also baked and read back (about 15 s each)")
    ap.add_argument("--held-out", nargs="*", default=[], metavar="DIR",
                    help="folders of two-voice recordings with transcripts or phones (one stage each)")
    ap.add_argument("--make-piper", metavar="DIR", help="make the piper-voice set in DIR (make_piper_set), then score it")
    ap.add_argument("--make-real", metavar="DIR", help="make the recorded-voice set in DIR (make_real_set), then score it")
    ap.add_argument("--heldout-voices", action="store_true",
                    help="with --make-real: pairs of held-out speakers only (HELDOUT_PAIRS), for weights "
                         "trained on the dev split's lines")
    ap.add_argument("--read-voices", action="store_true",
                    help="with --make-real: two men reading (READ_PAIRS, pocketsphinx's test recordings), held out")
    ap.add_argument("--dev-voices", action="store_true",
                    help="with --make-real: a woman reading Asterisk's prompts with klettres' English speaker "
                         "and with a man lecturing (DEV_PAIRS), the lips' real-voice dev set")
    ap.add_argument("--call", action="store_true",
                    help="with --make-real: the telephone call of two women (pyannote.audio's sample; one mixed "
                         "track, so mono rows only), held out")
    ap.add_argument("--real-cache", default=str(Path(tempfile.gettempdir()) / "duet-real-voices"),
                    help="where benchmarks/real_voices.py's sources are downloaded")
    args = ap.parse_args()
    torch.set_num_threads(1)
    corpus = T.make_test_split(args.corpus, clips=args.clips)
    ids = sorted(corpus.ids("test"))[: args.clips]
    if args.make_piper:
        make_piper_set(corpus, ids, Path(args.make_piper))
        args.held_out.append(args.make_piper)
    if args.make_real and args.call:
        make_call_set(Path(args.make_real), Path(args.real_cache))
        print(f"wrote {args.make_real}; score it with benchmarks/real_lips.py {args.make_real}")
        return
    if args.make_real:
        make_real_set(Path(args.make_real), Path(args.real_cache),
                      pairs=READ_PAIRS if args.read_voices else DEV_PAIRS if args.dev_voices
                      else HELDOUT_PAIRS if args.heldout_voices else REAL_PAIRS)
        args.held_out.append(args.make_real)
    faces = {p: face(p) for p in "AB"}
    cfg = _bundle(None).cfg
    names = ("truth vs labels", "truth vs aligner", "model vs labels", "model vs aligner",
             "model, 4x DDIM steps, vs labels", "baked .blend vs labels", "baseline animator (loudness) vs labels")
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
        loud = animate(mix[None], "mono", layout=clip.layout, seed=0, first_speaker=first)
        stages["baseline animator (loudness) vs labels"].add(
            [T.lag_curve(T.mouth_gap(loud, p, faces), clip.phonemes.get(p, [])) for p in "AB"])
        inside = blend_zones(len(gaps["A"]), cfg)
        for p in "AB":
            zones["blend"] += T.masked_lag_curve(gaps[p], clip.phonemes.get(p, []), inside)
            zones["interior"] += T.masked_lag_curve(gaps[p], clip.phonemes.get(p, []), ~inside)
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
    for folder in args.held_out:
        stage = stages.setdefault(f"held-out {Path(folder).name}: model vs their phones", Stage())
        flap = stages.setdefault(f"held-out {Path(folder).name}: baseline animator vs their phones", Stage())
        for meta in sorted(Path(folder).glob("*.json")):
            info = json.loads(meta.read_text())
            x, _ = sf.read(meta.with_suffix(".wav"), dtype="float32", always_2d=True)
            pred = generate(x.T.mean(0)[None], "mono", layout=info["layout"], seed=0,
                            first_speaker=info["first_speaker"])
            loud = animate(x.T.mean(0)[None], "mono", layout=info["layout"], seed=0, first_speaker=info["first_speaker"])
            curves, flaps = [], []
            for i, p in enumerate("AB"):
                if "phones" in info:  # labelled by hand, or aligned when the recordings were gathered
                    phones = [tuple(ph) for ph in info["phones"][p]]
                else:
                    phones, _ = T.turn_phones(x[:, i], [SimpleNamespace(**t) for t in info["turns"]
                                                        if t["speaker"] == p])
                if phones:
                    curves.append(T.lag_curve(T.mouth_gap(pred, p, faces), phones))
                    flaps.append(T.lag_curve(T.mouth_gap(loud, p, faces), phones))
            print(f"held-out {meta.stem}: best lag {stage.add(curves):+d} (baseline animator {flap.add(flaps):+d})",
                  flush=True)
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
