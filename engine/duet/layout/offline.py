"""The offline layout predictor: the prompt's own words first, the nearest annotated examples for the rest.

``rules.read`` gives whatever the prompt states or implies (a distance with its unit, the setting's
spacing, the arrangement, each person's posture and build); every part it leaves open comes from the
``K`` most similar examples (sentence embedding), a similarity-weighted median or vote.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from duet.layout import MAX_APART, MAX_HEIGHT, MIN_APART, MIN_HEIGHT, Layout, examples, from_params, params, rules

K = 9
MAJORITY = 0.6  # the share of the neighbours' weight that overrules face to face
FACE_RANGE = (0.7, 1.6)  # with nothing said, a conversation stays in the personal to near-social zone
SPACING = {rules.SIDE: 0.6, rules.CORNER: 0.9}
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
    """[N, 4]: each example's apart, angle (snapped to face / corner / side), height A, height B."""
    rows = []
    for _, layout in examples():
        apart, angle, ha, hb = params(layout)
        rows.append((apart, min(_ANGLES, key=lambda a: abs(a - abs(angle))), ha, hb))
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


def predict_offline(prompt: str, pool: np.ndarray | None = None) -> Layout:
    """The default layout when no endpoint answers. ``pool`` (a mask over the examples) is for
    cross-validation: the prompt's own example is left out when measuring on the examples."""
    cues = rules.read(prompt)
    near = neighbours(prompt, K, pool)
    idx = np.array([i for i, _ in near])
    weight = np.maximum(np.array([s for _, s in near]), 1e-3)
    table = _example_params()[idx]
    angle = cues.angle
    if angle is None:  # face to face unless most of the neighbours agree on another arrangement
        votes = {a: weight[table[:, 1] == a].sum() for a in _ANGLES}
        angle = max(votes, key=votes.get)
        if votes[angle] < MAJORITY * weight.sum():
            angle = rules.FACE
    apart = cues.apart
    if apart is None and angle != rules.FACE:
        apart = SPACING[angle]  # side by side and at a corner vary little: a fixed spacing beats the neighbours
    if apart is None:  # the spacing of the neighbours arranged face to face, when there are any
        same = table[:, 1] == angle
        apart = _weighted_median(table[same, 0], weight[same]) if same.any() else _weighted_median(table[:, 0], weight)
        apart = float(np.clip(apart, *FACE_RANGE))
    # A person the words say nothing about stands: the neighbours' heights belong to their own scenes.
    height_a = rules.STAND if cues.height_a is None else cues.height_a
    height_b = rules.STAND if cues.height_b is None else cues.height_b
    clip_h = lambda h: float(np.clip(h, MIN_HEIGHT, MAX_HEIGHT))  # noqa: E731
    return from_params(float(np.clip(apart, MIN_APART, MAX_APART)), float(angle), clip_h(height_a), clip_h(height_b),
                       source="offline")


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])
