"""The synthetic corpus: exact masks and timings, closed lips on m/b/p, gaze on the partner's eyes,
determinism by seed, splits that keep test voices and sentences out of train, resumable synthesis."""

import json
import subprocess
import sys

import numpy as np
import pytest

from duet import speech as tts
from duet.speech import phonemes as ph
from duet.corpus.animator import animate
from duet.speech.conversation import Timings, Turn, assemble
from duet.corpus.build import make_clip, open_corpus, synth, voice_split
from duet.layout.kinds import KINDS, sample_layout
from duet.errors import DuetError
from duet.rigs.kinematics import eye_midpoint, gaze

FPS = 25.0


@pytest.fixture(scope="module")
def conv():
    a = tts.synthesize("Did you see my mom at the market? It was a big mess.", "espeak:en-us+m3")
    b = tts.synthesize("Maybe. Ah, the poor man, what a bad problem.", "flite:kal16")
    c = tts.synthesize("uh-huh", "festival:kal_diphone")
    return assemble([Turn("A", a, at=0.3), Turn("B", b, at=0.3 + a.duration + 0.4),
                     Turn("B", c, at=1.2, kind="backchannel")], fps=FPS)


def _frames_in(phones, fps=FPS):
    return [int(round((a + b) / 2 * fps)) for a, b, _ in phones]


def test_masks_are_exact_and_tracks_hold_only_their_speaker(conv):
    mix, tracks, masks, timings = conv
    n = int(np.floor(timings.duration * FPS + 1e-9))
    assert masks.shape == (2, n) and tracks.shape == (2, len(mix)) and np.array_equal(mix, tracks.sum(0))
    for i, p in enumerate("AB"):
        t = np.arange(n) / FPS
        want = np.zeros(n)
        for a, b in timings.speech_spans(p):
            want[(t >= a) & (t < b)] = 1
        assert np.array_equal(masks[i], want)
        speech = [(a, b) for a, b, x in timings.phonemes[p] if x != "sil"]
        # every frame inside a non-silent phone is speaking; every speaking frame is near speech
        for k in _frames_in([(a, b, None) for a, b in speech]):
            assert masks[i, min(k, n - 1)] == 1
        placed = np.zeros(len(mix), bool)
        for turn in timings.turns:
            if turn.speaker == p:
                placed[int(round(turn.start * 16000)):int(round(turn.end * 16000))] = True
        assert np.all(tracks[i, ~placed] == 0.0)
    back = next(t for t in timings.turns if t.kind == "backchannel")
    said = [(a, b, q) for a, b, q in timings.phonemes["B"] if q != "sil" and back.start <= a < back.end]
    assert said and all(masks[1, k] == 1 for k in _frames_in(said))
    assert np.any((masks[0] == 1) & (masks[1] == 1)), "the backchannel overlaps A's turn"


def test_conversation_timings_line_up_with_track_energy(conv):
    _, tracks, _, timings = conv
    for i, p in enumerate("AB"):
        x = tracks[i]
        rms = lambda a, b: float(np.sqrt(np.mean(x[int(a * 16000):int(b * 16000)] ** 2)))  # noqa: E731
        vowels = [(a, b) for a, b, q in timings.phonemes[p] if ph.is_vowel(q)]
        loud = max(rms(a, b) for a, b in vowels)
        assert np.mean([rms(a, b) > 0.08 * loud for a, b in vowels]) >= 0.9
        for a, b, q in timings.phonemes[p]:
            if q == "sil" and b - a > 0.3:
                assert rms(a + 0.03, b - 0.03) < 0.03 * loud


def test_one_person_cannot_say_two_things_at_once():
    s = tts.synthesize("hello there", "espeak:en-us")
    with pytest.raises(DuetError, match="at once"):
        assemble([Turn("A", s, at=0.0), Turn("A", s, at=0.2)])


