"""Each metric on a hand-made case whose answer is worked out by hand, and on the mistakes it must
catch: swapped people, an off-by-one frame, a wrong sign."""

from __future__ import annotations

import numpy as np
import pytest

from duet.arkit import ARKIT_52, INDEX
from duet.errors import DuetError
from duet.eval import metrics as M
from duet.motion import DyadicMotion, PersonMotion

FPS = 25.0


def motion(n=50, layout=((-0.5, 1.6, 0.0), (0.5, 1.6, 0.0)), fps=FPS) -> DyadicMotion:
    """Two still people at ``layout``, facing each other, eyes looking straight ahead."""
    from duet.frames import facing_yaw, yaw
    from duet.rigs.kinematics import transl_for_head

    people = []
    for me, other in ((0, 1), (1, 0)):
        face = float(facing_yaw(np.array(layout[me]), np.array(layout[other])))
        p = PersonMotion.still(n, len(ARKIT_52), transl_for_head(np.array(layout[me]), face))
        p.poses["global"][:] = yaw(face)
        people.append(p)
    return DyadicMotion(A=people[0], B=people[1], expr_names=ARKIT_52, fps=fps)


def copy(m: DyadicMotion) -> DyadicMotion:
    return DyadicMotion.from_arrays({k: np.array(v, copy=True) for k, v in m.to_arrays().items()})


def look_at_partner(m: DyadicMotion) -> None:
    from duet.animators.baseline import look_at
    from duet.rigs.kinematics import eye_midpoint

    for p, q in (("A", "B"), ("B", "A")):
        look_at(m.person(p), eye_midpoint(m.person(q).poses, m.person(q).transl))


# ---------------------------------------------------------------- vertices


def test_lip_vertex_error_is_the_mean_over_frames_of_the_worst_lip_vertex():
    truth = np.zeros((2, 4, 3))
    pred = truth.copy()
    pred[0, 0] = [0.3, 0, 0]     # lip vertex: 0.09
    pred[0, 2] = [0, 0.1, 0]     # lip vertex: 0.01 (not the worst)
    pred[1, 2] = [0, 0, 0.2]     # lip vertex: 0.04
    pred[:, 1] = [5.0, 0, 0]     # not a lip vertex: must not count
    lve = M.lip_vertex_error(pred, truth, np.array([0, 2, 3]))
    assert lve == pytest.approx((0.09 + 0.04) / 2)  # mean of frame maxima; a mean over vertices gives less


def test_upper_face_dynamics_deviation_is_signed_truth_minus_prediction():
    t = np.arange(40)
    template = np.zeros((3, 3))
    truth = np.zeros((40, 3, 3))
    truth[:, 0, 1] = np.where(t % 2 == 0, 0.0, 0.2)   # squared displacement alternates 0 and 0.04
    truth[:, 1, 1] = np.where(t % 2 == 0, 0.0, 0.1)   # 0 and 0.01
    still = np.zeros_like(truth)
    upper = np.array([0, 1])
    fdd = M.upper_face_dynamics_deviation(still, truth, template, upper)
    assert fdd == pytest.approx((0.02 + 0.005) / 2)  # std of a 0/a alternation is a/2
    assert M.upper_face_dynamics_deviation(truth, still, template, upper) == pytest.approx(-fdd)
    assert M.upper_face_dynamics_deviation(truth, truth, template, upper) == 0.0


def test_lip_gap_is_upper_minus_lower_height():
    v = np.zeros((2, 4, 3))
    v[:, 0, 1] = [0.12, 0.12]    # upper lip
    v[:, 1, 1] = [0.12, 0.10]    # lower lip: touching, then 2 cm down
    gap = M.lip_gap(v, np.array([0]), np.array([1]))
    np.testing.assert_allclose(gap, [0.0, 0.02])


# ---------------------------------------------------------------- phone timing


def test_phone_frames_follow_frame_k_at_time_k_over_fps():
    frames = M.phone_frames([(0.40, 0.44, "m"), (0.44, 0.52, "aa"), (0.521, 0.53, "p")], FPS, 100)
    assert [list(i) for _, i in frames] == [[10], [11, 12], [13]]  # the last one holds no frame time: nearest


