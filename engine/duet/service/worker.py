"""One job in a subprocess: ``python -m duet.service.worker`` reads a JSON job on stdin and writes
JSON lines on stdout, for add-on users who run the engine without a service.

In:  {"audio": PATH, "audio_b": PATH|null, "output": PATH.npz, "max_audio_seconds": S, ...options}
     or, without audio, {"write_dialogue": true, "prompt": P, ...}: the dialogue is written and spoken
     first (beside the output, in OUTPUT-dialogue/) and "audio" in the last line names its mix.
Out: {"stage": "generating", "fraction": 0.2} ... then {"done": true, "motion": PATH, "audio": [...]?}
     or {"error": "one line"} (exit status 1). Stop the job by terminating the process (SIGTERM or
     SIGINT: {"error": "cancelled"}, exit status 130): its outputs are written atomically and their
     temporaries removed, so nothing half-written is left.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from duet import one_blas_thread

one_blas_thread()  # as the duet commands (duet.cli.ONE_BLAS_THREAD): the add-on's take equals theirs


def write_dialogue(spec: dict, output: Path, say) -> Path:
    """Prompt only: write and speak the dialogue beside the output (its folder is returned); the job
    then animates its two tracks with the script's exact masks and per-turn emotions, as `duet run
    --prompt` does (duet.pipeline.dialogue_request)."""
    from duet.pipeline import speak_dialogue
    from duet.errors import DuetError

    if spec.get("audio") or not spec.get("prompt"):
        raise DuetError("'write_dialogue' needs a prompt and no audio")
    say(stage="writing the dialogue", fraction=0.01)
    folder = output.with_name(output.stem + "-dialogue")
    spec["audio"], spec["audio_b"] = speak_dialogue(spec["prompt"], folder, int(spec.get("seed") or 0))
    spec["input_shape"] = "two-track"
    return folder


def main() -> int:
    # protocol lines go to the real stdout; anything a library prints goes to stderr
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr

    def say(**msg) -> None:
        out.write(json.dumps(msg) + "\n")
        out.flush()

    from duet.errors import DuetError
    from duet.files import interrupt_on_signals, interrupted

    interrupt_on_signals()
    try:
        try:
            spec = json.loads(sys.stdin.read())
        except json.JSONDecodeError as e:
            raise DuetError(f"the job is not valid JSON ({e.msg})") from None
        except RecursionError:
            raise DuetError("the job is nested too deeply") from None
        if not isinstance(spec, dict):
            raise DuetError("the job must be a JSON object")
        from duet.audio.io import MAX_SECONDS
        from duet.service.jobs import request_from_spec, run_job

        output = spec.pop("output", None)
        max_seconds = float(spec.pop("max_audio_seconds", MAX_SECONDS))
        if not isinstance(output, str) or not output.endswith(".npz"):
            raise DuetError("the job needs 'output', a path ending in .npz")
        folder = write_dialogue(spec, Path(output), say) if spec.pop("write_dialogue", False) else None
        req = request_from_spec(spec)
        audio = []
        if folder is not None:
            from duet.pipeline import dialogue_request

            req, audio = dialogue_request(folder, req), [str(folder / "mix.wav")]
        path = run_job(req, Path(output), lambda stage, f: say(stage=stage, fraction=f), max_seconds)
        say(done=True, motion=str(path), **({"audio": audio} if audio else {}))
        return 0
    except KeyboardInterrupt:
        say(error="cancelled")
        return 130
    except Exception as e:
        if interrupted():  # a library turned the interrupt into its own error
            say(error="cancelled")
            return 130
        if isinstance(e, DuetError):
            say(error=str(e))
            return 1
        first = (str(e).strip().splitlines() or [""])[0]  # an engine bug still ends in one protocol line
        say(error=f"internal error: {type(e).__name__}: {first}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
