"""The torch-free runtime: ONNX exports agree with the torch networks, the noise is torch's, the
generated motion is the torch path's, and `import duet` / `duet generate` never import torch."""

import subprocess
import sys

import numpy as np
import pytest

import torch  # noqa: E402

from conftest import espeak  # noqa: E402
from duet.errors import DuetError  # noqa: E402
from duet import runtime  # noqa: E402
from duet.model import bundle, exported, infer  # noqa: E402
from duet.motion import DyadicMotion  # noqa: E402
from model_support import SMALL, one_torch_thread  # noqa: E402,F401

SHIPPED = ("duet-dual", "duet-single")


def _inputs(cfg, n: int, t: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    f32 = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    return (f32(n, 2, t, cfg.motion_dim), f32(n) * 5, f32(n, t, cfg.audio_dim),
            (rng.random((n, 2, t)) < 0.5).astype(np.float32), f32(n, 2, cfg.layout_dim),
            rng.integers(0, len(cfg.emotions), (n, 2, t)), rng.integers(0, len(cfg.relations), n),
            rng.random(n) < 0.5)


@pytest.mark.parametrize("seed,shape", [(0, (9, 2, 200, 70)), (3, (1, 2, 34, 70)), (12345, (2, 3, 5, 7)),
                                        (2 ** 32 + 7, (17,))])
def test_torch_normal_is_torchs_noise_for_the_seed(seed, shape):
    want = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).numpy()
    got = runtime.torch_normal(seed, shape)
    assert got.dtype == np.float32 and got.shape == shape
    assert np.abs(got - want).max() < 1e-5
    assert abs(float(got.std()) - 1) < 0.3  # normals, not uniforms


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_onnx_denoiser_agrees_with_torch_on_fixed_noise(name):
    onnx_b = exported.load(exported.WEIGHTS_DIR / f"{name}.onnx")
    torch_b = bundle.load(exported.WEIGHTS_DIR / f"{name}.pt")
    assert onnx_b.cfg == torch_b.cfg and onnx_b.model_id == torch_b.model_id == name
    assert np.array_equal(onnx_b.mean, torch_b.mean) and np.array_equal(onnx_b.std, torch_b.std)
    with onnx_b.denoiser(1) as net_onnx, torch_b.denoiser(1) as net_torch:
        for n, t, seed in ((3, 200, 0), (2, 34, 1), (1, 2, 2)):  # time and batch are symbolic in the graphs
            x, lsnr, *cond = _inputs(onnx_b.cfg, n, t, seed)
            c_onnx, c_torch = net_onnx.conditioning(*cond), net_torch.conditioning(*cond)
            assert c_onnx.shape == (2 * n, onnx_b.cfg.cond_dim, t) and np.abs(c_onnx - c_torch).max() < 1e-4
            a, b = net_onnx.denoise(x, lsnr, c_onnx), net_torch.denoise(x, lsnr, c_torch)
            assert a.shape == (n, 2, t, onnx_b.cfg.motion_dim)
            assert np.abs(a - b).max() < 1e-4
            assert np.abs(b).max() > 0.1  # a real answer, not zeros on both sides
            with torch.inference_mode():  # the two calls are the network's forward
                whole = torch_b.net(*map(torch.from_numpy, (x, lsnr, *cond))).numpy()
            assert np.abs(whole - b).max() < 1e-6


def test_onnx_denoiser_in_pieces_on_threads_gives_the_numbers_of_one_call():
    b = exported.load()
    n, t = 11, 40  # pieces of 3, 4 and 4 (exported.PIECE at most), on one thread and on two
    x, lsnr, *cond = _inputs(b.cfg, n, t, 5)
    whole = runtime.session(str(b.path), b.path.stat().st_mtime_ns, 1)
    with b.denoiser(1) as net:
        c = net.conditioning(*cond)
        want = whole.run(None, {"x": x, "lsnr": lsnr, "c": c})[0]
        one = net.denoise(x, lsnr, c)
    with b.denoiser(2) as net:
        two = net.denoise(x, lsnr, c)
        single = net.denoise(x[:1], lsnr[:1], c[[0, n]])
    assert np.abs(want).max() > 0.1 and np.array_equal(one, want) and np.array_equal(two, want)
    assert np.array_equal(single, want[:1])


def _clip(conversation):
    from duet.audio.io import load_audio

    return load_audio(conversation.mix).mono[None]


