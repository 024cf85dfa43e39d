"""Training: losses, a tiny overfit run whose loss must fall, windows, and resume from a checkpoint."""

import numpy as np
import pytest

import torch  # noqa: E402

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
    return {"x": x, "audio": audio, "masks": masks, "masks_pred": masks,
            "layout": np.zeros((n, 2, SMALL.layout_dim), np.float32),
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
    stats = Stats.of([clip])
    w = Windows([clip], 40, stats, seed=0)
    batch = w.sample(16)
    assert batch["x"].shape == (16, 2, 40, SMALL.motion_dim)
    jaw = SMALL.n_expr + 6
    raw_jaw = batch["x"][..., jaw] * stats.std[jaw] + stats.mean[jaw]
    # jaw only ever moves for the person whose mask says speaking, whichever side they are on
    assert np.all((raw_jaw > 0.05) <= (batch["speaking"] > 0.5))
    assert np.allclose(batch["x"][:, :, 0, -3:], 0.0)  # translation deltas start at zero


def test_recorded_clips_train_on_their_exact_masks_only():
    """Half the windows of a synthetic clip carry the diarized masks (the paper's imperfect masks); a
    recorded clip's never do: its alike voices are heard as one, which would teach ignoring the masks."""
    clip = _clip()
    clip["masks_pred"] = np.zeros_like(clip["masks"])  # a diarizer that heard nobody
    stats = Stats.of([clip])
    for cid, diarized in (("c000001", True), ("r000001", False)):
        batch = Windows([{**clip, "id": cid}], 40, stats, seed=0).sample(64)
        silent = batch["masks"].sum((1, 2)) == 0
        assert silent.any() == diarized and (~silent).any()


def test_an_unequal_relations_senior_swaps_with_the_people():
    from duet.emotion.labels import SENIOR_B, swapped_relations
    from duet.train.dataset import vocabularies

    assert vocabularies()[1] == ("unknown", "blood-equal", "blood-unequal", "nonblood-equal", "nonblood-unequal")
    _, relations = vocabularies(swap_senior=True)
    swap = swapped_relations(relations)
    for i, r in enumerate(relations):
        assert swap[swap[i]] == i                                       # swapping twice is the identity
        assert (swap[i] != i) == ("unequal" in r)                       # only an unequal relation changes
    boss = relations.index("nonblood-unequal")
    assert relations[swap[boss]] == "nonblood-unequal" + SENIOR_B
    clip = {**_clip(), "relation": np.int64(boss)}
    clip["layout"][:, 1] = 1.0  # marks the clip's B, wherever a window puts them
    w = Windows([clip], 40, Stats.of([clip]), seed=0, relations=relations)
    batch = w.sample(32)
    swapped = batch["layout"][:, 0, 0] == 1.0  # the clip's B is now the window's A: B is the senior
    assert 0 < swapped.sum() < 32
    assert np.all(batch["relation"][swapped] == swap[boss]) and np.all(batch["relation"][~swapped] == boss)


def test_windows_draw_a_relation_variant_with_its_own_motion():
    """With relation variants each window takes one variant's motion and that variant's relation."""
    clip = _clip()
    clip["x_variants"] = np.stack([clip["x"] + k for k in range(3)])  # variant k: every value + k
    clip["relation_variants"] = np.array([3, 1, 2], np.int64)
    stats = Stats(np.zeros(SMALL.motion_dim, np.float32), np.ones(SMALL.motion_dim, np.float32))
    batch = Windows([clip], 40, stats, seed=0).sample(64)
    k = np.rint(batch["x"][:, 0, 0, 5]).astype(int)  # an expression channel: the base clip's is ~0
    assert set(k) == {0, 1, 2}
    assert np.array_equal(batch["relation"], clip["relation_variants"][k])


def test_training_hears_the_layout_as_duet_generate_does():
    # a couch: bodies side by side, heads turned to each other. Training must read the same layout
    # numbers from the clip that `duet generate` makes from the user's layout, every frame alike,
    # whatever the heads do, and they must say how far each body is turned from the partner
    from types import SimpleNamespace

    from duet.corpus.animator import animate
    from duet.model.packing import layout_features
    from duet.speech.conversation import TimedTurn, Timings
    from duet.train.dataset import prepare

    phones = {"A": [(0.1, 0.3, "m"), (0.3, 0.9, "aa")], "B": [(1.2, 1.5, "ow"), (1.5, 2.2, "b")]}
    timings = Timings(duration=3.0, turns=[TimedTurn("A", 0.1, 0.9, "ma"), TimedTurn("B", 1.2, 2.2, "ob")],
                      phonemes=phones)
    layout = {"A": [-0.35, 1.15, 0.0], "B": [0.35, 1.2, 0.0], "yaw": {"A": 0.1, "B": -0.2}}
    motion = animate(timings, layout, seed=3)
    n = 75
    masks = np.zeros((2, n), np.float32)
    masks[0, 2:23], masks[1, 30:55] = 1, 1
    mix = np.random.default_rng(0).normal(scale=0.05, size=3 * 16000).astype(np.float32)
    clip = SimpleNamespace(motion=motion, mix=mix, masks=masks, phonemes=phones, turns=timings.turns,
                           relation="unknown")
    item = prepare(clip, SMALL)
    expected = layout_features({p: layout[p] for p in "AB"}, layout["yaw"], body=True)
    assert item["layout"].shape[1:] == (2, 6)
    assert np.all(item["layout"] == item["layout"][0])
    assert np.allclose(item["layout"][0], expected, atol=0.03)  # the animator's slow drift starts at once
    assert abs(item["layout"][0, 0, 4]) > 0.9 and abs(item["layout"][0, 1, 4]) > 0.9  # turned ~80 degrees


def test_loss_falls_on_a_tiny_overfit_set():
    torch.manual_seed(0)
    clip = _clip()
    stats = Stats.of([clip])
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


@pytest.mark.slow
def test_training_resumes_from_its_checkpoint(tmp_path):
    from duet.corpus.build import synth
    from duet.errors import DuetError
    from duet.model import bundle
    from duet.train.loop import train

    corpus = tmp_path / "corpus"
    synth(corpus, hours=0.03, seed=11, workers=1)
    small = dict(channels=(16, 32), cond_dim=16, role_dim=4, emotion_dim=4, relation_dim=2, heads=2)
    tc = TrainConfig(corpus=str(corpus), out=str(tmp_path / "run"), batch=2, stage1_steps=2, stage2_steps=1,
                     ckpt_every=1, keep_every=2, log_every=1, model=ModelConfig(**small))
    tc.stage2_steps = 3

    def stop_at_step_4(line):  # logged before step 4's checkpoint: the run stops with step 3 saved
        if line.startswith("step 4/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tc, log=stop_at_step_4)
    first = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert first["step"] == 3
    changed = TrainConfig(**{**tc.__dict__, "lr": 5e-4, "stage2_steps": 4, "model": ModelConfig(**small)})
    with pytest.raises(DuetError, match=r"stage2_steps, lr differ|lr, stage2_steps differ"):
        train(changed, log=lambda *_: None)
    lines = []
    train(TrainConfig(**{**tc.__dict__, "threads": 2, "model": ModelConfig(**small)}), log=lines.append)
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
    args = p.parse_args(["--ship", str(src), "--name", "duet-x", "--guidance", "4", "1", "1",
                         "--gaze-guidance", "9", "6", "--head-guidance", "4", "6", "--expression-guidance", "4", "10",
                         "--blink-guidance", "3", "2", "--mouth-power", "0.7"])
    assert cli_train.run(args) == 0
    shipped = bundle.load(tmp_path / "weights" / "duet-x.pt")
    assert (shipped.cfg.guidance, shipped.cfg.guidance_listen, shipped.cfg.guidance_pose) == (4.0, 1.0, 1.0)
    assert shipped.cfg.guidance_gaze == (9.0, 6.0)
    assert shipped.cfg.guidance_head == (4.0, 6.0) and shipped.cfg.guidance_expression == (4.0, 10.0)
    assert shipped.cfg.guidance_blink == (3.0, 2.0) and shipped.cfg.mouth_power == 0.7
    assert shipped.model_id == "duet-x"
    from duet.model import exported  # exported beside it for the runtime, with the same scales

    assert exported.load(tmp_path / "weights" / "duet-x.onnx").cfg == shipped.cfg
    with pytest.raises(DuetError, match="only with --ship"):
        cli_train.run(p.parse_args(["--guidance", "1", "1", "1"]))
    with pytest.raises(DuetError, match="between 0 and 20"):
        cli_train.run(p.parse_args(["--ship", str(src), "--guidance", "4", "-1", "1"]))
    with pytest.raises(DuetError, match="--gaze-guidance 9 21: use scales between 0 and 20"):
        cli_train.run(p.parse_args(["--ship", str(src), "--gaze-guidance", "9", "21"]))
    with pytest.raises(DuetError, match="--mouth-power 0.1: use a power between 0.25 and 4"):
        cli_train.run(p.parse_args(["--ship", str(src), "--mouth-power", "0.1"]))


@pytest.mark.parametrize("flags, says", [
    (["--corpus", "{tmp}/nope"], "not a Duet corpus"),
    (["--steps", "-1"], "--steps and --stage2-steps must be >= 0"),
    (["--batch", "0"], "--batch >= 1"),
    (["--config", "{tmp}/missing.toml"], "not a readable TOML or JSON training config"),
    (["--config", "{tmp}/typo.toml"], "unknown training config fields: lr_max, model.chanels"),
    (["--config", "{tmp}/list.json"], "a training config is a table of fields"),
    (["--guidance", "1", "1", "1"], "--guidance: only with --ship"),
    (["--gaze-guidance", "9", "6", "--head-guidance", "5", "7"], "--gaze-guidance, --head-guidance: only with --ship"),
    (["--voiceprint", "--batch", "4"], "--batch: not an option of --voiceprint"),
])
def test_duet_train_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys, flags, says):
    from duet.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text("{}")
    (tmp_path / "typo.toml").write_text("lr_max = 0.1\n[model]\nchanels = [8, 16]\n")
    (tmp_path / "list.json").write_text("[1, 2]")
    args = [a.replace("{tmp}", str(tmp_path)) for a in flags]
    if "--corpus" not in args:
        args = ["--corpus", str(corpus), *args]
    assert main(["train", *args, "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
    assert not (tmp_path / "t").exists()


def test_a_toml_config_sets_the_run_and_options_override_it(tmp_path):
    import argparse

    from duet.cli import train as cli_train

    (tmp_path / "run.toml").write_text('corpus = "c"\nstage1_steps = 7\nbatch = 3\n[model]\nchannels = [8, 16]\n')
    p = argparse.ArgumentParser()
    cli_train.add_arguments(p)
    tc = cli_train.train_config(p.parse_args(["--config", str(tmp_path / "run.toml"), "--batch", "5"]))
    assert (tc.corpus, tc.stage1_steps, tc.batch, tc.model.channels) == ("c", 7, 5, (8, 16))
    (tmp_path / "config.json").write_text(__import__("json").dumps(tc.to_dict()))
    assert TrainConfig.load(tmp_path / "config.json").differences(tc) == []