def gap_with_closure_at(frame: int, n=40) -> np.ndarray:
    gap = np.full(n, 0.01)
    gap[frame] = 0.0
    return gap


def test_bilabial_closure_counts_a_single_closed_frame_and_no_other():
    phones = [(0.0, 2.0, "aa"), (2.0, 2.04, "m"), (2.04, 3.0, "aa")]  # m covers frame 50 only
    assert M.bilabial_closure_rate(gap_with_closure_at(50, 80), phones, FPS) == (1, 1)
    assert M.bilabial_closure_rate(gap_with_closure_at(51, 80), phones, FPS) == (0, 1)  # one frame late
    # timings read at 24 fps put the m on frame 48: a wrong frame rate loses the closure
    assert M.bilabial_closure_rate(gap_with_closure_at(50, 80), phones, 24.0) == (0, 1)


def test_bilabial_threshold_is_a_quarter_of_the_speakers_p95_opening():
    phones = [(0.0, 0.40, "aa"), (0.40, 0.44, "b"), (0.44, 0.8, "aa")]
    gap = np.full(20, 0.04)
    gap[10] = 0.009   # < 0.25 * 0.04
    assert M.bilabial_closure_rate(gap, phones, FPS).rate == 1.0
    gap[10] = 0.011   # > 0.25 * 0.04
    assert M.bilabial_closure_rate(gap, phones, FPS).rate == 0.0


def test_open_vowel_rate():
    phones = [(0.0, 0.2, "m"), (0.2, 0.4, "aa"), (0.4, 0.6, "m"), (0.6, 0.8, "ae"), (0.8, 1.2, "iy")]
    gap = np.zeros(30)
    gap[5:10] = 0.02        # aa opens
    gap[15:20] = 0.004      # ae barely opens
    gap[20:30] = 0.02
    count = M.open_vowel_rate(gap, phones, FPS)
    assert count == (1, 2)
    assert count.rate == 0.5
    # counting only some vowels keeps the bar where all speech put it: "ae" alone is still a miss
    assert M.open_vowel_rate(gap, phones, FPS, frozenset({"ae"})) == (0, 1)
    assert M.open_vowel_rate(gap, phones, FPS, frozenset({"aa"})) == (1, 1)


def test_openness_correlation_reports_the_mouths_latency_with_its_sign():
    rng = np.random.default_rng(0)
    phones, t = [], 0.0
    for _ in range(40):
        d = rng.uniform(0.06, 0.2)
        phones.append((t, t + d, str(rng.choice(["aa", "m", "iy", "ow", "s"]))))
        t += d
    n = int(t * FPS)
    target = M.openness_track(phones, FPS, n)
    late = np.concatenate([np.zeros(3), target[:-3]])  # the mouth follows the sound 3 frames later
    r, lag_ms = M.best_lag(M.openness_correlation(late, phones, FPS), FPS)
    assert r > 0.99
    assert lag_ms == pytest.approx(120.0)
    early = np.concatenate([target[2:], np.zeros(2)])
    assert M.best_lag(M.openness_correlation(early, phones, FPS), FPS)[1] == pytest.approx(-80.0)


def test_listener_mouth_leakage_divides_listener_by_speaker_movement():
    n = 40
    masks = {"A": np.r_[np.ones(20), np.zeros(20)], "B": np.r_[np.zeros(20), np.ones(20)]}
    wobble = np.where(np.arange(n) % 2 == 0, 0.0, 1.0)
    gaps = {"A": np.where(masks["A"] > 0, 0.02 * wobble, 0.005 * wobble),   # A leaks a quarter
            "B": np.where(masks["B"] > 0, 0.02 * wobble, 0.0)}              # B stays still
    assert M.listener_mouth_leakage(gaps, masks) == pytest.approx((0.0 + 0.25) / 2)
    swapped = {"A": masks["B"], "B": masks["A"]}  # roles read from the wrong person
    assert M.listener_mouth_leakage(gaps, swapped) != pytest.approx((0.0 + 0.25) / 2)


# ---------------------------------------------------------------- parameters