def test_bilabials_close_the_lips_and_open_vowels_open_them(conv):
    """Measured on the open heads' lip vertices (duet.rigs.openhead), the rig the corpus is baked onto."""
    from duet.arkit import INDEX
    from duet.rigs import openhead
    _, tracks, _, timings = conv
    m = animate(timings, {"A": [-0.6, 1.6, 0.0], "B": [0.6, 1.6, 0.0]}, tracks=tracks)
    for p in "AB":
        person, head = m.person(p), openhead.load(p)
        gap = np.full(m.n_frames, np.nan)
        k = np.flatnonzero((person.speaking > 0) | (np.arange(m.n_frames) % 3 == 0))  # skinning is costly
        gap[k] = openhead.lip_gap(head, openhead.forward(head, person.expr[k], {j: v[k] for j, v in person.poses.items()},
                                                         person.transl[k]))
        bil = [(a, b, q) for a, b, q in timings.phonemes[p] if q in ph.BILABIAL]
        opn = [(a, b, q) for a, b, q in timings.phonemes[p] if q in ph.OPEN_VOWELS and b - a > 0.08]
        assert len(bil) >= 3 and len(opn) >= 3
        kb, ko = _frames_in(bil), _frames_in(opn)
        ref = np.nanpercentile(gap[person.speaking > 0], 95)
        assert ref > 0.006, "speech opens the mouth by several millimetres"
        assert gap[kb].max() < min(0.0015, 0.25 * ref), "lips must touch at m/b/p"
        assert np.median(gap[ko]) > 0.6 * ref, "open vowels open the mouth"
        assert person.expr[kb, INDEX["mouthPressLeft"]].min() > 0.2
        # the mouth rests shut while its owner is silent for long
        quiet = [(a, b, q) for a, b, q in timings.phonemes[p] if q == "sil" and b - a > 1.2]
        assert quiet
        for a, b, _ in quiet:
            assert np.nanmax(gap[int((a + 0.5) * FPS):int((b - 0.5) * FPS)]) < 0.002


@pytest.mark.parametrize("kind_seed", range(16))
def test_fixating_gaze_points_at_the_partners_eyes(conv, kind_seed):
    _, _, _, timings = conv
    rng = np.random.default_rng(kind_seed)
    layout = sample_layout(rng, "nonblood-equal")
    m = animate(timings, layout, seed=kind_seed)
    for p, q in (("A", "B"), ("B", "A")):
        me, other = m.person(p), m.person(q)
        centres, dirs = gaze(me.poses, me.transl)
        target = eye_midpoint(other.poses, other.transl)
        to = target[:, None] - centres
        to /= np.linalg.norm(to, axis=-1, keepdims=True)
        err = np.degrees(np.arccos(np.clip((to * dirs).sum(-1), -1, 1))).max(1)
        fix = np.zeros(m.n_frames, bool)
        for a, b in m.meta["gaze_on_partner"][p]:
            fix[a:b] = True
        assert fix.mean() > 0.5
        assert err[fix].max() < 2.0, (layout["kind"], err[fix].max())
        if (~fix).any():
            assert np.median(err[~fix]) > 5.0  # aversions really look away
        assert np.degrees(np.abs(me.poses["eye_L"]).max()) < 40  # the head does most of the turning


def test_layouts_cover_every_kind_and_sensible_distances():
    rng = np.random.default_rng(0)
    seen = {}
    for _ in range(400):
        lay = sample_layout(rng)
        d = np.linalg.norm(np.subtract(lay["A"], lay["B"]))
        seen.setdefault(lay["kind"], []).append(d)
        assert 1.0 < lay["A"][1] < 1.8 and 1.0 < lay["B"][1] < 1.8
    assert set(seen) == set(KINDS)
    assert max(seen["whispering"]) < 0.5 and min(seen["across_room"]) > 2.0


