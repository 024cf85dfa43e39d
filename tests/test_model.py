"""The dual-stream model's parts: schedule, DDIM, CFG, symmetry, packing, windows, generate."""

import math

import numpy as np
import pytest

import torch  # noqa: E402

from duet.model.config import ModelConfig  # noqa: E402
from duet.model.diffusion import alpha_sigma, ddim_sample, guided, logsnr  # noqa: E402
from duet.model.network import DualStreamUNet  # noqa: E402
from duet.model.packing import body_yaws, heads_at, layout_features, layout_heads, pack, unpack  # noqa: E402
from duet.model.windows import blend_weights, chain_offsets, half_gaussian, stitch, window_starts  # noqa: E402

from model_support import SMALL, one_torch_thread  # noqa: E402,F401


def _inputs(cfg, b=2, t=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(x=torch.randn(b, 2, t, cfg.motion_dim, generator=g), lsnr=torch.randn(b, generator=g),
                audio=torch.randn(b, t, cfg.audio_dim, generator=g), masks=torch.rand(b, 2, t, generator=g),
                layout=torch.randn(b, 2, cfg.layout_dim, generator=g), emotion=torch.randint(0, 2, (b, 2, t), generator=g),
                relation=torch.randint(0, 2, (b,), generator=g), drop=torch.zeros(b, dtype=torch.bool))


def _randomized(cfg, seed=0):
    torch.manual_seed(seed)
    net = DualStreamUNet(cfg)
    with torch.no_grad():  # zero-initialized layers would hide asymmetries: perturb everything
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return net.eval()


def test_logsnr_cosine_endpoints_and_monotone():
    t = torch.linspace(0, 1, 101)
    ls = logsnr(t, -15.0, 15.0)
    assert float(ls[0]) == pytest.approx(15.0, abs=1e-3)
    assert float(ls[-1]) == pytest.approx(-15.0, abs=1e-3)
    assert torch.all(ls[1:] < ls[:-1])
    a, s = alpha_sigma(ls)
    assert torch.allclose(a ** 2 + s ** 2, torch.ones_like(a), atol=1e-6)
    # the middle of the cosine schedule is logSNR 0 (alpha = sigma) for symmetric endpoints
    assert float(logsnr(torch.tensor(0.5))) == pytest.approx(0.0, abs=1e-5)


def test_ddim_is_deterministic_by_seed_and_exact_for_a_perfect_denoiser():
    from duet.runtime import torch_normal

    target = np.linspace(-1, 1, 30, dtype=np.float32).reshape(1, 30)

    def f(x, lsnr):
        return np.broadcast_to(target, x.shape) + 0 * x

    out1 = ddim_sample(f, torch_normal(5, (3, 30)), 8)
    out2 = ddim_sample(f, torch_normal(5, (3, 30)), 8)
    assert np.array_equal(out1, out2)
    assert np.allclose(out1, np.broadcast_to(target, (3, 30)), atol=1e-6)

    def g(x, lsnr):  # depends on the noise: seeds must matter
        return 0.5 * x

    a = ddim_sample(g, torch_normal(1, (2, 10)), 8)
    b = ddim_sample(g, torch_normal(1, (2, 10)), 8)
    c = ddim_sample(g, torch_normal(2, (2, 10)), 8)
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_cfg_scale_one_is_the_conditional_model_and_two_extrapolates():
    def denoise(x, lsnr, drop):
        return np.where(drop[:, None], 0.0, 1.0).astype(np.float32) + x

    x, ls = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32), np.zeros(4, np.float32)
    assert np.array_equal(guided(denoise, 1.0)(x, ls), x + 1)
    assert np.allclose(guided(denoise, 2.5)(x, ls), x + 2.5)
    assert np.allclose(guided(denoise, 0.0)(x, ls), x)


def test_swapping_people_swaps_outputs_exactly():
    net = _randomized(SMALL)
    inp = _inputs(SMALL)
    with torch.no_grad():
        y = net(**inp)
        swapped = dict(inp, x=inp["x"].flip(1), masks=inp["masks"].flip(1), layout=inp["layout"].flip(1),
                       emotion=inp["emotion"].flip(1))
        y_sw = net(**swapped)
    assert torch.allclose(y_sw, y.flip(1), atol=1e-5)
    assert not torch.allclose(y[:, 0], y[:, 1], atol=1e-3)


