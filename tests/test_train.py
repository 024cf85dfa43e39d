"""Training: losses, a tiny overfit run whose loss must fall, windows, and resume from a checkpoint."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from duet.model.config import ModelConfig, TrainConfig  # noqa: E402
from duet.model.network import DualStreamUNet  # noqa: E402
from duet.model.packing import emotion_frames  # noqa: E402
from duet.train.dataset import Stats, Windows, bilabial_frames, phone_class_frames, to_torch  # noqa: E402
from duet.train.losses import gaze_direction, lip_gap, lip_jaw_dims, motion_loss, rotmat  # noqa: E402
from duet.train.loop import train_step  # noqa: E402

from model_support import SMALL, one_torch_thread  # noqa: E402,F401


def _clip(n=120, seed=0):
    """A synthetic prepared clip: mouth channels follow an 'audio' envelope of the speaker."""
    rng = np.random.default_rng(seed)
    d = SMALL.motion_dim
    env = (np.sin(np.arange(n) / 3.0) > 0).astype(np.float32)
    masks = np.zeros((2, n), np.float32)
    masks[0, : n // 2], masks[1, n // 2:] = 1, 1
    x = np.zeros((n, 2, d), np.float32)
    jaw = SMALL.n_expr + 6
    for i in range(2):
        x[:, i, jaw] = 0.3 * env * masks[i]
    x[..., :5] = rng.normal(size=(n, 2, 5)) * 0.05
    audio = np.zeros((n, SMALL.audio_dim), np.float32)
    audio[:, 0] = env
    return {"x": x, "audio": audio, "masks": masks, "masks_pred": masks, "layout": np.zeros((n, 2, 4), np.float32),
            "emotion": np.zeros((2, n), np.int64), "relation": np.int64(0), "bilabial": np.zeros((2, n), bool),
            "open_vowel": np.zeros((2, n), bool)}


def test_rotmat_matches_numpy_and_gaze_looks_forward_at_rest():
    from duet.frames import rotmat as np_rotmat

    aa = np.random.default_rng(0).normal(size=(10, 3)) * 0.7
    assert np.allclose(rotmat(torch.tensor(aa)).numpy(), np_rotmat(aa), atol=1e-6)
    raw = torch.zeros(1, SMALL.motion_dim, dtype=torch.float64)
    assert torch.allclose(gaze_direction(raw, SMALL.n_expr), torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64))
    raw[0, SMALL.n_expr + 9] = 0.3  # left eye looks down (positive X rotation)
    assert float(gaze_direction(raw, SMALL.n_expr)[0, 1]) < 0


def test_lip_jaw_dims_are_mouth_jaw_channels_and_the_jaw_joint():
    dims = lip_jaw_dims(SMALL)
    names = [SMALL.expr_names[i] for i in dims if i < SMALL.n_expr]
    assert "mouthClose" in names and "jawOpen" in names and "eyeBlinkLeft" not in names
    assert SMALL.n_expr + 6 in dims and SMALL.n_expr + 3 not in dims  # jaw joint, not the neck


def test_labels_per_frame():
    from duet.speech.conversation import TimedTurn

    turns = [TimedTurn("A", 0.0, 1.0, "hi", emotion="happy"), TimedTurn("B", 1.2, 2.0, "yo", emotion="sad")]
    ids = emotion_frames(turns, 75, ("neutral", "happy", "sad"))
    assert ids[0, 0] == 1 and ids[0, 74] == 1 and ids[1, 25] == 0 and ids[1, 40] == 2
    bil = bilabial_frames({"A": [(0.0, 0.1, "m"), (0.1, 0.3, "aa")], "B": []}, 10)
    assert bil[0].tolist() == [True] * 3 + [False] * 7  # frame times 0, 0.04, 0.08 s lie inside the m
    assert not bil[1].any()
    from duet.speech.phonemes import OPEN_VOWELS
    vowels = phone_class_frames({"A": [(0.0, 0.1, "m"), (0.1, 0.3, "aa"), (0.3, 0.31, "ah")]}, 10, OPEN_VOWELS)
    assert vowels[0].tolist() == [False] * 3 + [True] * 6 + [False]  # the 10 ms "ah" gets its nearest frame, 8
    short = phone_class_frames({"B": [(0.101, 0.105, "ae")]}, 10, OPEN_VOWELS)
    assert short[1].tolist() == [False] * 3 + [True] + [False] * 6  # too short for a frame: its nearest one


def test_closure_frames_weigh_more_and_stage2_sees_only_lips():
    tc = TrainConfig(model=SMALL)
    b, t, d = 1, 10, SMALL.motion_dim
    target = torch.zeros(b, 2, t, d)
    batch = {"speaking": torch.zeros(b, 2, t), "bilabial": torch.zeros(b, 2, t, dtype=torch.bool),
             "open_vowel": torch.zeros(b, 2, t, dtype=torch.bool), "busy_head": torch.zeros(b)}
    batch["speaking"][:, 0] = 1
    mouth = SMALL.expr_names.index("mouthClose")
    pred = target.clone()
    pred[0, 0, 3, mouth] = 1.0  # one wrong lip value of the speaker
    mean, std = torch.zeros(d), torch.ones(d)
    plain, _ = motion_loss(pred, target, batch, SMALL, tc, mean, std)
    batch["bilabial"][0, 0, 3] = True
    closure, _ = motion_loss(pred, target, batch, SMALL, tc, mean, std)
    assert float(closure) > 5 * float(plain)
    batch["bilabial"][0, 0, 3] = False
    batch["open_vowel"][0, 0, 3] = True
    opening, _ = motion_loss(pred, target, batch, SMALL, tc, mean, std)
    assert float(opening) > 2 * float(plain)
    batch["open_vowel"][0, 0, 3] = False
    brow = torch.zeros_like(pred)
    brow[0, 1, 3, SMALL.expr_names.index("browInnerUp")] = 1.0  # the listener's brow
    lips_only = torch.tensor([True])
    assert float(motion_loss(brow, target, batch, SMALL, tc, mean, std, lips_only)[0]) == 0.0
    assert float(motion_loss(brow, target, batch, SMALL, tc, mean, std)[0]) > 0.0
    leak = torch.zeros_like(pred)
    leak[0, 1, 3, mouth] = 1.0  # the listener's lips still count in lips-only windows
    assert float(motion_loss(leak, target, batch, SMALL, tc, mean, std, lips_only)[0]) > 0.0


def test_lip_gap_matches_the_evaluation_and_drives_the_loss():
    """The differentiable lip gap equals duet.eval's vertex lip gap on the real open heads (the
    training term measures what the metric measures), and a wrong jaw costs more than a right one."""
    from duet.eval import metrics as M
    from duet.eval.runner import face, head_frame_vertices
    from types import SimpleNamespace

    cfg = ModelConfig()  # the full 52 ARKit channels
    rng = np.random.default_rng(0)
    n, e = 12, cfg.n_expr
    raw = np.zeros((n, cfg.motion_dim))
    raw[:, :e] = rng.uniform(0, 0.6, size=(n, e))
    raw[:, e + 6] = rng.uniform(0, 0.35, size=n)        # jaw opens about X
    raw[:, e + 7: e + 9] = rng.normal(size=(n, 2)) * 0.03
    ours = lip_gap(torch.tensor(raw, dtype=torch.float64), cfg).numpy()
    theirs = {}
    for person in ("A", "B"):
        f = face(person)
        poses = {j: np.zeros((n, 3)) for j in ("global", "neck", "eye_L", "eye_R")}
        poses["jaw"] = raw[:, e + 6: e + 9]
        pm = SimpleNamespace(expr=raw[:, :e], poses=poses)
        theirs[person] = M.lip_gap(head_frame_vertices(f, pm, cfg.expr_names), f.upper_mid, f.lower_mid)
        assert np.allclose(ours, theirs[person], rtol=0.03, atol=1e-4)  # one proxy for both heads
    assert np.allclose(ours, (theirs["A"] + theirs["B"]) / 2, atol=1e-6)  # exactly the two heads' mean
    assert ours.std() > 1e-3  # the jaw and mouth channels really move the gap

    tc = TrainConfig(model=cfg)
    b, t, d = 1, 6, cfg.motion_dim
    batch = {"speaking": torch.ones(b, 2, t), "bilabial": torch.zeros(b, 2, t, dtype=torch.bool),
             "open_vowel": torch.zeros(b, 2, t, dtype=torch.bool), "busy_head": torch.zeros(b)}
    target = torch.zeros(b, 2, t, d)
    mean, std = torch.zeros(d), torch.ones(d)
    _, same = motion_loss(target.clone(), target, batch, cfg, tc, mean, std)
    opened = target.clone()
    opened[0, 0, 2, e + 6] = 0.3
    _, parts = motion_loss(opened, target, batch, cfg, tc, mean, std)
    assert same["gap"] == 0.0 and parts["gap"] > 1.0


def test_windows_swap_people_consistently():
    clip = _clip()
    stats = Stats.of([clip], SMALL.n_expr)
    w = Windows([clip], 40, stats, seed=0)
    batch = w.sample(16)
    assert batch["x"].shape == (16, 2, 40, SMALL.motion_dim)
    jaw = SMALL.n_expr + 6
    raw_jaw = batch["x"][..., jaw] * stats.std[jaw] + stats.mean[jaw]
    # jaw only ever moves for the person whose mask says speaking, whichever side they are on
    assert np.all((raw_jaw > 0.05) <= (batch["speaking"] > 0.5))
    assert np.allclose(batch["x"][:, :, 0, -3:], 0.0)  # translation deltas start at zero


def test_clip_pose_scale_measures_neck_motion_about_each_clips_own_turn():
    rng = np.random.default_rng(0)
    e, d = SMALL.n_expr, SMALL.motion_dim
    clips = []
    for turn in (-0.6, 0.0, 0.6):                       # three layouts: the neck turned by 0.6 rad or not
        x = rng.normal(0, 0.1, (100, 2, d)).astype(np.float32)
        x[..., e + 4] = turn + rng.normal(0, 0.03, (100, 2))  # neck yaw: the turn plus 0.03 rad of motion
        clips.append({"x": x})
    corpus, clip = Stats.of(clips, e), Stats.of(clips, e, pose_scale="clip")
    assert corpus.std[e + 4] == pytest.approx(0.49, abs=0.03)
    assert clip.std[e + 4] == pytest.approx(0.03, abs=0.005)
    assert clip.std[e + 1] == pytest.approx(corpus.std[e + 1])   # the body's rotation keeps the corpus std
    assert np.array_equal(clip.std[:e], corpus.std[:e]) and np.array_equal(clip.mean, corpus.mean)
    with pytest.raises(ValueError):
        Stats.of(clips, e, pose_scale="window")


def test_voice_augment_moves_formants_and_pitch_but_not_timing():
    from duet.audio.features import N_MELS
    from duet.train.dataset import _mel_centres_hz, voice_augment

    n = 30
    audio = np.full((n, 2 * N_MELS + 5), -0.5, np.float32)
    peak = 30
    audio[:, [peak, N_MELS + peak]] = 0.5  # one formant-like band in both halves
    audio[:, 2 * N_MELS:] = 0.0
    audio[:, 2 * N_MELS] = np.linspace(-1, 1, n)  # energy
    audio[10:20, 2 * N_MELS + 4] = 1.0  # voiced frames ...
    audio[10:20, 2 * N_MELS + 2] = 0.25  # ... with log2(f0 / 150)
    centres = _mel_centres_hz()
    seen = set()
    for seed in range(20):
        rng = np.random.default_rng(seed)
        out = voice_augment(audio, rng, tilt=0.0)
        again = voice_augment(audio, np.random.default_rng(seed), tilt=0.0)
        assert np.array_equal(out, again)  # seeded
        alpha = 1 + np.random.default_rng(seed).uniform(-0.12, 0.12)
        moved = int(np.argmax(out[0, :N_MELS]))
        assert abs(centres[moved] - alpha * centres[peak]) <= np.diff(centres)[moved - 1 : moved + 1].max()
        assert np.array_equal(out[:, :N_MELS], out[:, N_MELS: 2 * N_MELS])  # both halves alike
        shift = out[10:20, 2 * N_MELS + 2] - 0.25
        assert np.allclose(shift, shift[0]) and abs(shift[0]) <= 0.3
        assert np.all(out[:10, 2 * N_MELS + 2] == 0) and np.all(out[20:, 2 * N_MELS + 2] == 0)  # unvoiced stay 0
        assert np.array_equal(out[:, 2 * N_MELS:2 * N_MELS + 2], audio[:, 2 * N_MELS:2 * N_MELS + 2])
        assert np.array_equal(out[:, -1], audio[:, -1])
        seen.add(moved)
    assert len(seen) >= 3  # the formant lands in different bands for different voices


def test_band_mask_hides_the_same_bands_in_both_halves_and_nothing_else():
    from duet.audio.features import N_MELS
    from duet.train.dataset import band_mask

    audio = np.random.default_rng(0).normal(size=(12, 2 * N_MELS + 5)).astype(np.float32)
    for seed in range(10):
        out = band_mask(audio, np.random.default_rng(seed), 2, width=8)
        changed = np.flatnonzero((out != audio).any(0))
        first = changed[changed < N_MELS]
        assert np.array_equal(changed[changed >= N_MELS], first + N_MELS)
        assert first.size <= 16 and np.all(changed < 2 * N_MELS)  # pitch, energy, voicing untouched
        for band in first:  # a masked band holds the frame's mean level
            assert np.allclose(out[:, band], audio[:, :N_MELS].mean(1))
    assert np.array_equal(band_mask(audio, np.random.default_rng(0), 0), audio)


def test_windows_augment_only_the_asked_fraction():
    clip = _clip()
    clip["audio"][:, 1:] = np.linspace(-1, 1, SMALL.audio_dim - 1)  # a spectrum that warping changes
    stats = Stats.of([clip], SMALL.n_expr)
    plain = Windows([clip], 40, stats, seed=0).sample(32)
    assert all(any(np.array_equal(a, clip["audio"][s: s + 40]) for s in range(81)) for a in plain["audio"])
    mixed = Windows([clip], 40, stats, seed=0, augment=0.5).sample(64)
    changed = sum(not any(np.array_equal(a, clip["audio"][s: s + 40]) for s in range(81)) for a in mixed["audio"])
    assert 16 <= changed <= 48
    assert np.array_equal(plain["x"], Windows([clip], 40, stats, seed=0).sample(32)["x"])


def test_pose_jitter_turns_each_neck_by_a_constant_and_the_eyes_back():
    clip = _clip(n=40, seed=3)
    stats = Stats.of([clip], SMALL.n_expr)
    e = SMALL.n_expr
    plain = (clip["x"] - stats.mean) / stats.std  # [T, 2, D]: one window covers the whole clip
    w = Windows([clip], 40, stats, seed=0, pose_jitter=0.05)
    turns = []
    for _ in range(20):
        out = w.window(clip, 0.0)["x"].transpose(1, 0, 2)  # back to [T, 2, D]
        if not np.allclose(out[:, 0, :e], plain[:, 0, :e]):
            out = out[:, ::-1]  # the window swapped the people
        diff = (out - plain) * stats.std
        moved = np.zeros(SMALL.motion_dim, bool)
        moved[[e + 3, e + 4, e + 9, e + 10, e + 12, e + 13]] = True
        assert np.allclose(diff[..., ~moved], 0, atol=1e-5)  # nothing else changes
        assert np.allclose(diff[..., moved], diff[:1, :, moved], atol=1e-5)  # one constant per window
        assert np.allclose(diff[0, :, [e + 9, e + 10]], -diff[0, :, [e + 3, e + 4]], atol=1e-5)
        assert np.allclose(diff[0, :, [e + 12, e + 13]], -diff[0, :, [e + 3, e + 4]], atol=1e-5)
        turns.append(diff[0, :, e + 3: e + 5])
    turns = np.array(turns)  # [20, person, (pitch, yaw)]
    assert 0.02 < turns.std() < 0.09 and not np.allclose(turns[:, 0], turns[:, 1])  # each person their own


def test_loss_falls_on_a_tiny_overfit_set():
    torch.manual_seed(0)
    clip = _clip()
    stats = Stats.of([clip], SMALL.n_expr)
    w = Windows([clip], 40, stats, seed=0)
    tc = TrainConfig(model=SMALL, cond_drop=0.0)
    net = DualStreamUNet(SMALL)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    mean, std = torch.from_numpy(stats.mean), torch.from_numpy(stats.std)
    fixed = to_torch(w.sample(8))
    losses = []
    for _ in range(60):
        loss, _ = train_step(net, fixed, tc, mean, std, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])


def test_duet_train_rejects_a_missing_corpus(tmp_path, capsys):
    from duet.cli import main

    assert main(["train", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a Duet corpus" in err[0]
    assert not (tmp_path / "t").exists()
    (tmp_path / "manifest.json").write_text("{}")
    assert main(["train", "--corpus", str(tmp_path), "--augment", "1.5", "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--augment" in err[0]
    assert not (tmp_path / "t").exists()
    assert main(["train", "--corpus", str(tmp_path), "--dropout", "1", "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dropout" in err[0]
    assert not (tmp_path / "t").exists()
    assert main(["train", "--corpus", str(tmp_path), "--pose-jitter", "2", "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--pose-jitter" in err[0]
    assert not (tmp_path / "t").exists()
    assert main(["train", "--corpus", str(tmp_path), "--head-share", "0.75", "1.5", "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--head-share" in err[0]
    assert main(["train", "--corpus", str(tmp_path), "--head-share", "0.75", "0.6", "--pose-jitter", "0.05",
                 "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--pose-jitter" in err[0] and "--head-share" in err[0]
    assert not (tmp_path / "t").exists()
    assert main(["train", "--corpus", str(tmp_path), "--partner-input", "--no-cross-attention",
                 "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--partner-input" in err[0]
    assert not (tmp_path / "t").exists()
    for flags, named in ((["--partner-drop", "0.5", "--no-cross-attention"], "--partner-drop"),
                         (["--coarse-cross-attention", "--no-cross-attention"], "--coarse-cross-attention"),
                         (["--partner-drop", "1"], "--partner-drop")):
        assert main(["train", "--corpus", str(tmp_path), *flags, "--out", str(tmp_path / "t")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and named in err[0]
        assert not (tmp_path / "t").exists()


@pytest.mark.slow
def test_training_resumes_from_its_checkpoint(tmp_path):
    from duet.corpus.build import synth
    from duet.model import bundle
    from duet.train.loop import train

    corpus = tmp_path / "corpus"
    synth(corpus, hours=0.03, seed=11, workers=1)
    small = dict(channels=(16, 32), cond_dim=16, role_dim=4, emotion_dim=4, relation_dim=2, heads=2)
    tc = TrainConfig(corpus=str(corpus), out=str(tmp_path / "run"), batch=2, stage1_steps=2, stage2_steps=1,
                     ckpt_every=1, keep_every=2, log_every=1, model=ModelConfig(**small))
    first = torch.load(train(tc, log=lambda *_: None).parent / "last.pt", weights_only=False)
    assert first["step"] == 3
    more = TrainConfig(**{**tc.__dict__, "stage2_steps": 3, "model": ModelConfig(**small)})
    lines = []
    train(more, log=lines.append)
    assert any("resumed" in line and "step 3" in line for line in lines)
    again = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert again["step"] == 5
    assert not torch.equal(first["net"]["out.weight"], again["net"]["out.weight"])
    b = bundle.load(tmp_path / "run" / "model.pt")
    assert b.cfg.channels == (16, 32) and b.meta["steps"] == 5
    snaps = sorted(p.name for p in (tmp_path / "run" / "snapshots").glob("*.pt"))
    assert snaps == ["model-2.pt", "model-4.pt"]  # every keep_every steps, to choose one on val
    assert bundle.load(tmp_path / "run" / "snapshots" / "model-4.pt").meta["steps"] == 4


def test_ship_writes_fp16_weights_with_the_sampling_scales(tmp_path, monkeypatch):
    import argparse

    from duet.cli import train as cli_train
    from duet.errors import DuetError
    from duet.model import bundle

    d = SMALL.motion_dim
    src = bundle.save(tmp_path / "model.pt", DualStreamUNet(SMALL), SMALL, np.zeros(d), np.ones(d),
                      {"id": "run-7"}, half=False)
    monkeypatch.setattr(bundle, "WEIGHTS_DIR", tmp_path / "weights")
    (tmp_path / "weights").mkdir()
    p = argparse.ArgumentParser()
    cli_train.add_arguments(p)
    args = p.parse_args(["--ship", str(src), "--name", "duet-x", "--guidance", "4", "--pose-guidance", "1"])
    assert cli_train.run(args) == 0
    shipped = bundle.load(tmp_path / "weights" / "duet-x.pt")
    assert (shipped.cfg.guidance, shipped.cfg.guidance_listen, shipped.cfg.guidance_pose) == (4.0, 1.0, 1.0)
    assert shipped.model_id == "duet-x"
    with pytest.raises(DuetError, match="go with --ship"):
        cli_train.run(p.parse_args(["--pose-guidance", "1"]))
    with pytest.raises(DuetError, match="between 0 and 20"):
        cli_train.run(p.parse_args(["--ship", str(src), "--guidance", "-1"]))
