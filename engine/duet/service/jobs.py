"""A job: a generate request run in stages (load audio, generate, write) with progress and cancel.

``run_job`` is the one path shared by the HTTP service and the subprocess worker. ``JobQueue`` runs
jobs one at a time in a worker thread, so the engine (and its model) lives once in the service.
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from duet.errors import DuetError

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
# the request fields a client may set; everything else in a job spec is refused
OPTION_FIELDS = ("prompt", "emotion", "emotion_turns", "relation", "senior", "seed", "animator", "input_shape",
                 "first_speaker", "speakers", "turns", "head_motion", "expression", "gaze_aversion")
# audio a job may hold, as samples per second of its duration limit: stereo at 48 kHz (600 s of it
# decodes to 230 MB of float32), so a small file that declares many channels or a high rate is refused
MAX_SAMPLES_PER_SECOND = 2 * 48000
MAX_SEED = 2**32 - 1  # what numpy's and torch's generators take
UNKNOWN_LENGTH = 2**62  # libsndfile's frame count for a stream that does not say (a piped FLAC)


class Cancelled(Exception):
    """Raised at a stage boundary once a job has been asked to stop."""


def request_from_spec(spec: dict):
    """A pipeline Request from a job spec: ``audio``, optional ``audio_b`` and OPTION_FIELDS (``emotion``
    and ``emotion_turns`` as duet.pipeline.emotion_plan reads them)."""
    from duet.pipeline import Request, emotion_plan

    unknown = sorted(set(spec) - {"audio", "audio_b", *OPTION_FIELDS})
    if unknown:
        raise DuetError(f"unknown job field(s): {', '.join(unknown)}")
    if not isinstance(spec.get("audio"), str) or not spec["audio"]:
        raise DuetError("a job needs 'audio', the path of an audio file")
    seed = spec.get("seed")
    if seed is not None and (type(seed) is not int or not 0 <= seed <= MAX_SEED):
        raise DuetError(f"seed must be a whole number from 0 to {MAX_SEED}, not {seed!r}")
    for key in ("audio", "audio_b", "prompt", "relation", "animator", "input_shape", "first_speaker", "turns"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise DuetError(f"'{key}' must be a string")
    if spec.get("senior") not in (None, "A", "B"):
        raise DuetError(f"'senior' must be \"A\" or \"B\", not {spec['senior']!r}")
    if spec.get("speakers") not in (None, 1, 2) or type(spec.get("speakers")) is bool:
        raise DuetError(f"'speakers' must be 1 or 2 (or absent: decided from the audio), not {spec['speakers']!r}")
    kwargs = {k: spec[k] for k in OPTION_FIELDS if spec.get(k) is not None}
    from duet.animators import controls

    for name in controls.CONTROLS:  # a number for both people or {"A": a, "B": b}; refused now
        if name in kwargs:
            if isinstance(kwargs[name], bool) or not isinstance(kwargs[name], (int, float, dict)):
                raise DuetError(f"'{name}' must be a number or {{\"A\": a, \"B\": b}}, not {kwargs[name]!r}")
            controls.amounts(kwargs[name], name)
    emotion_plan(kwargs.get("emotion"), kwargs.get("emotion_turns"))  # refused now, not when the job runs
    return Request(audio=spec["audio"], audio_b=spec.get("audio_b") or None, **kwargs)


class TooMuchAudio(DuetError):
    """The audio's header declares more than a job may hold."""


