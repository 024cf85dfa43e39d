"""One small client for OpenAI-protocol chat endpoints (OpenAI, Ollama, llama.cpp server, vLLM).

Settings come from the environment: OPENAI_API_KEY, OPENAI_BASE_URL, DUET_LLM_MODEL and
DUET_LLM_TIMEOUT (seconds). Either the key or the base URL makes the endpoint "configured"; with
neither, callers use their offline path. Every failure is an ``LLMError`` with a one-line reason
that never contains the key.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_S = 20.0


class LLMError(Exception):
    """The endpoint did not give a usable answer; the message says why, in one line."""


class BadAnswer(LLMError):
    """The endpoint answered, but with junk (not JSON, wrong shape, impossible numbers): worth one retry."""


@dataclass(frozen=True)
class Settings:
    api_key: str | None
    base_url: str | None
    model: str
    timeout_s: float

    @property
    def configured(self) -> bool:
        return bool(self.api_key or self.base_url)

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"Settings(base_url={self.base_url!r}, model={self.model!r}, timeout_s={self.timeout_s})"


def settings() -> Settings:
    """The endpoint settings from the environment, read on every call so tests can change them."""
    timeout = os.environ.get("DUET_LLM_TIMEOUT", "")
    try:
        timeout_s = float(timeout) if timeout else DEFAULT_TIMEOUT_S
    except ValueError:
        timeout_s = DEFAULT_TIMEOUT_S
    return Settings(api_key=os.environ.get("OPENAI_API_KEY") or None,
                    base_url=os.environ.get("OPENAI_BASE_URL") or None,
                    model=os.environ.get("DUET_LLM_MODEL") or DEFAULT_MODEL,
                    timeout_s=max(timeout_s, 0.1))


def open_client(cfg: Settings):
    """(the openai module, a client for ``cfg``'s endpoint); LLMError when none is configured or the
    package is missing. No retries: callers fall back instead."""
    if not cfg.configured:
        raise LLMError("no endpoint configured (set OPENAI_API_KEY or OPENAI_BASE_URL)")
    try:
        import openai
    except ImportError:
        raise LLMError("the 'openai' package is not installed (pip install 'duet[llm]')") from None
    # Local servers accept any key; the client insists on one.
    return openai, openai.OpenAI(api_key=cfg.api_key or "no-key", base_url=cfg.base_url,
                                 timeout=cfg.timeout_s, max_retries=0)


@contextmanager
def endpoint_errors(openai, cfg: Settings, what: str = "endpoint", error=LLMError):
    """Turn the openai package's exceptions inside the block into one-line ``error``s naming ``what``
    (never the key)."""
    try:
        yield
    except openai.APITimeoutError:
        raise error(f"the {what} did not answer within {cfg.timeout_s:g} s") from None
    except openai.APIStatusError as e:
        raise error(f"the {what} answered HTTP {e.status_code}") from None
    except openai.APIConnectionError:
        raise error(f"could not connect to the {what}") from None
    except openai.OpenAIError as e:
        raise error(_scrub(f"{what} error: {type(e).__name__}", cfg)) from None


def chat(messages: list[dict], *, temperature: float, max_tokens: int, cfg: Settings | None = None) -> str:
    """The assistant's text for ``messages``; raises LLMError on any failure (no retries here)."""
    cfg = cfg or settings()
    openai, client = open_client(cfg)
    try:
        with endpoint_errors(openai, cfg):
            reply = client.chat.completions.create(model=cfg.model, messages=messages,
                                                   temperature=temperature, max_tokens=max_tokens)
    except ValueError:  # the body was not JSON at all
        raise BadAnswer("the endpoint's reply is not a chat completion (invalid JSON)") from None
    try:
        message = reply.choices[0].message
    except (AttributeError, IndexError, TypeError):
        raise BadAnswer("the endpoint's reply has no choices") from None
    if getattr(message, "refusal", None):
        raise LLMError("the model refused: " + _one_line(message.refusal, 80))
    text = message.content or ""
    if not text.strip():
        raise LLMError("the model returned an empty answer")
    return text


def chat_json(messages: list[dict], *, temperature: float, max_tokens: int, cfg: Settings | None = None) -> dict:
    """Like ``chat`` but parses the answer as one JSON object (code fences and chatter around it allowed)."""
    text = chat(messages, temperature=temperature, max_tokens=max_tokens, cfg=cfg)
    return parse_json_object(text)


def parse_json_object(text: str) -> dict:
    """The first JSON object in ``text``; LLMError when there is none or it is not an object."""
    text = re.sub(r"```(?:json)?", "", text)
    start = text.find("{")
    if start < 0:
        if _looks_like_refusal(text):
            raise LLMError("the model refused: " + _one_line(text, 80))
        raise BadAnswer("the answer is not JSON: " + _one_line(text, 60))
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as e:
        raise BadAnswer(f"the answer is not valid JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise BadAnswer("the answer is JSON but not an object")
    return obj


def _looks_like_refusal(text: str) -> bool:
    return bool(re.search(r"\b(I can(no|')t|I'm sorry|I am sorry|I won't|unable to)\b", text, re.I))


def _one_line(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _scrub(text: str, cfg: Settings) -> str:
    return text.replace(cfg.api_key, "***") if cfg.api_key else text