def test_parameter_mse_separates_regions():
    truth = motion()
    pred = copy(truth)
    pred.A.poses["jaw"][:, 0] += 0.3          # lip region only: 3 jaw dims + 25 jaw*/mouth* channels
    mse = M.parameter_mse(pred, truth)
    n_lip = 3 + sum(n.startswith(("jaw", "mouth")) for n in ARKIT_52)
    assert mse["lip"]["all"] == pytest.approx(0.09 / n_lip / 2)  # one of n_lip dims, one of two people
    for region in ("eye", "expression", "rotation", "translation"):
        assert mse[region]["all"] == 0.0


def test_rotation_metrics_see_one_rotation_however_it_is_written():
    truth = motion()
    truth.B.poses["global"][:] = [0.0, np.pi, 0.0]      # B turned to face -Z ...
    pred = copy(truth)
    pred.B.poses["global"][:] = [0.0, -np.pi, 0.0]      # ... written the other way round
    assert M.parameter_mse(pred, truth)["rotation"]["all"] < 1e-12  # float32 round-off only
    assert M.fd(pred, truth)["pose"] == pytest.approx(0.0, abs=1e-9)
    pred.B.poses["global"][:] = [0.0, np.pi - 0.1, 0.0]  # a real 0.1 rad turn still counts
    assert M.parameter_mse(pred, truth)["rotation"]["all"] > 1e-4


def test_parameter_mse_roles_follow_each_persons_own_mask():
    truth = motion(n=40)
    truth.A.speaking[:20] = 1.0
    truth.B.speaking[20:] = 1.0
    pred = copy(truth)
    pred.A.expr[:20, INDEX["mouthFunnel"]] = 0.5   # A wrong while A speaks
    mse = M.parameter_mse(pred, truth)
    assert mse["expression"]["speaker"] == pytest.approx(0.25 / len(ARKIT_52) / 2)  # 20 of 40 speaker frames
    assert mse["expression"]["listener"] == 0.0
    swapped = copy(truth)
    swapped.A.speaking[:], swapped.B.speaking[:] = truth.B.speaking, truth.A.speaking
    assert M.parameter_mse(pred, swapped)["expression"]["listener"] > 0


def test_translation_mse_is_in_square_centimetres():
    truth = motion()
    pred = copy(truth)
    pred.B.transl[:, 2] += 0.01  # 1 cm
    assert M.parameter_mse(pred, truth)["translation"]["all"] == pytest.approx(1.0 / 3 / 2)


def test_timelines_must_share_a_frame_rate_and_length():
    with pytest.raises(DuetError, match="frame rates differ"):
        M.parameter_mse(motion(fps=24.0), motion())
    with pytest.raises(DuetError, match="lengths differ"):
        M.parameter_mse(motion(n=60), motion(n=50))
    assert M.same_timeline(motion(n=51), motion(n=50)) == 50


def test_expression_channels_are_matched_by_name_not_position():
    truth = motion(n=10)
    truth.A.expr[:, INDEX["mouthSmileLeft"]] = 0.7
    a = truth.A
    order = list(reversed(ARKIT_52))
    shuffled = PersonMotion(expr=a.expr[:, [INDEX[n] for n in order]], poses=a.poses, transl=a.transl,
                            speaking=a.speaking, betas=a.betas)
    pred = DyadicMotion(A=shuffled, B=truth.B, expr_names=tuple(order), fps=FPS)
    assert M.parameter_mse(pred, truth)["expression"]["all"] == 0.0


# ---------------------------------------------------------------- distributions


def test_frechet_distance_of_known_gaussians():
    x = np.array([[1.0, 2.0], [-1.0, -2.0], [1.0, -2.0], [-1.0, 2.0]])  # mean 0, cov diag(4/3, 16/3)
    y = x[:, ::-1] + [3.0, 0.0]                                          # cov diag(16/3, 4/3), mean (3, 0)
    s = np.array([4 / 3, 16 / 3])
    expected = 9.0 + 2 * s.sum() - 2 * 2 * np.sqrt(s[0] * s[1])
    assert M.frechet_distance(x, y) == pytest.approx(expected)
    assert M.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_paired_fd_sees_broken_timing_that_fd_misses():
    rng = np.random.default_rng(1)
    truth = motion(n=200)
    wave = np.cumsum(rng.standard_normal((200, 3)), 0) * 0.01
    truth.A.poses["jaw"][:] = wave
    truth.B.poses["jaw"][:] = wave                 # B mirrors A frame for frame
    pred = copy(truth)
    pred.B.poses["jaw"][:] = wave[::-1]            # same frames, broken pairing
    assert M.fd(pred, truth)["jaw"] == pytest.approx(0.0, abs=1e-9)
    assert M.paired_fd(pred, truth)["jaw"] > 1e-4
    assert M.paired_fd(truth, truth)["jaw"] == pytest.approx(0.0, abs=1e-9)


