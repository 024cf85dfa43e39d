"""benchmarks/real_voices.py: pooling clip scores over several builds, and how alike speakers sound."""

import importlib.util
import sys

import numpy as np
import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def rv():
    spec = importlib.util.spec_from_file_location("real_voices", ROOT / "benchmarks" / "real_voices.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("real_voices", module)  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    return module


def _row(kind, variant="clean", gain=0.05, voices=2, **score):
    return {"data": "d", "id": f"{kind}_{variant}", "kind": kind, "variant": variant, "gain": gain,
            "voices": voices, **score}


def test_pool_weights_clips_by_their_frames_and_counts_decisions(rv):
    rows = [_row("monologue", gain=0.02, voices=1, one_head=1.0, heard=300),
            _row("monologue", gain=0.06, voices=2, one_head=0.5, heard=100),
            _row("alike", gain=0.03, voices=1, right=60, single=100),
            _row("unlike", "noise", gain=0.08, right=270, single=300)]
    r = rv.pool(rows)
    assert r["monologue_one_head"] == pytest.approx((300 + 50) / 400)
    assert r["attribution"] == pytest.approx(330 / 400)
    assert r["attribution_by"]["alike"] == pytest.approx(0.6)
    assert r["attribution_by"]["unlike"] == pytest.approx(0.9)
    assert r["attribution_by"]["clean"] == pytest.approx(0.6)
    assert r["attribution_by"]["noise"] == pytest.approx(0.9)
    assert r["monologues_split"] == "1 of 2"
    assert r["dialogues_heard_as_one"] == "1 of 2"
    assert r["gain_by_kind"]["monologue"] == [0.02, 0.04, 0.06]


def test_separability_tells_distinct_voices_from_one_voice_twice(rv):
    rng = np.random.default_rng(0)
    dim, lines = 16, 12

    def lines_around(centre, spread):
        e = centre + spread * rng.standard_normal((lines, dim))
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    a, b = np.eye(dim)[0], np.eye(dim)[1]
    emb = np.concatenate([lines_around(a, 0.2), lines_around(b, 0.2)])
    names = ["p"] * lines + ["q"] * lines
    apart = rv.separability(emb, names)
    assert apart["nearest_centre_accuracy"] == 1.0
    assert apart["chance"] == 0.5
    for s in "pq":
        assert apart["speakers"][s]["lines"] == lines
        assert apart["speakers"][s]["within"] > apart["speakers"][s]["between"] + 0.5
    # the same voice under two names: within and between alike, nearest centre near chance
    same = rv.separability(np.concatenate([lines_around(a, 0.6), lines_around(a, 0.6)]), names)
    for s in "pq":
        assert abs(same["speakers"][s]["within"] - same["speakers"][s]["between"]) < 0.1
    assert same["nearest_centre_accuracy"] < 0.8


def test_a_lone_line_is_scored_against_the_other_centres_only(rv):
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    r = rv.separability(emb, ["lone", "q", "q"])
    assert r["speakers"]["lone"]["within"] == 0.0  # no pair of its own lines
    assert r["speakers"]["q"]["within"] == pytest.approx(1.0)
    # the lone line has no centre without itself, so it goes to q: 2 of 3 right
    assert r["nearest_centre_accuracy"] == pytest.approx(0.667)


def test_lopsided_dialogues_give_the_quiet_person_a_small_share(rv):
    """Row 0 talks; the other says one line after about half of the turns: over 20 clips of 24 s the
    quiet one has about a tenth of the speech, never more than the talker, and speaks in most clips."""
    def line(frames, value):
        n = frames * rv.HOP
        return rv.Utterance("s", "l", np.full(n, value, np.float32), np.ones(frames, bool), "energy")

    talker, quiet = [line(40, 0.1), line(60, 0.1)], [line(30, 0.2), line(50, 0.2)]
    rng = np.random.default_rng(0)
    n = int(rv.CLIP_S * rv.FPS)
    shares = []
    for _ in range(20):
        tracks, ref = rv.lopsided(rng, talker, quiet, n)
        assert tracks.shape == (2, n * rv.HOP) and ref.shape == (2, n)
        assert np.all(tracks[1][np.repeat(~ref[1], rv.HOP)] == 0)  # the quiet track holds only its lines
        shares.append(ref[1].sum() / ref.sum())
    assert 0.05 < np.median(shares) < 0.2 and max(shares) < 0.5
    assert sum(s > 0 for s in shares) >= 15


def test_asterisk_prompts_become_the_words_spoken(rv):
    assert rv.prompt_words("Please enter your agent number followed by the pound key.") == [
        "please", "enter", "your", "agent", "number", "followed", "by", "the", "pound", "key"]
    assert rv.prompt_words("press * to toggle pause, press # to exit") == [
        "press", "star", "to", "toggle", "pause", "press", "pound", "to", "exit"]
    assert rv.prompt_words("press 0 for help") == ["press", "zero", "for", "help"]
    assert rv.prompt_words("[ascending tones]") is None      # no speech
    assert rv.prompt_words("Extension 1234.") is None        # said as a number, not as digits