def check_declared(path: str, max_seconds: float) -> None:
    """Refuse audio by what its header declares (duration x channels x rate), before a sample is
    decoded: a 0.4 MB FLAC can declare 1000 s of 8-channel 48 kHz silence (3 GB decoded)."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        return  # load_audio says what is wrong
    counted = False
    try:
        info = sf.info(str(p))
        frames, rate, channels = info.frames, info.samplerate, info.channels
        if frames >= UNKNOWN_LENGTH:
            frames, counted = _count_frames(p, int(max_seconds * rate) + 1), True
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        declared = _ffprobe(p)  # formats libsndfile does not read go to ffmpeg, which load_audio runs
        if declared is None:
            return
        frames, rate, channels = declared
    seconds = frames / max(rate, 1)
    if seconds > max_seconds:
        length = f"over {max_seconds:.0f} s" if counted else f"{seconds:.0f} s"  # counting stops at the limit
        raise TooMuchAudio(f"{p.name}: audio is too long ({length}; the limit is {max_seconds:.0f} s)")
    if frames * channels > max_seconds * MAX_SAMPLES_PER_SECOND:
        raise TooMuchAudio(f"{p.name}: {seconds:.0f} s x {channels} channels x {rate} Hz is more audio than a job "
                           f"takes ({max_seconds:.0f} s of 48 kHz stereo); give a mono or stereo file")


def _count_frames(path: Path, stop: int) -> int:
    """Frames of a file whose header does not say, counted block by block up to ``stop``."""
    import soundfile as sf

    n = 0
    with sf.SoundFile(str(path)) as f:
        while n < stop and (block := len(f.read(65536, dtype="int16"))):
            n += block
    return n


def _ffprobe(path: Path) -> tuple[int, int, int] | None:
    """(frames, rate, channels) from ffprobe, or None without ffprobe or when it cannot read the file;
    a stream that states no duration is refused (it could decode to anything)."""
    try:
        p = subprocess.run(["ffprobe", "-v", "error", "-protocol_whitelist", "file", "-select_streams", "a:0",
                            "-show_entries", "format=duration:stream=channels,sample_rate", "-of", "json", str(path)],
                           capture_output=True, text=True, timeout=60)
        info = json.loads(p.stdout or "{}")
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    streams = info.get("streams") or [{}]
    rate, channels = int(streams[0].get("sample_rate") or 0), int(streams[0].get("channels") or 0)
    if p.returncode != 0 or not rate:
        return None
    try:
        seconds = float(info.get("format", {})["duration"])
    except (KeyError, TypeError, ValueError):
        raise DuetError(f"{path.name}: the file does not say how long it is; give a WAV or FLAC") from None
    return int(seconds * rate), rate, channels


def check_audio(req, max_seconds: float) -> float:
    """Refuse bad or too-long audio early: the headers first, then one decode; returns the duration."""
    from duet.audio.io import load_audio

    for path in (req.audio, req.audio_b):
        if path:
            check_declared(path, max_seconds)
    seconds = load_audio(req.audio, max_seconds=max_seconds).duration
    if req.audio_b:
        seconds = max(seconds, load_audio(req.audio_b, max_seconds=max_seconds, allow_silent=True).duration)
    return seconds


def run_job(req, output: Path, progress: Callable[[str, float], None], max_seconds: float) -> Path:
    """Load and check the audio, generate, write the DyadicMotion to ``output`` (atomically)."""
    from duet.pipeline import generate

    progress("loading audio", 0.05)
    check_audio(req, max_seconds)
    motion = generate(req, progress=lambda stage, f: progress(stage, 0.1 + 0.8 * f))
    progress("writing", 0.9)
    motion.save(output)
    progress("done", 1.0)
    return output


@dataclass
class Job:
    id: str
    request: object
    state: str = "queued"
    stage: str = "queued"
    fraction: float = 0.0
    error: str | None = None
    motion: Path | None = None
    created: float = field(default_factory=time.time)
    files: Path | None = None  # the job's own folder (uploads, result), removed when the job is forgotten
    cancel_requested: bool = False

    def public(self, position: int | None = None) -> dict:
        out = {"id": self.id, "state": self.state, "stage": self.stage, "fraction": round(self.fraction, 4),
               "error": self.error}
        if position is not None:
            out["queue_position"] = position
        return out


class JobQueue:
    """Jobs run in submission order by ``workers`` threads; finished jobs are kept up to ``keep``."""

    def __init__(self, workdir: Path, max_seconds: float, workers: int = 1, max_queued: int = 16,
                 keep: int = 64):
        self.workdir, self.max_seconds = Path(workdir), max_seconds
        self.max_queued, self.keep = max_queued, keep
        self.jobs: dict[str, Job] = collections.OrderedDict()
        self._pending: collections.deque[str] = collections.deque()
        self._lock = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"duet-job-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    def new_folder(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        folder = self.workdir / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def submit(self, request, job_id: str | None = None, folder: Path | None = None) -> Job:
        with self._lock:
            if len(self._pending) >= self.max_queued:
                raise QueueFull(f"{len(self._pending)} jobs are already waiting; try again later")
            if job_id is None:
                job_id, folder = self.new_folder()
            job = Job(id=job_id, request=request, files=folder)
            self.jobs[job_id] = job
            self._pending.append(job_id)
            self._forget_old()
            self._lock.notify()
            return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def position(self, job: Job) -> int | None:
        with self._lock:
            return self._pending.index(job.id) if job.id in self._pending else None

    def cancel(self, job: Job) -> None:
        with self._lock:
            if job.state == "queued":
                self._pending.remove(job.id)
                job.state, job.stage = "cancelled", "cancelled"
            elif job.state == "running":
                job.cancel_requested = True

    def close(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for t in self._threads:
            t.join(timeout=30)

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.state in FINISHED]
        for job in finished[: max(0, len(finished) - self.keep)]:
            del self.jobs[job.id]
            if job.files:
                shutil.rmtree(job.files, ignore_errors=True)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                job = self.jobs[self._pending.popleft()]
                job.state, job.stage = "running", "starting"
            self._run(job)

    def _run(self, job: Job) -> None:
        def progress(stage: str, fraction: float) -> None:
            if job.cancel_requested:
                raise Cancelled
            job.stage, job.fraction = stage, fraction

        try:
            output = job.files / "motion.npz"
            run_job(job.request, output, progress, self.max_seconds)
            if job.cancel_requested:
                raise Cancelled
            job.motion, job.state = output, "done"
        except Cancelled:
            job.state, job.stage = "cancelled", "cancelled"
        except DuetError as e:
            job.state, job.error = "failed", str(e)
        except Exception as e:  # an engine bug: the job fails, the service stays up
            job.state, job.error = "failed", f"internal error: {type(e).__name__}: {e}"


class QueueFull(DuetError):
    """Too many jobs waiting."""
