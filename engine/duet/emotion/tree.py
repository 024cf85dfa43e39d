"""The interactive talking tree (Warm Chat, section 3.2) and the per-frame emotion track.

Depth d (1-based) is the d-th turn. Its speak node holds the speaker's line; its right sibling, the
listen node, holds the listener's interjection (or nothing); the next turn's speak node is the listen
node's child (Eq. 7). Each node has a distribution P over EMOTIONS, whose maximum is its confidence.
The current emotion (Eq. 10) is

    speak node v:   argmax_psi  P_v(psi) + sum over nodes u with D(u) <= D(v)-1 of D(u) * P_u(psi)
    listen node v:  argmax_psi  sum over nodes u with D(u) <= D(v) of D(u) * P_u(psi)

so deeper (more recent) turns weigh more, as in the recency effect the paper cites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from duet.emotion.labels import EMOTIONS, emotion_id
from duet.emotion.lexicon import classify
from duet.errors import DuetError


@dataclass
class Node:
    person: str  # "A" | "B"
    role: str  # "speak" | "listen"
    depth: int
    P: np.ndarray  # distribution over EMOTIONS (all zeros: a silent listener, no evidence)
    parent: "Node | None" = None
    child: "Node | None" = None
    left: "Node | None" = None
    right: "Node | None" = None

    @property
    def emotion(self) -> str:
        """The node's own (observed) emotion, before the history is taken into account."""
        return EMOTIONS[int(np.argmax(self.P))] if self.P.any() else "neutral"

    @property
    def confidence(self) -> float:
        return float(self.P.max())


@dataclass
class TalkingTree:
    nodes: list[Node] = field(default_factory=list)

    def add_turn(self, speaker: str, P: np.ndarray, listener_P: np.ndarray | None = None) -> tuple[Node, Node]:
        """Grow the tree by one turn (Eq. 7): a speak node and its listen sibling; returns both."""
        if speaker not in ("A", "B"):
            raise DuetError(f"a turn's speaker must be A or B, not {speaker!r}")
        depth = len(self.nodes) // 2 + 1
        parent = self.nodes[-1] if self.nodes else None
        speak = Node(speaker, "speak", depth, _distribution(P), parent=parent)
        listen = Node("B" if speaker == "A" else "A", "listen", depth,
                      np.zeros(len(EMOTIONS)) if listener_P is None else _distribution(listener_P),
                      parent=parent, left=speak)
        speak.right = listen
        if parent is not None:
            parent.child = speak
        self.nodes += [speak, listen]
        return speak, listen

    def reverse_level_order(self, max_depth: int) -> list[Node]:
        """Nodes with depth <= max_depth, deepest level first (the traversal pi of Eq. 10)."""
        return [n for n in reversed(self.nodes) if n.depth <= max_depth]

    def score(self, v: Node) -> np.ndarray:
        """Eq. 10's vote for every emotion at node ``v``."""
        if v.role == "speak":
            total = v.P.copy()
            history = self.reverse_level_order(v.depth - 1)
        else:
            total = np.zeros(len(EMOTIONS))
            history = self.reverse_level_order(v.depth)
        for u in history:
            total += u.depth * u.P
        return total

    def current(self, v: Node) -> str:
        """The current emotion at ``v`` (Eq. 10)."""
        s = self.score(v)
        return EMOTIONS[int(np.argmax(s))] if s.any() else "neutral"


def _distribution(P) -> np.ndarray:
    P = np.asarray(P, np.float64)
    if P.shape != (len(EMOTIONS),) or not np.all(np.isfinite(P)) or (P < 0).any() or P.sum() <= 0:
        raise DuetError(f"an emotion distribution needs {len(EMOTIONS)} non-negative numbers")
    return P / P.sum()


def turn_distribution(turn: Mapping) -> np.ndarray:
    """A turn's observed emotion: its label (with its confidence) when the script gives one, else the
    offline classifier on its text."""
    label = turn.get("emotion")
    if label:
        conf = float(turn.get("confidence", 0.8))
        P = np.full(len(EMOTIONS), (1 - conf) / (len(EMOTIONS) - 1))
        P[emotion_id(label)] = conf
        return P
    return classify(turn.get("text", ""))


@dataclass
class EmotionTrack:
    """Per-frame emotion ids (indices into EMOTIONS) for each person, and the per-turn labels."""

    A: np.ndarray
    B: np.ndarray
    turns: list[dict]

    def names(self, person: str) -> list[str]:
        return [EMOTIONS[i] for i in getattr(self, person)]


def emotion_track(turns: Sequence[Mapping], T: int, fps: float) -> EmotionTrack:
    """Per-frame current emotions of A and B from the conversation's turns.

    Each turn is a mapping with ``speaker`` ("A"/"B"), ``start`` and ``end`` in seconds, and ``text``
    and/or ``emotion`` (+ optional ``confidence``); an optional ``interjection`` text is the listener's.
    During turn k the speaker shows the current emotion of speak node k and the listener that of
    listen node k; gaps keep the previous turn's emotions, frames before the first turn take its.
    """
    tree = TalkingTree()
    spans, labels = [], []
    for turn in sorted(turns, key=lambda t: float(t["start"])):
        listener_text = turn.get("interjection")
        if isinstance(listener_text, Mapping):
            listener_text = listener_text.get("text")
        listener_P = classify(listener_text) if listener_text else None
        speak, listen = tree.add_turn(turn["speaker"], turn_distribution(turn), listener_P)
        now = {speak.person: tree.current(speak), listen.person: tree.current(listen)}
        spans.append((float(turn["start"]), float(turn["end"])))
        labels.append(now)
    ids = {p: np.zeros(T, np.int64) for p in "AB"}
    if not labels:
        return EmotionTrack(ids["A"], ids["B"], [])
    t = np.arange(T) / fps
    # the turn in force at each frame: the last one that has started (the first before any start)
    which = np.clip(np.searchsorted([s for s, _ in spans], t, side="right") - 1, 0, len(spans) - 1)
    for p in "AB":
        per_turn = np.array([EMOTIONS.index(lab[p]) for lab in labels])
        ids[p] = per_turn[which]
    return EmotionTrack(ids["A"], ids["B"], labels)
