"""Speaking masks from each input shape, on real espeak-ng speech with exact turn timings."""

import subprocess

import numpy as np
import pytest

from conftest import espeak, run_duet
from duet.audio.io import load_audio, save_wav
from duet.audio.masks import listen, masks_from_turns, speaking_masks
from duet.errors import DuetError
from duet.eval.masks import f1, first_speaker_order, shape_input

from duet.constants import SAMPLE_RATE as SR


def _truth(conversation, n_frames):
    """Exact masks: each line from its first to its last audible sample (espeak pads lines with silence)."""
    tracks = _tracks(conversation)
    trimmed = []
    for who, start, end in conversation.turns:
        x = tracks["AB".index(who), int(start * SR): int(end * SR)]
        loud = np.flatnonzero(np.abs(x) > 1e-3)
        trimmed.append((who, start + loud[0] / SR, start + (loud[-1] + 1) / SR))
    return masks_from_turns(trimmed, n_frames)


def _tracks(conversation):
    return np.stack([load_audio(conversation.a).mono, load_audio(conversation.b).mono])


def test_exact_masks_from_turns():
    m = masks_from_turns([("A", 0.0, 0.1), ("B", 0.1, 0.3), ("A", 0.25, 0.3)], 10)
    assert m[0].tolist() == [1, 1, 0, 0, 0, 0, 1, 0, 0, 0]  # frame centres 0.02, 0.06, ... 0.38
    assert m[1].tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 0, 0]


