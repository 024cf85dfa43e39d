"""Audio (+ prompt) -> DyadicMotion: the one path that generate, run, batch and the service share."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from duet import constants
from duet.errors import DuetError

INPUT_SHAPES = ("auto", *constants.INPUT_SHAPES)  # auto: decided from the files
ANIMATORS = ("model", "model-single", "baseline")  # the dual-stream model, its no-cross-attention ablation


@dataclass
class Request:
    """What a user asks for; mirrors the ``duet generate`` options."""

    audio: str
    audio_b: str | None = None
    prompt: str = ""
    # a label ("happy", "happy:0.5", "A=happy:0.5,B=sad"), {"A": label | {"emotion", "intensity"}, "B": ..},
    # or [{"speaker", "start", "emotion", "intensity"?}]: see emotion_plan
    emotion: str | dict | list | None = None
    emotion_turns: list | None = None  # per-turn emotions from a script, over ``emotion`` from each turn's start
    relation: str | None = None
    senior: str | None = None  # an unequal relation's senior, "A" or "B" (None: the side the scene names first, else A)
    seed: int = 0
    animator: str = "model"
    input_shape: str = "auto"
    first_speaker: str = "A"
    layout: dict | None = None  # {"A": [x,y,z], "B": [x,y,z]}; predicted from the prompt when absent
    masks: np.ndarray | None = None  # exact speaking masks [2, T] when timings are known (spoken dialogue)
    speakers: int | None = None  # mono mix: force one or two voices (None: decided from the audio)
    turns: str | None = None  # who speaks when, from an Audacity label file (replaces the front end)
    head_motion: float | str | dict = 1.0    # per-person amounts (duet.animators.controls): a number, "A,B"
    expression: float | str | dict = 1.0     # or {"A": .., "B": ..}; 1.0 = as made
    gaze_aversion: float | str | dict = 1.0
    extra: dict = field(default_factory=dict)


def load_tracks(req: Request) -> tuple[np.ndarray, str]:
    """Load the request's audio as [C, N] at 16 kHz and decide its shape (mono, two-track, stereo)."""
    from duet.audio.io import load_audio

    a = load_audio(req.audio)
    if req.audio_b:
        if req.input_shape not in ("auto", "two-track"):
            raise DuetError(f"--audio-b gives two tracks, which contradicts --input-shape {req.input_shape}")
        b = load_audio(req.audio_b, allow_silent=True)
        n = max(a.samples.shape[1], b.samples.shape[1])
        pad = lambda x: np.pad(x, (0, n - len(x)))  # noqa: E731
        return np.stack([pad(a.mono), pad(b.mono)]), "two-track"
    shape = req.input_shape
    if shape == "two-track":
        raise DuetError("--input-shape two-track needs a second file (--audio-b)")
    if a.samples.shape[0] > 2 and shape != "mono":
        raise DuetError(f"{a.name}: {a.samples.shape[0]} channels; give a mono mix, a stereo file or two tracks")
    if shape == "auto":
        shape = "stereo" if a.samples.shape[0] == 2 and _channels_differ(a.samples) else "mono"
    if shape == "stereo":
        if a.samples.shape[0] != 2:
            raise DuetError(f"{a.name}: --input-shape stereo needs a two-channel file")
        return a.samples, "stereo"
    return a.mono[None, :], "mono"


def _channels_differ(x: np.ndarray) -> bool:
    """True when the two channels carry different voices (one each, or panned apart) rather than one
    mix twice: by how their levels differ while people speak (`duet.audio.masks.channel_balance`), not
    by their correlation, which two microphones or a stereo reverb take apart for a single mix."""
    from duet.audio.masks import channel_balance, level_difference

    return channel_balance(level_difference(np.asarray(x, np.float32))) is not None