def test_clips_are_deterministic_by_seed():
    a, b, c = make_clip(7, 3), make_clip(7, 3), make_clip(8, 3)
    assert np.array_equal(a["mix"], b["mix"]) and np.array_equal(a["tracks"], b["tracks"])
    for k, v in a["motion"].to_arrays().items():
        assert np.array_equal(v, b["motion"].to_arrays()[k]), k
    assert a["labels"] == b["labels"]
    assert a["labels"]["sentences"] != c["labels"]["sentences"]


def test_voice_splits_keep_test_voices_out_of_train():
    split = {v: voice_split(v) for v in tts.voices()}
    assert {"train", "val", "test"} == set(split.values())
    for engine in ("espeak", "flite"):
        assert any(s == "test" for v, s in split.items() if v.startswith(engine))
        assert any(s == "train" for v, s in split.items() if v.startswith(engine))


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus") / "c"
    return synth(folder, hours=0.05, seed=1, workers=2)


def test_corpus_round_trip_and_splits(small_corpus):
    c = small_corpus
    assert c.hours() >= 0.05 and c.ids("test") and c.ids("train")
    train_voices, train_sents = set(), set()
    for cid in c.ids("train"):
        clip = c.load(cid)
        train_voices |= set(clip.voices.values())
        train_sents |= set(clip.labels["sentences"])
    for cid in c.ids("test") + c.ids("val"):
        clip = c.load(cid)
        assert not set(clip.voices.values()) & train_voices
        assert not set(clip.labels["sentences"]) & train_sents
    clip = c.load(c.ids("train")[0])
    T = clip.motion.n_frames
    assert clip.sr == 16000 and clip.tracks.shape == (2, len(clip.mix)) and clip.masks.shape == (2, T)
    assert np.array_equal(clip.masks[0], clip.motion.A.speaking)
    assert abs(len(clip.mix) / 16000 - T / 25) < 0.04
    assert clip.relation in ("blood-equal", "blood-unequal", "nonblood-equal", "nonblood-unequal")
    assert any(t.kind == "backchannel" for cid in c.ids() for t in c.load(cid).turns)


def test_training_sees_each_clip_under_every_relation(small_corpus):
    """Training's relation variants: the clip's own relation is its corpus motion; under the others the
    same timings are animated with other Styles, so B, the junior of an unequal relation, moves the
    head less than B as an equal (the neck also turns to face the speaker, which no Style scales)."""
    from duet.model.config import ModelConfig
    from duet.model.packing import pack
    from duet.train.dataset import relation_variants, vocabularies

    cfg = ModelConfig()
    cfg.emotions, cfg.relations = vocabularies(swap_senior=True)
    clip = small_corpus.load(small_corpus.ids("train")[0])
    x = pack(clip.motion, cfg.expr_names)[0]
    v = relation_variants(clip, cfg, x)
    names = [cfg.relations[i] for i in v["relation_variants"]]
    assert sorted(names) == ["blood-equal", "blood-unequal", "nonblood-equal", "nonblood-unequal"]
    assert v["x_variants"].shape == (4, *x.shape)
    np.testing.assert_array_equal(v["x_variants"][names.index(clip.relation)], x)
    neck = slice(cfg.n_expr + 3, cfg.n_expr + 6)
    head = {r: v["x_variants"][i][:, :, neck].std(0).sum(-1) for i, r in enumerate(names)}  # [2]: A, B
    assert head["blood-unequal"][1] < 0.95 * head["blood-equal"][1]        # Style head 0.6 against 1.15
    assert head["nonblood-unequal"][1] < 0.95 * head["nonblood-equal"][1]  # 0.5 against 1


def test_corpus_resumes_without_redoing_work(small_corpus):
    folder = small_corpus.folder
    stamps = {p.name: p.stat().st_mtime_ns for p in (folder / "clips").iterdir()}
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").unlink()
    again = synth(folder, hours=0.05, seed=1, workers=1)
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "clips").iterdir()} == stamps
    assert again.manifest["clips"] == manifest["clips"]