def test_each_stream_knows_whether_it_is_the_senior():
    """With a vocabulary of both sides, an unequal relation tells the two streams apart (identical
    inputs otherwise give different motion), an equal one does not, and swapping the people with the
    senior swaps the outputs exactly."""
    import dataclasses

    from duet.train.dataset import vocabularies

    cfg = dataclasses.replace(SMALL, relations=vocabularies(swap_senior=True)[1])
    net = _randomized(cfg)
    inp = _inputs(cfg, b=1)
    same = dict(inp, x=inp["x"][:, :1].repeat(1, 2, 1, 1), masks=inp["masks"][:, :1].repeat(1, 2, 1),
                layout=inp["layout"][:, :1].repeat(1, 2, 1), emotion=inp["emotion"][:, :1].repeat(1, 2, 1))
    ids = {r: torch.tensor([cfg.relations.index(r)]) for r in cfg.relations}
    with torch.no_grad():
        equal = net(**dict(same, relation=ids["nonblood-equal"]))
        unequal = net(**dict(same, relation=ids["nonblood-unequal"]))
        assert torch.allclose(equal[:, 0], equal[:, 1], atol=1e-6)
        assert not torch.allclose(unequal[:, 0], unequal[:, 1], atol=1e-3)
        y = net(**dict(inp, relation=ids["blood-unequal"]))
        swapped = dict(inp, x=inp["x"].flip(1), masks=inp["masks"].flip(1), layout=inp["layout"].flip(1),
                       emotion=inp["emotion"].flip(1), relation=ids["blood-unequal (B senior)"])
        assert torch.allclose(net(**swapped), y.flip(1), atol=1e-5)


def test_cross_attention_lets_a_see_b_and_the_ablation_does_not():
    inp = _inputs(SMALL)
    changed = inp["x"].clone()
    changed[:, 1] += 3.0  # change only B's noisy motion
    for cross, expect_change in ((True, True), (False, False)):
        cfg = ModelConfig(**{**SMALL.to_dict(), "cross_attention": cross})
        net = _randomized(cfg)
        with torch.no_grad():
            a0 = net(**inp)[:, 0]
            a1 = net(**dict(inp, x=changed))[:, 0]
        assert (not torch.allclose(a0, a1, atol=1e-4)) == expect_change


def test_audio_drop_changes_prediction_and_timestep_matters():
    net = _randomized(SMALL)
    inp = _inputs(SMALL)
    with torch.no_grad():
        y = net(**inp)
        y_drop = net(**dict(inp, drop=torch.ones(2, dtype=torch.bool)))
        y_t = net(**dict(inp, lsnr=inp["lsnr"] + 3))
    assert not torch.allclose(y, y_drop, atol=1e-4)
    assert not torch.allclose(y, y_t, atol=1e-4)


def _motion(n=60, seed=0, body_yaw=None, heights=(1.6, 1.5)):
    from duet.corpus.animator import animate
    from duet.speech.conversation import TimedTurn, Timings

    phones = {"A": [(0.1, 0.3, "m"), (0.3, 0.6, "aa"), (0.6, 0.8, "p")], "B": [(1.2, 1.5, "ow"), (1.5, 1.9, "b")]}
    timings = Timings(duration=n / 25, turns=[TimedTurn("A", 0.1, 0.8, "ma"), TimedTurn("B", 1.2, 1.9, "ob")],
                      phonemes=phones)
    layout = {"A": [-0.4, heights[0], 0.3], "B": [0.5, heights[1], -0.2]}
    if body_yaw is not None:
        layout["yaw"] = body_yaw
    return animate(timings, layout, seed=seed)


