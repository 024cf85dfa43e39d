"""Training conversations of recorded people: lines of real speech (one folder per speaker, each
NAME.wav beside NAME.txt holding its words), force-aligned once (``duet.speech.align``), then placed
into two-person conversations with the synthetic corpus's turn-taking, backchannels, rooms and
corpus animator. The model then hears real voices with ground-truth motion that follows their phones.

    DIR/<speaker>/<name>.wav   any sample rate, mono or not
    DIR/<speaker>/<name>.txt   the words said (lines that do not align are skipped and counted)

Recorded clips are ``r000000``, ``r000001``, ... in the train split only: keep voices you evaluate on
out of DIR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from duet.constants import SAMPLE_RATE
from duet.corpus import augment
from duet.corpus.animator import EMOTIONS, RELATIONS
from duet.corpus.scripts import ScriptLine
from duet.errors import DuetError
from duet.speech import Speech, finish

BACKCHANNEL_S = 0.8  # a speaker's lines at most this long (or their shortest) serve as backchannels
PAUSE_S = (0.15, 0.35)  # between two lines that make one turn


def clip_id(index: int) -> str:
    return f"r{index:06d}"


def is_recorded(cid: str) -> bool:
    return cid.startswith("r")


def load_lines(folder: str | Path) -> tuple[dict[str, list[Speech]], int]:
    """{speaker: aligned lines} from ``folder`` and how many lines were skipped (no words, no path)."""
    import soundfile as sf

    from duet.audio.features import loudness_gain_db
    from duet.audio.io import resample
    from duet.speech.align import forced_phones

    folder = Path(folder)
    if not folder.is_dir():
        raise DuetError(f"{folder}: no such folder of recorded lines")
    pool: dict[str, list[Speech]] = {}
    skipped = 0
    for wav in sorted(folder.glob("*/*.wav")):
        text = wav.with_suffix(".txt").read_text().strip() if wav.with_suffix(".txt").is_file() else ""
        try:
            x, sr = sf.read(wav, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise DuetError(f"{wav}: cannot read this recorded line ({e})") from None
        x = resample(x.mean(1), sr, SAMPLE_RATE)
        try:
            phones = forced_phones(x, text) if text else None
        except DuetError:
            phones = None
        if not phones:
            skipped += 1
            continue
        x = (x * np.float32(10 ** (loudness_gain_db(x) / 20))).astype(np.float32)
        pool.setdefault(wav.parent.name, []).append(
            finish(x, SAMPLE_RATE, phones, f"recorded:{wav.parent.name}", text))
    if len(pool) < 2:
        raise DuetError(f"{folder}: recorded lines of at least two speakers are needed ({len(pool)} found)")
    return pool, skipped


def join(lines: list[Speech], pauses: list[float]) -> Speech:
    """Lines said one after another with ``pauses`` (s) between them: one turn."""
    parts, phones, t = [], [], 0.0
    for k, s in enumerate(lines):
        if k:
            gap = np.zeros(int(round(pauses[k - 1] * SAMPLE_RATE)), np.float32)
            parts.append(gap)
            phones.append((t, t + len(gap) / SAMPLE_RATE, "sil"))
            t += len(gap) / SAMPLE_RATE
        parts.append(s.samples)
        phones += [(a + t, b + t, p) for a, b, p in s.phonemes]
        t += s.duration
    return Speech(samples=np.concatenate(parts), sr=SAMPLE_RATE, phonemes=phones, voice=lines[0].voice,
                  text=" ".join(s.text for s in lines))


def make_clip(seed: int, index: int, pool: dict[str, list[Speech]], target_s: float | None = None) -> dict:
    """Recorded clip ``index``: two speakers of ``pool`` in a conversation of about ``target_s`` seconds
    (10-28 s, drawn, by default), everything else as the synthetic clips (``build.conversation_clip``)."""
    from duet.corpus.build import conversation_clip

    rng = np.random.default_rng([seed, index, 1])  # a stream apart from the synthetic clips'
    speakers = sorted(pool)
    pick = rng.choice(len(speakers), 2, replace=False)
    voice = {p: speakers[int(k)] for p, k in zip("AB", pick)}
    target = float(rng.uniform(10, 28)) if target_s is None else target_s
    tempo = {p: float(rng.uniform(0.95, 1.06)) for p in "AB"}
    relation = RELATIONS[rng.integers(len(RELATIONS))]
    mood = {p: EMOTIONS[rng.integers(len(EMOTIONS))] for p in "AB"}
    lines, speech = [], {}
    speaker = "A" if rng.random() < 0.5 else "B"
    budget = target
    while budget > 0:
        own = pool[voice[speaker]]
        chosen = [own[int(k)] for k in rng.integers(len(own), size=int(rng.integers(1, 4)))]
        turn = join(chosen, list(rng.uniform(*PAUSE_S, size=len(chosen) - 1)))
        emotion = mood[speaker] if rng.random() < 0.6 else EMOTIONS[rng.integers(len(EMOTIONS))]
        gap = -rng.uniform(0.2, 0.7) if (lines and rng.random() < 0.12) else rng.uniform(0.05, 0.9)
        speech[len(lines)] = augment.resample_speech(turn, tempo[speaker])
        lines.append(ScriptLine(speaker, turn.text, "utterance", emotion, float(gap)))
        budget -= turn.duration + gap
        listener = "B" if speaker == "A" else "A"
        if turn.duration > 1.5 and rng.random() < 0.35:
            theirs = pool[voice[listener]]
            short = [s for s in theirs if s.duration <= BACKCHANNEL_S] or [min(theirs, key=lambda s: s.duration)]
            said = short[int(rng.integers(len(short)))]
            speech[len(lines)] = augment.resample_speech(said, tempo[listener])
            lines.append(ScriptLine(listener, said.text, "backchannel", mood[listener], 0.0,
                                    float(rng.uniform(0.3, 0.7))))
        speaker = listener
    voices = {p: f"recorded:{voice[p]}" for p in "AB"}
    return conversation_clip(rng, clip_id(index), index, "train", seed, lines, speech, voices, relation,
                             {"sentences": [], "augment": {"tempo": tempo}, "recorded": True})
