"""Scene prompt -> where the two heads are (the spatial layout).

A layout is each person's eye midpoint in the conversation frame: metres, +X right, +Y up, +Z
forward (towards the viewer). The origin is on the floor under the centre of the conversation, so
``y`` is eye height above the floor (standing adult about 1.6 m, seated about 1.2 m). Face to face
runs along Z (A at -Z), side by side along X (A at -X); A is the person mentioned first.

``predict`` asks an OpenAI-protocol endpoint with few-shot prompting when one is configured and
otherwise (or when it fails) uses the offline predictor: retrieval over the annotated examples
plus simple rules. The result says which one answered and why it fell back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MIN_APART, MAX_APART = 0.15, 6.0  # metres between the two eye midpoints
MIN_HEIGHT, MAX_HEIGHT = 0.3, 2.7  # eye height above the floor: lying down .. on a stage


@dataclass(frozen=True)
class Layout:
    A: tuple[float, float, float]
    B: tuple[float, float, float]
    source: str = "offline"  # "llm" | "offline"
    reason: str = ""  # why the offline predictor answered although an endpoint was configured

    @property
    def distance(self) -> float:
        return float(np.linalg.norm(np.subtract(self.B, self.A)))

    def as_dict(self) -> dict[str, list[float]]:
        """{"A": [x,y,z], "B": [x,y,z]}: what the pipeline and DyadicMotion meta carry."""
        return {p: [round(float(v), 4) + 0.0 for v in xyz] for p, xyz in (("A", self.A), ("B", self.B))}

    def to_json(self) -> str:
        obj: dict = {**self.as_dict(), "source": self.source}
        if self.reason:
            obj["reason"] = self.reason
        return json.dumps(obj)


def from_params(apart: float, angle: float, height_a: float, height_b: float, **kw) -> Layout:
    """A layout centred on the origin: ``apart`` metres horizontally, ``angle`` radians from the Z axis
    (0 = face to face along Z, pi/2 = side by side along X), and the two eye heights."""
    dx, dz = 0.5 * apart * math.sin(angle), 0.5 * apart * math.cos(angle)
    return Layout((-dx, height_a, -dz), (dx, height_b, dz), **kw)


def params(layout: Layout) -> tuple[float, float, float, float]:
    """Inverse of ``from_params``: (apart, angle, height_a, height_b)."""
    dx, dz = layout.B[0] - layout.A[0], layout.B[2] - layout.A[2]
    return math.hypot(dx, dz), math.atan2(dx, dz), layout.A[1], layout.B[1]


@lru_cache(maxsize=None)
def examples() -> tuple[tuple[str, Layout], ...]:
    """The 30 hand-annotated (prompt, layout) examples used for few-shot prompting and retrieval."""
    return _load("examples.json")


@lru_cache(maxsize=None)
def eval_set() -> tuple[tuple[str, Layout], ...]:
    """The held-out annotated prompts (never used as examples) for evaluation."""
    return _load("eval_set.json")


def _load(name: str) -> tuple[tuple[str, Layout], ...]:
    rows = json.loads((HERE / name).read_text())
    return tuple((r["prompt"], Layout(tuple(r["A"]), tuple(r["B"]), source="annotated")) for r in rows)


def predict(prompt: str, *, use_llm: bool = True) -> Layout:
    """The layout for ``prompt``: the endpoint's few-shot answer when configured, else offline."""
    from duet import llm
    from duet.layout.offline import predict_offline

    prompt = " ".join(str(prompt).split())
    if not prompt:
        from duet.errors import DuetError
        raise DuetError("the layout prompt is empty")
    if not use_llm or not llm.settings().configured:
        return predict_offline(prompt)
    from duet.layout.prompting import predict_llm

    try:
        return predict_llm(prompt)
    except llm.LLMError as e:
        layout = predict_offline(prompt)
        return Layout(layout.A, layout.B, source="offline", reason=f"LLM layout failed: {e}")


__all__ = ["Layout", "predict", "examples", "eval_set", "from_params", "params", "MIN_APART", "MAX_APART"]
