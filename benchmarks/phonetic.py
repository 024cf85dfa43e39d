"""PocketSphinx phone classes (duet.audio.phonetic): how often lip closures are found, and the cost.

Run: .venv/bin/python benchmarks/phonetic.py — speaks six bilabial-rich sentences with each of five
non-reserved voices (duet.tts gives exact phone timings), then prints per voice: the share of m/b/p
phones with a frame classed bilabial within one frame of it, bilabial frame recall/precision, and
6-class frame accuracy; finally the time for 60 s of audio beside features.compute on the same audio.
"""

from __future__ import annotations

import sys
import time

import numpy as np

VOICES = ("espeak:en-us+m3", "espeak:en-gb-x-rp+f2", "flite:rms", "flite:kal16", "festival:kal_diphone")
TEXTS = ["Maybe the boat will be back by Monday morning, but probably not before.",
         "Please pass the bread and the butter, my mother made them both.",
         "I think we should move the meeting to Thursday, if that works for everyone.",
         "The movie was a bit too long, but the music was beautiful.",
         "Put the map back in the box when you are done with it.",
         "Five very fine violins were found in the old farmhouse."]
PAD = 0.5  # seconds of silence around each sentence


def truth(phonemes, n_frames: int) -> np.ndarray:
    """Class index per 25 fps frame (the phone under the frame centre)."""
    from duet.audio.phonetic import CLASSES
    from duet.data.phonemes import INVENTORY

    centres = (np.arange(n_frames) + 0.5) / 25
    out = np.zeros(n_frames, np.int64)
    for start, end, phone in phonemes:
        c = INVENTORY[phone][0]
        out[(centres >= start + PAD) & (centres < end + PAD)] = CLASSES.index(c) if c in CLASSES else 5
    return out


def main() -> int:
    from duet.audio import features
    from duet.audio.phonetic import CLASSES, phone_classes
    from duet.data.phonemes import BILABIAL
    from duet.tts import synthesize

    pad = np.zeros(int(PAD * 16000), np.float32)
    print(f"{'voice':<24} {'m/b/p found':>12} {'bilabial R':>10} {'P':>5} {'accuracy':>9}")
    everything = []
    for voice in VOICES:
        conf = np.zeros((len(CLASSES),) * 2, np.int64)
        found = total = 0
        for text in TEXTS:
            speech = synthesize(text, voice)
            x = np.concatenate([pad, speech.samples, pad])
            everything.append(x)
            pred = phone_classes(x).argmax(1)
            ref = truth(speech.phonemes, len(pred))
            np.add.at(conf, (ref, pred), 1)
            for start, end, phone in speech.phonemes:
                if phone in BILABIAL:
                    total += 1
                    a, b = int((start + PAD) * 25) - 1, int(np.ceil((end + PAD) * 25)) + 1
                    found += bool((pred[max(a, 0): b] == 1).any())
        recall, precision = conf[1, 1] / max(conf[1].sum(), 1), conf[1, 1] / max(conf[:, 1].sum(), 1)
        print(f"{voice:<24} {found:>5}/{total:<3} {found / total:4.0%} {recall:10.2f} {precision:5.2f} "
              f"{np.trace(conf) / conf.sum():9.3f}")
    minute = np.concatenate(everything)[: 60 * 16000]
    for name, fn in (("features.compute", features.compute), ("phonetic.phone_classes", phone_classes)):
        fn(minute[:16000])
        wall, cpu = time.perf_counter(), time.process_time()
        fn(minute)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{name:<24} 60 s of audio: {wall:6.2f} s wall, {cpu:6.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
