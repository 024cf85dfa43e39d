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
    emotion: str | dict | list | None = None  # a label, {"A": .., "B": ..}, or [{"speaker", "start", "emotion"}]
    relation: str | None = None
    seed: int = 0
    animator: str = "model"
    input_shape: str = "auto"
    first_speaker: str = "A"
    layout: dict | None = None  # {"A": [x,y,z], "B": [x,y,z]}; predicted from the prompt when absent
    masks: np.ndarray | None = None  # exact speaking masks [2, T] when timings are known (spoken dialogue)
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
    """True when the two channels carry different voices rather than one mix twice."""
    l, r = x[0].astype(np.float64), x[1].astype(np.float64)
    denom = np.sqrt(np.sum(l * l) * np.sum(r * r))
    return denom > 0 and abs(np.sum(l * r)) / denom < 0.9


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
    if req.animator == "baseline":
        from duet.animators.baseline import animate

        motion = animate(tracks, shape, layout=layout, seed=req.seed, meta=meta,
                         first_speaker=req.first_speaker)
    else:
        from duet.model import exported, generate as model_generate

        weights = exported.SHIPPED if req.animator == "model" else exported.SHIPPED.with_name("duet-single.onnx")
        # In a mono mix first_speaker names the first voice heard; with tracks, A is always the first.
        motion = model_generate(tracks, shape, layout=layout, emotion=emotion, relation=relation,
                                seed=req.seed, masks=req.masks, weights=weights,
                                first_speaker=req.first_speaker if shape == "mono" else "A",
                                progress=lambda f: progress("generating", 0.2 + 0.8 * f))
        motion.meta.update(meta)
    if any(v != 1.0 for a in amounts.values() for v in a.values()):
        controls.apply(motion, **amounts)
    progress("generating", 1.0)
    return motion.validate()


def silent_person_note(motion, req: Request) -> str | None:
    """A line for the user when one person never speaks (in a mono mix: diarization heard one voice)."""
    quiet = [p for p in ("A", "B") if float(np.max(motion.person(p).speaking, initial=0.0)) < 0.5]
    if len(quiet) != 1:
        return None
    hint = "" if req.audio_b else "; if two people talk, give each their own track (--audio-b)"
    return f"note: heard one voice only, so person {quiet[0]} listens throughout{hint}"


def labels(req: Request) -> tuple:
    """Emotion (one label, or one per person) and social relation, from the options or the prompt."""
    from duet.emotion import EMOTIONS, RELATIONS, emotion_id, relation_from_text

    emotion = req.emotion
    if isinstance(emotion, str):
        emotion = EMOTIONS[emotion_id(emotion)]
    elif isinstance(emotion, dict):
        emotion = {p: EMOTIONS[emotion_id(e)] for p, e in emotion.items()}
    elif isinstance(emotion, (list, tuple)):  # per turn: each person shows their own latest turn's
        emotion = [{**t, "emotion": EMOTIONS[emotion_id(t.get("emotion"))]} for t in map(dict, emotion)]
    text = req.relation or req.prompt
    if req.relation in RELATIONS:
        relation = req.relation
    else:
        relation = relation_from_text(text) if text else None
    return emotion, relation


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
    emotion = base.emotion
    if not emotion:
        emotion = [{"speaker": t["speaker"], "start": float(t["start"]), "emotion": t["emotion"]}
                   for t in dialogue.timed_turns(spoken.script, spoken.timings)]
    return replace(base, audio=str(folder / "a.wav"), audio_b=str(folder / "b.wav"), input_shape="two-track",
                   masks=spoken.masks(25.0), emotion=emotion)