@pytest.mark.parametrize("name", SHIPPED)
def test_generated_motion_matches_the_torch_path_on_a_test_clip(conversation, name):
    audio = _clip(conversation)
    layout = {"A": [-0.45, 1.6, 0.1], "B": [0.45, 1.55, -0.1]}
    kw = dict(layout=layout, seed=7, emotion="happy", relation="nonblood-equal")
    got = infer.generate(audio, weights=exported.WEIGHTS_DIR / f"{name}.onnx", **kw)
    want = infer.generate(audio, weights=exported.WEIGHTS_DIR / f"{name}.pt", **kw)
    assert got.n_frames == want.n_frames == int(conversation.seconds * 25)
    assert got.meta == want.meta
    for p in "AB":
        g, w = got.person(p), want.person(p)
        assert np.array_equal(g.speaking, w.speaking)
        assert np.abs(g.expr - w.expr).max() < 1e-3
        assert np.abs(g.transl - w.transl).max() < 1e-3
        for j in g.poses:
            assert np.abs(g.poses[j] - w.poses[j]).max() < 1e-3
    assert got.A.poses["jaw"].std() > 0.01  # the speaker's jaw moves: a real animation was compared


def test_emotion_at_an_intensity_agrees_between_onnx_and_torch(conversation):
    """Intensity blends the conditioning of four passes (duet.model.infer.emotion_conditioning) the same
    way on both runtimes: the conditioning within 1e-4, the motion within 1e-3."""
    onnx_b = exported.load(exported.WEIGHTS_DIR / "duet-dual.onnx")
    torch_b = bundle.load(exported.WEIGHTS_DIR / "duet-dual.pt")
    _, _, *cond = _inputs(onnx_b.cfg, 2, 34, 4)
    w = np.random.default_rng(4).uniform(0, 2, (2, 2, 34)).astype(np.float32)
    w[0, :, :10] = 1.0  # some frames as trained, where the blend must give the plain conditioning
    with onnx_b.denoiser(1) as net_onnx, torch_b.denoiser(1) as net_torch:
        c_onnx = infer.emotion_conditioning(net_onnx, *cond, w)
        c_torch = infer.emotion_conditioning(net_torch, *cond, w)
        plain = net_onnx.conditioning(*cond)
    assert np.abs(c_onnx - c_torch).max() < 1e-4
    assert np.array_equal(c_onnx[[0, 2], :, :10], plain[[0, 2], :, :10])  # both people at 1 there
    assert np.abs(c_onnx - plain).max() > 0.1  # elsewhere the intensity changed it
    audio = _clip(conversation)
    kw = dict(layout={"A": [-0.45, 1.6, 0.1], "B": [0.45, 1.55, -0.1]}, seed=7,
              emotion={"A": {"emotion": "happy", "intensity": 0.4}, "B": {"emotion": "angry", "intensity": 1.7}})
    got = infer.generate(audio, weights=exported.WEIGHTS_DIR / "duet-dual.onnx", **kw)
    want = infer.generate(audio, weights=exported.WEIGHTS_DIR / "duet-dual.pt", **kw)
    assert got.meta == want.meta and got.meta["emotion_intensity"] == {"A": 0.4, "B": 1.7}
    for p in "AB":
        assert np.abs(got.person(p).expr - want.person(p).expr).max() < 1e-3
        for j in got.person(p).poses:
            assert np.abs(got.person(p).poses[j] - want.person(p).poses[j]).max() < 1e-3
    plain = infer.generate(audio, weights=exported.WEIGHTS_DIR / "duet-dual.onnx", **{**kw, "emotion": None})
    assert np.abs(got.A.expr - plain.A.expr).max() > 0.05  # the emotion made a difference that was compared


