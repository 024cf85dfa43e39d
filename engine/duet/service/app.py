"""The HTTP JSON API behind ``duet serve``: submit a job, poll it, cancel it, fetch its DyadicMotion.

Security model: loopback by default; any other bind needs a bearer token (compared in constant
time). Requests are size-limited, audio is duration-limited, and jobs that name files on the
server may only name files under the allowed folders.
"""

# no "from __future__ import annotations": FastAPI reads these annotations at runtime

import contextlib
import hmac
import ipaddress
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from duet import __version__
from duet.errors import DuetError

DEFAULT_PORT = 8417
MAX_REQUEST_BYTES = 100 * 1024 * 1024
MAX_AUDIO_SECONDS = 600.0


@dataclass
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    allow: list[Path] = field(default_factory=list)
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_audio_seconds: float = MAX_AUDIO_SECONDS
    workdir: Path | None = None

    def check(self) -> "ServiceConfig":
        if not is_loopback(self.host) and not self.token:
            raise DuetError(f"binding {self.host} exposes the engine beyond this machine; "
                            "give a token (--token or DUET_TOKEN)")
        if self.token is not None and len(self.token) < 16:
            raise DuetError("the token must be at least 16 characters")
        for d in self.allow:
            if not Path(d).is_dir():
                raise DuetError(f"--allow {d}: no such folder")
        return self


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_matches(header: str | None, token: str) -> bool:
    """Constant-time check of an ``Authorization: Bearer <token>`` header."""
    given = header[7:] if header and header[:7].lower() == "bearer " else ""
    return hmac.compare_digest(given.encode(), token.encode())


def allowed_path(path: str, allow: list[Path]) -> Path:
    """The resolved path if it lies under an allowed folder (symlinks resolved first), else an error."""
    if not allow:
        raise PermissionError("this service takes uploads only (start it with --allow DIR to accept paths)")
    p = Path(path).expanduser()
    if not p.is_absolute():
        raise PermissionError(f"{path}: give an absolute path")
    real = p.resolve()
    for d in allow:
        if real.is_relative_to(Path(d).resolve()):
            return real
    raise PermissionError(f"{path}: outside the allowed folders")


def safe_name(name: str | None, fallback: str) -> str:
    """A plain file name from a client's upload name: no folders, no odd characters."""
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", Path(name or "").name).strip(" .")[:100]
    return base or fallback