def test_cli_refuses_a_folder_that_is_not_a_corpus(tmp_path):
    (tmp_path / "precious.txt").write_text("my work")
    run = subprocess.run([sys.executable, "-m", "duet", "data", "synth", "--hours", "0.01", "-o", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "not a Duet corpus" in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]
    with pytest.raises(DuetError, match="no manifest"):
        open_corpus(tmp_path)



def test_a_corpus_of_another_version_is_refused_clearly(small_corpus, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(small_corpus.folder, old)
    for name in ("manifest.json", "corpus.json"):
        data = json.loads((old / name).read_text())
        (old / name).write_text(json.dumps({**data, "version": 1}))
    with pytest.raises(DuetError, match="version 1 is not supported.*duet data synth"):
        open_corpus(old)
    with pytest.raises(DuetError, match="version-1 corpus"):
        synth(old, hours=0.05, seed=1, workers=1)


def test_synth_workers_leave_termination_to_the_default_handler():
    # the CLI turns SIGTERM into KeyboardInterrupt; forked pool workers inherited that and printed a
    # traceback each when the pool shut them down at the end of 'duet data synth -j 2'
    import signal

    from duet.files import _interrupt
    from duet.corpus.build import _quiet_worker

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGTERM, _interrupt)
        _quiet_worker()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])


@pytest.fixture(scope="module")
def recorded_lines(tmp_path_factory):
    """A folder of "recorded" lines as `duet data synth --recorded` reads them (two speakers; espeak
    stands in for the recordings), with one line whose words are not in the dictionary and one WAV
    without its words."""
    from duet.audio.io import save_wav

    folder = tmp_path_factory.mktemp("lines")
    said = {"ann": ("espeak:en-us+f2", ["Hello there.", "I told you about the map.", "Yes.", "Oh, come on."]),
            "bob": ("espeak:en+m3", ["Okay.", "Maybe we should go back.", "Right.", "What a bad idea."])}
    for who, (voice, texts) in said.items():
        (folder / who).mkdir()
        for k, text in enumerate(texts):
            s = tts.synthesize(text, voice)
            save_wav(folder / who / f"{k}.wav", s.samples, s.sr)
            (folder / who / f"{k}.txt").write_text(text)
    s = tts.synthesize("blorptastic zwingle", "espeak:en+m3")
    save_wav(folder / "bob" / "bad.wav", s.samples, s.sr)
    (folder / "bob" / "bad.txt").write_text("blorptastic zwingle")
    save_wav(folder / "bob" / "unsaid.wav", s.samples, s.sr)
    return folder


def test_recorded_lines_are_aligned_and_tile_their_audio(recorded_lines):
    from duet.corpus import recorded

    pool, skipped = recorded.load_lines(recorded_lines)
    assert skipped == 2 and sorted(pool) == ["ann", "bob"] and [len(v) for v in pool.values()] == [4, 4]
    for s in pool["ann"] + pool["bob"]:
        assert s.phonemes[0][0] == 0 and abs(s.phonemes[-1][1] - s.duration) < 1e-9
        assert all(b0 == a1 for (_, b0, _), (a1, _, _) in zip(s.phonemes, s.phonemes[1:]))
    map_line = next(s for s in pool["ann"] if "map" in s.text)
    assert {"m", "p"} <= {p for _, _, p in map_line.phonemes} and map_line.voice == "recorded:ann"
    with pytest.raises(DuetError, match="at least two speakers"):
        recorded.load_lines(recorded_lines / "ann")