@pytest.mark.parametrize("body_yaw", [None, {"A": 2.9, "B": -0.3}])
def test_pack_unpack_round_trip_is_exact(body_yaw):
    from duet.frames import rotmat

    m = _motion(body_yaw=body_yaw)
    x, heads = pack(m)
    assert x.shape == (m.n_frames, 2, ModelConfig().motion_dim)
    assert np.allclose(x[0, :, -3:], 0.0)  # translation is a delta from the first frame
    back = unpack(x, heads, speaking=np.stack([m.A.speaking, m.B.speaking]), body_yaw=body_yaw)
    for p in "AB":
        a, b = m.person(p), back.person(p)
        assert np.allclose(a.transl - a.transl[0], b.transl - b.transl[0], atol=1e-5)
        for j in ("jaw", "eye_L", "eye_R"):
            assert np.allclose(a.poses[j], b.poses[j], atol=1e-5), j
        head_a = rotmat(a.poses["global"]) @ rotmat(a.poses["neck"])
        head_b = rotmat(b.poses["global"]) @ rotmat(b.poses["neck"])
        assert np.allclose(head_a, head_b, atol=1e-5)
        assert np.allclose(a.expr, b.expr, atol=1e-6)
        if body_yaw is not None:  # the body and its root come back exactly as the animator made them
            assert np.allclose(a.poses["global"], b.poses["global"], atol=1e-5)
            assert np.allclose(a.poses["neck"], b.poses["neck"], atol=1e-5)
            from duet.rigs.kinematics import transl_for_head  # eyes at the given point with the neck at rest
            assert np.allclose(b.transl[0], transl_for_head(heads[p], body_yaw[p]), atol=1e-6)
    if body_yaw is None:
        assert all(np.allclose(heads_at(back)[p], heads[p], atol=1e-5) for p in "AB")


def test_unpack_stops_the_jaw_where_the_lips_meet():
    m = _motion()
    x, heads = pack(m)
    e = ModelConfig().n_expr
    jaw = e + 6  # global, neck, then the jaw's axis-angle
    x[:, :, jaw] = np.linspace(-0.1, 0.2, len(x))[:, None]  # a closure pushed past closed, then open
    out = unpack(x, heads)
    for p in "AB":
        opening = out.person(p).poses["jaw"][:, 0]
        assert opening.min() == 0.0
        assert np.allclose(opening, np.maximum(np.linspace(-0.1, 0.2, len(x)), 0.0), atol=1e-6)


def test_open_mouth_opens_the_speakers_jaw_by_a_power_and_leaves_closures_and_listeners_alone():
    from duet.arkit import JAW_OPEN_RAD
    from duet.model.infer import MOUTH_KNEE, MOUTH_RAMP, open_mouth

    m = _motion(n=200)
    k = m.expr_names.index("jawOpen")
    u = np.concatenate([np.linspace(0.0, 1.2, 100), np.linspace(0.0, 1.2, 100)]).astype(np.float32)
    for p in "AB":  # half the opening on the joint, half on the channel; A speaks the first half, B the second
        m.person(p).poses["jaw"][:, 0] = 0.5 * u * JAW_OPEN_RAD
        m.person(p).expr[:, k] = 0.5 * u
    m.person("A").speaking[:] = np.arange(200) < 100
    m.person("B").speaking[:] = np.arange(200) >= 100
    before = {p: (m.person(p).poses["jaw"][:, 0].copy(), m.person(p).expr.copy()) for p in "AB"}
    assert open_mouth(m, 1.0) is m and all(np.array_equal(m.person(p).expr, before[p][1]) for p in "AB")
    open_mouth(m, 0.7)
    a, b = m.person("A"), m.person("B")
    opening = a.poses["jaw"][:, 0] / JAW_OPEN_RAD + a.expr[:, k]
    inside = np.arange(200) < 100 - MOUTH_RAMP  # A speaks, away from the turn's ramp
    full = inside & (u >= 2 * MOUTH_KNEE) & (u < 1.0)
    assert np.allclose(opening[full], u[full] ** 0.7, atol=1e-5)  # the power, where it applies fully
    assert np.all(opening[inside & (u > 0) & (u < 1.0)] >= u[inside & (u > 0) & (u < 1.0)] - 1e-6)  # only opens
    shut = u <= MOUTH_KNEE  # a nearly shut jaw (an m, b or p) and one open fully stay as they were
    assert np.allclose(opening[inside & shut], u[inside & shut], atol=1e-6)
    assert np.allclose(opening[inside & (u >= 1.0)], u[inside & (u >= 1.0)], atol=1e-6)
    assert np.all(np.diff(opening[:100]) >= -1e-6)  # monotone: no opening overtakes a wider one
    # joint and channel scaled together; nothing else touched
    assert np.allclose(a.poses["jaw"][:, 0] / JAW_OPEN_RAD, a.expr[:, k], atol=1e-6)
    others = [i for i in range(len(m.expr_names)) if i != k]
    assert np.array_equal(a.expr[:, others], before["A"][1][:, others])
    # B listens in the first half and A in the second: their jaws stay put there
    assert np.array_equal(b.poses["jaw"][: 100 - MOUTH_RAMP, 0], before["B"][0][: 100 - MOUTH_RAMP])
    assert np.array_equal(a.poses["jaw"][100 + MOUTH_RAMP:, 0], before["A"][0][100 + MOUTH_RAMP:])
    assert not np.array_equal(b.poses["jaw"][100 + MOUTH_RAMP:, 0], before["B"][0][100 + MOUTH_RAMP:])


