"""duet batch MANIFEST [-j N]: generate + bake many clips, resumable, failures summarised.

MANIFEST is JSON (a list of clips, or {"clips": [...]}) or CSV with a header row. Each clip has:
``id`` (default: its row number), the input: ``audio`` [+ ``audio_b``] and/or ``prompt`` (then
``duet run``), or ``motion`` (an existing .npz; then ``duet bake``), options ``emotion``,
``relation``, ``senior``, ``seed``, ``animator``, and outputs ``blend`` (default OUT/<id>.blend), ``glb``,
``fbx``, ``livelink``. Relative paths are relative to the manifest's folder.

Progress and resumption live in MANIFEST's folder: ``<stem>.batch/state.json`` records finished
clips with a fingerprint of their settings (a changed clip runs again), ``<stem>.batch/<id>.log``
keeps each clip's messages, and ``<stem>.batch/failures.json`` lists the clips that failed.
Two clips that would write the same file are refused before anything runs. Each clip runs in a
Python that never imports from the current folder (``python -P -s``: the manifest's folder and the
user site stay off its path; PYTHONPATH is kept, so an engine run from a checkout finds itself). Ctrl-C
stops the running clips at once (their partial outputs are removed), records those that finished
and names those that did not; the next run does only those.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from pathlib import Path

from duet.errors import DuetError

INPUTS = ("audio", "audio_b", "prompt", "motion")
OPTIONS = ("emotion", "relation", "senior", "seed", "animator")
OUTPUTS = ("blend", "glb", "fbx", "livelink")
FIELDS = ("id", *INPUTS, *OPTIONS, *OUTPUTS)
PATHS = ("audio", "audio_b", "motion", "blend", "glb", "fbx", "livelink")
STOP_GRACE_S = 30.0  # time a clip gets to clean up after SIGTERM before it is killed


def add_arguments(p) -> None:
    p.add_argument("manifest", help="JSON or CSV list of clips (see 'duet batch --help' above)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="clips to run at once (worker processes)")
    p.add_argument("--out", help="folder for clips without a 'blend' output (default: beside the manifest)")
    p.add_argument("--retry-failed", action="store_true", help="run clips that failed last time again")
    p.description = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def read_manifest(path: Path) -> list[dict]:
    """Clips as dicts of strings (empty cells dropped), checked for unknown fields and duplicate ids."""
    if not path.is_file():
        raise DuetError(f"{path}: no such manifest")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        rows = [dict(r) for r in csv.DictReader(text.splitlines())]
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DuetError(f"{path}: not valid JSON ({e})") from None
        rows = data.get("clips") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DuetError(f"{path}: expected a list of clips (objects), or {{\"clips\": [...]}}")
    clips, seen = [], set()
    for i, row in enumerate(rows, start=1):
        clip = {k: str(v) for k, v in row.items() if v is not None and str(v).strip() != ""}
        unknown = set(clip) - set(FIELDS)
        if unknown:
            raise DuetError(f"{path}: clip {i}: unknown field(s) {sorted(unknown)}; known: {', '.join(FIELDS)}")
        clip.setdefault("id", f"clip{i:04d}")
        if not clip["id"].replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise DuetError(f"{path}: clip {i}: id '{clip['id']}' must be letters, digits, '-', '_' or '.'")
        if clip["id"] in seen:
            raise DuetError(f"{path}: clip id '{clip['id']}' appears twice")
        seen.add(clip["id"])
        if not any(k in clip for k in ("audio", "prompt", "motion")):
            raise DuetError(f"{path}: clip '{clip['id']}' needs audio, prompt or motion")
        clips.append(clip)
    if not clips:
        raise DuetError(f"{path}: the manifest lists no clips")
    return clips


def resolve(clip: dict, base: Path, out: Path) -> dict:
    """Absolute paths, and the default .blend output."""
    c = dict(clip)
    c.setdefault("blend", str(out / f"{c['id']}.blend"))
    for k in PATHS:
        if k in c:
            c[k] = str((base / c[k]).resolve())
    return c


def check_outputs(clips: list[dict]) -> None:
    """Refuse two clips that would write the same file (or a clip whose outputs clash)."""
    owner: dict[str, str] = {}
    for c in clips:
        for k in OUTPUTS:
            if k not in c:
                continue
            key = os.path.normcase(c[k])
            if key in owner:
                raise DuetError(f"clips '{owner[key]}' and '{c['id']}' both write {c[k]}; give each its own output")
            owner[key] = c["id"]


def fingerprint(clip: dict) -> str:
    """Changes when the clip's settings or its input files change (size and modification time)."""
    h = hashlib.sha256(json.dumps(clip, sort_keys=True).encode())
    for k in ("audio", "audio_b", "motion"):
        if k in clip and os.path.exists(clip[k]):
            st = os.stat(clip[k])
            h.update(f"{k}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def command(clip: dict) -> list[str]:
    """The duet command line that makes this clip."""
    if "motion" in clip and not any(k in clip for k in ("audio", "prompt")):
        cmd = ["bake", clip["motion"]]
        if "audio" in clip:
            cmd += ["--audio", clip["audio"]]
    else:
        cmd = ["run"] + ([clip["audio"]] if "audio" in clip else [])
        for k in ("audio_b", "prompt", "emotion", "relation", "senior", "seed", "animator", "motion"):
            if k in clip:
                cmd += [f"--{k.replace('_', '-')}", clip[k]]
    cmd += ["-o", clip["blend"]]
    for k in ("glb", "fbx", "livelink"):
        if k in clip:
            cmd += [f"--{k}", clip[k]]
    return [sys.executable, "-P", "-s", "-m", "duet", *cmd]


def outputs_exist(clip: dict) -> bool:
    return all(os.path.exists(clip[k]) for k in OUTPUTS if k in clip)


class State:
    """state.json in the batch folder: clip id -> {"fingerprint", "status", "error"}; saved atomically."""

    def __init__(self, folder: Path):
        self.path = folder / "state.json"
        self.lock = threading.Lock()
        try:
            self.clips = json.loads(self.path.read_text())["clips"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
            self.clips = {}

    def record(self, clip_id: str, entry: dict) -> None:
        with self.lock:
            self.clips[clip_id] = entry
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"clips": self.clips}, indent=1, sort_keys=True))
            os.replace(tmp, self.path)


