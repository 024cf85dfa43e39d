"""Scene prompt -> where the two heads are (the spatial layout).

A layout is each person's eye midpoint in the conversation frame: metres, +X right, +Y up, +Z
forward (towards the viewer). The origin is on the floor under the centre of the conversation, so
``y`` is eye height above the floor (standing adult about 1.6 m, seated about 1.2 m). Face to face
runs along Z (A at -Z), side by side along X (A at -X); A is the person mentioned first.

``predict`` asks an OpenAI-protocol endpoint with few-shot prompting when one is configured and
otherwise (or when it fails) uses the offline predictor: what the prompt states outright (a distance
with its unit, a posture, an arrangement), then setting and intent words, then the nearest annotated
examples. The result says which one answered and why it fell back.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


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
        return math.dist(self.A, self.B)

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


SPLIT_SEED = "duet-layout-split-1"
HELD_OUT_PERCENT = 30


def is_held_out(prompt: str) -> bool:
    """Whether an annotated prompt belongs to the held-out part: fixed by a seeded hash of its text, so
    adding prompts never moves old ones between the parts (about 30% are held out)."""
    digest = hashlib.sha256(f"{SPLIT_SEED}:{prompt}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < HELD_OUT_PERCENT


@lru_cache(maxsize=None)
def annotated() -> tuple[tuple[str, Layout, str], ...]:
    """Every hand-annotated (prompt, layout, setting) in ``prompts.json``. The 30 issue-9 examples are
    always examples; the rest are split by ``is_held_out``."""
    rows = json.loads((HERE / "prompts.json").read_text())
    return tuple((r["prompt"], _layout(r), r["setting"]) for r in rows)


@lru_cache(maxsize=None)
def examples() -> tuple[tuple[str, Layout], ...]:
    """The annotated examples: few-shot prompting and retrieval draw on these, and rules are tuned on them."""
    return tuple((p, lay) for p, lay, s in annotated() if s == ISSUE9 or not is_held_out(p))


@lru_cache(maxsize=None)
def eval_set() -> tuple[tuple[str, Layout], ...]:
    """The held-out annotated prompts: never examples, never looked at while tuning."""
    return tuple((p, lay) for p, lay, s in annotated() if s != ISSUE9 and is_held_out(p))


@lru_cache(maxsize=None)
def issue9_eval_set() -> tuple[tuple[str, Layout], ...]:
    """The 36 held-out prompts of issue 9, kept to compare with the predictor measured on them then."""
    return tuple((r["prompt"], _layout(r)) for r in json.loads((HERE / "issue9_held_out.json").read_text()))


ISSUE9 = "issue 9 examples"


def _layout(row: dict) -> Layout:
    return Layout(tuple(row["A"]), tuple(row["B"]), source="annotated")


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


__all__ = ["Layout", "predict", "annotated", "examples", "eval_set", "issue9_eval_set", "is_held_out", "from_params",
           "params", "MIN_APART", "MAX_APART"]
