"""espeak-ng through its C library: PCM and phoneme events (with sample positions) from one callback."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pickle
import threading
import zlib
from pathlib import Path

import numpy as np

from duet.speech.phonemes import from_espeak
from duet.errors import DuetError

BASES = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
         "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "klatt4")

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_POS_CHARACTER = 1
_RATE, _PITCH = 1, 3
_DEFAULT_WPM = 175


class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Engine:
    """The library keeps global state, so one engine per process, used under a lock."""

    def __init__(self):
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(path)
        except OSError:
            raise DuetError("espeak-ng is not installed (libespeak-ng.so.1 not found; apt install espeak-ng)") from None
        self.libc = ctypes.CDLL(None)  # the rand() the library draws breath noise from
        self.sr = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS)
        if self.sr <= 0:
            raise DuetError("espeak-ng failed to initialise")
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._cb = _Callback(self._collect)  # kept alive as long as the library may call it
        self.lib.espeak_SetSynthCallback(self._cb)
        self.lock = threading.Lock()

    def _collect(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type == _EVENT_PHONEME:
                self._events.append((int(e.sample), e.id.string.decode("utf-8", "replace")))
            i += 1
        return 0

    def speak(self, text: str, voice: str, rate: float, pitch: float):
        """Synthesize in a forked child: the library carries state from one utterance to the next,
        so every utterance starts from the same freshly initialised state and is reproducible."""
        with self.lock:
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: speak, send the result, leave without running any cleanup
                code = 0
                try:
                    payload = pickle.dumps(self._speak_here(text, voice, rate, pitch))
                except BaseException as e:  # noqa: BLE001 - carried to the parent and raised there
                    payload, code = pickle.dumps(DuetError(str(e))), 1
                with os.fdopen(w, "wb") as f:
                    f.write(payload)
                os._exit(code)
            os.close(w)
            with os.fdopen(r, "rb") as f:
                data = f.read()
            os.waitpid(pid, 0)
        result = pickle.loads(data) if data else DuetError("espeak-ng crashed")
        if isinstance(result, DuetError):
            raise result
        return result

    def _speak_here(self, text: str, voice: str, rate: float, pitch: float):
        # voices with breath noise (en+f2, en-us+f5, ...) draw it from libc's rand(), whose state is
        # whatever else in this process used it: seed it from the utterance, so it sounds the same in any run
        self.libc.srand(zlib.crc32(f"{text}|{voice}|{rate:.6f}|{pitch:.6f}".encode()))
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise DuetError(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter(_RATE, int(round(_DEFAULT_WPM * rate)), 0)
        self.lib.espeak_SetParameter(_PITCH, int(np.clip(round(50 * pitch), 0, 99)), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        if self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, 0, None, None) != 0:
            raise DuetError(f"espeak-ng could not speak {text[:40]!r}")
        self.lib.espeak_Synchronize()
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        return samples, list(self._events)


_engine: _Engine | None = None


def _get() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def synth(text: str, voice: str, rate: float, pitch: float):
    """(samples, sample rate, phones as (start_s, end_s, inventory phone)) for ``text``."""
    eng = _get()
    samples, events = eng.speak(text, voice, rate, pitch)
    phones = []
    for i, (pos, name) in enumerate(events):
        end = events[i + 1][0] if i + 1 < len(events) else len(samples)
        if end > pos:
            phones.append((pos / eng.sr, end / eng.sr, from_espeak(name)))
    return samples, eng.sr, phones


def installed() -> list[str]:
    """English bases x variants whose files exist in this espeak-ng's data folder."""
    data = _data_dir()
    if data is None:
        return []
    have = {p.name for p in (data / "voices" / "!v").iterdir()} if (data / "voices" / "!v").is_dir() else set()
    out = list(BASES)
    out += [f"en-us+{v}" for v in VARIANTS if v in have]
    out += [f"{b}+{v}" for b in BASES[1:] for v in ("m3", "f2", "klatt") if v in have]
    return out


def _data_dir() -> Path | None:
    for p in (Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data"), Path("/usr/lib/aarch64-linux-gnu/espeak-ng-data"),
              Path("/usr/share/espeak-ng-data"), Path("/usr/local/share/espeak-ng-data")):
        if p.is_dir():
            return p
    return None
