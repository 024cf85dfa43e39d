"""Scene prompt -> a two-person conversation: a script, its speech, and exact timings.

``write(prompt, seed)`` returns a ``Script`` (schema.json validated): two speakers with descriptions
and voices, 5-10 turns with emotion and prosody hints (rate, pitch, energy, pause), interjections in
the listener's silences and optional overlaps. An OpenAI-protocol endpoint writes it when configured
(CHAT, sections 4.1-4.2); otherwise, or when it fails, the offline grammar does, with the reason.

``speak(script, out_dir)`` synthesizes it (duet.speech, or an OpenAI speech endpoint) and writes the dialogue folder:
mix.wav, a.wav, b.wav (16 kHz), script.json and timings.json (turns and every phone, exact, so
the speaking masks are exact). ``load(folder)`` reads such a folder back for ``duet run``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from duet.errors import DuetError

HERE = Path(__file__).resolve().parent
FILES = ("mix.wav", "a.wav", "b.wav", "script.json", "timings.json")


@dataclass
class Script:
    data: dict  # the schema's object
    reason: str = ""  # why the offline grammar wrote it although an endpoint was configured

    @property
    def source(self) -> str:
        return self.data["source"]

    @property
    def turns(self) -> list[dict]:
        return self.data["turns"]

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2)


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads((HERE / "schema.json").read_text())


def validate(obj: dict) -> dict:
    """``obj`` when it satisfies schema.json and speaker turns make sense; ValueError (one line) otherwise."""
    import jsonschema

    try:
        jsonschema.validate(obj, schema())
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "script"
        raise ValueError(f"{where}: {e.message[:120]}") from None
    if obj["speakers"]["A"]["voice"] == obj["speakers"]["B"]["voice"]:
        raise ValueError("the two speakers need different voices")
    if {t["speaker"] for t in obj["turns"]} != {"A", "B"}:
        raise ValueError("both speakers must have at least one turn")
    return obj


def write(prompt: str, seed: int = 0, *, use_llm: bool = True) -> Script:
    """A validated script for ``prompt``: the endpoint's when configured and usable, else offline."""
    from duet import llm
    from duet.dialogue.grammar import write_offline

    prompt = " ".join(str(prompt).split())
    if not prompt:
        raise DuetError("the dialogue prompt is empty")
    reason = ""
    if use_llm and llm.settings().configured:
        from duet.dialogue.prompting import write_llm

        try:
            return Script(write_llm(prompt, seed))
        except llm.LLMError as e:
            reason = f"LLM script failed: {e}"
    return Script(validate(write_offline(prompt, seed)), reason=reason)


def speak(script: Script | dict, out_dir, *, force: bool = False, tts: str | None = None) -> Path:
    """Synthesize ``script`` into the dialogue folder ``out_dir``; returns its path.

    ``tts``: "espeak" (default) or "openai" (the endpoint's speech; DUET_TTS when None). When OpenAI
    speech fails it falls back to espeak-ng; ``speech_fallback(folder)`` says why."""
    from duet.dialogue.speech import speak as _speak

    data = script.data if isinstance(script, Script) else script
    try:
        validate(data)
    except ValueError as e:
        raise DuetError(f"invalid script: {e}") from None
    return _speak(data, Path(out_dir), force=force, tts=tts)


@dataclass
class Dialogue:
    """A dialogue folder read back: what ``duet run`` needs to generate from it."""

    folder: Path
    script: dict
    timings: "object"  # duet.speech.conversation.Timings

    @property
    def mix(self) -> Path:
        return self.folder / "mix.wav"

    @property
    def track_a(self) -> Path:
        return self.folder / "a.wav"

    @property
    def track_b(self) -> Path:
        return self.folder / "b.wav"

    def masks(self, fps: float = 25.0):
        """Exact speaking masks [2, T] (A, B) from the phone timings."""
        return self.timings.masks(fps)

    def emotions(self, T: int, fps: float = 25.0):
        """Per-frame emotion ids for A and B (duet.emotion.emotion_track over the script's turns)."""
        from duet.emotion import emotion_track

        return emotion_track(timed_turns(self.script, self.timings), T, fps)


def timed_turns(script: dict, timings) -> list[dict]:
    """The script's turns with their start/end in conversation time (for duet.emotion)."""
    main = [t for t in timings.turns if t.kind == "utterance"]
    return [{**turn, "start": tt.start, "end": tt.end} for turn, tt in zip(script["turns"], main)]


def speech_fallback(folder) -> str:
    """Why ``folder`` was spoken by espeak-ng although OpenAI speech was asked for ("" otherwise)."""
    from duet.dialogue.speech import fallback_reason

    return fallback_reason(Path(folder))


def load(folder) -> Dialogue:
    """Read a dialogue folder written by ``speak``; DuetError when something is missing or broken."""
    from duet.speech.conversation import Timings

    folder = Path(folder)
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise DuetError(f"{folder}: not a dialogue folder (missing {', '.join(missing)})")
    try:
        script = validate(json.loads((folder / "script.json").read_text()))
        timings = Timings.from_json(json.loads((folder / "timings.json").read_text()))
    except (ValueError, KeyError, TypeError) as e:
        raise DuetError(f"{folder}: broken dialogue folder ({e})") from None
    return Dialogue(folder, script, timings)


__all__ = ["FILES", "Dialogue", "Script", "load", "schema", "speak", "speech_fallback", "timed_turns",
           "validate", "write"]
