"""Clients for the engine: a subprocess worker or a ``duet serve`` URL. Standard library only, so the
Blender add-on bundles this file; nothing here blocks the caller (work runs in a thread).

    job = SubprocessJob(python, spec, output)   # or ServiceJob(url, token, spec, output)
    while not (s := job.poll()).finished: ...    # s.stage, s.fraction
    s.state == "done" and s.motion               # the DyadicMotion written at ``output``

``RenderJob(python, motion, out_dir, video, size)`` runs ``duet render`` the same way.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

POLL_SECONDS = 0.25
RENDER_LINE = re.compile(r"^\[render\]\s+([\d.]+)%\s*(.*)$")  # duet.progress: "[render]  40.0% frame 4/10"
RENDER_SHARE = 0.95  # of the bar for the frames; the video's encoding takes the rest
CANCEL_GRACE_S = 30.0  # time to clean up after SIGTERM before a kill (a busy machine can be slow)


@dataclass(frozen=True)
class Status:
    state: str = "starting"  # starting, queued, running, done, failed, cancelled
    stage: str = "starting"
    fraction: float = 0.0
    error: str | None = None
    motion: str | None = None
    audio: tuple[str, ...] = ()  # audio the engine made (a spoken dialogue), to play with the motion

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


class EngineError(Exception):
    """The engine could not be reached or refused the request; the message is one line for the UI."""


class _Job:
    def __init__(self):
        self._status = Status()
        self._lock = threading.Lock()
        self._cancel = threading.Event()

    def poll(self) -> Status:
        with self._lock:
            return self._status

    def _set(self, **changes) -> None:
        with self._lock:
            if not self._status.finished:
                self._status = replace(self._status, **changes)

    def wait(self, timeout: float | None = None) -> Status:
        end = None if timeout is None else time.monotonic() + timeout
        while not (s := self.poll()).finished:
            if end is not None and time.monotonic() > end:
                raise TimeoutError("the engine job did not finish in time")
            time.sleep(0.05)
        return s


NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows: no console for the engine


class SubprocessJob(_Job):
    """Run ``python -m duet.service.worker`` with the job spec; read its JSON progress lines."""

    def __init__(self, python: str, spec: dict, output: str, env: dict | None = None):
        super().__init__()
        if not python or not Path(python).is_file():
            raise EngineError(f"no Python at '{python}': set the engine's Python in the Duet preferences")
        job = {**spec, "output": str(output)}
        try:
            self._proc = subprocess.Popen([python, "-m", "duet.service.worker"], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          env={**os.environ, **(env or {})}, creationflags=NO_WINDOW)
        except OSError as e:
            raise EngineError(f"cannot start the engine ({e.strerror})") from None
        self._thread = threading.Thread(target=self._read, args=(json.dumps(job),), daemon=True)
        self._thread.start()

    def _read(self, job: str) -> None:
        try:
            self._proc.stdin.write(job)
            self._proc.stdin.close()
        except OSError:
            pass
        self._set(state="running")
        last = None
        for line in self._proc.stdout:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            last = msg
            if "stage" in msg:
                self._set(stage=msg["stage"], fraction=float(msg.get("fraction", 0)))
        err = self._proc.stderr.read()
        rc = self._proc.wait()
        if self._cancel.is_set():
            self._set(state="cancelled", stage="cancelled")
        elif last and last.get("done"):
            self._set(state="done", stage="done", fraction=1.0, motion=last["motion"],
                      audio=tuple(last.get("audio", ())))
        elif last and "error" in last:
            self._set(state="failed", error=last["error"])
        else:
            tail = err.strip().splitlines()[-1:] or [f"exit status {rc}"]
            self._set(state="failed", error=f"the engine stopped: {tail[0]}")

    def cancel(self) -> None:
        self._cancel.set()
        if self._proc.poll() is None:
            self._proc.terminate()


class ServiceJob(_Job):
    """Upload the audio to a ``duet serve`` URL, poll the job, download the motion to ``output``."""

    def __init__(self, url: str, token: str | None, spec: dict, output: str):
        super().__init__()
        self.url, self.token, self.output = url.rstrip("/"), token or None, Path(output)
        self.job_id: str | None = None
        self._thread = threading.Thread(target=self._run, args=(dict(spec),), daemon=True)
        self._thread.start()

    def _run(self, spec: dict) -> None:
        try:
            files = {k: spec.pop(k) for k in ("audio", "audio_b") if spec.get(k)}
            spec.pop("audio_b", None)
            reply = request(self.url + "/jobs/upload", self.token, files=files, fields={"options": json.dumps(spec)})
            self.job_id = reply["id"]
            while True:
                if self._cancel.is_set():
                    request(f"{self.url}/jobs/{self.job_id}/cancel", self.token, method="POST", data=b"")
                    self._set(state="cancelled", stage="cancelled")
                    return
                s = request(f"{self.url}/jobs/{self.job_id}", self.token)
                if s["state"] == "done":
                    break
                if s["state"] in ("failed", "cancelled"):
                    self._set(state=s["state"], stage=s["stage"], error=s.get("error"))
                    return
                self._set(state=s["state"], stage=s["stage"], fraction=float(s["fraction"]))
                time.sleep(POLL_SECONDS)
            data = request(f"{self.url}/jobs/{self.job_id}/motion", self.token, raw=True)
            self.output.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.output.with_name(f".{self.output.name}.part")
            tmp.write_bytes(data)
            os.replace(tmp, self.output)
            self._set(state="done", stage="done", fraction=1.0, motion=str(self.output))
        except EngineError as e:
            self._set(state="failed", error=str(e))

    def cancel(self) -> None:
        self._cancel.set()


class RenderJob(_Job):
    """Run ``python -m duet render`` on a motion; its progress lines on stderr move the bar.

    Cancelling sends SIGTERM, which duet handles as an interrupt (SIGINT may be ignored in background
    processes), so its atomic outputs leave nothing behind.
    """

    def __init__(self, python: str, motion: str, out_dir: str, video: str, size: tuple[int, int],
                 audio: list[str] | None = None, env: dict | None = None):
        super().__init__()
        if not python or not Path(python).is_file():
            raise EngineError(f"no Python at '{python}': set the engine's Python in the Duet preferences")
        self.out_dir, self.video = str(out_dir), str(video)
        cmd = [python, "-m", "duet", "render", str(motion), "--out", self.out_dir,
               "--size", f"{size[0]}x{size[1]}", "--video", self.video]
        if audio:
            cmd += ["--audio", *map(str, audio)]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
                                          creationflags=NO_WINDOW)
        except OSError as e:
            raise EngineError(f"cannot start the engine ({e.strerror})") from None
        self._set(state="running", stage="starting the renderer")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        last = ""
        for line in self._proc.stderr:
            line = line.strip()
            if not line:
                continue
            last = line
            if m := RENDER_LINE.match(line):
                self._set(stage=f"rendering {m.group(2)}".strip(), fraction=RENDER_SHARE * float(m.group(1)) / 100)
            elif line.startswith("[render] done"):
                self._set(stage="writing the video", fraction=RENDER_SHARE)
        rc = self._proc.wait()
        if self._cancel.is_set():
            self._set(state="cancelled", stage="cancelled")
        elif rc == 0:
            self._set(state="done", stage="done", fraction=1.0)
        else:
            self._set(state="failed", error=re.sub(r"^duet render: (error: )?", "", last) or f"exit status {rc}")

    def cancel(self) -> None:
        self._cancel.set()
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)  # duet turns it into a clean interrupt
            timer = threading.Timer(CANCEL_GRACE_S, self._kill)
            timer.daemon = True
            timer.start()

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()


def request(url: str, token: str | None = None, method: str | None = None, data: bytes | None = None,
            files: dict | None = None, fields: dict | None = None, raw: bool = False, timeout: float = 60):
    """One HTTP call; JSON (or bytes with ``raw``) back, or EngineError with the service's message."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if files is not None:
        data, headers["Content-Type"] = multipart(files, fields or {})
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read()).get("error")
        except (ValueError, AttributeError):
            message = None
        raise EngineError(f"{e.code} {message or e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise EngineError(f"cannot reach the engine at {url} ({reason})") from None
    return body if raw else json.loads(body)


def multipart(files: dict, fields: dict) -> tuple[bytes, str]:
    """Encode form fields and files (name -> path) as multipart/form-data."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + str(value).encode() + b"\r\n")
    for name, path in files.items():
        filename = Path(path).name.replace('"', "_")
        try:
            content = Path(path).read_bytes()
        except OSError as e:
            raise EngineError(f"{path}: cannot read ({e.strerror})") from None
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
