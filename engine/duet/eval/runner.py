"""Run every method over the corpus's test split in the three input shapes and pool the metrics.

A method turns one clip's audio (in one input shape) into a DyadicMotion; every method is scored
against the clip's ground truth by the same code (duet.eval.metrics). Heads are placed at the true
layout for every method (as talking-together does for its tables), so translation and gaze compare
like with like. Vertex metrics use the open heads in their own frame: expression, jaw and eyes only,
no head rotation or translation.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field, replace

import numpy as np

from duet.eval import metrics as M
from duet.constants import INPUT_SHAPES
from duet.eval.masks import shape_input

DEFAULT_CLIPS = 20
TRUTH = "ground truth"


@dataclass
class Method:
    name: str
    run: object            # (clip, audio [C,N], shape, context) -> DyadicMotion
    per_shape: bool = True  # False: the method does not read the audio (oracle rows), run once
    note: str = ""
    reference: bool = False  # an oracle: shown for scale, never "best"


def _baseline(clip, audio, shape, ctx):
    from duet.animators.baseline import animate

    from duet.eval.baselines import first_speaker

    return animate(audio, shape, layout=clip.layout, seed=ctx["seed"], first_speaker=first_speaker(clip))


def _recognized(clip, audio, shape, ctx):
    from duet.eval.baselines import procedural_recognized

    return procedural_recognized(audio, shape, clip, seed=ctx["seed"] + 1)


def _listen_r(clip, audio, shape, ctx):
    rng = np.random.default_rng([ctx["seed"], int(clip.labels.get("index", 0))])
    return ctx["bank"].fill(_baseline(clip, audio, shape, ctx), rng)


def _true_timings(clip, audio, shape, ctx):
    from duet.corpus.animator import animate

    return animate(clip.timings, clip.layout, relation=clip.relation, fps=clip.motion.fps,
                   seed=ctx["seed"] + 7, tracks=np.asarray(clip.tracks, np.float32))


def _rhubarb(clip, audio, shape, ctx):
    from duet.eval.baselines import read_rhubarb, rhubarb_motion

    cues = {p: read_rhubarb(ctx["rhubarb"] / f"{clip.id}_{p}.json") for p in "AB"}
    return rhubarb_motion(cues, clip.layout, clip.motion.n_frames, clip.motion.fps)


def _sampling(name: str) -> str:
    """The guidance scales a shipped bundle samples with, as its JSON card records them."""
    import json

    from duet.model import bundle

    card = bundle.WEIGHTS_DIR / f"{name}.json"
    if not card.is_file():
        return "guidance from the bundle"
    c = json.loads(card.read_text())["config"]
    text = f"guidance {c['guidance']:g} speaking / {c['guidance_listen']:g} listening"
    text += f" / {c['guidance_pose']:g} head pose" if c.get("guidance_pose") is not None else ""
    for key, what in (("guidance_head", "head"), ("guidance_expression", "expression"), ("guidance_blink", "blinks"),
                      ("guidance_gaze", "eyes")):
        if c.get(key) is not None:
            text += f" / {what} {c[key][0]:g} speaking, {c[key][1]:g} listening"
    return text


def methods(rhubarb=None) -> list[Method]:
    """The rows of the results table, in order (the model rows join when duet.pipeline offers it)."""
    from duet.pipeline import ANIMATORS

    out = [
        Method("baseline animator", _baseline, note="duet.animators.baseline: loudness-driven jaw, VAD masks"),
        Method("procedural, recognized timings", _recognized,
               note="corpus animator fed pocketsphinx all-phone recognition"),
        Method("Listen-R", _listen_r, note="baseline speaker + random training-split listener stretches"),
        Method("procedural, true timings (oracle)", _true_timings, per_shape=False, reference=True,
               note="the ground-truth animator with another seed: how far apart two valid answers are"),
    ]
    models = (("model", "model (dual-stream)", "the shipped duet-dual weights: shared U-Net with A<->B "
               "cross-attention, DDIM 8 steps, " + _sampling("duet-dual")),
              ("model-single", "model, single-stream ablation", "duet-single: the same recipe without "
               "cross-attention, " + _sampling("duet-single")))
    for i, (animator, label, note) in enumerate(models):
        if animator in ANIMATORS:
            out.insert(i, Method(label, _model(animator), note=note))
    if rhubarb is not None:
        out.append(Method("Rhubarb Lip Sync (imported)", _rhubarb, per_shape=False,
                          note=f"cue files from {rhubarb}"))
    return out


def _model(animator: str):
    def run(clip, audio, shape, ctx):
        import tempfile
        from pathlib import Path

        from duet.audio.io import save_wav
        from duet.pipeline import Request, generate

        with tempfile.TemporaryDirectory() as d:
            a = Path(d) / "a.wav"
            save_wav(a, audio if shape == "stereo" else audio[0])
            b = None
            if shape == "two-track":
                b = Path(d) / "b.wav"
                save_wav(b, audio[1])
            req = Request(audio=str(a), audio_b=str(b) if b else None, animator=animator, input_shape=shape,
                          seed=ctx["seed"], first_speaker=_first(clip), layout=clip.layout)
            return generate(req)
    return run


def script_labels(clip) -> dict:
    """The labels the clip's script gives, as a user with the script would pass them to the model:
    per-turn emotions ({"speaker", "start", "emotion"}) and the social relation. The corpus's voices
    do not change with emotion, so its faces' emotions can only come from these labels. (The report
    gives the models no labels, as `duet generate` gets none from a user with only audio; the model
    benchmarks give them with ``--labels``.)"""
    turns = [{"speaker": t.speaker, "start": float(t.start), "emotion": t.emotion} for t in clip.timings.turns]
    return {"emotion": turns, "relation": clip.relation}


def _first(clip):
    from duet.eval.baselines import first_speaker

    return first_speaker(clip)


# ---------------------------------------------------------------- faces


@dataclass
class Face:
    """The vertices the vertex metrics need, cut out of one open head so forward passes stay cheap."""

    head: object
    lip: np.ndarray
    upper: np.ndarray
    upper_mid: np.ndarray
    lower_mid: np.ndarray
    template: np.ndarray


def face(person: str, upper_stride: int = 4) -> Face:
    """Lip region: skin within 3.5 cm of the mouth's centre line, 9.7-14 cm up, front of the face;
    upper face: every ``upper_stride``-th front skin vertex above 16.5 cm (eyelids, brows, forehead)."""
    from duet.rigs import openhead

    head = openhead.load(person)
    v, skin = head.vertices, head.vertex_part == 0
    lip = np.flatnonzero(skin & (np.abs(v[:, 0]) < 0.035) & (v[:, 1] > 0.097) & (v[:, 1] < 0.14) & (v[:, 2] > 0.05))
    upper = np.flatnonzero(skin & (v[:, 1] > 0.165) & (v[:, 2] > 0.02))[::upper_stride]
    keep = np.unique(np.concatenate([lip, upper, head.lip_upper_mid, head.lip_lower_mid]))
    where = {int(k): i for i, k in enumerate(keep)}
    sub = replace(head, vertices=v[keep], expr_deltas=head.expr_deltas[:, keep], weights=head.weights[keep])
    at = lambda idx: np.array([where[int(i)] for i in idx])  # noqa: E731
    return Face(sub, at(lip), at(upper), at(head.lip_upper_mid), at(head.lip_lower_mid), v[keep])


def head_frame_vertices(f: Face, person, expr_names) -> np.ndarray:
    """[T,V',3] the face's vertices with expression, jaw and eyes; no head rotation or translation.

    The same linear blend skinning as duet.rigs.openhead.forward, written as matrix products
    (the test compares the two)."""
    from duet.rigs import kinematics

    head = f.head
    expr = M.reorder(person.expr, expr_names, head.expr_names).astype(np.float64)
    n = len(expr)
    zeros = np.zeros((n, 3))
    poses = {"global": zeros, "neck": zeros, **{j: person.poses[j] for j in ("jaw", "eye_L", "eye_R")}}
    rot, pos = kinematics.forward(poses, zeros, head.joints)                      # [T,5,3,3], [T,5,3]
    shift = pos - np.einsum("tjab,jb->tja", rot, head.joints)
    affine = np.concatenate([rot, shift[..., None]], -1).reshape(n, 5, 12)      # [T,5,12]
    blended = np.matmul(head.weights, affine).reshape(n, -1, 3, 4)              # [T,V,3,4]
    v = head.vertices + (expr @ head.expr_deltas.reshape(len(head.expr_deltas), -1)).reshape(n, -1, 3)
    return np.einsum("tvab,tvb->tva", blended[..., :3], v, optimize=True) + blended[..., 3]


# ---------------------------------------------------------------- pooling


@dataclass
class Tally:
    """One row's per-clip values, pooled counts and summed correlation curves."""

    values: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    curve: np.ndarray | None = None
    curves: int = 0
    seconds: float = 0.0
    audio_seconds: float = 0.0

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def count(self, name: str, c: M.Count) -> None:
        self.counts[name] = self.counts.get(name, M.Count(0, 0)) + c

    def summary(self, fps: float) -> dict:
        out = {k: float(np.nanmean(v)) if np.any(np.isfinite(v)) else float("nan") for k, v in self.values.items()}
        out.update({k: c.rate for k, c in self.counts.items()})
        r, lag = M.best_lag(self.curve / max(self.curves, 1), fps) if self.curve is not None else (np.nan, np.nan)
        out["openness_r"], out["openness_lag_ms"] = r, lag
        if self.audio_seconds:
            out["seconds_per_audio_second"] = self.seconds / self.audio_seconds
        return out


def score_clip(tally: Tally, pred, clip, faces: dict, fps: float, traces: dict | None = None) -> None:
    """Every metric of ``pred`` against ``clip``'s truth, added to ``tally``."""
    truth = clip.motion
    n = M.same_timeline(pred, truth)
    gaps, truth_gaps = {}, {}
    lve, fdd = [], []
    for p in ("A", "B"):
        f = faces[p]
        vp = head_frame_vertices(f, pred.person(p), pred.expr_names)[:n]
        vt = head_frame_vertices(f, truth.person(p), truth.expr_names)[:n]
        lve.append(M.lip_vertex_error(vp, vt, f.lip))
        fdd.append(M.upper_face_dynamics_deviation(vp, vt, f.template, f.upper))
        gaps[p] = M.lip_gap(vp, f.upper_mid, f.lower_mid)
        truth_gaps[p] = M.lip_gap(vt, f.upper_mid, f.lower_mid)
        phones = clip.phonemes.get(p, [])
        tally.count("bilabial_closure", M.bilabial_closure_rate(gaps[p], phones, fps))
        tally.count("open_vowel", M.open_vowel_rate(gaps[p], phones, fps))
        curve = M.openness_correlation(gaps[p], phones, fps)
        if not np.all(np.isnan(curve)):
            tally.curve = np.nan_to_num(curve) + (tally.curve if tally.curve is not None else 0)
            tally.curves += 1
    masks = {p: truth.person(p).speaking[:n] for p in ("A", "B")}
    tally.add("lve_mm2", 1e6 * float(np.mean(lve)))
    tally.add("fdd_mm2", 1e6 * float(np.mean(fdd)))
    tally.add("leakage", M.listener_mouth_leakage(gaps, masks))
    mse = M.parameter_mse(pred, truth)
    for region in M.REGIONS:
        for role in M.ROLES:
            tally.add(f"mse_{region}_{role}", mse[region][role])
    for g, v in M.fd(pred, truth).items():
        tally.add(f"fd_{g}", v)
    for g, v in M.paired_fd(pred, truth).items():
        tally.add(f"pfd_{g}", v)
    for role, v in M.sid_by_role(pred, truth).items():
        tally.add(f"sid_{role}", v)
    tally.add("variance", float(np.mean([M.variance(pred.person(p).expr) for p in ("A", "B")])))
    for role, c in M.eye_contact(pred, masks).items():
        tally.count(f"eye_contact_{role}", c)
    tally.add("gaze_error_deg", M.gaze_angle_error(pred, truth))
    tally.add("head_sync", float(np.mean(M.head_synchrony(pred))))
    if traces is not None:
        angles = M.partner_gaze_angle(pred)
        traces.update({"gap": {p: gaps[p].tolist() for p in gaps},
                       "gaze_deg": {p: angles[p][:n].tolist() for p in angles}})


def score_motion(pred, truth, phonemes: dict | None = None) -> dict:
    """Every metric of one DyadicMotion against a ground-truth one (phone-timed metrics need
    ``phonemes``, per person; without them they are nan)."""
    from types import SimpleNamespace

    tally = Tally()
    clip = SimpleNamespace(motion=truth, phonemes=phonemes or {})
    score_clip(tally, pred, clip, {p: face(p) for p in ("A", "B")}, truth.fps)
    return tally.summary(truth.fps)


# ---------------------------------------------------------------- the run


def pick_clips(corpus, split: str, limit: int | None) -> list[str]:
    """The first ``limit`` clips of the split in id order (a fixed subset; None: all)."""
    ids = sorted(corpus.ids(split))
    return ids if limit is None else ids[:limit]


def evaluate(corpus, split: str = "test", limit: int | None = DEFAULT_CLIPS, shapes=INPUT_SHAPES, seed: int = 0,
             rhubarb=None, train_clips: int = 20, progress=None) -> dict:
    """Score every method on the chosen clips; returns a JSON-ready dict (rows, traces, setup)."""
    from duet.errors import DuetError
    from duet.eval.baselines import ListenerBank

    ids = pick_clips(corpus, split, limit)
    if not ids:
        raise DuetError(f"split '{split}' has no clips")
    train = sorted(corpus.ids("train"))[:train_clips]
    if not train:
        raise DuetError("Listen-R needs training clips and the corpus has none")
    ctx = {"seed": seed, "bank": ListenerBank([corpus.load(i).motion for i in train]), "rhubarb": rhubarb}
    rows = methods(rhubarb)
    faces = {p: face(p) for p in ("A", "B")}
    tallies: dict[tuple[str, str], Tally] = {}
    truth_tally = Tally()
    traces: dict = {"clip": ids[0], "methods": {}}
    started = time.perf_counter()
    audio_s = 0.0
    for k, cid in enumerate(ids):
        clip = corpus.load(cid)
        fps = clip.motion.fps
        audio_s += clip.motion.duration
        first = k == 0
        if first:
            traces["fps"] = fps
            traces["openness"] = {p: M.openness_track(clip.phonemes.get(p, []), fps, clip.motion.n_frames).tolist()
                                  for p in ("A", "B")}
            traces["speaking"] = {p: clip.motion.person(p).speaking.tolist() for p in ("A", "B")}
            traces["methods"][TRUTH] = {}
        score_clip(truth_tally, clip.motion, clip, faces, fps, traces["methods"][TRUTH] if first else None)
        for shape in shapes:
            audio = shape_input(np.asarray(clip.tracks, np.float32), np.asarray(clip.mix, np.float32), shape)
            for method in rows:
                if not method.per_shape and shape != shapes[0]:
                    continue
                key = (method.name, shape if method.per_shape else "-")
                t0 = time.perf_counter()
                pred = method.run(clip, audio, shape, ctx)
                tally = tallies.setdefault(key, Tally())
                tally.seconds += time.perf_counter() - t0
                tally.audio_seconds += clip.motion.duration
                trace = None
                if first and shape == "two-track" or first and not method.per_shape:
                    trace = traces["methods"].setdefault(method.name, {})
                score_clip(tally, pred, clip, faces, fps, trace)
        if progress:
            progress((k + 1) / len(ids), f"{k + 1}/{len(ids)} clips")
    fps = float(traces["fps"])
    out_rows = [{"method": TRUTH, "shape": "-", "reference": True, "metrics": truth_tally.summary(fps)}]
    oracle = {m.name for m in rows if m.reference}
    for (name, shape), tally in tallies.items():
        out_rows.append({"method": name, "shape": shape, "reference": name in oracle, "metrics": tally.summary(fps)})
    return {
        "setup": {"split": split, "clips": ids, "audio_seconds": audio_s, "shapes": list(shapes), "seed": seed,
                  "listen_r_train_clips": len(train), "wall_seconds": time.perf_counter() - started,
                  "hardware": hardware()},
        "methods": {m.name: m.note for m in rows},
        "rows": out_rows,
        "traces": traces,
    }


def hardware() -> str:
    """One line naming the machine the numbers came from."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    mem = ""
    try:
        mem = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}, CPU only"
