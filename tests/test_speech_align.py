"""Forced alignment (PocketSphinx) against a synthesizer's own phone times, the neural piper voice whose
phones come from it, and the corpus's recording-like augmentations that must not move any phone."""

import numpy as np
import pytest

from duet.errors import DuetError
from duet.speech import synthesize
from duet.speech.align import align_words, forced_phones, forced_words

TEXT = "Maybe we should buy a bigger map before the trip."


def test_alignment_finds_flites_own_phone_times():
    s = synthesize(TEXT, "flite:rms")
    own = [p for p in s.phonemes if p[2] != "sil"]
    aligned = [p for p in forced_phones(s.samples, s.text) if p[2] != "sil"]
    assert len(aligned) == len(own)
    same = [(a, o) for a, o in zip(aligned, own) if a[2] == o[2]]
    assert len(same) >= 0.8 * len(own)  # schwa ("ax") is "ah" to the aligner's stressless model
    starts = np.array([a[0] - o[0] for a, o in same])
    assert abs(np.median(starts)) < 0.02 and np.mean(np.abs(starts)) < 0.025  # seconds (measured: 7 / 10 ms)


def test_alignment_words_offsets_and_refusals():
    s = synthesize("Open the door.", "flite:kal16")
    words = forced_words(s.samples, s.text, offset_s=2.0)
    assert [w for w, _ in words if w != "<sil>"] == ["open", "the", "door"]
    assert all(a >= 2.0 for _, phones in words for a, _, _ in phones)
    assert align_words("Yes, really.") == ["<sil>", "yes", "<sil>", "really", "<sil>"]
    with pytest.raises(DuetError, match="not in the pronouncing dictionary"):
        forced_phones(s.samples, "Open the zzqxv.")


def test_piper_voice_speaks_with_aligned_phones_and_schwas():
    from duet.speech import voices

    assert "piper:joe" in voices()
    s = synthesize("The other day a banana fell on my head.", "piper:joe", rate=1.1, pitch=1.1)
    assert s.sr == 16000 and s.voice == "piper:joe"
    phones = [p for _, _, p in s.phonemes]
    assert phones[0] == "sil" and s.phonemes[-1][1] == pytest.approx(s.duration)
    assert "ax" in phones  # ba-na-na's unstressed vowels
    assert sum(p == "m" for p in phones) == 1 and "b" in phones
    voiced = [(a, b) for a, b, p in s.phonemes if p != "sil"]
    loud = np.abs(s.samples) > 0.01
    inside = np.zeros(len(s.samples), bool)
    for a, b in voiced:
        inside[int(a * 16000): int(b * 16000)] = True
    assert loud[inside].mean() > 5 * loud[~inside].mean()  # the phones sit where the sound is


def test_codec_and_babble_keep_every_phone_in_place():
    from duet.corpus.augment import _delay, babble, codec

    x = synthesize(TEXT, "flite:rms").samples
    rng = np.random.default_rng(3)
    for _ in range(3):
        y = codec(x, rng)
        assert len(y) == len(x) and _delay(x, y) == 0 and np.corrcoef(x, y)[0, 1] > 0.95
    noisy = babble(x, np.stack([x, x[::-1]]), rng, 20.0)
    assert len(noisy) == len(x) and _delay(x, noisy) == 0
    assert np.std(noisy - x) / np.std(x) == pytest.approx(0.1, rel=0.3)  # 20 dB under the speech


def test_piper_phones_fall_back_to_an_even_spread_where_alignment_fails():
    from duet.speech.piper import _even

    x = np.zeros(16000, np.float32)
    x[4000:12000] = 0.3 * np.sin(np.arange(8000) * 2 * np.pi * 150 / 16000)  # voiced 0.25-0.75 s
    phones = _even(x, "mm hmm")
    assert [p for _, _, p in phones] == ["m", "hh", "m"]
    assert phones[0][0] == pytest.approx(0.25, abs=0.011) and phones[-1][1] == pytest.approx(0.75, abs=0.011)
    assert _even(np.zeros(16000, np.float32), "mm hmm") == []
