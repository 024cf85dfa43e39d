"""Few-shot layout prompting (talking-together, supplementary 2.2): instruction, 3 examples, the query.

The answer must be strict JSON {"A": [x,y,z], "B": [x,y,z]}; it is validated, clamped to plausible
human ranges, retried once when it is junk, and cached by prompt on disk.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import tempfile
from pathlib import Path

from duet import llm
from duet.layout import MAX_APART, MAX_HEIGHT, MIN_APART, MIN_HEIGHT, Layout, examples

TEMPERATURE = 0.2
MAX_TOKENS = 128
SHOTS = 3
# Answers beyond these are nonsense rather than a slightly odd scene: rejected, not clamped.
REJECT_APART = (0.03, 2 * MAX_APART)
REJECT_HEIGHT = (-0.5, 5.0)

SYSTEM = (
    "You are a 3D scene layout assistant. Generate 3D head positions (in meters) for two people (A and B) "
    "based on a text description. The origin (0,0,0) is on the floor under the center of the conversation; "
    "+X is right, +Y is up, +Z is forward (towards the viewer). Each position is the point between that "
    "person's eyes, so y is eye height above the floor (standing adult about 1.6, seated about 1.2). People "
    "face to face are placed along Z (A at negative z), side by side along X (A at negative x). A is the "
    "person mentioned first. Output ONLY valid JSON: {\"A\": [x, y, z], \"B\": [x, y, z]}."
)


def messages(prompt: str, shots: int = SHOTS) -> list[dict]:
    """The chat messages for ``prompt`` with ``shots`` examples drawn at random (repeatably per prompt)."""
    rng = random.Random(hashlib.sha256(prompt.encode()).hexdigest())
    chosen = rng.sample(examples(), shots) if shots else []
    parts = []
    for n, (text, layout) in enumerate(chosen, 1):
        parts.append(f"[Example {n}]\nInput: {json.dumps(text)}\nOutput: {json.dumps(layout.as_dict())}")
    parts.append(f"[User Query]\nInput: {json.dumps(prompt)}\nOutput:")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def validate(obj: dict) -> Layout:
    """The layout in an answer, clamped to plausible ranges; BadAnswer when it is junk or absurd."""
    heads = {}
    for who in ("A", "B"):
        v = obj.get(who)
        if not isinstance(v, (list, tuple)) or len(v) != 3:
            raise llm.BadAnswer(f"the answer has no [x, y, z] for {who}")
        try:
            v = [float(x) for x in v]
        except (TypeError, ValueError):
            raise llm.BadAnswer(f"{who}'s position is not three numbers") from None
        if not all(math.isfinite(x) for x in v):
            raise llm.BadAnswer(f"{who}'s position is not finite")
        if not REJECT_HEIGHT[0] <= v[1] <= REJECT_HEIGHT[1]:
            raise llm.BadAnswer(f"out-of-range numbers: {who}'s eye height {v[1]:g} m")
        heads[who] = v
    (ax, ay, az), (bx, by, bz) = heads["A"], heads["B"]
    apart = math.hypot(bx - ax, bz - az)
    if not REJECT_APART[0] <= apart <= REJECT_APART[1]:
        raise llm.BadAnswer(f"out-of-range numbers: heads {apart:g} m apart")
    # Clamp about the pair's centre so the arrangement's direction survives.
    cx, cz = (ax + bx) / 2, (az + bz) / 2
    scale = min(max(apart, MIN_APART), MAX_APART) / apart
    clamp_h = lambda y: min(max(y, MIN_HEIGHT), MAX_HEIGHT)  # noqa: E731
    a = (cx + (ax - cx) * scale, clamp_h(ay), cz + (az - cz) * scale)
    b = (cx + (bx - cx) * scale, clamp_h(by), cz + (bz - cz) * scale)
    return Layout(a, b, source="llm")


def predict_llm(prompt: str, shots: int = SHOTS, use_cache: bool = True) -> Layout:
    """Ask the configured endpoint; LLMError (with the reason) when it gives no usable layout."""
    cfg = llm.settings()
    key = hashlib.sha256(f"{cfg.base_url}|{cfg.model}|{shots}|{prompt}".encode()).hexdigest()
    if use_cache and (hit := _cache_get(key)) is not None:
        return hit
    for attempt in range(2):
        try:
            layout = validate(llm.chat_json(messages(prompt, shots), temperature=TEMPERATURE,
                                            max_tokens=MAX_TOKENS, cfg=cfg))
            break
        except llm.BadAnswer as e:
            if attempt == 1:
                raise llm.BadAnswer(f"{e} (after one retry)") from None
    if use_cache:
        _cache_put(key, layout)
    return layout


def _cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "duet" / "layout-llm.json"


def _cache_read() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _cache_get(key: str) -> Layout | None:
    hit = _cache_read().get(key)
    if not hit:
        return None
    return Layout(tuple(hit["A"]), tuple(hit["B"]), source="llm")


def _cache_put(key: str, layout: Layout) -> None:
    data = _cache_read()
    data[key] = layout.as_dict()
    path = _cache_file()
    try:  # a cache that cannot be written only costs a repeated request
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".layout-llm-")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        pass
