"""Phone-class evidence at 25 fps from PocketSphinx's pretrained en-us acoustic model (offline).

Optional feature block, not part of ``features.compute``: allphone decoding (phone n-gram, no words)
of the clip, folded onto a few mouth-shape classes. The acoustic model was trained on real recorded
speech, so it brings knowledge of lip closures that synthetic training audio alone does not.
Cost: several seconds per minute of audio (see docs/audio.md), so the trainer computes it once per
clip and caches it.

Alignment: PocketSphinx frame i (25.6 ms window, 10 ms hop) is centred at sample 160 i + 205; the
input is delayed by 125 samples so that it is centred at 160 i + 80, making frames 4k .. 4k + 3 the
four 10 ms sub-frames of 25 fps frame k, symmetric about (k + 0.5) / 25 s. Each output row is the
fraction of those four sub-frames that fall in each class.
"""

from __future__ import annotations

import numpy as np

from duet.errors import DuetError

SR = 16000
HOP = SR // 25
CLASSES = ("silence", "bilabial", "labiodental", "rounded", "open_vowel", "other")
DELAY = 125  # samples: moves PocketSphinx frame centres onto the 10 ms sub-frame grid
CHUNK_FRAMES = 750  # 30 s per decoded utterance keeps memory and search bounded
BEAM = 1e-10  # narrower than the default 1e-48: a third faster, same accuracy on our measurements

_decoder = []


def phone_classes(samples: np.ndarray) -> np.ndarray:
    """[N] (or [C, N], averaged) float32 at 16 kHz -> [N // 640, len(CLASSES)] float32 rows summing to 1."""
    from duet.audio.features import as_mono, loudness_gain_db

    x = as_mono(samples)
    x = np.clip(x * np.float32(10 ** (loudness_gain_db(x) / 20)), -1, 1)
    n_frames = len(x) // HOP
    out = np.zeros((n_frames, len(CLASSES)), np.float32)
    for a in range(0, n_frames, CHUNK_FRAMES):
        b = min(n_frames, a + CHUNK_FRAMES)
        seg = x[a * HOP: b * HOP]
        if a == 0:
            seg = np.concatenate([np.zeros(DELAY, np.float32), seg])
        else:  # the delay comes from the audio before the chunk
            seg = x[a * HOP - DELAY: b * HOP]
        sub = np.zeros(4 * (b - a), np.int64)  # class of each 10 ms sub-frame, silence by default
        for phone, start, end in _decode(seg):
            sub[start: end + 1] = _class_index(phone)
        out[a:b] = np.eye(len(CLASSES), dtype=np.float32)[sub].reshape(b - a, 4, -1).mean(1)
    return out


def _decode(x: np.ndarray) -> list[tuple[str, int, int]]:
    """Allphone decoding of one utterance: (ARPAbet phone or filler, first frame, last frame) at 100 fps."""
    decoder = _get_decoder()
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return [(s.word, s.start_frame, s.end_frame) for s in decoder.seg()]


def _get_decoder():
    if not _decoder:
        import os

        try:
            import pocketsphinx
        except ImportError:
            raise DuetError("phonetic features need pocketsphinx (pip install 'duet[audio]')") from None
        model = pocketsphinx.get_model_path()
        _decoder.append(pocketsphinx.Decoder(
            hmm=os.path.join(model, "en-us", "en-us"), allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"),
            lw=2.0, beam=BEAM, pbeam=BEAM, loglevel="FATAL"))
    return _decoder[0]


def _class_index(phone: str) -> int:
    """ARPAbet (PocketSphinx upper case) -> index in CLASSES; fillers (SIL, +NSN+, ...) are silence."""
    from duet.data.phonemes import INVENTORY

    entry = INVENTORY.get(phone.lower())
    if entry is None or entry[0] == "silence":
        return 0
    return CLASSES.index(entry[0]) if entry[0] in CLASSES else CLASSES.index("other")
