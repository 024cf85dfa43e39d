"""The offline layout predictor: the nearest annotated example, corrected by the prompt's own words.

The nearest example (by sentence embedding) gives a whole plausible scene; the rules then replace
whatever the prompt states outright: a distance, an arrangement, who sits or stands.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from duet.layout import MAX_APART, MIN_APART, Layout, examples, from_params, params, rules


def neighbours(prompt: str, k: int = 1) -> list[tuple[int, float]]:
    """Indices of the ``k`` most similar annotated examples and their cosine similarities."""
    from duet.layout.embedding import embed

    corpus = [p for p, _ in examples()]
    query, method = embed([prompt], corpus)
    sims = _example_vectors(method) @ query[0]
    order = np.argsort(-sims, kind="stable")[:k]
    return [(int(i), float(sims[i])) for i in order]


@lru_cache(maxsize=2)
def _example_vectors(method: str) -> np.ndarray:
    from duet.layout.embedding import embed

    corpus = [p for p, _ in examples()]
    vectors, got = embed(corpus, corpus)
    assert got == method, "the embedding method changed within one process"
    return vectors


def retrieve(prompt: str) -> Layout:
    """The nearest example's layout, unchanged (the retrieval-only baseline)."""
    (i, _), = neighbours(prompt, 1)
    return examples()[i][1]


def knn_average(prompt: str, k: int = 5) -> Layout:
    """The mean of the ``k`` nearest examples' positions (the paper's k-NN baseline)."""
    idx = [i for i, _ in neighbours(prompt, k)]
    a = np.mean([examples()[i][1].A for i in idx], 0)
    b = np.mean([examples()[i][1].B for i in idx], 0)
    return Layout(tuple(map(float, a)), tuple(map(float, b)))


def predict_offline(prompt: str) -> Layout:
    """Retrieval plus rules: the default layout when no endpoint answers."""
    apart, angle, height_a, height_b = params(retrieve(prompt))
    cues = rules.read(prompt)
    if cues.angle is not None and abs(cues.angle - angle) > 0.2:
        angle = cues.angle
        apart = rules.TYPICAL_APART[cues.angle]  # the template's spacing belonged to another arrangement
    if cues.apart is not None:
        apart = cues.apart
    if cues.height_a is not None:
        height_a = cues.height_a
    if cues.height_b is not None:
        height_b = cues.height_b
    return from_params(float(np.clip(apart, MIN_APART, MAX_APART)), angle, height_a, height_b, source="offline")
