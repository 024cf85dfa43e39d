"""Who speaks when, in the user's hands: Audacity label files out and back in, and --speakers."""

import numpy as np
import pytest

from conftest import espeak, run_duet
from duet.audio.io import save_wav
from duet.audio.masks import masks_from_turns
from duet.audio.turns import floor_changes, masks_from_labels, read_labels, turns_from_masks, write_labels
from duet.errors import DuetError
from duet.motion import DyadicMotion


def test_label_file_round_trip(tmp_path):
    masks = masks_from_turns([("A", 0.2, 1.0), ("B", 0.8, 2.0), ("A", 2.4, 3.0)], 80)
    write_labels(tmp_path / "t.txt", masks)
    assert (tmp_path / "t.txt").read_text() == "0.20\t1.00\tA\n0.80\t2.00\tB\n2.40\t3.00\tA\n"
    back = masks_from_labels(tmp_path / "t.txt", 80)
    assert np.array_equal(back >= 0.5, masks >= 0.5)
    assert turns_from_masks(back) == [("A", 0.2, 1.0), ("B", 0.8, 2.0), ("A", 2.4, 3.0)]


def test_audacity_spacing_case_and_frequency_lines_are_read(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("0.5 1.25 a\n\\\t100.0\t4000.0\n\n2\t3\tB\n")
    assert read_labels(f) == [("A", 0.5, 1.25), ("B", 2.0, 3.0)]


@pytest.mark.parametrize("text, message", [
    ("0.5\t1.0\tC\n", r"t.txt:1: the label must be A or B, got 'C'"),
    ("0.5\t1.0\tA\nabc\t1.0\tB\n", r"t.txt:2: expected 'start<TAB>end<TAB>A\|B'"),
    ("2.0\t1.0\tA\n", r"t.txt:1: a turn must have 0 <= start <= end"),
    ("\n", r"t.txt: the turns file holds no turns"),
])
def test_bad_label_files_are_refused_with_the_line(tmp_path, text, message):
    f = tmp_path / "t.txt"
    f.write_text(text)
    with pytest.raises(DuetError, match=message):
        read_labels(f)


def test_the_floor_changes_where_a_turn_begins_not_at_an_mm_hm_or_a_pause():
    m = np.zeros((2, 300))
    m[0, 10:60] = m[0, 70:100] = 1  # A speaks, pauses 0.4 s, goes on: one turn
    m[1, 30:40] = 1  # B's 0.4 s "mm-hm" over it
    m[1, 110:160] = 1  # B's turn
    m[0, 150:200] = 1  # A comes in over B's last words
    m[1, 230:240] = 1  # B says a word alone, too short to hold the floor
    assert floor_changes(m) == [("A", 0.4), ("B", 4.4), ("A", 6.0)]
    assert floor_changes(m, fps=50) == [("A", 0.2), ("B", 2.2), ("A", 3.0)]
    assert floor_changes(np.zeros((2, 50))) == []
    m[0, 70:75] = 0  # A's pause widened to 0.6 s: two stretches of A's, still one turn
    assert floor_changes(m) == [("A", 0.4), ("B", 4.4), ("A", 6.0)]


def test_an_edited_label_file_changes_who_is_animated(conversation, tmp_path):
    first = run_duet("generate", conversation.mix, "--turns-out", tmp_path / "t.txt", "-o", tmp_path / "a.npz")
    assert first.rc == 0, first.err
    assert "who speaks: two voices" in first.err
    turns = read_labels(tmp_path / "t.txt")
    assert [p for p, _, _ in turns][:3] == ["A", "B", "A"]
    # the user decides the middle turn was A's too, and that B said nothing
    (tmp_path / "edited.txt").write_text("".join(f"{a}\t{b}\tA\n" for _, a, b in turns))
    second = run_duet("generate", conversation.mix, "--turns", tmp_path / "edited.txt", "-o", tmp_path / "b.npz")
    assert second.rc == 0, second.err
    assert "who speaks: turns from" in second.err
    a, b = DyadicMotion.load(tmp_path / "a.npz"), DyadicMotion.load(tmp_path / "b.npz")
    middle = slice(int(turns[1][1] * 25) + 2, int(turns[1][2] * 25) - 2)
    assert a.person("B").speaking[middle].min() > 0.5 and a.person("A").speaking[middle].max() < 0.5
    assert b.person("A").speaking[middle].min() > 0.5 and b.person("B").speaking.max() < 0.5
    # the motion follows: A's jaw moves in the middle turn only when A is said to speak it
    jaw = [m.person("A").expr[middle].std(0).sum() for m in (a, b)]
    assert jaw[1] > jaw[0]


def test_the_stretches_duet_is_unsure_of_reach_the_motion(tmp_path):
    """One voice forced into two: the stretches whose pieces sit halfway between the two "voices" are
    kept in the motion's meta, where the bake marks them on the timeline (tests/test_bake_into.py)."""
    from duet.audio.masks import listen

    a = espeak("I think we should go to the market early tomorrow, before the crowds arrive and the stalls "
               "run out of bread. What do you reckon about that plan", "en-us+m3", tmp_path / "a.wav")
    pause = np.zeros(8000, np.float32)
    mix = np.concatenate([a, pause, a[::-1], pause, a])
    save_wav(tmp_path / "mix.wav", mix)
    r = run_duet("generate", tmp_path / "mix.wav", "--speakers", "2", "-o", tmp_path / "m.npz")
    assert r.rc == 0, r.err
    assert "uncertain between" in r.err
    spans: list = []
    listen(mix[None], "mono", speakers=2, unsure=spans)
    assert spans and DyadicMotion.load(tmp_path / "m.npz").meta["who_speaks_unsure"] == [
        [round(x, 2), round(y, 2)] for x, y in spans]


def test_speakers_1_keeps_a_monologue_on_one_head(tmp_path):
    parts = [espeak(t, v, tmp_path / f"{i}.wav") for i, (t, v) in enumerate(
        [("Good morning, everyone, and welcome.", "en-us+m3"), ("Today we talk about the weather.", "en-us+m3"),
         ("It will rain at first, then clear up.", "en-us+m3")])]
    gap = np.zeros(8000, np.float32)
    save_wav(tmp_path / "mono.wav", np.concatenate([gap] + [np.concatenate([p, gap]) for p in parts]))
    r = run_duet("generate", tmp_path / "mono.wav", "--speakers", "1", "--turns-out", tmp_path / "t.txt",
                 "-o", tmp_path / "m.npz")
    assert r.rc == 0, r.err
    assert "who speaks: one voice (forced)" in r.err
    m = DyadicMotion.load(tmp_path / "m.npz")
    assert m.person("B").speaking.max() < 0.5 and (m.person("A").speaking > 0.5).mean() > 0.5
    assert {p for p, _, _ in read_labels(tmp_path / "t.txt")} == {"A"}


def test_control_options_are_refused_clearly_where_they_do_not_apply(conversation, tmp_path):
    r = run_duet("generate", conversation.a, "--audio-b", conversation.b, "--speakers", "1",
                 "-o", tmp_path / "x.npz")
    assert r.rc != 0 and "--speakers is for a mono mix" in r.err and "Traceback" not in r.err
    r = run_duet("generate", conversation.mix, "--animator", "baseline", "--turns-out", tmp_path / "t.txt",
                 "-o", tmp_path / "x.npz")
    assert r.rc != 0 and "not baseline" in r.err and not (tmp_path / "t.txt").exists()
    (tmp_path / "bad.txt").write_text("1.0\t2.0\tZ\n")
    r = run_duet("generate", conversation.mix, "--turns", tmp_path / "bad.txt", "-o", tmp_path / "x.npz")
    assert r.rc != 0 and "bad.txt:1: the label must be A or B" in r.err and not (tmp_path / "x.npz").exists()
    assert len(r.err.strip().splitlines()) == 1


def test_two_tracks_keep_their_people_when_b_speaks_first(conversation, tmp_path):
    """A's track is A whoever talks first: B's track (here the one that opens) must animate B."""
    r = run_duet("generate", conversation.b, "--audio-b", conversation.a, "--turns-out", tmp_path / "t.txt",
                 "-o", tmp_path / "m.npz")
    assert r.rc == 0, r.err
    m = DyadicMotion.load(tmp_path / "m.npz")
    opening = slice(int(conversation.turns[0][1] * 25) + 3, int(conversation.turns[0][2] * 25) - 3)
    assert m.person("B").speaking[opening].mean() > 0.8 and m.person("A").speaking[opening].max() < 0.5
    assert [p for p, _, _ in read_labels(tmp_path / "t.txt")][:3] == ["B", "A", "B"]


def test_worker_takes_speakers_and_a_turns_file(conversation, tmp_path):
    import json
    import subprocess
    import sys

    def job(**spec):
        p = subprocess.run([sys.executable, "-m", "duet.service.worker"], input=json.dumps(spec),
                           capture_output=True, text=True, timeout=120)
        return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])

    (tmp_path / "all_a.txt").write_text("".join(f"{a}\t{b}\tA\n" for _, a, b in conversation.turns))
    rc, last = job(audio=str(conversation.mix), turns=str(tmp_path / "all_a.txt"), output=str(tmp_path / "t.npz"))
    assert rc == 0 and last["done"], last
    m = DyadicMotion.load(tmp_path / "t.npz")
    assert m.person("B").speaking.max() < 0.5 and m.meta["who_speaks"].startswith("turns from")
    rc, last = job(audio=str(conversation.mix), speakers=1, output=str(tmp_path / "one.npz"))
    assert rc == 0, last
    one = DyadicMotion.load(tmp_path / "one.npz")
    assert one.person("B").speaking.max() < 0.5 and one.meta["who_speaks"] == "one voice (forced)"
    rc, last = job(audio=str(conversation.mix), output=str(tmp_path / "two.npz"))
    assert rc == 0 and DyadicMotion.load(tmp_path / "two.npz").meta["who_speaks"].startswith("two voices")
    for bad, message in ((3, "'speakers' must be 1 or 2"), ("2", "'speakers' must be 1 or 2")):
        rc, last = job(audio=str(conversation.mix), speakers=bad, output=str(tmp_path / "bad.npz"))
        assert rc == 1 and last["error"].startswith(message) and not (tmp_path / "bad.npz").exists()