def test_shipped_voiceprint_onnx_agrees_with_torch(tmp_path):
    from duet.audio import voiceprint

    x = espeak("Maybe we should buy a bigger map before the trip, don't you think?", "en-us+f4", tmp_path / "a.wav")
    got = voiceprint.embed(x)
    want = voiceprint.embed(x, weights=voiceprint.WEIGHTS)
    assert got.shape == want.shape == (len(x) // 640, voiceprint.DIM)
    assert np.abs(got - want).max() < 1e-4
    with pytest.raises(DuetError, match="no voice-print network"):
        voiceprint.embed(x, weights=tmp_path / "none.onnx")


def test_export_writes_a_bundle_the_runtime_samples_like_torch(tmp_path):
    import dataclasses

    from duet.model.export import export_model
    from duet.train.dataset import vocabularies

    torch.manual_seed(0)
    from duet.model.network import DualStreamUNet

    cfg = dataclasses.replace(SMALL, relations=vocabularies(swap_senior=True)[1])  # each stream's side too
    net = DualStreamUNet(cfg)
    with torch.no_grad():  # zero-initialized layers would hide a missing part: perturb everything
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    mean = np.linspace(-0.1, 0.1, cfg.motion_dim)
    src = bundle.save(tmp_path / "tiny.pt", net.eval(), cfg, mean, np.full(cfg.motion_dim, 0.2),
                      {"id": "tiny"})
    dst = export_model(src)
    assert dst == tmp_path / "tiny.onnx" and (tmp_path / "tiny-conditioning.onnx").is_file()
    b = exported.load(dst)
    assert b.cfg == cfg and b.model_id == "tiny" and np.allclose(b.mean, mean)
    audio = (np.random.default_rng(0).normal(size=(1, 16000 * 3)) * 0.05).astype(np.float32)
    masks = np.zeros((2, 75), np.float32)
    masks[0, :40], masks[1, 45:] = 1, 1
    kw = dict(layout={"A": [-0.4, 1.6, 0.0], "B": [0.4, 1.6, 0.0]}, masks=masks, seed=3, emotion="happy",
              relation="nonblood-unequal")
    got, want = infer.generate(audio, weights=dst, **kw), infer.generate(audio, weights=src, **kw)
    assert got.n_frames == 75  # three 40-frame windows: batch 3, doubled for guidance
    assert np.abs(got.A.expr - want.A.expr).max() < 1e-4
    assert np.abs(got.B.poses["neck"] - want.B.poses["neck"]).max() < 1e-4


def test_bad_onnx_files_get_one_clear_error(tmp_path):
    import shutil

    with pytest.raises(DuetError, match="no model weights"):
        exported.load(tmp_path / "missing.onnx")
    shutil.copy(exported.SHIPPED, tmp_path / "alone.onnx")  # without its conditioning encoder
    with pytest.raises(DuetError, match="no model weights"):
        exported.load(tmp_path / "alone.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    (tmp_path / "junk-conditioning.onnx").write_bytes(b"")
    with pytest.raises(DuetError, match="not an ONNX model"):
        exported.load(junk)
    for name in ("nocard.onnx", "nocard-conditioning.onnx"):  # real ONNX graphs, but no model card
        shutil.copy(exported.conditioning_path(exported.SHIPPED), tmp_path / name)
    with pytest.raises(DuetError, match="without a Duet model card"):
        exported.load(tmp_path / "nocard.onnx")


def test_import_duet_and_duet_generate_never_import_torch(conversation, tmp_path):
    out = tmp_path / "m.npz"
    code = ("import sys\n"
            "import duet\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'torch')\n"
            "from duet.cli import main\n"
            f"rc = main(['generate', {str(conversation.mix)!r}, '--prompt', 'two friends arguing across a "
            f"kitchen table', '-o', {str(out)!r}])\n"
            "loaded += sorted(m for m in sys.modules if m.split('.')[0] == 'torch')\n"
            "print(rc, len([m for m in sys.modules if m.startswith('onnxruntime')]) > 0, loaded)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0", "True", "[]"]
    motion = DyadicMotion.load(out)
    assert motion.meta["model"] == "duet-dual" and motion.meta["layout_source"] != "default"
    assert motion.n_frames == int(conversation.seconds * 25)


def _python313() -> str | None:
    """A Python 3.13 interpreter: on PATH, or under pyenv's versions (whose shim may not select it)."""
    import glob
    import os
    import shutil

    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for cand in [shutil.which("python3.13"), *sorted(glob.glob(f"{root}/versions/3.13*/bin/python3.13"))]:
        if cand and subprocess.run([cand, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"],
                                   capture_output=True).returncode == 0:
            return cand
    return None


PIP = ("-m", "pip", "--disable-pip-version-check", "-q")


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def wheel_313(tmp_path_factory):
    """(the engine's wheel built from this checkout, a Python 3.13 interpreter)."""
    from conftest import ROOT

    py313 = _python313()
    if py313 is None:
        pytest.skip("no Python 3.13 here (this machine's pyenv has one)")
    dist = tmp_path_factory.mktemp("dist")
    built = _run(sys.executable, *PIP, "wheel", "--no-deps", "-w", str(dist), str(ROOT))
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("duet-*.whl")
    return wheel, py313


def _venv(py313: str, folder, *packages) -> str:
    """A fresh venv of ``py313`` in ``folder`` with ``packages`` pip-installed (from PyPI); its python."""
    assert _run(py313, "-m", "venv", str(folder)).returncode == 0
    py = str(folder / "bin" / "python")
    installed = _run(py, *PIP, "install", *map(str, packages))
    assert installed.returncode == 0, installed.stderr
    return py


@pytest.mark.slow
def test_the_built_wheel_installs_on_python_313_without_torch_and_generates(conversation, tmp_path, wheel_313):
    """pip install of the wheel into a fresh Python 3.13 venv (wheels from PyPI): no torch, and
    `duet generate` animates a conversation there."""
    wheel, py313 = wheel_313
    venv = tmp_path / "venv"
    py = _venv(py313, venv, wheel)
    listed = _run(py, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check").stdout
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert "onnxruntime" in names and "duet" in names
    assert not {n for n in names if n.startswith(("torch", "nvidia"))}
    version = _run(py, "-c", "import sys; print(sys.version_info[:2])").stdout.strip()
    assert version == "(3, 13)"
    refused = _run(py, "-c", "from duet.model import bundle\ntry:\n bundle.load()\n"
                              "except Exception as e:\n print(type(e).__name__, e)")
    assert refused.stdout.startswith("DuetError") and "needs torch" in refused.stdout  # .pt: one clear line
    no_export = _run(str(venv / "bin" / "duet"), "model", "export")
    assert no_export.returncode == 1 and "pip install 'duet[train]'" in no_export.stderr
    out = tmp_path / "m.npz"
    gen = _run(str(venv / "bin" / "duet"), "generate", str(conversation.mix), "--prompt",
              "two friends arguing across a kitchen table", "-o", str(out))
    assert gen.returncode == 0, gen.stderr
    motion = DyadicMotion.load(out)
    assert motion.n_frames == int(conversation.seconds * 25) and motion.meta["model"] == "duet-dual"
    want = infer.generate(_clip(conversation), layout=motion.meta["layout"], seed=0,
                          emotion=motion.meta.get("emotion"), relation=motion.meta.get("relation"))
    assert np.abs(motion.A.expr - want.A.expr).max() < 1e-3  # numpy 2 and ORT there: the same animation


def test_install_engine_installs_no_torch(tmp_path):
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("engine_setup", ROOT / "addon" / "engine_setup.py")
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)
    commands = setup.install_commands(str(tmp_path / "env"), str(ROOT), base_python="/usr/bin/python3.13")
    assert commands[0] == ["/usr/bin/python3.13", "-m", "venv", str(tmp_path / "env")]
    assert commands[-1][-1] == f"{ROOT}[serve]"  # a checkout: the engine and the service's extra
    assert not [a for c in commands for a in c if "torch" in a or "download.pytorch" in a]
    wheel = str(tmp_path / "duet-0.1.0-py3-none-any.whl")
    assert setup.install_commands(str(tmp_path / "env"), wheel)[-1][-1] == f"{wheel}[serve]"
    assert setup.install_commands(str(tmp_path / "env"), "duet==0.1.0")[-1][-1] == "duet==0.1.0"
    # the default source: the engine wheel shipped inside the installed extension
    (tmp_path / "ext" / "wheels").mkdir(parents=True)
    (tmp_path / "ext" / "wheels" / "duet-0.1.0-py3-none-any.whl").write_bytes(b"")
    setup.WHEELS = tmp_path / "ext" / "wheels"
    assert setup.install_commands(str(tmp_path / "env"))[-1][-1] == f"{setup.WHEELS / 'duet-0.1.0-py3-none-any.whl'}[serve]"
    setup.WHEELS = tmp_path / "nowhere"
    with pytest.raises(ValueError, match="no engine wheel"):
        setup.install_commands(str(tmp_path / "env"))


@pytest.mark.slow
def test_test_split_metrics_are_the_same_through_both_paths(tmp_path):
    """The evaluation's metrics on a synthetic corpus's test split, torch path against runtime path."""
    from duet.corpus.build import open_corpus
    from duet.eval import runner
    from duet.eval.masks import shape_input

    from conftest import run_duet

    made = run_duet("data", "synth", "--hours", "0.1", "-o", tmp_path / "corpus", "-j", "1", "-q")
    assert made.rc == 0, made.err
    corpus = open_corpus(tmp_path / "corpus")
    ids = sorted(corpus.ids("test"))
    assert ids
    faces = {p: runner.face(p) for p in "AB"}
    tallies = {w: runner.Tally() for w in (bundle.SHIPPED, exported.SHIPPED)}
    for cid in ids:
        clip = corpus.load(cid)
        for shape in ("mono", "two-track"):
            audio = shape_input(np.asarray(clip.tracks, np.float32), np.asarray(clip.mix, np.float32), shape)
            for weights, tally in tallies.items():
                pred = infer.generate(audio, shape, layout=clip.layout, weights=weights,
                                      first_speaker=runner._first(clip) if shape == "mono" else "A")
                runner.score_clip(tally, pred, clip, faces, clip.motion.fps)
    want, got = (t.summary(clip.motion.fps) for t in tallies.values())
    numbers = [k for k, v in want.items() if isinstance(v, float)]
    assert {"bilabial_closure", "open_vowel", "gaze_error_deg", "openness_r"} <= set(numbers)
    assert {k: f"{got[k]:.2f}" for k in numbers} == {k: f"{want[k]:.2f}" for k in numbers}
    assert want["openness_r"] > 0.3  # a real animation was scored, not a frozen face


@pytest.mark.slow
def test_the_runtime_generates_inside_blender_5_python(conversation, tmp_path, wheel_313):
    """Blender 5's own Python (the bpy module: Python 3.13, its numpy 2) with the engine's wheel:
    `duet generate` runs there, in the process that has bpy loaded, without torch."""
    wheel, py313 = wheel_313
    py = _venv(py313, tmp_path / "venv", "bpy==5.2.3", wheel)  # the newest bpy on PyPI
    out = tmp_path / "m.npz"
    code = ("import sys\nimport bpy\nfrom duet.cli import main\n"
            f"rc = main(['generate', {str(conversation.mix)!r}, '-o', {str(out)!r}])\n"
            "print(rc, bpy.app.version[:2], sys.version_info[:2], any(m.startswith('torch') for m in sys.modules))\n")
    p = _run(py, "-c", code)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "0 (5, 2) (3, 13) False"
    motion = DyadicMotion.load(out)
    assert motion.n_frames == int(conversation.seconds * 25) and motion.A.poses["jaw"].std() > 0.01


def test_relation_guidance_changes_only_a_known_relation_other_than_its_own(tmp_path):
    """With ModelConfig.guidance_relation the unconditional branch hears that relation in place of a
    known one: a boss and employee's motion changes, non-blood equals' (the relation it hears anyway)
    and an unknown relation's stay bit for bit (the ONNX runtime samples through the same code)."""
    import dataclasses

    from duet.model.network import DualStreamUNet
    from duet.train.dataset import vocabularies

    cfg = dataclasses.replace(SMALL, relations=vocabularies(swap_senior=True)[1], guidance=3.0)
    torch.manual_seed(1)
    net = DualStreamUNet(cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    guided = dataclasses.replace(cfg, guidance_relation="nonblood-equal")
    paths = {}
    for name, c in (("plain", cfg), ("guided", guided)):
        paths[name] = bundle.save(tmp_path / f"{name}.pt", net.eval(), c, np.zeros(c.motion_dim),
                                  np.full(c.motion_dim, 0.2), {"id": name})
    audio = (np.random.default_rng(2).normal(size=(1, 16000 * 2)) * 0.05).astype(np.float32)
    masks = np.zeros((2, 50), np.float32)
    masks[0, :25], masks[1, 25:] = 1, 1

    def neck(name, relation):
        m = infer.generate(audio, masks=masks, seed=0, relation=relation, weights=paths[name])
        return np.concatenate([m.A.poses["neck"], m.B.poses["neck"]])

    assert np.abs(neck("guided", "nonblood-unequal") - neck("plain", "nonblood-unequal")).max() > 1e-3
    for relation in ("nonblood-equal", None):
        np.testing.assert_array_equal(neck("guided", relation), neck("plain", relation))
    drop = np.array([False, False, True, True])
    rel = np.array([cfg.relations.index("blood-unequal (B senior)"), 0] * 2)
    equals = cfg.relations.index("nonblood-equal")
    assert list(infer.unconditional_relation(guided, rel, drop)) == [rel[0], 0, equals, 0]