def create_app(config: ServiceConfig):
    from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    from duet.motion import FORMAT_VERSION
    from duet.pipeline import ENGINES, INPUT_SHAPES
    from duet.service.jobs import JobQueue, QueueFull, check_audio, request_from_spec

    config.check()
    workdir = Path(config.workdir or tempfile.mkdtemp(prefix="duet-serve-"))
    queue = JobQueue(workdir, max_seconds=config.max_audio_seconds)

    class Options(BaseModel):
        """How to animate: the same options as ``duet generate``."""

        model_config = ConfigDict(extra="forbid")
        prompt: str = Field("", max_length=2000, description="a sentence about the scene")
        emotion: Optional[str] = Field(None, max_length=64)
        relation: Optional[str] = Field(None, max_length=64)
        seed: int = 0
        engine: Literal[ENGINES] = "baseline"  # type: ignore[valid-type]
        input_shape: Literal[INPUT_SHAPES] = "auto"  # type: ignore[valid-type]
        first_speaker: Literal["A", "B"] = "A"

    class PathJob(Options):
        """A job on files already on the server, under an allowed folder."""

        audio: str = Field(..., description="absolute path of the conversation audio")
        audio_b: Optional[str] = Field(None, description="absolute path of person B's own track")

    class JobStatus(BaseModel):
        id: str
        state: Literal["queued", "running", "done", "failed", "cancelled"]
        stage: str
        fraction: float
        error: Optional[str] = None
        queue_position: Optional[int] = None

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        queue.close()
        if config.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    app = FastAPI(title="Duet engine", version=__version__, lifespan=lifespan,
                  description="Audio of two people talking -> DyadicMotion (.npz) for two animated heads.")
    app.state.queue, app.state.config = queue, config

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if config.token and not token_matches(request.headers.get("authorization"), config.token):
            return JSONResponse({"error": "missing or wrong token (send 'Authorization: Bearer TOKEN')"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if request.method in ("POST", "PUT", "PATCH"):
            length = request.headers.get("content-length")
            if length is None:
                return JSONResponse({"error": "send a Content-Length header"}, status_code=411)
            if not length.isdigit() or int(length) > config.max_request_bytes:
                return JSONResponse({"error": f"request too large (limit {config.max_request_bytes} bytes)"},
                                    status_code=413)
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(_request, exc: HTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}".lstrip(": ")},
                            status_code=422)

    def status_of(job_id: str) -> dict:
        job = queue.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job.public(queue.position(job))

    def accept(spec: dict, job_id: str | None = None, folder: Path | None = None) -> dict:
        try:
            req = request_from_spec(spec)
            check_audio(req, config.max_audio_seconds)
            job = queue.submit(req, job_id, folder)
        except QueueFull as e:
            raise HTTPException(429, str(e)) from None
        except DuetError as e:
            code = 413 if "too long" in str(e) else 422
            raise HTTPException(code, str(e)) from None
        return job.public(queue.position(job))

    @app.get("/health", summary="Is the service up")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/version", summary="Versions of the engine and of the DyadicMotion format")
    def version() -> dict:
        return {"duet": __version__, "motion_format": FORMAT_VERSION, "engines": list(ENGINES),
                "max_audio_seconds": config.max_audio_seconds, "max_request_bytes": config.max_request_bytes}

    @app.post("/jobs", status_code=202, response_model=JobStatus, summary="Submit a job on server-side files")
    def submit_paths(job: PathJob) -> dict:
        spec = job.model_dump()
        try:
            spec["audio"] = str(allowed_path(job.audio, config.allow))
            if job.audio_b:
                spec["audio_b"] = str(allowed_path(job.audio_b, config.allow))
        except PermissionError as e:
            raise HTTPException(403, str(e)) from None
        return accept(spec)

    @app.post("/jobs/upload", status_code=202, response_model=JobStatus, summary="Submit a job with uploaded audio")
    def submit_upload(audio: UploadFile = File(..., description="the conversation audio"),
                      audio_b: Optional[UploadFile] = File(None, description="person B's own track"),
                      options: str = Form("{}", description="JSON object of Options")) -> dict:
        try:
            opts = Options.model_validate(json.loads(options)).model_dump()
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise HTTPException(422, f"options: {where}: {first['msg']}") from None
        except json.JSONDecodeError as e:
            raise HTTPException(422, f"options: not valid JSON ({e.msg})") from None
        job_id, folder = queue.new_folder()
        spec = dict(opts)
        for key, upload in (("audio", audio), ("audio_b", audio_b)):
            if upload is None:
                continue
            sub = folder / key
            sub.mkdir()
            path = sub / safe_name(upload.filename, f"{key}.wav")
            with open(path, "wb") as f:
                while chunk := upload.file.read(1 << 20):
                    f.write(chunk)
            spec[key] = str(path)
        try:
            return accept(spec, job_id, folder)
        except HTTPException as e:
            shutil.rmtree(folder, ignore_errors=True)
            for key in ("audio", "audio_b"):  # name the upload, not the server's folder
                if key in spec:
                    e.detail = str(e.detail).replace(spec[key], Path(spec[key]).name)
            raise

    @app.get("/jobs", summary="All known jobs, oldest first")
    def list_jobs() -> list[dict]:
        return [status_of(job_id) for job_id in list(queue.jobs)]

    @app.get("/jobs/{job_id}", response_model=JobStatus, summary="A job's state, stage and fraction done")
    def get_job(job_id: str) -> dict:
        return status_of(job_id)

    @app.post("/jobs/{job_id}/cancel", response_model=JobStatus, summary="Stop a queued or running job")
    def cancel_job(job_id: str) -> dict:
        job = queue.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        queue.cancel(job)
        return job.public(queue.position(job))

    @app.get("/jobs/{job_id}/motion", summary="The finished job's DyadicMotion (.npz)",
             response_class=FileResponse)
    def get_motion(job_id: str):
        job = queue.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        if job.state != "done":
            raise HTTPException(409, f"job {job_id} is {job.state}, not done")
        return FileResponse(job.motion, media_type="application/octet-stream", filename=f"duet-{job_id[:8]}.npz")

    return app
