"""The evaluation's machinery: fast vertex path vs the rig's own, baselines, the report and `duet eval`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from duet.arkit import ARKIT_52
from duet.errors import DuetError
from duet.eval import baselines, report, runner
from duet.motion import DyadicMotion, PersonMotion
from tests.conftest import run_duet
from tests.test_eval_metrics import copy, look_at_partner, motion

FPS = 25.0


def test_fast_head_frame_vertices_match_the_rigs_forward():
    from duet.rigs import openhead

    f = runner.face("B")
    rng = np.random.default_rng(0)
    p = PersonMotion.still(6, len(ARKIT_52))
    p.expr[:] = rng.uniform(0, 1, p.expr.shape)
    for j in ("jaw", "eye_L", "eye_R", "neck", "global"):
        p.poses[j][:] = rng.normal(0, 0.2, (6, 3))
    ref = openhead.forward(f.head, p.expr, {j: p.poses[j] for j in ("jaw", "eye_L", "eye_R")}, np.zeros((6, 3)))
    np.testing.assert_allclose(runner.head_frame_vertices(f, p, ARKIT_52), ref, atol=1e-12)


def test_face_regions_sit_where_they_should():
    f = runner.face("A")
    v = f.template
    assert len(f.lip) > 50 and len(f.upper) > 100
    assert np.all(v[f.upper, 1] > v[f.lip, 1].max())                    # upper face above the mouth
    assert set(f.upper_mid) <= set(f.lip) and set(f.lower_mid) <= set(f.lip)
    closed = PersonMotion.still(1, len(ARKIT_52))
    opened = PersonMotion.still(1, len(ARKIT_52))
    opened.poses["jaw"][:, 0] = 0.3                                       # +X opens the jaw
    gap = lambda p: runner.M.lip_gap(runner.head_frame_vertices(f, p, ARKIT_52), f.upper_mid, f.lower_mid)[0]  # noqa: E731
    assert abs(gap(closed)) < 1e-3 and gap(opened) > 0.01


def test_score_motion_is_zero_against_itself_and_sees_an_open_jaw():
    truth = motion(n=60)
    look_at_partner(truth)
    same = runner.score_motion(truth, truth)
    assert same["lve_mm2"] == 0 and same["mse_lip_all"] == 0 and same["gaze_error_deg"] < 1e-4
    pred = copy(truth)
    pred.A.poses["jaw"][:, 0] = 0.2
    worse = runner.score_motion(pred, truth)
    assert worse["lve_mm2"] > 10            # an open jaw moves the lips by centimetres: > 10 mm^2
    assert worse["mse_lip_all"] > 0 and worse["mse_eye_all"] == 0


def test_rhubarb_cues_become_jaw_opening_on_the_right_frames(tmp_path):
    from duet.corpus.animator import JAW_MAX

    path = tmp_path / "a.json"
    path.write_text(json.dumps({"metadata": {"soundFile": "a.wav", "duration": 1.0}, "mouthCues": [
        {"start": 0.0, "end": 0.2, "value": "X"}, {"start": 0.2, "end": 0.28, "value": "D"},
        {"start": 0.28, "end": 0.32, "value": "A"}, {"start": 0.32, "end": 1.0, "value": "X"}]}))
    cues = baselines.read_rhubarb(path)
    m = baselines.rhubarb_motion({"A": cues}, {"A": [-0.5, 1.6, 0], "B": [0.5, 1.6, 0]}, 25)
    jaw = m.A.poses["jaw"][:, 0]
    np.testing.assert_allclose(jaw[[4, 5, 6, 7, 8]], [0, JAW_MAX, JAW_MAX, 0, 0], atol=1e-6)  # D = frames 5, 6
    np.testing.assert_array_equal(m.A.speaking[[4, 5, 7, 8]], [0, 1, 1, 0])
    assert np.all(m.B.poses["jaw"] == 0)
    assert m.meta["animator"] == "rhubarb"


@pytest.mark.parametrize("text, message", [("{", "not a Rhubarb"), ('{"mouthCues": [{"start": 0, "end": 1, "value": "Q"}]}', "unknown mouth shape")])
def test_bad_rhubarb_files_are_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DuetError, match=message):
        baselines.read_rhubarb(path)


def test_listen_r_replaces_only_listening_frames():
    train = motion(n=100)
    train.A.speaking[:50] = 1
    train.B.speaking[50:] = 1
    train.B.expr[:50, 5] = 0.7               # B's listening behaviour while A speaks
    train.B.poses["neck"][:50, 0] = 0.1
    bank = baselines.ListenerBank([train])
    assert len(bank.segments) == 2
    test = motion(n=40)
    test.A.speaking[:] = 1                   # A speaks throughout: B listens throughout
    test.A.poses["jaw"][:, 0] = 0.2
    before = copy(test)
    out = bank.fill(test, np.random.default_rng(0))
    np.testing.assert_array_equal(out.A.poses["jaw"], before.A.poses["jaw"])  # the speaker keeps their motion
    assert np.any(out.B.expr != before.B.expr) or np.any(out.B.poses["neck"] != before.B.poses["neck"])


def test_listen_r_keeps_a_turned_listener_facing_the_partner():
    from duet.frames import facing_yaw, rotmat, yaw
    from duet.rigs import kinematics

    train = motion(n=60)                     # face to face: B's listening head looks straight at A
    train.A.speaking[:] = 1
    bank = baselines.ListenerBank([train])
    test = motion(n=40)
    test.A.speaking[:] = 1
    b = test.B                               # B's body turned 0.6 rad away; the neck turns the head back
    face = b.poses["global"][0, 1]
    b.poses["global"][:] = yaw(face + 0.6)
    b.poses["neck"][:] = yaw(-0.6)
    out = bank.fill(test, np.random.default_rng(0))
    assert np.allclose(out.B.poses["global"], yaw(face + 0.6), atol=1e-6)  # the body is not touched
    fwd = (rotmat(out.B.poses["global"]) @ rotmat(out.B.poses["neck"]))[:, :, 2]
    toward = facing_yaw(kinematics.eye_midpoint(out.B.poses, out.B.transl),
                        kinematics.eye_midpoint(out.A.poses, out.A.transl))
    assert np.degrees(np.abs(np.arctan2(fwd[:, 0], fwd[:, 2]) - toward)).max() < 0.5


def test_pocketsphinx_hears_phones_inside_the_speech(conversation):
    from duet.audio.io import load_audio

    a = load_audio(conversation.a).mono
    phones = baselines.recognize_phones(a)
    speech = [p for p in phones if p[2] != "sil"]
    assert len(speech) > 30
    inside = [any(s - 0.15 <= (b + e) / 2 <= t + 0.15 for who, s, t in conversation.turns if who == "A")
              for b, e, _ in speech]
    assert np.mean(inside) > 0.9             # phones are heard where A talks, not in B's turn


def fake_results(tmp_rows):
    n = 50
    trace = {"gap": {"A": [0.0] * n, "B": [0.01] * n}, "gaze_deg": {"A": [5.0] * n, "B": [20.0] * n}}
    return {
        "setup": {"split": "test", "clips": ["c000000"], "audio_seconds": 2.0, "shapes": ["two-track"], "seed": 0,
                  "listen_r_train_clips": 1, "wall_seconds": 1.0, "hardware": "test machine"},
        "methods": {"m1": "first", "m2": "second"},
        "rows": tmp_rows,
        "traces": {"clip": "c000000", "fps": 25.0, "openness": {"A": [0.5] * n, "B": [0.0] * n},
                   "speaking": {"A": [1.0] * n, "B": [0.0] * n},
                   "methods": {"ground truth": trace, "m1": trace}},
    }


def rows():
    return [{"method": "ground truth", "shape": "-", "reference": True,
             "metrics": {"lve_mm2": 0.0, "bilabial_closure": 1.0, "variance": 0.4, "fdd_mm2": 0.0}},
            {"method": "m1", "shape": "mono", "reference": False,
             "metrics": {"lve_mm2": 3.0, "bilabial_closure": 0.2, "variance": 0.1, "fdd_mm2": -0.5}},
            {"method": "m2", "shape": "mono", "reference": False,
             "metrics": {"lve_mm2": 5.0, "bilabial_closure": 0.6, "variance": 0.9, "fdd_mm2": 0.2}}]


def test_report_bolds_the_best_non_reference_value_in_each_direction():
    cols = [("lve_mm2", "LVE", "min", 1), ("bilabial_closure", "closed", "max", 1),
            ("variance", "var", "truth", 1), ("fdd_mm2", "FDD", "abs", 1)]
    lines = report.table(rows(), cols).splitlines()
    truth, m1, m2 = lines[2], lines[3], lines[4]
    assert "**" not in truth                                   # the reference row is never best
    assert "**3.0**" in m1 and "**5.0**" not in m2             # lower LVE wins
    assert "**0.6**" in m2 and "**0.2**" not in m1             # higher closure wins
    assert "**0.2**" in m2 and "**-0.5**" not in m1            # FDD closest to 0 wins
    assert "**0.1**" in m1 and "**0.9**" not in m2             # variance closest to the truth's 0.4 wins


def test_report_writes_the_page_and_plots_beside_it(tmp_path):
    page = tmp_path / "docs" / "RESULTS.md"
    layout = tmp_path / "docs" / "layout-results.md"
    layout.parent.mkdir()
    layout.write_text("# Layout\n\ntMSE 0.01\n")
    sections = {"Layout from prompts": layout, "Gaussian avatars": tmp_path / "docs" / "missing.md"}
    report.write(fake_results(rows()), page, "duet eval report docs/RESULTS.md --clips 1", sections)
    text = page.read_text()
    assert "duet eval report docs/RESULTS.md --clips 1" in text and "test machine" in text
    assert "not in these tables yet" in text                   # no model rows: said plainly
    assert "## Layout from prompts" in text and "tMSE 0.01" in text
    assert "## Gaussian avatars" in text and "Not available yet: [missing.md]" in text
    for png in ("lip_gap.png", "gaze.png", "metrics.png"):
        assert (tmp_path / "docs" / "RESULTS" / png).read_bytes()[:4] == b"\x89PNG"
        assert f"RESULTS/{png}" in text
    assert json.loads((tmp_path / "docs" / "RESULTS" / "results.json").read_text())["rows"][1]["method"] == "m1"


def test_duet_eval_metrics_scores_two_files_and_rejects_a_wrong_frame_rate(tmp_path):
    truth = motion(n=50)
    look_at_partner(truth)
    pred = copy(truth)
    pred.B.poses["jaw"][:, 0] = 0.1
    truth.save(tmp_path / "truth.npz")
    pred.save(tmp_path / "pred.npz")
    r = run_duet("eval", "metrics", tmp_path / "pred.npz", "--truth", tmp_path / "truth.npz", "--json", tmp_path / "m.json")
    assert r.rc == 0, r.err
    numbers = json.loads((tmp_path / "m.json").read_text())
    assert numbers["lve_mm2"] > 1 and numbers["mse_eye_all"] == 0
    slow = DyadicMotion.from_arrays({**pred.to_arrays(), "fps": np.float32(24.0)})
    slow.save(tmp_path / "slow.npz")
    r = run_duet("eval", "metrics", tmp_path / "slow.npz", "--truth", tmp_path / "truth.npz")
    assert r.rc == 1 and "frame rates differ" in r.err and "Traceback" not in r.err


def test_duet_eval_report_on_a_missing_corpus_writes_nothing(tmp_path):
    page = tmp_path / "RESULTS.md"
    r = run_duet("eval", "report", page, "--corpus", tmp_path / "nope")
    assert r.rc == 1 and "no such corpus folder" in r.err and "Traceback" not in r.err
    assert not page.exists() and not (tmp_path / "RESULTS").exists()
    r = run_duet("eval")
    assert r.rc == 1 and "say what to evaluate" in r.err


def test_duet_eval_report_refuses_a_page_whose_plots_folder_is_a_file_before_evaluating(tmp_path):
    # RESULTS.md.new puts its plots in RESULTS.md: found at once, not after the evaluation's minutes
    (tmp_path / "RESULTS.md").write_text("the user's page\n")
    r = run_duet("eval", "report", tmp_path / "RESULTS.md.new", "--corpus", tmp_path / "nope")
    assert r.rc == 1 and "RESULTS.md: exists and is not a folder" in r.err and "Traceback" not in r.err
    assert "no such corpus" not in r.err  # refused before the corpus was even looked at
    assert (tmp_path / "RESULTS.md").read_text() == "the user's page\n"
    assert not (tmp_path / "RESULTS.md.new").exists()


def test_pooling_divides_summed_counts_and_time_per_audio_second():
    from duet.eval.metrics import Count

    t = runner.Tally()
    t.count("bilabial_closure", Count(1, 1))
    t.count("bilabial_closure", Count(0, 3))      # pooled 1/4, not the mean of per-clip rates (0.5)
    t.add("lve_mm2", 2.0)
    t.add("lve_mm2", 4.0)
    t.seconds, t.audio_seconds = 3.0, 12.0
    curve = np.zeros(21)
    curve[12] = 0.8                                  # lag +2 frames
    t.curve, t.curves = 2 * curve, 2
    s = t.summary(25.0)
    assert s["bilabial_closure"] == 0.25 and s["lve_mm2"] == 3.0
    assert s["seconds_per_audio_second"] == 0.25
    assert s["openness_r"] == pytest.approx(0.8) and s["openness_lag_ms"] == pytest.approx(80.0)
