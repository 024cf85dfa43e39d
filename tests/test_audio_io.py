"""Bad audio never gets a traceback or a half-written output: one line, non-zero exit."""

import numpy as np
import pytest

from conftest import run_duet
from duet.audio.io import load_audio, save_wav


def _generate(tmp_path, audio, **env):
    out = tmp_path / "out.npz"
    r = run_duet("generate", audio, "-o", out, env=env)
    return r, out


def _assert_one_line_error(r, out, expected):
    assert r.rc == 1, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], r.err
    assert "Traceback" not in r.err
    assert not out.exists()
    assert not list(out.parent.glob(".out-*")), "temporary output left behind"


def test_missing_file(tmp_path):
    r, out = _generate(tmp_path, tmp_path / "nope.wav")
    _assert_one_line_error(r, out, "no such audio file")


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    r, out = _generate(tmp_path, tmp_path / "empty.wav")
    _assert_one_line_error(r, out, "the audio file is empty")


def test_corrupt_file(tmp_path):
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    r, out = _generate(tmp_path, tmp_path / "corrupt.wav")
    _assert_one_line_error(r, out, "cannot decode audio")


def test_silent_file(tmp_path):
    save_wav(tmp_path / "silent.wav", np.zeros(16000 * 2, np.float32))
    r, out = _generate(tmp_path, tmp_path / "silent.wav")
    _assert_one_line_error(r, out, "the audio is silent")


def test_too_short(tmp_path):
    save_wav(tmp_path / "short.wav", 0.3 * np.sin(np.arange(4000) * 0.1).astype(np.float32))
    r, out = _generate(tmp_path, tmp_path / "short.wav")
    _assert_one_line_error(r, out, "audio is too short (0.25 s")


def test_too_long(tmp_path, conversation):
    r, out = _generate(tmp_path, conversation.mix, DUET_MAX_AUDIO_SECONDS="2")
    _assert_one_line_error(r, out, "audio is too long")


def test_default_limit_is_ten_minutes(tmp_path):
    import soundfile as sf

    sr = 8000  # keep the file small: 601 s at 8 kHz
    sf.write(tmp_path / "long.wav", 0.1 * np.ones(601 * sr, np.float32), sr, subtype="PCM_U8")
    r, out = _generate(tmp_path, tmp_path / "long.wav")
    _assert_one_line_error(r, out, "the limit is 600 s")


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_24"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
@pytest.mark.parametrize("sr", [8000, 22050, 48000])
def test_formats_and_rates_load_as_16k(tmp_path, fmt, subtype, sr):
    import soundfile as sf

    t = np.arange(int(1.0 * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(path, np.stack([x, 0.5 * x], 1), sr, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.sr == 16000 and audio.samples.shape[0] == 2
    assert abs(audio.duration - 1.0) < 0.06  # mp3 adds encoder padding
    spectrum = np.abs(np.fft.rfft(audio.samples[0]))
    peak_hz = np.argmax(spectrum) * 16000 / audio.samples.shape[1]
    assert abs(peak_hz - 440) < 3
