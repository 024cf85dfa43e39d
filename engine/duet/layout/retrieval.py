"""Retrieval over the annotated examples: the nearest ones by sentence embedding, and what they say
about the arrangement and spacing the words left open; also the retrieval-only and k-NN baselines.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from duet.layout import Layout, examples, params, rules

K = 9
MAJORITY = 0.6  # the share of the neighbours' weight that overrules face to face
FACE_RANGE = (0.7, 1.6)  # with nothing said, a conversation stays in the personal to near-social zone
_ANGLES = (rules.FACE, rules.CORNER, rules.SIDE)


def neighbours(prompt: str, k: int = K, pool: np.ndarray | None = None) -> list[tuple[int, float]]:
    """Indices of the ``k`` most similar annotated examples (within ``pool`` when given) and their cosines."""
    from duet.layout.embedding import embed, method

    vectors = _example_vectors(method())
    query, _ = embed([prompt], list(_corpus()))
    sims = vectors @ query[0]
    if pool is not None:
        sims = np.where(pool, sims, -np.inf)
    order = np.argsort(-sims, kind="stable")[:k]
    return [(int(i), float(sims[i])) for i in order]


@lru_cache(maxsize=1)
def _corpus() -> tuple[str, ...]:
    return tuple(p for p, _ in examples())


@lru_cache(maxsize=2)
def _example_vectors(method: str) -> np.ndarray:
    from duet.layout.embedding import corpus_vectors

    vectors, got = corpus_vectors(_corpus())
    assert got == method, "the embedding method changed while the example vectors were made"
    return vectors


@lru_cache(maxsize=1)
def _example_params() -> np.ndarray:
    """[N, 2]: each example's apart and angle (snapped to face / corner / side)."""
    rows = []
    for _, layout in examples():
        apart, angle, _, _ = params(layout)
        rows.append((apart, min(_ANGLES, key=lambda a: abs(a - abs(angle)))))
    return np.array(rows, np.float64)


def retrieve(prompt: str, pool: np.ndarray | None = None) -> Layout:
    """The nearest example's layout, unchanged (the retrieval-only baseline)."""
    (i, _), = neighbours(prompt, 1, pool)
    return examples()[i][1]


def knn_average(prompt: str, pool: np.ndarray | None = None, k: int = 5) -> Layout:
    """The mean of the ``k`` nearest examples' positions (the paper's k-NN baseline)."""
    idx = [i for i, _ in neighbours(prompt, k, pool)]
    a = np.mean([examples()[i][1].A for i in idx], 0)
    b = np.mean([examples()[i][1].B for i in idx], 0)
    return Layout(tuple(map(float, a)), tuple(map(float, b)))


def from_neighbours(prompt: str, angle: float | None, apart: float | None, pool) -> tuple[float, float | None]:
    """The arrangement and spacing the words left open, from the ``K`` nearest examples (only then is
    the sentence embedded: a prompt that says both costs no encoder)."""
    near = neighbours(prompt, K, pool)
    idx = np.array([i for i, _ in near])
    weight = np.maximum(np.array([s for _, s in near]), 1e-3)
    table = _example_params()[idx]
    if angle is None:  # face to face unless most of the neighbours agree on another arrangement
        votes = {a: weight[table[:, 1] == a].sum() for a in _ANGLES}
        angle = max(votes, key=votes.get)
        if votes[angle] < MAJORITY * weight.sum():
            angle = rules.FACE
    if apart is None and angle == rules.FACE:  # the face-to-face neighbours' spacing, when there are any
        same = table[:, 1] == rules.FACE
        apart = _weighted_median(table[same, 0], weight[same]) if same.any() else _weighted_median(table[:, 0], weight)
        apart = float(np.clip(apart, *FACE_RANGE))
    return angle, apart


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])