def test_unpack_keeps_the_body_still_and_the_head_where_the_model_put_it():
    from duet.frames import rotmat

    m = _motion(body_yaw={"A": 2.9, "B": -0.3})
    x, heads = pack(m)
    rng = np.random.default_rng(0)
    e = ModelConfig().n_expr
    x[:, :, e: e + 3] += rng.normal(scale=0.3, size=(len(x), 2, 3))  # a model that swings the body about
    default, turned = unpack(x, heads), unpack(x, heads, body_yaw={"A": 2.9, "B": -0.3})
    for p in "AB":
        a, b = default.person(p), turned.person(p)
        for motion in (a, b):
            assert np.allclose(motion.poses["global"], motion.poses["global"][0], atol=1e-6)  # body still
        head_a = rotmat(a.poses["global"]) @ rotmat(a.poses["neck"])
        head_b = rotmat(b.poses["global"]) @ rotmat(b.poses["neck"])
        assert np.allclose(head_a, head_b, atol=1e-5)  # the split moves, the head does not
        assert np.allclose(heads_at(default)[p], heads[p], atol=1e-5)
    assert np.allclose(turned.A.poses["global"][0], [0, 2.9, 0], atol=1e-5)


def test_packing_is_relative_to_facing_the_partner():
    # the same conversation rotated about the vertical axis packs to the same vectors
    from duet.frames import axis_angle, rotmat, yaw

    m = _motion()
    x, heads = pack(m)
    r = rotmat(yaw(0.7))
    for p in "AB":
        pm = m.person(p)
        pm.poses["global"] = axis_angle(r @ rotmat(pm.poses["global"])).astype(np.float32)
        pm.transl = (pm.transl @ r.T).astype(np.float32)
    x2, heads2 = pack(m)
    assert np.allclose(x, x2, atol=1e-4)
    assert np.allclose(layout_features(heads), layout_features(heads2), atol=1e-5)
    lay = layout_features(heads)
    assert lay[0, 1] == pytest.approx(0.0, abs=1e-9) and lay[0, 3] > 0  # partner straight ahead


def test_layout_features_say_how_each_body_is_turned_from_the_partner():
    # a couch (bodies side by side, heads turned) and two people face to face put the eyes in the same
    # places: only the body's yaw tells them apart, and the corpus's heads turn only part of the way
    from duet.frames import facing_yaw

    layout = {"A": [-0.4, 1.6, 0.3], "B": [0.5, 1.5, -0.2]}
    m = _motion(body_yaw={"A": 2.9, "B": -0.3})
    heads = layout_heads(m)
    yaws = body_yaws(m)
    assert yaws["A"] == pytest.approx(2.9, abs=1e-5) and yaws["B"] == pytest.approx(-0.3, abs=1e-5)
    plain, turned = layout_features(heads), layout_features(heads, yaws, body=True)
    assert plain.shape == (2, 4) and turned.shape == (2, 6)
    assert np.allclose(turned[:, :4], plain)
    for i, (p, q) in enumerate((("A", "B"), ("B", "A"))):
        d = yaws[p] - float(facing_yaw(heads[p], heads[q]))
        assert turned[i, 4] == pytest.approx(np.sin(d), abs=1e-5)
        assert turned[i, 5] == pytest.approx(1 - np.cos(d), abs=1e-5)
    # bodies that face the partner (a layout without "yaw") read as no turn at all
    facing_each_other = layout_features(layout, None, body=True)
    assert np.allclose(facing_each_other[:, 4:], 0.0)
    assert np.allclose(layout_features(layout, body_yaws(_motion()), body=True)[:, 4:], 0.0, atol=1e-5)