def generate(req: Request, progress=None):
    """Run the request through the chosen animator; returns a validated DyadicMotion.

    ``progress(stage, fraction)`` is called between stages and inside long ones; a callback that
    raises (e.g. to cancel a job) stops the work there.
    """
    progress = progress or (lambda stage, fraction: None)
    if req.animator not in ANIMATORS:
        raise DuetError(f"unknown animator '{req.animator}' (choose from {', '.join(ANIMATORS)})")
    if req.first_speaker not in ("A", "B"):
        raise DuetError("--first-speaker must be A or B")
    emotion, relation = labels(req)
    from duet.animators import controls

    amounts = {name: controls.amounts(getattr(req, name), name) for name in controls.CONTROLS}
    progress("loading audio", 0.0)
    tracks, shape = load_tracks(req)
    progress("placing the heads", 0.1)
    names = [Path(req.audio).name] + ([Path(req.audio_b).name] if req.audio_b else [])
    layout, source = (req.layout, "given") if req.layout else scene_layout(req.prompt)
    meta = {"prompt": req.prompt, "audio": names, "emotion": emotion, "relation": relation,
            "layout_source": source}
    progress("generating", 0.2)
    if req.animator == "baseline" and (req.speakers or req.turns):
        raise DuetError("--speakers and --turns work with the model animators, not baseline")
    if req.animator == "baseline":
        from duet.animators.baseline import animate

        motion = animate(tracks, shape, layout=layout, seed=req.seed, meta=meta,
                         first_speaker=req.first_speaker)
    else:
        from duet.model import exported, generate as model_generate

        weights = exported.SHIPPED if req.animator == "model" else exported.SHIPPED.with_name("duet-single.onnx")
        masks = req.masks
        if masks is None:
            unsure: list = []
            masks, meta["who_speaks"] = speaking_masks(req, tracks, shape, unsure)
            if unsure:  # where the bake marks the timeline for a check (duet.blender.scene.add_markers)
                meta["who_speaks_unsure"] = [[round(a, 2), round(b, 2)] for a, b in unsure]
        # In a mono mix first_speaker names the first voice heard; with tracks, A is always the first.
        motion = model_generate(tracks, shape, layout=layout, emotion=emotion, relation=relation,
                                seed=req.seed, masks=masks, weights=weights,
                                first_speaker=req.first_speaker if shape == "mono" else "A",
                                progress=lambda f: progress("generating", 0.2 + 0.8 * f))
        motion.meta.update(meta)
    if any(v != 1.0 for a in amounts.values() for v in a.values()):
        controls.apply(motion, **amounts)
    progress("generating", 1.0)
    return motion.validate()