def test_two_track(conversation):
    tracks = _tracks(conversation)
    m = speaking_masks(tracks, "two-track")
    assert m.shape == (2, tracks.shape[1] // 640) and m.dtype == np.float32
    assert m.min() >= 0 and m.max() <= 1
    assert f1(m, _truth(conversation, m.shape[1])) >= 0.95


def test_stereo_file_with_crosstalk(conversation, tmp_path):
    stereo = shape_input(_tracks(conversation), None, "stereo")  # each channel hears the other at -20 dB
    save_wav(tmp_path / "s.wav", stereo)
    audio = load_audio(tmp_path / "s.wav")
    assert audio.samples.shape[0] == 2
    m = speaking_masks(audio.samples, "stereo")
    assert f1(m, _truth(conversation, m.shape[1])) >= 0.95


def test_a_mix_recorded_on_two_microphones_is_heard_as_a_mix(conversation, tmp_path):
    """Both people in both channels (two microphones 17 cm apart, a stereo room): the channels hardly
    correlate, but they carry the same voices at the same levels, so the file is a mono mix, not one
    person per channel (which made both heads talk at once)."""
    from duet.corpus.augment import reverb
    from duet.pipeline import Request, load_tracks, speaking_masks as masks_for

    mix = load_audio(conversation.mix).mono
    rng = np.random.default_rng(0)
    ref = _truth(conversation, len(mix) // 640)
    for name, stereo in (("delayed", np.stack([mix, np.roll(mix, 8)])),  # 0.5 ms apart
                         ("rooms", np.stack([reverb(mix, rng), reverb(mix, rng)])),
                         ("left 8 dB hotter", np.stack([mix, 0.4 * np.roll(mix, 8)]))):
        save_wav(tmp_path / f"{name}.wav", stereo)
        req = Request(audio=str(tmp_path / f"{name}.wav"))
        tracks, shape = load_tracks(req)
        assert shape == "mono", name
        masks, _ = masks_for(req, tracks, shape)
        assert ((masks[0] >= 0.5) & (masks[1] >= 0.5)).mean() < 0.02, name
        assert f1(masks, ref) >= 0.85, name
        told, verdict = listen(stereo, "stereo")  # the add-on's "Stereo" choice, made by mistake
        assert verdict.startswith("both channels hold the same voices, so heard as a mix"), verdict
        assert f1(told, ref) >= 0.85, name


def test_voices_panned_partly_apart(conversation, tmp_path):
    """A stereo file with each voice panned to one side (70 / 30, as in a mixed interview) is two
    voices, told apart by level: the bleed gate sits halfway between the two voices' sides."""
    from duet.pipeline import Request, load_tracks

    tracks = _tracks(conversation)
    save_wav(tmp_path / "panned.wav", np.stack([0.7 * tracks[0] + 0.3 * tracks[1], 0.3 * tracks[0] + 0.7 * tracks[1]]))
    x, shape = load_tracks(Request(audio=str(tmp_path / "panned.wav")))
    assert shape == "stereo"
    m, verdict = listen(x, "stereo")
    assert verdict == "two voices panned 15 dB apart"
    assert f1(m, _truth(conversation, m.shape[1])) >= 0.95
    assert ((m[0] >= 0.5) & (m[1] >= 0.5)).mean() < 0.02


def test_two_microphones_that_hear_each_other(conversation):
    """Two tracks whose microphones each hear the other person 10 dB down (a table with two mics):
    the bleed is gated between the two voices' level differences, so one head talks at a time."""
    tracks = _tracks(conversation)
    bled = np.stack([tracks[0] + 0.32 * tracks[1], tracks[1] + 0.32 * tracks[0]])
    m, verdict = listen(bled, "two-track")
    assert verdict == "one voice per track, each microphone hearing the other 10 dB down"
    assert f1(m, _truth(conversation, m.shape[1])) >= 0.95
    assert ((m[0] >= 0.5) & (m[1] >= 0.5)).mean() < 0.02


def test_mono_mix(conversation):
    mix = load_audio(conversation.mix).samples
    m = speaking_masks(mix, "mono")
    assert f1(m, _truth(conversation, m.shape[1])) >= 0.85


def test_first_to_speak_is_a_unless_told(conversation):
    tracks = _tracks(conversation)[::-1].copy()  # channel 0 now holds B, who speaks second
    ref = _truth(conversation, tracks.shape[1] // 640)
    assert f1(speaking_masks(tracks, "two-track"), ref) >= 0.95
    told = speaking_masks(tracks, "two-track", first_speaker=0)  # channel 0 is A, whatever the order
    assert f1(told, ref[::-1]) >= 0.95
    mix = load_audio(conversation.mix).samples
    assert f1(speaking_masks(mix, "mono", first_speaker=1), ref[::-1]) >= 0.85


def test_silence_in_one_track(conversation):
    tracks = _tracks(conversation)
    tracks[1] = 0.0
    m = speaking_masks(tracks, "two-track")
    ref = _truth(conversation, m.shape[1])
    assert m[1].max() == 0.0
    assert f1(m[:1], ref[:1]) >= 0.95


def test_one_person_never_speaks_in_a_mono_mix(tmp_path):
    parts = [espeak(t, "en-us+m3", tmp_path / f"{i}.wav") for i, t in enumerate(
        ["Good morning, everyone.", "Today we talk about the weather.", "It will rain, then clear up."])]
    gap = np.zeros(int(0.5 * SR), np.float32)
    x = np.concatenate([gap] + [np.concatenate([p, gap]) for p in parts])
    m = speaking_masks(x[None], "mono")
    voiced = speaking_masks(np.stack([x, np.zeros_like(x)]), "two-track")
    assert m[1].max() < 0.5
    assert f1(m, voiced) >= 0.95


def test_quiet_voice_in_a_noisy_mono_mix(conversation):
    """B 8 dB quieter than A, coloured noise 15 dB below A: B stays only ~7 dB above the noise floor,
    which a 10 dB floor gate dropped entirely (F1 0.77, B found in 20 % of its frames)."""
    a, b = _tracks(conversation)
    rng = np.random.default_rng(0)
    w = np.convolve(rng.standard_normal(len(a)), [1, 0.8], "same")
    level = np.sqrt(np.mean(a[np.abs(a) > 1e-3] ** 2))
    mix = a + b * 10 ** (-8 / 20) + w * (level * 10 ** (-15 / 20) / w.std())
    m = speaking_masks(mix[None].astype(np.float32), "mono")
    ref = _truth(conversation, m.shape[1])
    assert f1(m, ref) >= 0.9
    assert ((m[1] >= 0.5) & (ref[1] > 0.5)).sum() >= 0.6 * ref[1].sum()


def test_noise_only_track_is_not_speech():
    rng = np.random.default_rng(1)
    noise = (0.003 * rng.standard_normal(SR * 3)).astype(np.float32)
    m = speaking_masks(np.stack([noise, np.zeros_like(noise)]), "two-track")
    assert (m > 0.5).mean() < 0.05


@pytest.mark.parametrize("rate,channels", [(8000, 1), (22050, 2), (44100, 1), (48000, 2)])
def test_sample_rates_and_channels(conversation, tmp_path, rate, channels):
    """Files at other rates/channel counts load to 16 kHz and give the same masks."""
    out = tmp_path / f"mix_{rate}_{channels}.wav"
    subprocess.run(["sox", str(conversation.mix), "-r", str(rate), "-c", str(channels), str(out)], check=True)
    audio = load_audio(out)
    assert audio.sr == SR and audio.samples.shape[0] == channels
    m = speaking_masks(audio.samples, "mono")  # several channels of one mix are averaged
    assert f1(m, _truth(conversation, m.shape[1])) >= 0.85


def test_bad_input_is_refused_clearly():
    x = np.zeros((2, SR), np.float32)
    with pytest.raises(DuetError, match="exactly 2 channels"):
        speaking_masks(x[:1], "two-track")
    with pytest.raises(DuetError, match="unknown input shape"):
        speaking_masks(x, "quad")
    with pytest.raises(DuetError, match="too short"):
        speaking_masks(x[:, :100], "stereo")
    bad = x.copy()
    bad[0, 5] = np.nan
    with pytest.raises(DuetError, match="NaN"):
        speaking_masks(bad, "two-track")
    with pytest.raises(DuetError, match="first_speaker"):
        speaking_masks(x, "two-track", first_speaker=2)


def test_eval_orders_reference_by_first_speaker():
    ref = np.array([[0, 0, 1, 1], [1, 1, 0, 0]], np.float32)
    assert first_speaker_order(ref)[0].tolist() == [1, 1, 0, 0]


def test_eval_masks_cli_refuses_missing_corpus(tmp_path):
    r = run_duet("eval", "masks", "--corpus", tmp_path / "none")
    assert r.rc == 1 and "no such corpus folder" in r.err and "Traceback" not in r.err


@pytest.mark.slow
def test_eval_masks_scores_a_corpus_and_checks_each_voice_alone(tmp_path):
    import json

    from duet.corpus.build import synth

    synth(tmp_path / "corpus", hours=0.03, seed=11, workers=1)
    r = run_duet("eval", "masks", "--corpus", tmp_path / "corpus", "--split", "train", "--input-shape", "mono",
                 "--json", tmp_path / "m.json")
    assert r.rc == 0, r.err
    mono = json.loads((tmp_path / "m.json").read_text())["masks"]["mono"]
    assert mono["clips"] >= 2 and mono["solo"] == 2 * mono["clips"]  # both tracks of every clip, alone
    assert 0 <= mono["solo_split"] <= mono["solo"] and 0.5 < mono["f1"] <= 1
    assert f"{mono['solo_split']} of {mono['solo']} tracks split into two voices" in r.out


def test_piece_pitch_is_centred_on_the_median_piece_in_half_octaves():
    from duet.audio.diarize import PITCH_OCTAVES, piece_pitch

    feat = np.zeros((40, 15))
    feat[:, 14] = 0.9  # voiced
    feat[0:10, 13] = 1.0  # one octave above 150 Hz
    feat[10:20, 13] = 0.0
    feat[20:30, 13] = 0.5
    feat[30:40, 14] = 0.0  # unvoiced: no pitch to go by
    got = piece_pitch(feat, [(0, 10), (10, 20), (20, 30), (30, 40)])
    np.testing.assert_allclose(got, [0.5 / PITCH_OCTAVES, -0.5 / PITCH_OCTAVES, 0.0, 0.0])


def test_pitch_regroups_pieces_whose_voice_vectors_are_ambiguous():
    """Two voices a half octave apart whose voice vectors (near alike) put one piece of each with the
    other voice: with pitch beside them, the centres are those of the pitch groups, and the gain is
    how much better those centres fit the vectors than one."""
    from duet.audio.diarize import pitch_grouping, two_means

    u = np.array([1.0, 0.0, 0.0])
    v = np.array([0.9, np.sqrt(1 - 0.81), 0.0])
    emb = np.stack([u, u, u, v, v, v, v, u])  # pieces 0-3 high voice, 4-7 low voice
    weight = np.full(8, 25.0)
    wins = [(25 * i, 25 * i + 25) for i in range(8)]
    feat = np.zeros((200, 15))
    feat[:, 14] = 0.9
    feat[:100, 13] = 1.0  # pieces 0-3 at 300 Hz, 4-7 at 150 Hz
    labels, _ = two_means(emb, weight)
    assert labels[3] != labels[0] or labels[7] != labels[4]  # the vectors alone mix the voices
    one = emb.sum(0) / np.linalg.norm(emb.sum(0))  # the groups are of one size: counting them equally changes nothing
    got, gain = pitch_grouping(emb, weight, wins, feat)
    want = np.stack([3 * u + v, 3 * v + u])
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    if got[0] @ want[0] < got[0] @ want[1]:
        got = got[::-1]
    np.testing.assert_allclose(got, want, atol=1e-9)
    fit = np.concatenate([emb[:4] @ want[0], emb[4:] @ want[1]])
    assert gain == pytest.approx(float(np.mean(fit - emb @ one)))


def test_one_voice_whose_pitch_cuts_across_its_vector_groups_stays_one_voice():
    """One person: calm lines and shouted lines group apart on the voice vectors, but the pitch runs
    across those groups, so the pitch grouping fits the vectors no better than one centre: one voice,
    though the vectors alone would have split it."""
    from duet.audio import diarize as D

    u = np.array([1.0, 0.0, 0.0])
    v = np.array([0.8, 0.6, 0.0])
    emb = np.stack([u, v, u, v, u, v, u, v])  # calm / shouted, alternating
    weight = np.full(8, 25.0)
    wins = [(25 * i, 25 * i + 25) for i in range(8)]
    feat = np.zeros((200, 15))
    feat[:, 14] = 0.9
    feat[:100, 13] = 1.0  # the pitch rises half way through, whatever the line
    labels, _ = D.two_means(emb, weight)
    assert D.split_gain(emb, weight, labels) > D.SPLIT_GAIN  # the vectors alone call it two voices
    _, gain = D.pitch_grouping(emb, weight, wins, feat)
    assert gain <= D.SPLIT_GAIN


def test_split_gain_does_not_shrink_with_the_quiet_persons_share():
    """Two voices 0.8 apart in cosine: the gain of two centres over one, each group counted equally,
    is the same whether the second person has half the windows or two of ten. Weighted by share (the
    rule before), two of ten fell under SPLIT_GAIN and the quiet person's lines went to the other head."""
    from duet.audio import diarize as D

    u = np.array([1.0, 0.0, 0.0])
    v = np.array([0.8, 0.6, 0.0])
    even, lopsided = np.array([0] * 5 + [1] * 5), np.array([0] * 8 + [1] * 2)
    weight = np.full(10, 25.0)
    gains = [D.split_gain(np.where(lab[:, None] == 0, u, v), weight, lab) for lab in (even, lopsided)]
    assert gains[0] == pytest.approx(gains[1]) and gains[1] > D.SPLIT_GAIN
    emb = np.where(lopsided[:, None] == 0, u, v)
    one = emb.sum(0) / np.linalg.norm(emb.sum(0))
    by_share = float(np.mean(np.where(lopsided == 0, emb @ u, emb @ v) - emb @ one))
    assert by_share < D.SPLIT_GAIN < gains[1]


def test_a_stray_short_window_is_not_a_second_voice():
    """A group under MIN_VOICE_S of speech gains nothing, however unlike it sounds; at MIN_VOICE_S it counts."""
    from duet.audio import diarize as D
    from duet.constants import FPS

    u, v = np.array([1.0, 0.0]), np.array([0.6, 0.8])
    labels = np.array([0] * 9 + [1])
    emb = np.where(labels[:, None] == 0, u, v)
    weight = np.full(10, 25.0)
    weight[9] = np.ceil(D.MIN_VOICE_S * FPS) - 1
    assert D.split_gain(emb, weight, labels) == 0.0
    weight[9] += 1
    assert D.split_gain(emb, weight, labels) > D.SPLIT_GAIN


def test_a_person_who_says_one_short_line_is_heard_in_a_mono_mix(tmp_path):
    """A talks for 20 s; B says one short line in the middle (about a tenth of the speech). The
    rule before weighed the gain by share and heard one voice: B's line animated A."""
    gap = np.zeros(int(0.5 * SR), np.float32)
    lines = [("A", "Good morning, everyone, and thank you for coming."), ("A", "Today we talk about the weather."),
             ("A", "It will rain this morning, then clear up after lunch."), ("B", "Will it snow on Sunday?"),
             ("A", "No snow this week, but the nights will be cold."), ("A", "Bring a coat if you go out late.")]
    a, b = [], []
    for i, (who, text) in enumerate(lines):
        x = np.concatenate([espeak(text, "en-us+m3" if who == "A" else "en-us+f4", tmp_path / f"{i}.wav"), gap])
        a.append(x if who == "A" else np.zeros_like(x))
        b.append(x if who == "B" else np.zeros_like(x))
    a, b = np.concatenate([gap] + a), np.concatenate([gap] + b)
    m = speaking_masks((0.5 * (a + b))[None], "mono")
    ref = speaking_masks(np.stack([a, b]), "two-track")
    assert ref[1].sum() < 0.15 * ref.sum()
    assert ((m[1] >= 0.5) & (ref[1] >= 0.5)).sum() >= 0.8 * (ref[1] >= 0.5).sum()  # B's line is B's
    assert f1(m, ref) >= 0.9