def test_bundles_saved_before_the_body_yaw_keep_their_four_layout_numbers():
    assert ModelConfig.from_dict({}).layout_dim == 4
    assert ModelConfig.from_dict(ModelConfig().to_dict()).layout_dim == 6


def test_boundary_blend_weights_sum_to_one_and_are_half_at_the_boundary():
    starts = window_starts(1500, 250, 10)
    assert starts[0] == 0 and starts[-1] == 1250
    assert all(b - a <= 230 for a, b in zip(starts, starts[1:]))
    w = blend_weights(starts, 250, 1500, 10)
    assert np.allclose(w.sum(0), 1.0)
    for i, s in enumerate(starts):  # no window contributes outside itself
        assert np.all(w[i, :s] == 0) and np.all(w[i, s + 250:] == 0)
    a = half_gaussian(10)
    assert a[0] == 0.5 and a[-1] < 0.02 and np.all(np.diff(a) < 0)
    assert math.isclose(a[3], 0.5 * math.exp(-9 / (2 * (10 / 3) ** 2)))
    boundary = (starts[1] + 250) // 2  # first overlap is [230, 250): the two windows meet at 240
    assert boundary == 240
    assert w[0, boundary - 1] == pytest.approx(0.5) and w[1, boundary - 1] == pytest.approx(0.5)
    assert w[0, boundary] == pytest.approx(0.5) and w[0, 229] == 1.0 and w[1, 250] == 1.0


def test_stitch_applies_identical_weights_to_both_people():
    starts = window_starts(100, 40, 4)
    rng = np.random.default_rng(0)
    win = rng.normal(size=(len(starts), 40, 2, 5))
    out = stitch(win, starts, 100, 4)
    w = blend_weights(starts, 40, 100, 4)
    for f in (0, 35, 50, 99):
        want = sum(w[i, f] * win[i, f - s] for i, s in enumerate(starts) if s <= f < s + 40)
        assert np.allclose(out[f], want)
    same = np.repeat(win[:, :, :1], 2, axis=2)  # both people identical -> stitched identical
    st = stitch(same, starts, 100, 4)
    assert np.array_equal(st[:, 0], st[:, 1])
    const = np.ones((len(starts), 40, 2, 5)) * 7
    assert np.allclose(stitch(const, starts, 100, 4), 7)


def test_chain_offsets_make_window_deltas_continuous():
    starts = [0, 30]
    win = np.zeros((2, 40, 2, 3))
    win[0, :, :, :] = np.arange(40)[:, None, None] * 0.01  # drifting 1 cm per frame
    win[1, :, :, :] = np.arange(40)[:, None, None] * 0.01  # window 2 starts its delta again at 0
    out = chain_offsets(win, starts, slice(-3, None))
    assert np.allclose(out[1, 0], out[0, 30])
    assert np.allclose(out[1, 9], 0.39)


def test_generate_end_to_end_with_a_small_untrained_bundle(tmp_path):
    from duet.model import bundle, generate

    net = _randomized(SMALL)
    path = bundle.save(tmp_path / "m.pt", net, SMALL, np.zeros(SMALL.motion_dim), np.full(SMALL.motion_dim, 0.1),
                       {"id": "tiny"})
    assert path.with_suffix(".json").is_file()
    rng = np.random.default_rng(0)
    audio = (rng.normal(size=(1, 16000 * 3)) * 0.05).astype(np.float32)  # 75 frames -> 3 windows of 40
    masks = np.zeros((2, 75), np.float32)
    masks[0, :40] = 1
    layout = {"A": [-0.4, 1.6, 0.0], "B": [0.4, 1.6, 0.0]}
    m1 = generate(audio, "mono", layout=layout, masks=masks, seed=3, weights=path, emotion="happy")
    m2 = generate(audio, "mono", layout=layout, masks=masks, seed=3, weights=path, emotion="happy")
    m3 = generate(audio, "mono", layout=layout, masks=masks, seed=4, weights=path, emotion="happy")
    assert m1.n_frames == 75 and m1.meta["model"] == "tiny" and m1.meta["emotions"]["A"] == "happy"
    assert np.array_equal(m1.A.expr, m2.A.expr) and not np.allclose(m1.A.expr, m3.A.expr)
    assert np.array_equal(m1.A.speaking, masks[0])
    assert np.allclose(heads_at(m1)["A"], layout["A"], atol=1e-5)
    assert np.allclose(heads_at(m1)["B"], layout["B"], atol=1e-5)
    from duet.errors import DuetError
    with pytest.raises(DuetError, match="unknown emotion"):
        generate(audio, "mono", layout=layout, masks=masks, weights=path, emotion="bored")
    with pytest.raises(DuetError, match="no model weights"):
        generate(audio, "mono", weights=tmp_path / "missing.pt")


