"""The HTTP JSON API behind ``duet serve``: submit a job, poll it, cancel it, fetch its DyadicMotion.

Security model (docs/addon.md, "Security"): loopback by default, answering only loopback Host names
(no DNS rebinding) and no cross-origin browser request unless it carries the token; any other bind
needs a bearer token (compared in constant time). Request bodies need a Content-Length within the
limit and are counted as they arrive; audio is refused by what its header declares before it is
decoded; jobs that name files on the server may only name files under the allowed folders. Every
error is one line of JSON; no traceback reaches a client.
"""

# no "from __future__ import annotations": FastAPI reads these annotations at runtime

import asyncio
import contextlib
import hmac
import ipaddress
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union
from urllib.parse import urlsplit

from duet import __version__
from duet.errors import DuetError

DEFAULT_PORT = 8417
MAX_REQUEST_BYTES = 100 * 1024 * 1024
MAX_AUDIO_SECONDS = 600.0
BODY_TIMEOUT_S = 30.0  # a request body that sends nothing for this long is dropped
WORKDIR_NAME = "duet-serve"  # the service's folder in the temporary folder: .duet-serve-PID-XXXXXXXX


@dataclass
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    allow: list[Path] = field(default_factory=list)
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_audio_seconds: float = MAX_AUDIO_SECONDS
    body_timeout: float = BODY_TIMEOUT_S

    def check(self) -> "ServiceConfig":
        if not is_loopback(self.host) and not self.token:
            raise DuetError(f"binding {self.host} exposes the engine beyond this machine; "
                            "give a token (--token or DUET_TOKEN)")
        if self.token is not None and len(self.token) < 16:
            raise DuetError("the token must be at least 16 characters")
        if self.body_timeout <= 0:
            raise DuetError("the body timeout must be positive")
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


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port: "localhost:8417" -> "localhost", "[::1]:80" -> "::1"."""
    return urlsplit(f"//{host_header}").hostname or ""


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


def refusal(config: ServiceConfig, method: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
    """(status, message) when a request must be refused from its headers alone, else None."""
    h: dict[str, list[str]] = {}
    for k, v in headers:
        h.setdefault(k.decode("latin-1").lower(), []).append(v.decode("latin-1"))
    one = lambda name: (h.get(name) or [None])[-1]  # noqa: E731
    host = one("host")
    if is_loopback(config.host) and host is not None and not is_loopback(host_name(host)):
        # a page whose name resolves to 127.0.0.1 (DNS rebinding) still sends its own name
        return 403, f"Host '{host}' refused: this service answers loopback names only (localhost, 127.0.0.1, [::1])"
    if config.token:
        if not token_matches(one("authorization"), config.token):
            return 401, "missing or wrong token (send 'Authorization: Bearer TOKEN')"
    else:
        origin, site = one("origin"), one("sec-fetch-site")
        if (origin is not None and origin != f"http://{host}") or site in ("cross-site", "same-site"):
            return 403, (f"cross-origin request from {origin or 'another site'} refused: a web page may not "
                         "drive this service (start it with a token to allow that)")
    if "transfer-encoding" in h:
        return 411, "send the body with a Content-Length, not in chunks"
    lengths = h.get("content-length", [])
    if len(lengths) > 1:
        return 400, "more than one Content-Length"
    if method in ("POST", "PUT", "PATCH") and not lengths:
        return 411, "send a Content-Length header"
    if lengths and (not lengths[0].isdigit() or int(lengths[0]) > config.max_request_bytes):
        return 413, f"request too large (limit {config.max_request_bytes} bytes)"
    return None


async def send_error(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # the rest of a refused body is not read
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _BodyRefused(Exception):
    pass


class Guard:
    """Outermost ASGI layer: refuses requests by their headers, then counts the body as it arrives and
    stops reading at its Content-Length, at the size limit, or when it stalls."""

    def __init__(self, app, config: ServiceConfig):
        self.app, self.config = app, config

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refused = refusal(self.config, scope["method"], scope["headers"])
        if refused:
            return await send_error(send, *refused)
        declared = next((int(v) for k, v in scope["headers"] if k.lower() == b"content-length"), 0)
        state = {"read": 0, "done": declared == 0, "error": None, "started": False}

        async def counted_receive():
            if state["done"]:  # the body is in; what remains is waiting for a disconnect
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.config.body_timeout)
            except asyncio.TimeoutError:
                state["error"] = (408, f"the request body stalled (nothing for {self.config.body_timeout:g} s)")
                raise _BodyRefused from None
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                state["done"] = not message.get("more_body", False)
                if state["read"] > declared:
                    state["error"] = (400, "the body is longer than its Content-Length")
                    raise _BodyRefused
            return message

        async def guarded_send(message):
            if state["error"]:  # the app's answer to a refused body is replaced by ours
                return
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _BodyRefused:
            pass
        if state["error"] and not state["started"]:
            await send_error(send, *state["error"])


def create_app(config: ServiceConfig):
    from fastapi import FastAPI, File, Form, HTTPException, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from duet.files import remove_stale_temporaries, temporary_prefix
    from duet.motion import FORMAT_VERSION
    from duet.pipeline import ANIMATORS, INPUT_SHAPES
    from duet.service.jobs import MAX_SEED, JobQueue, QueueFull, TooMuchAudio, check_audio, request_from_spec

    config.check()
    # a service that was killed (SIGKILL, power loss) left its uploads behind: its folder goes now
    remove_stale_temporaries(Path(tempfile.gettempdir()), WORKDIR_NAME)
    workdir = Path(tempfile.mkdtemp(prefix=temporary_prefix(WORKDIR_NAME)))
    queue = JobQueue(workdir, max_seconds=config.max_audio_seconds)

    # emotion: checked by duet.pipeline.emotion_plan (request_from_spec), whose one-line errors name the field
    Label = Annotated[str, Field(max_length=64)]
    Turns = Annotated[list[dict[str, Any]], Field(max_length=10000)]

    class Options(BaseModel):
        """How to animate: the same options as ``duet generate``."""

        model_config = ConfigDict(extra="forbid")
        prompt: str = Field("", max_length=2000, description="a sentence about the scene")
        emotion: Union[Label, dict[str, Any], Turns, None] = Field(
            None, description='a label ("happy", "happy:0.5", "A=happy:0.5,B=sad"), {"A": label or '
                              '{"emotion": label, "intensity": 0 to 2}, "B": ...}, or a list of turns')
        emotion_turns: Optional[Turns] = Field(
            None, description='per-turn emotions from a script, over `emotion` from each start: '
                              '[{"speaker": "A", "start": seconds, "emotion": label, "intensity": 0 to 2 (optional)}]')
        relation: Optional[str] = Field(None, max_length=64)
        senior: Optional[Literal["A", "B"]] = Field(None, description="an unequal relation's senior (default A)")
        seed: int = Field(0, ge=0, le=MAX_SEED)
        animator: Literal[ANIMATORS] = "model"  # type: ignore[valid-type]  # the same default as the CLI and worker
        input_shape: Literal[INPUT_SHAPES] = "auto"  # type: ignore[valid-type]
        first_speaker: Literal["A", "B"] = "A"
        speakers: Optional[Literal[1, 2]] = Field(None, description="a mono mix: force one or two voices")
        head_motion: Union[float, dict[str, float], None] = Field(
            None, description='how much head motion: one amount (0-3, 1 as made) or {"A": a, "B": b}')
        expression: Union[float, dict[str, float], None] = Field(None, description="how much facial expression")
        gaze_aversion: Union[float, dict[str, float], None] = Field(
            None, description="how far gazes stray from the partner's eyes (0: always on them)")

    class PathJob(Options):
        """A job on files already on the server, under an allowed folder."""

        audio: str = Field(..., max_length=4096, description="absolute path of the conversation audio")
        audio_b: Optional[str] = Field(None, max_length=4096, description="absolute path of person B's own track")

        @field_validator("audio", "audio_b")
        @classmethod
        def no_nul(cls, v):
            if v is not None and "\0" in v:
                raise ValueError("a path may not hold a NUL byte")
            return v

    class JobStatus(BaseModel):
        id: str
        state: Literal["queued", "running", "done", "failed", "cancelled"]
        stage: str
        fraction: float
        error: Optional[str] = None
        queue_position: Optional[int] = None

    def close() -> None:
        """Stop the jobs and remove the service's folder (uploads and results)."""
        queue.close()
        shutil.rmtree(workdir, ignore_errors=True)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        close()

    app = FastAPI(title="Duet engine", version=__version__, lifespan=lifespan,
                  description="Audio of two people talking -> DyadicMotion (.npz) for two animated heads.")
    app.state.queue, app.state.config, app.state.close = queue, config, close  # close: also when stopped early
    app.add_middleware(Guard, config=config)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}".lstrip(": ")},
                            status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(_request, exc: Exception):
        # a bug: the client gets one line, the traceback stays in the service's own log
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)

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
            code = 413 if isinstance(e, TooMuchAudio) or "too long" in str(e) else 422
            raise HTTPException(code, str(e)) from None
        return job.public(queue.position(job))

    @app.get("/health", summary="Is the service up")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/version", summary="Versions of the engine and of the DyadicMotion format")
    def version() -> dict:
        return {"duet": __version__, "motion_format": FORMAT_VERSION, "animators": list(ANIMATORS),
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
                      options: str = Form("{}", max_length=65536, description="JSON object of Options")) -> dict:
        try:
            opts = Options.model_validate(json.loads(options)).model_dump()
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise HTTPException(422, f"options: {where}: {first['msg']}".replace(": : ", ": ")) from None
        except json.JSONDecodeError as e:
            raise HTTPException(422, f"options: not valid JSON ({e.msg})") from None
        except RecursionError:
            raise HTTPException(422, "options: nested too deeply") from None
        job_id, folder = queue.new_folder()
        spec = dict(opts)
        try:
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
            return accept(spec, job_id, folder)
        except HTTPException as e:
            for key in ("audio", "audio_b"):  # name the upload, not the server's folder
                if key in spec:
                    e.detail = str(e.detail).replace(spec[key], Path(spec[key]).name)
            raise
        except OSError as e:  # e.g. the server's disk is full
            print(f"duet serve: upload not stored: {e}", file=sys.stderr)
            raise HTTPException(507, f"the service could not store the upload ({e.strerror})") from None
        finally:
            if queue.get(job_id) is None:
                shutil.rmtree(folder, ignore_errors=True)

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