def test_recorded_clips_place_real_lines_with_their_phones(recorded_lines):
    from duet.corpus import recorded

    pool, _ = recorded.load_lines(recorded_lines)
    a, b = recorded.make_clip(3, 0, pool, target_s=12), recorded.make_clip(3, 0, pool, target_s=12)
    assert np.array_equal(a["mix"], b["mix"]) and a["labels"] == b["labels"]
    labels = a["labels"]
    assert labels["id"] == "r000000" and labels["split"] == "train" and labels["recorded"]
    assert set(labels["voices"].values()) == {"recorded:ann", "recorded:bob"}
    assert labels["duration"] > 10
    timings = Timings.from_json(labels["timings"])
    for i, p in enumerate("AB"):
        n = a["masks"].shape[1]
        assert np.array_equal(a["masks"][i], timings.masks(FPS)[i][:n]) and a["masks"][i].any()
        texts = [t.text for t in timings.turns if t.speaker == p]
        lines = {s.text for s in pool[labels["voices"][p].split(":")[1]]}
        assert texts and all(part in " ".join(sorted(lines)) for t in texts for part in t.split())
    # the ground truth closes the lips on the recorded people's m/b/p (the open heads' lip vertices)
    from duet.rigs import openhead

    for p in "AB":
        person, head = a["motion"].person(p), openhead.load(p)
        bil = [ph_ for ph_ in timings.phonemes[p] if ph_[2] in ph.BILABIAL]
        k = np.minimum(_frames_in(bil), a["motion"].n_frames - 1)
        gap = openhead.lip_gap(head, openhead.forward(head, person.expr[k], {j: v[k] for j, v in person.poses.items()},
                                                      person.transl[k]))
        assert len(k) and gap.max() < 0.0015


def test_synth_adds_recorded_clips_to_train_and_resumes(small_corpus, recorded_lines, tmp_path):
    import shutil

    from duet.corpus import recorded

    folder = tmp_path / "c"
    shutil.copytree(small_corpus.folder, folder)
    c = synth(folder, hours=0.05, seed=1, workers=1, recorded=recorded_lines, recorded_hours=0.006)
    rec = [i for i in c.ids() if i.startswith("r")]
    assert rec and set(rec) <= set(c.ids("train")) and c.ids("test") == small_corpus.ids("test")
    assert c.ids()[: len(small_corpus.ids())] == small_corpus.ids()
    assert sum(c.load(i).timings.duration for i in rec) >= 0.006 * 3600
    stamps = {p.name: p.stat().st_mtime_ns for p in (folder / "clips").iterdir()}
    again = synth(folder, hours=0.05, seed=1, workers=1, recorded=recorded_lines, recorded_hours=0.006)
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "clips").iterdir()} == stamps
    assert again.manifest["clips"] == c.manifest["clips"]
    run = subprocess.run([sys.executable, "-m", "duet", "data", "synth", "--hours", "0.05", "--seed", "1",
                          "-o", str(folder), "--recorded", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "no such folder of recorded lines" in run.stderr
    assert "Traceback" not in run.stderr
    broken = tmp_path / "broken"
    shutil.copytree(recorded_lines, broken)
    (broken / "ann" / "0.wav").write_bytes(b"not audio")
    with pytest.raises(DuetError, match="0.wav: cannot read this recorded line"):
        recorded.load_lines(broken)


def test_the_jaw_opens_on_every_short_open_vowel_and_on_the_schwa():
    """A 40 ms "ah" or schwa between consonants opens the jaw at least half as far as a long "aa":
    forced aligners fold the schwa into "ah" and count it as an open vowel (corpus version 5)."""
    from duet.speech.conversation import Timings

    seq = [("sil", 0.3), ("d", 0.06), ("aa", 0.25), ("t", 0.06), ("sil", 0.3)]
    for short in ("ah", "ax"):
        seq += [("d", 0.07), (short, 0.04), ("t", 0.07), ("sil", 0.3)]
    phones, t = [], 0.0
    for q, d in seq:
        phones.append((t, t + d, q))
        t += d
    m = animate(Timings(t, [], {"A": phones, "B": [(0.0, t, "sil")]}), {"A": [-0.6, 1.6, 0.0], "B": [0.6, 1.6, 0.0]})
    jaw = m.person("A").poses["jaw"][:, 0]
    peak = {q: jaw[int(a * m.fps): int(np.ceil(b * m.fps)) + 1].max() for a, b, q in phones if ph.is_vowel(q)}
    assert peak["ah"] > 0.5 * peak["aa"] and peak["ax"] > 0.5 * peak["aa"], peak