def test_generate_takes_per_turn_emotions_as_training_frames_them(tmp_path):
    from duet.errors import DuetError
    from duet.model import bundle, generate

    path = bundle.save(tmp_path / "m.pt", _randomized(SMALL), SMALL, np.zeros(SMALL.motion_dim),
                       np.full(SMALL.motion_dim, 0.1), {"id": "tiny"})
    audio = (np.random.default_rng(0).normal(size=(1, 16000 * 3)) * 0.05).astype(np.float32)
    masks = np.zeros((2, 75), np.float32)
    masks[0, :40], masks[1, 45:] = 1, 1
    kw = dict(layout={"A": [-0.4, 1.6, 0.0], "B": [0.4, 1.6, 0.0]}, masks=masks, seed=1, weights=path)
    same = generate(audio, "mono", emotion={"A": "happy", "B": "neutral"}, **kw)
    turns = [{"speaker": "A", "start": 0.0, "emotion": "happy"}, {"speaker": "B", "start": 1.8, "emotion": "neutral"}]
    m = generate(audio, "mono", emotion=turns, **kw)
    assert np.array_equal(m.A.expr, same.A.expr) and np.array_equal(m.B.expr, same.B.expr)
    assert m.meta["emotion_turns"] == [["A", 0.0, "happy"], ["B", 1.8, "neutral"]]
    later = generate(audio, "mono", emotion=turns + [{"speaker": "A", "start": 2.4, "emotion": "neutral"}], **kw)
    assert np.array_equal(later.A.expr[:20], m.A.expr[:20])  # before the new turn's windows: unchanged
    assert not np.allclose(later.A.expr[60:], m.A.expr[60:])  # after it: A is neutral again
    for bad, msg in (([{"speaker": "C", "start": 0, "emotion": "happy"}], "speaker"),
                     ([{"speaker": "A", "start": "soon", "emotion": "happy"}], "start time"),
                     ([{"speaker": "A", "start": 0, "emotion": "bored"}], "unknown emotion")):
        with pytest.raises(DuetError, match=msg):
            generate(audio, "mono", emotion=bad, **kw)


