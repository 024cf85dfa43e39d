"""The synthetic conversation corpus on disk: one .npz (motion, masks, labels) and one 3-channel FLAC
(mix, A, B at 16 kHz) per clip under clips/, plus manifest.json. Deterministic in (seed, clip index).

Splits: a clip's split comes from its index; its voices come only from that split's voices
(``voice_split``) and its sentences only from that split's sentences (``scripts.split_of``), so test
voices and sentences never appear in train.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from duet.constants import FPS, SAMPLE_RATE
from duet.corpus import augment, scripts
from duet.corpus.animator import animate
from duet.speech.conversation import PERSONS, Timings, Turn, assemble
from duet.layout.kinds import sample_layout
from duet.errors import DuetError
from duet.files import atomic_output
from duet.motion import DyadicMotion
from duet.speech import synthesize_many, voices

SPLITS = ("train", "val", "test")
CORPUS_VERSION = 5
_TEST_VARIANTS, _VAL_VARIANTS = ("m7", "f5", "klatt4"), ("m6", "f4", "klatt3")
_TEST_BASES, _VAL_BASES = ("en-029",), ("en-gb-x-gbcwmd",)
_TEST_OTHERS = ("flite:kal",)


def voice_split(voice: str) -> str:
    """Which split a voice belongs to (fixed by name)."""
    if voice in _TEST_OTHERS:
        return "test"
    synthesizer, _, name = voice.partition(":")
    if synthesizer != "espeak":
        return "train"
    base, _, variant = name.partition("+")
    if base in _TEST_BASES or variant in _TEST_VARIANTS:
        return "test"
    if base in _VAL_BASES or variant in _VAL_VARIANTS:
        return "val"
    return "train"


def clip_split(index: int) -> str:
    return "test" if index % 10 == 0 else "val" if index % 10 == 5 else "train"


def _pick_voices(rng, split: str) -> list[str]:
    pool = [v for v in voices() if voice_split(v) == split]
    by_synth = {e: [v for v in pool if v.startswith(e + ":")] for e in ("espeak", "flite", "festival", "piper")}
    weights = {"espeak": 0.5, "flite": 0.3, "festival": 0.2, "piper": 0.2}
    synths = [e for e in by_synth if by_synth[e]]
    p = np.array([weights[e] for e in synths])
    out: list[str] = []
    while len(out) < 2:
        e = synths[rng.choice(len(synths), p=p / p.sum())]
        v = by_synth[e][rng.integers(len(by_synth[e]))]
        if v not in out or len(pool) == 1:
            out.append(v)
    return out


def _quiet_worker() -> None:
    """Pool workers leave interrupts to the parent: it stops them with SIGTERM when the pool closes
    (the CLI's handler, inherited through fork, would turn that into a traceback in every worker)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_clip(seed: int, index: int) -> dict:
    """Everything for clip ``index``: audio, conversation timings, motion and labels (no I/O)."""
    rng = np.random.default_rng([seed, index])
    split = clip_split(index)
    script = scripts.generate(rng, split, target_seconds=float(rng.uniform(10, 28)))
    voice = dict(zip(PERSONS, _pick_voices(rng, split)))
    rate = {p: float(rng.uniform(0.85, 1.2)) for p in PERSONS}
    pitch = {p: float(rng.uniform(0.85, 1.2)) for p in PERSONS}
    tempo = {p: float(rng.uniform(0.95, 1.06)) for p in PERSONS}
    speech = {}
    for p in PERSONS:
        idx = [i for i, line in enumerate(script.lines) if line.speaker == p]
        if idx:
            said = synthesize_many([script.lines[i].text for i in idx], voice[p], rate[p], pitch[p])
            speech.update({i: augment.resample_speech(s, tempo[p]) for i, s in zip(idx, said)})
    return conversation_clip(rng, clip_id(index), index, split, seed, script.lines, speech, voice, script.relation,
                             {"sentences": script.sentences, "augment": {"rate": rate, "pitch": pitch, "tempo": tempo}})


def conversation_clip(rng, cid: str, index: int, split: str, seed: int, lines: list, speech: dict, voice: dict,
                      relation: str, extra: dict) -> dict:
    """A clip from script lines (``scripts.ScriptLine``) and the Speech of each (by line index): the
    turns placed, the tracks and the mix augmented, a layout drawn and the corpus animator run."""
    turns, busy = [], {p: [] for p in PERSONS}
    cursor, last = 0.3, {p: None for p in PERSONS}
    for i, line in enumerate(lines):
        s = speech[i]
        if line.kind == "backchannel":
            partner = last["B" if line.speaker == "A" else "A"]
            if partner is None:
                continue
            start = partner[0] + line.offset * (partner[1] - partner[0])
        else:
            start = max(0.0, cursor + line.gap)
        end = start + s.duration
        if any(start < b + 0.05 and a < end + 0.05 for a, b in busy[line.speaker]):
            continue  # never two utterances at once from one person
        busy[line.speaker].append((start, end))
        if line.kind != "backchannel":
            cursor, last[line.speaker] = end, (start, end)
        turns.append(Turn(line.speaker, s, at=start, kind=line.kind, emotion=line.emotion))
    conv = assemble(turns, fps=FPS)
    tracks = np.stack([augment.augment_track(conv.tracks[i], rng) for i in range(2)])
    mix = augment.augment_mix(tracks.sum(0), rng)
    if split == "train":  # recordings' troubles the model should shrug off; val and test stay as they were
        if rng.random() < 0.2:
            mix = augment.babble(mix, tracks, rng, float(rng.uniform(10, 25)))
        if rng.random() < 0.25:
            mix = augment.codec(mix, rng)
        mix = (mix * min(1.0, 0.9 / max(float(np.abs(mix).max()), 1e-9))).astype(np.float32)
    layout = sample_layout(rng, relation)
    motion = animate(conv.timings, layout, relation=relation, fps=FPS, seed=int(rng.integers(2**31)),
                     tracks=conv.tracks)
    labels = {"id": cid, "index": index, "split": split, "seed": seed, "voices": voice,
              "relation": relation, "emotions": [t.emotion for t in conv.timings.turns],
              "layout": layout, "sentences": extra["sentences"], "timings": conv.timings.to_json(),
              "augment": extra["augment"], "duration": conv.timings.duration}
    labels.update({k: v for k, v in extra.items() if k not in labels})
    motion.meta.update({"audio": [cid + ".flac"], "layout": {p: layout[p] for p in PERSONS}})
    return {"labels": labels, "mix": mix, "tracks": tracks, "masks": conv.masks, "motion": motion}


def clip_id(index: int) -> str:
    return f"c{index:06d}"


def write_clip(folder: Path, clip: dict) -> dict:
    """Write one clip atomically (npz, then flac); returns its manifest entry."""
    import soundfile as sf
    cid = clip["labels"]["id"]
    arrays = clip["motion"].to_arrays()
    arrays["masks"] = clip["masks"].astype(np.float32)
    arrays["labels"] = np.asarray(json.dumps(clip["labels"]))
    with atomic_output(folder / f"{cid}.flac") as tmp:
        audio = np.stack([clip["mix"], *clip["tracks"]], 1)
        sf.write(tmp, np.clip(audio, -1, 1), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    with atomic_output(folder / f"{cid}.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return entry(clip["labels"])


def entry(labels: dict) -> dict:
    return {"id": labels["id"], "split": labels["split"], "duration": round(labels["duration"], 4),
            "voices": labels["voices"], "relation": labels["relation"], "layout": labels["layout"]["kind"]}


@dataclass
class Clip:
    id: str
    split: str
    sr: int
    mix: np.ndarray
    tracks: np.ndarray
    masks: np.ndarray
    motion: DyadicMotion
    timings: Timings
    phonemes: dict
    turns: list
    emotions: list
    relation: str
    voices: dict
    layout: dict
    labels: dict


class Corpus:
    def __init__(self, folder: Path, manifest: dict):
        self.folder, self.manifest = folder, manifest
        self._by_id = {c["id"]: c for c in manifest["clips"]}

    def ids(self, split: str | None = None) -> list[str]:
        if split is not None and split not in SPLITS:
            raise DuetError(f"unknown split {split!r} (one of {', '.join(SPLITS)})")
        return [c["id"] for c in self.manifest["clips"] if split is None or c["split"] == split]

    def hours(self, split: str | None = None) -> float:
        return sum(self._by_id[i]["duration"] for i in self.ids(split)) / 3600

    def load(self, clip_id: str) -> Clip:
        import soundfile as sf
        if clip_id not in self._by_id:
            raise DuetError(f"{self.folder}: no clip {clip_id!r}")
        npz = self.folder / "clips" / f"{clip_id}.npz"
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        labels = json.loads(str(arrays.pop("labels")))
        masks = arrays.pop("masks")
        audio, sr = sf.read(self.folder / "clips" / f"{clip_id}.flac", dtype="float32", always_2d=True)
        timings = Timings.from_json(labels["timings"])
        return Clip(id=clip_id, split=labels["split"], sr=sr, mix=audio[:, 0], tracks=audio[:, 1:].T.copy(),
                    masks=masks, motion=DyadicMotion.from_arrays(arrays, str(npz)), timings=timings,
                    phonemes=timings.phonemes, turns=timings.turns, emotions=labels["emotions"],
                    relation=labels["relation"], voices=labels["voices"], layout=labels["layout"], labels=labels)


def open_corpus(folder: str | os.PathLike) -> Corpus:
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise DuetError(f"{folder}: not a Duet corpus (no manifest.json; make one with 'duet data synth')")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise DuetError(f"{path}: not valid JSON") from None
    if manifest.get("version") != CORPUS_VERSION:
        raise DuetError(f"{path}: corpus version {manifest.get('version')!r} is not supported (this Duet reads "
                        f"version {CORPUS_VERSION}); remake it with 'duet data synth'")
    return Corpus(folder, manifest)


def _work(job):
    seed, index, folder = job
    return write_clip(Path(folder), make_clip(seed, index))


def _labels_of(npz: Path) -> dict:
    """A written clip's labels (read back on resumption, so the clip is not made again)."""
    with np.load(npz, allow_pickle=False) as z:
        return json.loads(str(z["labels"]))


def _recorded_clips(clips: Path, lines: str | os.PathLike, hours: float, seed: int, progress=None) -> list[dict]:
    """The recorded clips' manifest entries, made in index order until they reach ``hours`` (resumable:
    clips already on disk are read back, not made again)."""
    from duet.corpus import recorded

    pool, total, out = None, 0.0, []
    while total < hours * 3600:
        cid = recorded.clip_id(len(out))
        if (clips / f"{cid}.npz").is_file() and (clips / f"{cid}.flac").is_file():
            e = entry(_labels_of(clips / f"{cid}.npz"))
        else:
            if pool is None:
                pool, skipped = recorded.load_lines(lines)
                if progress:
                    progress(total / (hours * 3600), f"{sum(map(len, pool.values()))} recorded lines of "
                                                     f"{len(pool)} speakers aligned, {skipped} skipped")
            e = write_clip(clips, recorded.make_clip(seed, len(out), pool))
        out.append(e)
        total += e["duration"]
        if progress:
            progress(min(1.0, total / (hours * 3600)), f"{len(out)} recorded clips")
    return out


def synth(folder: str | os.PathLike, hours: float, seed: int = 0, workers: int = 2, progress=None,
          recorded: str | os.PathLike | None = None, recorded_hours: float = 0.25) -> Corpus:
    """Make (or resume) a corpus of at least ``hours`` of conversation in ``folder``.

    Clips are made in index order; the corpus is the shortest prefix of clips reaching ``hours``, so
    the result depends only on (seed, hours), not on the number of workers or on interruptions.
    ``recorded``: a folder of recorded lines (``duet.corpus.recorded``); train clips of those people
    (``r000000``, ...) are added after the synthetic ones until they reach ``recorded_hours``."""
    folder = Path(folder)
    if hours <= 0:
        raise DuetError("--hours must be positive")
    if recorded is not None and recorded_hours <= 0:
        raise DuetError("--recorded-hours must be positive")
    if recorded is not None and not Path(recorded).is_dir():  # before hours of synthesis, not after
        raise DuetError(f"{recorded}: no such folder of recorded lines")
    settings = folder / "corpus.json"
    if folder.exists() and any(folder.iterdir()):
        if not settings.is_file():
            raise DuetError(f"{folder}: exists and is not a Duet corpus; choose another folder")
        old = json.loads(settings.read_text())
        if old.get("version") != CORPUS_VERSION:
            raise DuetError(f"{folder}: holds a version-{old.get('version')} corpus (this Duet makes version "
                            f"{CORPUS_VERSION}); choose another folder")
        if old.get("seed") != seed:
            raise DuetError(f"{folder}: holds a corpus made with seed {old.get('seed')}; use that seed to resume "
                            "or another folder")
    clips = folder / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    if not settings.is_file():
        with atomic_output(settings) as tmp:
            made = {"version": CORPUS_VERSION, "seed": seed}
            tmp.write_text(json.dumps(made))
    target = hours * 3600
    done: dict[int, dict] = {}
    for npz in clips.glob("c*.npz"):
        if (clips / (npz.stem + ".flac")).is_file():
            labels = _labels_of(npz)
            done[labels["index"]] = entry(labels)

    def covered() -> tuple[int, float]:
        total, i = 0.0, 0
        while i in done and total < target:
            total += done[i]["duration"]
            i += 1
        return i, total

    import multiprocessing as mp
    ctx = mp.get_context("fork")
    with ctx.Pool(max(1, workers), initializer=_quiet_worker, maxtasksperchild=10) as pool:  # bounds what synthesizers leak
        while True:
            n, total = covered()
            if total >= target:
                break
            todo = [i for i in range(n, n + max(4 * workers, int((target - total) / 19) + 1)) if i not in done]
            for e in pool.imap_unordered(_work, [(seed, i, str(clips)) for i in todo]):
                done[int(e["id"][1:])] = e
                if progress:
                    progress(min(1.0, covered()[1] / target), f"{len(done)} clips")
    n, total = covered()
    keep = [done[i] for i in range(n)]
    if recorded is not None:
        extra = _recorded_clips(clips, recorded, recorded_hours, seed, progress)
        keep, total = keep + extra, total + sum(e["duration"] for e in extra)
    for i in [i for i in done if i >= n]:  # made in the last batch but beyond the prefix
        for ext in (".npz", ".flac"):
            (clips / f"{clip_id(i)}{ext}").unlink(missing_ok=True)
    manifest = {"version": CORPUS_VERSION, "seed": seed, "hours": hours, "sr": SAMPLE_RATE, "fps": FPS,
                "total_seconds": round(total, 3), "clips": keep,
                "splits": {s: sum(1 for c in keep if c["split"] == s) for s in SPLITS}}
    with atomic_output(folder / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))
    return open_corpus(folder)
