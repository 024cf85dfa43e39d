"""A small real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol.

Tests script it answer by answer: ``server.script(reply('{"A": ...}'), status(500), ...)``. Each
request takes the next scripted behaviour (the last one repeats); ``server.requests`` keeps every
request body so tests can check what the client sent. The real ``openai`` client talks to it via
OPENAI_BASE_URL, which the ``llm_server`` fixture sets (and clears again afterwards).

``/v1/audio/speech`` answers from its own script (``server.speech_script(...)``, default ``spoken()``):
real speech for the requested ``input``, synthesized here by the espeak-ng command line as a 22.05 kHz
WAV, each endpoint voice mapped to its own espeak-ng voice; or a scripted failure.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class Behaviour:
    kind: str  # "reply" | "refusal" | "status" | "raw" | "sleep" | "spoken"
    text: str = ""
    code: int = 200
    seconds: float = 0.0


def reply(text: str | dict) -> Behaviour:
    """A normal answer whose content is ``text`` (a dict is sent as its JSON)."""
    return Behaviour("reply", text if isinstance(text, str) else json.dumps(text))


def refusal(text: str = "I'm sorry, I can't help with that.") -> Behaviour:
    """A structured refusal: ``message.refusal`` set, no content."""
    return Behaviour("refusal", text)


def status(code: int) -> Behaviour:
    """An HTTP error with an OpenAI-style error body."""
    return Behaviour("status", code=code)


def raw(body: str) -> Behaviour:
    """A 200 whose body is ``body`` verbatim (not a chat completion)."""
    return Behaviour("raw", body)


def sleep(seconds: float, then: str = "{}") -> Behaviour:
    """Answer ``then`` only after ``seconds``: a timeout when the client waits less."""
    return Behaviour("sleep", then, seconds=seconds)


def spoken() -> Behaviour:
    """(speech route) Real speech for the request's input text, as WAV."""
    return Behaviour("spoken")


ESPEAK_FOR = {"alloy": "en-us+m3", "verse": "en-us+f2", "onyx": "en-us+m1", "echo": "en-us+m5",
              "ash": "en-us+m7", "coral": "en-us+f1", "nova": "en-us+f3", "shimmer": "en-us+f4"}


def espeak_wav(text: str, voice: str, speed: float = 1.0) -> bytes:
    """``text`` spoken by the espeak-ng command line as WAV bytes, with silence padded around it
    (as real endpoints leave some)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-v", ESPEAK_FOR.get(voice, "en-us"), "-s", str(int(170 * speed)),
                        "-w", str(path), text], check=True, capture_output=True)
        import numpy as np
        import soundfile as sf

        x, sr = sf.read(path, dtype="float32")
        x = np.concatenate([np.zeros(int(0.25 * sr), np.float32), x, np.zeros(int(0.4 * sr), np.float32)])
        sf.write(path, x, sr, subtype="PCM_16")
        return path.read_bytes()


class OpenAIServer:
    def __init__(self):
        self.requests: list[dict] = []
        self._script: list[Behaviour] = [reply("{}")]
        self.speech_requests: list[dict] = []
        self._speech: list[Behaviour] = [spoken()]
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script = list(behaviours)
            self.requests.clear()

    def speech_script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._speech = list(behaviours)
            self.speech_requests.clear()

    def _next_speech(self, body: dict) -> Behaviour:
        with self._lock:
            self.speech_requests.append(body)
            return self._speech.pop(0) if len(self._speech) > 1 else self._speech[0]

    def _next(self, body: dict) -> Behaviour:
        with self._lock:
            self.requests.append(body)
            return self._script.pop(0) if len(self._script) > 1 else self._script[0]

    def start(self) -> "OpenAIServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = {}
                if self.path.endswith("/audio/speech"):
                    return self._speech(body)
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                b = server._next(body)
                if b.kind == "sleep":
                    time.sleep(b.seconds)
                    b = Behaviour("reply", b.text)
                if b.kind == "status":
                    return self._send(b.code, {"error": {"message": "scripted failure", "type": "server_error"}})
                if b.kind == "raw":
                    return self._send_bytes(200, b.text.encode())
                message = {"role": "assistant", "content": b.text, "refusal": None}
                if b.kind == "refusal":
                    message = {"role": "assistant", "content": None, "refusal": b.text}
                self._send(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "test"),
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })

            def _speech(self, body: dict):
                b = server._next_speech(body)
                if b.kind == "sleep":
                    time.sleep(b.seconds)
                    b = spoken()
                if b.kind == "status":
                    return self._send(b.code, {"error": {"message": "scripted failure", "type": "server_error"}})
                if b.kind == "raw":
                    return self._send_bytes(200, b.text.encode(), "audio/wav")
                wav = espeak_wav(body.get("input", ""), body.get("voice", ""), float(body.get("speed", 1.0)))
                self._send_bytes(200, wav, "audio/wav")

            def _send(self, code: int, obj: dict):
                self._send_bytes(code, json.dumps(obj).encode())

            def _send_bytes(self, code: int, data: bytes, kind: str = "application/json"):
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        return Handler


@pytest.fixture(scope="module")
def _server():
    s = OpenAIServer().start()
    yield s
    s.stop()


@pytest.fixture
def llm_server(_server, monkeypatch, tmp_path):
    """The running server, with the environment pointing the real client at it and a fresh cache."""
    monkeypatch.setenv("OPENAI_BASE_URL", _server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-key")
    monkeypatch.setenv("DUET_LLM_MODEL", "test-model")
    monkeypatch.setenv("DUET_LLM_TIMEOUT", "5")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DUET_TTS", raising=False)
    _server.script(reply("{}"))
    _server.speech_script(spoken())
    return _server


@pytest.fixture
def offline_env(monkeypatch, tmp_path):
    """No endpoint configured at all, and a fresh cache."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "DUET_LLM_MODEL", "DUET_LLM_TIMEOUT", "DUET_TTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