def test_shipped_weights_animate_the_speaker_and_keep_the_listener_quiet():
    from duet.model import bundle, generate
    from duet.speech import synthesize

    assert bundle.SHIPPED.is_file()  # committed with the package
    a = synthesize("Maybe we should buy a bigger map before the trip.", "espeak:en-us")
    b = synthesize("I am happy to pay for a map, but please pick the route.", "espeak:en-us", pitch=1.2)
    gap = 8000
    n = len(a.samples) + gap + len(b.samples) + gap
    tracks = np.zeros((2, n), np.float32)
    tracks[0, : len(a.samples)] = a.samples
    tracks[1, len(a.samples) + gap: len(a.samples) + gap + len(b.samples)] = b.samples
    frames = n // 640
    masks = np.zeros((2, frames), np.float32)
    masks[0, : len(a.samples) // 640] = 1
    masks[1, (len(a.samples) + gap) // 640: (len(a.samples) + gap + len(b.samples)) // 640] = 1
    layout = {"A": [-0.45, 1.6, 0.1], "B": [0.45, 1.55, -0.1]}
    m = generate(tracks.sum(0, keepdims=True), "mono", layout=layout, masks=masks, seed=0)
    assert m.meta["model"] == "duet-dual" and m.n_frames == frames
    for speaker, listener in ((0, 1), (1, 0)):
        only = (masks[speaker] > 0.5) & (masks[listener] < 0.5)
        jaw = {i: m.person("AB"[i]).poses["jaw"][only, 0] for i in (0, 1)}
        assert jaw[speaker].std() > 2.5 * jaw[listener].std()   # the speaker articulates, the listener does not
        assert jaw[speaker].max() > 0.12                          # and really opens the mouth (radians)
    assert np.allclose(heads_at(m)["A"], layout["A"], atol=1e-4)


def test_role_guidance_gives_each_frame_its_roles_scale():
    from duet.model.diffusion import guided
    from duet.model.infer import role_guidance

    masks = np.array([[[1, 1, 0, 0], [0, 0, 1, 1]]], np.float32)  # [N=1, 2 people, L=4]
    w = role_guidance(masks, 3.0, 1.0)
    assert w.shape == (1, 2, 4, 1)
    assert w[0, 0, :, 0].tolist() == [3.0, 3.0, 1.0, 1.0] and w[0, 1, :, 0].tolist() == [1.0, 1.0, 3.0, 3.0]
    assert role_guidance(masks, 2.0, None) == 2.0

    def denoise(x_t, lsnr, drop):  # conditional answer 1, unconditional answer 0
        return np.where(drop[:, None, None, None], 0.0, 1.0) * np.ones_like(x_t)

    out = guided(denoise, w)(np.zeros((1, 2, 4, 3), np.float32), np.zeros(1, np.float32))
    # x0 = uncond + w (cond - uncond) = w: speakers pushed to 3, listeners exactly conditional.
    assert out[0, 0, :, 0].tolist() == [3.0, 3.0, 1.0, 1.0] and out[0, 1, 2, 2].item() == 3.0


def test_pose_guidance_scales_only_head_pose_and_translation():
    from duet.model.infer import pose_dims, role_guidance

    masks = np.array([[[1, 0], [0, 1]]], np.float32)  # [N=1, 2 people, L=2]
    posed = pose_dims(SMALL)
    e = SMALL.n_expr
    assert posed[e] and posed[e + 3] and posed[e + 9] and posed[-1]  # global, neck, eye, translation
    assert not posed[e + 6] and not posed[:e].any()                    # jaw and expression: the face's
    w = role_guidance(masks, 3.0, 1.0, 1.5, posed)
    assert tuple(w.shape) == (1, 2, 2, SMALL.motion_dim)
    assert w[0, 0, :, e + 6].tolist() == [3.0, 1.0] and w[0, 1, :, 0].tolist() == [1.0, 3.0]
    assert float(w[..., e].min()) == float(w[..., e].max()) == 1.5
    assert role_guidance(masks, 3.0, 1.0, None, posed).shape[-1] == 1  # no pose scale: as before


def test_gaze_guidance_scales_the_eyes_by_role_and_nothing_else():
    from duet.model.infer import eye_dims, pose_dims, role_guidance

    masks = np.array([[[1, 0], [0, 1]]], np.float32)  # [N=1, 2 people, L=2]: A speaks, then B
    eyes, posed = eye_dims(SMALL), pose_dims(SMALL)
    e = SMALL.n_expr
    assert eyes[e + 9: e + 15].all() and eyes.sum() == 6 and not (eyes & ~posed).any()
    w = role_guidance(masks, 3.0, 1.0, 1.5, posed, [(eyes, (12.0, 7.0))])
    assert w[0, 0, :, e + 9].tolist() == [12.0, 7.0] and w[0, 1, :, e + 14].tolist() == [7.0, 12.0]
    assert float(w[..., e].min()) == float(w[..., e].max()) == 1.5      # the head: the pose scale
    assert w[0, 0, :, e + 6].tolist() == [3.0, 1.0]                      # the jaw: the face's
    plain = role_guidance(masks, 3.0, 1.0, 1.5, posed)
    np.testing.assert_array_equal(np.delete(w, np.nonzero(eyes)[0], -1), np.delete(plain, np.nonzero(eyes)[0], -1))
    assert role_guidance(masks, 3.0, 3.0, None, None, [(eyes, (12.0, 7.0))])[0, 0, 0, e + 9] == 12.0


def test_channel_groups_get_their_own_scale_by_role_and_the_lips_keep_the_faces():
    from duet.model.config import ModelConfig
    from duet.model.infer import eye_dims, guidance_groups, head_dims, pose_dims, role_guidance

    cfg = ModelConfig(guidance=8.0, guidance_listen=0.5, guidance_pose=5.0, guidance_gaze=(15.0, 8.0),
                      guidance_head=(5.0, 7.0), guidance_expression=(8.0, 12.0), guidance_blink=(7.0, 3.0))
    names = list(cfg.expr_names)
    e = cfg.n_expr
    masks = np.array([[[1, 0], [0, 1]]], np.float32)  # A speaks, then B
    w = role_guidance(masks, cfg.guidance, cfg.guidance_listen, cfg.guidance_pose, pose_dims(cfg),
                      guidance_groups(cfg))
    assert tuple(w.shape) == (1, 2, 2, cfg.motion_dim)
    for name in ("browInnerUp", "mouthSmileRight", "noseSneerLeft", "cheekSquintLeft", "eyeSquintLeft"):
        assert w[0, 0, :, names.index(name)].tolist() == [8.0, 12.0], name   # a listener's face answers
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        assert w[0, 0, :, names.index(name)].tolist() == [7.0, 3.0], name    # the blinks have their own pair
    for name in ("jawOpen", "mouthClose", "mouthFunnel", "mouthPressLeft", "mouthLowerDownLeft", "eyeLookInLeft"):
        assert w[0, 0, :, names.index(name)].tolist() == [8.0, 0.5], name    # the lips stay still
    assert w[0, 0, :, e + 6].tolist() == [8.0, 0.5]                           # the jaw articulates
    for d in np.nonzero(head_dims(cfg))[0]:                                   # global, neck, translation
        assert w[0, 1, :, d].tolist() == [7.0, 5.0]
    assert w[0, 0, :, e + 9].tolist() == [15.0, 8.0] and not (head_dims(cfg) & eye_dims(cfg)).any()
    # a caller's own pose scale (benchmarks' --pose-guidance) replaces the head's pair, not the eyes'
    w = role_guidance(masks, 8.0, 0.5, 3.0, pose_dims(cfg), guidance_groups(cfg, head=False))
    assert float(w[..., e + 3].min()) == float(w[..., e + 3].max()) == 3.0 and w[0, 0, 1, e + 9] == 8.0
    assert guidance_groups(ModelConfig()) == []                               # none set: as before


def test_windows_sampled_in_groups_give_the_same_motion_as_one_batch(tmp_path, monkeypatch):
    # long audio is sampled WINDOWS_AT_ONCE windows at a time to bound memory; nothing else may change
    from duet.model import bundle, generate
    from duet.model import infer

    path = bundle.save(tmp_path / "m.pt", _randomized(SMALL), SMALL, np.zeros(SMALL.motion_dim),
                       np.full(SMALL.motion_dim, 0.1), {"id": "tiny"})
    rng = np.random.default_rng(1)
    audio = (rng.normal(size=(1, 16000 * 8)) * 0.05).astype(np.float32)  # 200 frames -> 7 windows of 40
    masks = np.zeros((2, 200), np.float32)
    masks[0, :90], masks[1, 110:] = 1, 1
    kw = dict(layout={"A": [-0.4, 1.6, 0.0], "B": [0.4, 1.6, 0.0]}, masks=masks, seed=5, weights=path,
              guidance=3.0, listener_guidance=0.5, pose_guidance=0.5)
    monkeypatch.setattr(infer, "WINDOWS_AT_ONCE", 1000)
    whole = generate(audio, "mono", **kw)
    monkeypatch.setattr(infer, "WINDOWS_AT_ONCE", 2)
    grouped = generate(audio, "mono", **kw)
    for p in "AB":
        np.testing.assert_allclose(grouped.person(p).expr, whole.person(p).expr, atol=1e-5)  # float order only
        np.testing.assert_allclose(grouped.person(p).poses["neck"], whole.person(p).poses["neck"], atol=1e-5)