def test_sid_is_the_entropy_of_predicted_frames_over_truth_clusters():
    centres = np.eye(4) * 10
    truth = np.repeat(centres, 5, axis=0) + np.random.default_rng(0).normal(0, 0.01, (20, 4))
    assert M.sid(centres[[0, 1, 2, 3]], truth, k=4) == pytest.approx(2.0)       # one frame per cluster
    assert M.sid(centres[[0, 0, 1, 1]], truth, k=4) == pytest.approx(1.0)
    assert M.sid(centres[[2, 2, 2, 2]], truth, k=4) == pytest.approx(0.0)       # a frozen face
    assert M.sid(centres[[0, 1, 2, 3]], truth, k=40) == pytest.approx(2.0)      # k capped by distinct frames


def test_variance_is_mean_per_channel_variance():
    x = np.array([[0.0, 1.0], [2.0, 1.0]])
    assert M.variance(x) == pytest.approx((1.0 + 0.0) / 2)


def test_head_synchrony_finds_a_delayed_mirror_and_not_two_heads_on_their_own():
    rng = np.random.default_rng(3)
    m = motion(n=300)
    nods = np.convolve(rng.standard_normal(320), np.hanning(9), "same")[:300] * 0.02
    m.A.poses["neck"][:, 0] = nods
    m.B.poses["neck"][8:, 0] = 0.5 * nods[:-8]          # B nods half as deep, 8 frames later
    m.A.poses["neck"][:, 1] = rng.standard_normal(300) * 0.01
    m.B.poses["neck"][:, 1] = rng.standard_normal(300) * 0.01   # yaw: independent
    pitch, yaw = M.head_synchrony(m)
    assert pitch > 0.95
    assert abs(yaw) < 0.25
    assert M.head_synchrony(m, max_lag=4)[0] < 0.5     # the mirror lies outside a 4-frame search
    assert M.head_synchrony(motion(n=50)) == (0.0, 0.0)  # still heads


# ---------------------------------------------------------------- gaze


def test_eye_contact_within_twelve_degrees_split_by_role():
    from duet.frames import axis_angle, rotmat

    m = motion(n=40)
    look_at_partner(m)
    m.A.speaking[:20] = 1.0
    m.B.speaking[20:] = 1.0
    masks = {"A": m.A.speaking, "B": m.B.speaking}
    contact = M.eye_contact(m, masks)
    assert contact["listening"] == (40, 40) and contact["speaking"] == (40, 40)
    for eye in ("eye_L", "eye_R"):   # A looks 20 degrees down while A speaks, 10 degrees down while listening
        for sl, deg in ((slice(0, 20), 20.0), (slice(20, 40), 10.0)):
            r = rotmat(m.A.poses[eye][sl]) @ rotmat(np.array([np.radians(deg), 0, 0]))
            m.A.poses[eye][sl] = axis_angle(r)
    contact = M.eye_contact(m, masks)
    assert contact["speaking"] == (20, 40)     # A's 20 speaking frames miss, B's 20 hit
    assert contact["listening"] == (40, 40)    # 10 degrees still counts
    swapped = M.eye_contact(m, {"A": masks["B"], "B": masks["A"]})
    assert swapped["speaking"] == (40, 40) and swapped["listening"] == (20, 40)


def test_gaze_angle_error_in_degrees():
    from duet.frames import axis_angle, rotmat

    truth = motion(n=10)
    look_at_partner(truth)
    pred = copy(truth)
    for eye in ("eye_L", "eye_R"):
        pred.B.poses[eye][:] = axis_angle(rotmat(pred.B.poses[eye]) @ rotmat(np.array([0, np.radians(6.0), 0])))
    assert M.gaze_angle_error(pred, truth) == pytest.approx(3.0, abs=1e-6)  # 6 degrees for B, 0 for A
    assert M.gaze_angle_error(truth, truth) == pytest.approx(0.0, abs=1e-5)