class Clips:
    """The clip processes running now, so that an interrupt can stop them and start no more."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def run(self, clip: dict, folder: Path) -> tuple[str, str]:
        """Run one clip in its own process: ("done" | "failed" | "stopped", one-line reason)."""
        log = folder / f"{clip['id']}.log"
        with self.lock:
            if self.stopping:
                return "stopped", "not started"
            with open(log, "w") as f:
                f.write(" ".join(command(clip)) + "\n")
                f.flush()
                proc = subprocess.Popen(command(clip), stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.running[clip["id"]] = proc
        rc = proc.wait()
        with self.lock:
            del self.running[clip["id"]]
            if self.stopping:
                if rc == 0 and outputs_exist(clip):
                    return "done", ""
                return "stopped", "interrupted"
        if rc == 0 and outputs_exist(clip):
            return "done", ""
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        reason = (errors or lines or [f"exit code {rc}"])[-1]
        return "failed", reason if rc else f"finished without all outputs ({reason})"

    def stop(self) -> None:
        """Start no more clips; SIGTERM the running ones (duet removes their partial outputs)."""
        with self.lock:
            self.stopping = True
            procs = list(self.running.values())
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)


def run(args) -> int:
    from duet.progress import Progress

    manifest = Path(args.manifest)
    if args.jobs < 1:
        raise DuetError("-j must be at least 1")
    clips = read_manifest(manifest)
    base = manifest.resolve().parent
    out = Path(args.out).resolve() if args.out else base
    resolved = [resolve(raw, base, out) for raw in clips]
    check_outputs(resolved)
    folder = base / f"{manifest.stem}.batch"
    folder.mkdir(parents=True, exist_ok=True)
    state = State(folder)
    todo, skipped = [], 0
    for clip in resolved:
        clip["_fp"] = fingerprint({k: v for k, v in clip.items()})
        prev = state.clips.get(clip["id"], {})
        if prev.get("fingerprint") == clip["_fp"] and prev.get("status") == "done" and outputs_exist(clip):
            skipped += 1
        elif prev.get("fingerprint") == clip["_fp"] and prev.get("status") == "failed" and not args.retry_failed:
            skipped += 1
        else:
            todo.append(clip)
    failures = {cid: e["error"] for cid, e in state.clips.items()
                if e.get("status") == "failed" and cid in {c["id"] for c in clips} and
                cid not in {c["id"] for c in todo}}
    print(f"[batch] {len(clips)} clips: {skipped} already handled, {len(todo)} to run with {args.jobs} "
          f"worker(s)", file=sys.stderr)
    runner, handled = Clips(), set()

    def finish(fut, clip) -> None:
        try:
            status, reason = fut.result()
        except OSError as e:
            status, reason = "failed", f"could not start: {e}"
        if status == "stopped":
            return
        state.record(clip["id"], {"fingerprint": clip["_fp"], "status": status, "error": reason})
        handled.add(clip["id"])
        if status == "failed":
            failures[clip["id"]] = reason
            print(f"[batch] {clip['id']} failed: {reason}", file=sys.stderr)
        progress.update(len(handled) / max(1, len(todo)), f"{len(handled)}/{len(todo)} clips, {len(failures)} failed")

    with Progress("batch") as progress, ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(runner.run, {k: v for k, v in c.items() if k != "_fp"}, folder): c for c in todo}
        try:
            for fut in as_completed(futures):
                finish(fut, futures[fut])
        except KeyboardInterrupt:  # further signals are ignored (duet.files): the book-keeping below finishes
            runner.stop()
            _, late = wait(futures, timeout=STOP_GRACE_S)
            for proc in list(runner.running.values()):
                proc.kill()
            wait(late)
            for fut, clip in futures.items():
                if clip["id"] not in handled:
                    finish(fut, clip)
            _write_failures(folder, failures)
            left = [c["id"] for c in todo if c["id"] not in handled]
            raise KeyboardInterrupt(f"{len(handled)} of {len(todo)} clips finished and recorded; not finished: "
                                    f"{', '.join(left)} (run the same command again to do them)") from None
    _write_failures(folder, failures)
    if failures:
        raise DuetError(f"{len(failures)} of {len(clips)} clips failed; see {folder / 'failures.json'} "
                        f"and the logs there")
    print(f"{len(clips)} clips done", file=sys.stdout)
    return 0


def _write_failures(folder: Path, failures: dict) -> None:
    (folder / "failures.json").write_text(json.dumps(failures, indent=1, sort_keys=True))
