"""Phone classes from PocketSphinx on real flite speech with exact phone timings."""

import numpy as np
import pytest

from duet.audio import phonetic as P
from duet.errors import DuetError

SR = 16000
TEXT = "Maybe the boat will be back by Monday morning, but probably not before."


@pytest.fixture(scope="module")
def sentence():
    """flite 'rms' (not a reserved voice) with half a second of silence either side; (samples, m/b/p spans)."""
    from duet.data.phonemes import BILABIAL
    from duet.tts import synthesize

    speech = synthesize(TEXT, "flite:rms")
    pad = np.zeros(SR // 2, np.float32)
    spans = [(s + 0.5, e + 0.5) for s, e, p in speech.phonemes if p in BILABIAL]
    return np.concatenate([pad, speech.samples, pad]), spans


def test_rows_are_class_shares_and_silence_is_silence(sentence):
    x, _ = sentence
    c = P.phone_classes(x)
    assert c.shape == (len(x) // 640, len(P.CLASSES)) and c.dtype == np.float32
    assert np.allclose(c.sum(1), 1.0)
    assert (c[:8, 0] == 1).all() and (c[-6:, 0] == 1).all()  # the padding (first/last 0.3 s at least)
    assert (P.phone_classes(np.zeros(SR * 2, np.float32)).argmax(1) == 0).all()


def test_lip_closures_are_found_where_they_are(sentence):
    x, spans = sentence
    bilabial = P.phone_classes(x).argmax(1) == 1
    frames = [(int(s * 25) - 1, int(np.ceil(e * 25)) + 1) for s, e in spans]
    found = sum(bilabial[max(a, 0): b].any() for a, b in frames)
    assert found >= 0.8 * len(spans), (found, len(spans))  # 11 m/b/p in the sentence
    near = np.zeros_like(bilabial)
    for a, b in frames:
        near[max(a, 0): b] = True
    assert (bilabial & near).sum() >= 0.8 * bilabial.sum()  # and not elsewhere: aligned within a frame


def test_chunks_and_level_barely_change_the_result(sentence, monkeypatch):
    x, _ = sentence
    whole = P.phone_classes(x).argmax(1)
    assert (P.phone_classes(0.1 * x).argmax(1) == whole).mean() > 0.95
    monkeypatch.setattr(P, "CHUNK_FRAMES", 40)  # cuts every 1.6 s, some inside words
    chunked = P.phone_classes(x)
    assert chunked.shape[0] == len(whole)
    assert (chunked.argmax(1) == whole).mean() > 0.8


def test_bad_samples_are_refused():
    with pytest.raises(DuetError, match="NaN"):
        P.phone_classes(np.full(SR, np.nan, np.float32))
    with pytest.raises(DuetError, match="shape"):
        P.phone_classes(np.zeros((2, 2, SR), np.float32))