def speaking_masks(req: Request, tracks: np.ndarray | None = None, shape: str | None = None,
                   unsure: list | None = None):
    """Who speaks when, for the model animators: ([2, T] masks in 40 ms frames, a line on how sure);
    ``unsure`` receives the stretches of a mono mix where the voices could not be told apart.

    ``req.turns`` (an Audacity label file, as ``--turns-out`` writes it) replaces the front end;
    ``req.speakers`` forces one or two voices in a mono mix. A mono mix names its first voice
    ``req.first_speaker``; with one track per person (two tracks, stereo) row 0 is always A's track."""
    from duet.audio.features import HOP
    from duet.audio.masks import listen
    from duet.audio.turns import masks_from_labels

    if tracks is None:
        tracks, shape = load_tracks(req)
    if req.speakers not in (None, 1, 2):
        raise DuetError(f"speakers must be 1 or 2, not {req.speakers!r}")
    if req.speakers and shape != "mono":
        raise DuetError(f"--speakers is for a mono mix; this input is {shape} (one voice per channel)")
    if req.turns:
        return masks_from_labels(req.turns, tracks.shape[1] // HOP), f"turns from {req.turns}"
    first = "AB".index(req.first_speaker) if shape == "mono" else 0
    return listen(tracks, shape, first, req.speakers, unsure)


def silent_person_note(motion, req: Request) -> str | None:
    """A line for the user when one person never speaks (in a mono mix: diarization heard one voice)."""
    quiet = [p for p in ("A", "B") if float(np.max(motion.person(p).speaking, initial=0.0)) < 0.5]
    if len(quiet) != 1:
        return None
    if req.audio_b or req.speakers == 1 or req.turns:
        hint = ""
    else:  # two alike voices can be heard as one (docs/audio.md)
        hint = "; if two people talk, force two voices (--speakers 2) or give each their own track (--audio-b)"
    return f"note: heard one voice only, so person {quiet[0]} listens throughout{hint}"


def labels(req: Request) -> tuple:
    """Emotion (one label, or one per person) and social relation, from the options or the prompt.
    Without ``senior``, an unequal relation's senior is the side the scene (else the relation's own
    words) names first, A being the person mentioned first: "an employee asks her boss" makes B the
    senior; with neither side named, A."""
    from duet.emotion import RELATIONS, relation_from_text
    from duet.emotion.labels import senior_from_text, with_senior

    emotion = emotion_plan(req.emotion, req.emotion_turns)
    text = req.relation or req.prompt
    if req.relation in RELATIONS:
        relation = req.relation
    else:
        relation = relation_from_text(text) if text else None
    senior = req.senior
    if senior is None and relation is not None and relation.endswith("-unequal"):
        named = [t for t in (req.prompt, req.relation) if t and t not in RELATIONS]
        senior = next((s for s in map(senior_from_text, named) if s is not None), None)
    return emotion, with_senior(relation, senior)


def scene_layout(prompt: str) -> tuple[dict, str]:
    """Where the two heads are for ``prompt`` (a default face-to-face layout without one)."""
    from duet.animators.baseline import DEFAULT_LAYOUT

    if not prompt.strip():
        return DEFAULT_LAYOUT, "default"
    from duet.layout import predict

    layout = predict(prompt)
    if layout.reason:
        import sys
        print(f"layout: {layout.reason}; using the offline layout", file=sys.stderr)
    return layout.as_dict(), layout.source


def output_path(path: str, suffix: str) -> Path:
    p = Path(os.path.expanduser(path))
    if p.suffix.lower() != suffix:
        raise DuetError(f"{p}: output must end in {suffix}")
    return p


def speak_dialogue(prompt: str, folder: Path, seed: int) -> tuple[str, str]:
    """Write and speak a dialogue for ``prompt`` into ``folder`` (Duet's own output, so replaced on a
    re-run); return the two speakers' tracks."""
    from duet import dialogue

    script = dialogue.write(prompt, seed=seed)
    if script.reason:
        print(f"dialogue: {script.reason}; using the offline writer", file=sys.stderr)
    dialogue.speak(script, folder, force=True)
    fallback = dialogue.speech_fallback(folder)
    if fallback:
        print(f"dialogue: {fallback}; spoke it with espeak-ng", file=sys.stderr)
    print(f"wrote the dialogue to {folder}", file=sys.stderr)
    return str(folder / "a.wav"), str(folder / "b.wav")


def dialogue_request(folder: Path, base):
    """``base`` (a Request) for a spoken dialogue folder: its two tracks, exact speaking masks from the
    phone timings, and the script's emotion turn by turn (each person shows their own latest turn's,
    from the moment it starts) unless the request names one."""
    from dataclasses import replace

    from duet import dialogue

    spoken = dialogue.load(folder)
    script = [{"speaker": t["speaker"], "start": float(t["start"]), "emotion": t["emotion"]}
              for t in dialogue.timed_turns(spoken.script, spoken.timings)]
    return replace(base, audio=str(folder / "a.wav"), audio_b=str(folder / "b.wav"), input_shape="two-track",
                   masks=spoken.masks(25.0), emotion=emotion_plan(base.emotion, base.emotion_turns, script),
                   emotion_turns=None)


def read_emotion_turns(path) -> list:
    """An emotion script: a JSON file holding a list of turns (emotion_plan checks each)."""
    import json

    p = Path(os.path.expanduser(str(path)))
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DuetError(f"{p}: no such emotion script") from None
    except (OSError, UnicodeDecodeError) as e:
        why = getattr(e, "strerror", None) or type(e).__name__
        raise DuetError(f"{p}: cannot read the emotion script ({why})") from None
    try:
        turns = json.loads(text)
    except json.JSONDecodeError as e:
        raise DuetError(f"{p}: not valid JSON ({e.msg}, line {e.lineno})") from None
    except RecursionError:
        raise DuetError(f"{p}: nested too deeply") from None
    if not isinstance(turns, list):
        raise DuetError(f"{p}: an emotion script is a JSON list of turns "
                        '([{"speaker": "A", "start": 0.0, "emotion": "happy"}, ...])')
    return turns


PERSON_KEYS = ("emotion", "intensity")
TURN_KEYS = ("speaker", "start", "emotion", "intensity")


def emotion_plan(emotion, turns=None, script=None):
    """What the model is told about emotion, from a request's ``emotion`` and ``emotion_turns`` and, for
    a spoken dialogue, its ``script`` (the timed turns, whose labels a person left on auto shows).

    ``emotion``: None; a label, or the command line's ``happy:0.5`` / ``A=happy:0.5,B=sad``;
    {"emotion": label, "intensity": w} for both people; {"A": .., "B": ..} with a label, None (auto)
    or {"emotion": label or None, "intensity": w} per person; or a list of turns. ``turns``:
    [{"speaker": "A"|"B", "start": seconds, "emotion": label, "intensity": w (optional)}]; from its
    start a turn's label replaces its speaker's own, and a turn without an intensity takes the
    speaker's. Intensity: 0 neutral, 1 as trained (the default), up to 2 stronger.

    Returns what duet.model.generate takes: None, a label, a per-person dict, or turns sorted by start
    (intensity given only where it is not 1). Bad input: DuetError, one line."""
    from duet.emotion import EMOTIONS, emotion_id
    from duet.emotion.labels import intensity, parse_emotion

    def label(value, what):
        if not isinstance(value, str):
            raise DuetError(f"{what} must be an emotion label, not {value!r}")
        return EMOTIONS[emotion_id(value)]

    def person(value, who):
        if value is None:
            return None, 1.0
        if isinstance(value, str):
            return label(value, f"person {who}'s emotion"), 1.0
        if not isinstance(value, dict):
            raise DuetError(f"person {who}'s emotion must be a label or {{\"emotion\", \"intensity\"}}, not {value!r}")
        unknown = sorted(map(str, set(value) - set(PERSON_KEYS)))
        if unknown:
            raise DuetError(f"person {who}'s emotion: unknown key(s) {', '.join(unknown)} "
                            f"(allowed: {', '.join(PERSON_KEYS)})")
        name = value.get("emotion")
        name = None if name is None else label(name, f"person {who}'s emotion")
        return name, intensity(value.get("intensity"), f"person {who}'s emotion intensity")

    def turn(value, i, what):
        if not isinstance(value, dict):
            raise DuetError(f"{what} {i + 1} must be an object with speaker, start and emotion, not {value!r}")
        unknown = sorted(map(str, set(value) - set(TURN_KEYS)))
        if unknown:
            raise DuetError(f"{what} {i + 1}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(TURN_KEYS)})")
        speaker, start = value.get("speaker"), value.get("start")
        if speaker not in ("A", "B"):
            raise DuetError(f"{what} {i + 1}: speaker must be 'A' or 'B', not {speaker!r}")
        if isinstance(start, bool) or not isinstance(start, (int, float)) or not np.isfinite(start) or start < 0:
            raise DuetError(f"{what} {i + 1}: start must be a time in seconds from 0, not {start!r}")
        w = value.get("intensity")
        return {"speaker": speaker, "start": float(start),
                "emotion": label(value.get("emotion"), f"{what} {i + 1}'s emotion"),
                "intensity": None if w is None else intensity(w, f"{what} {i + 1}'s intensity")}

    if isinstance(emotion, str):
        emotion = parse_emotion(emotion) if emotion.strip() else None
    given = []
    if isinstance(emotion, (list, tuple)):
        given, emotion = list(emotion), None
    if isinstance(emotion, dict) and emotion and set(emotion) <= set(PERSON_KEYS):
        emotion = {"A": emotion, "B": emotion}
    if isinstance(emotion, dict):
        unknown = sorted(map(str, set(emotion) - {"A", "B"}))
        if unknown:
            raise DuetError(f"emotion: unknown person(s) {', '.join(unknown)} (use \"A\" and \"B\")")
        people = {p: person(emotion.get(p), p) for p in ("A", "B")}
    elif emotion is None or isinstance(emotion, str):
        people = {p: (emotion, 1.0) for p in ("A", "B")}
    else:
        raise DuetError(f"emotion must be a label, one per person or a list of turns, not {type(emotion).__name__}")
    if turns is not None and not isinstance(turns, (list, tuple)):
        raise DuetError(f"emotion turns must be a list of turns, not {type(turns).__name__}")
    user = [turn(t, i, "emotion turn") for i, t in enumerate([*given, *(turns or [])])]
    auto_script = [p for p in ("A", "B") if people[p][0] is None] if script else []
    if not user and not auto_script:  # one label (or none) per person for the whole clip
        if all(name is None for name, _ in people.values()):
            return None
        if people["A"] == people["B"] and people["A"][1] == 1.0:
            return people["A"][0]  # one label for both, as trained
        return {p: name if w == 1.0 or name is None else {"emotion": name, "intensity": w}
                for p, (name, w) in people.items()}
    rows = []  # (start, rank, turn): a person's own label from the start, then the script's, then the user's
    for p, (name, w) in people.items():
        if name is not None:
            rows.append((0.0, 0, {"speaker": p, "start": 0.0, "emotion": name, "intensity": w}))
    for i, t in enumerate(script or []):
        if t.get("speaker") in auto_script:
            t = turn({k: t.get(k) for k in ("speaker", "start", "emotion")}, i, "script turn")
            rows.append((t["start"], 1, {**t, "intensity": people[t["speaker"]][1]}))
    for t in user:
        w = people[t["speaker"]][1] if t["intensity"] is None else t["intensity"]
        rows.append((t["start"], 2, {**t, "intensity": w}))
    rows.sort(key=lambda r: r[:2])
    out = []
    for _, _, t in rows:
        w = t.pop("intensity")
        out.append(t if w == 1.0 else {**t, "intensity": w})
    return out
