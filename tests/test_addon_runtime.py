"""The self-contained extension: the zip from `duet addon build`, installed into a fresh Blender with
nothing else installed and the network cut off, animates a 20 s conversation on Blender's own Python.

Fresh Blenders are the bpy wheels in their own cached venvs ($DUET_BPY_CACHE, default
~/.cache/duet/bpy/fresh-VERSION: bpy and what pip pulls for it, nothing else): 4.5 LTS on Python 3.11
(with numpy 1.26 as Blender 4.5 ships it) and 5.3 on Python 3.13. The first run downloads the bpy
wheels (about 800 MB); the Blender process then runs in a network namespace of its own (`unshare -rn`),
so any download would fail.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, espeak, run_duet

pytestmark = [pytest.mark.blender, pytest.mark.slow]
FRESH = {"4.5.15": ("3.11", ["bpy==4.5.15", "numpy<2"]), "5.3.0": ("3.13", ["bpy==5.3.0"])}


def python_for(version: str) -> str:
    """An interpreter of that Python version that runs: under pyenv, else on PATH (a pyenv shim may not)."""
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    candidates.append(shutil.which(f"python{version}") or "")
    for python in candidates:
        if python and subprocess.run([python, "-c", ""], capture_output=True).returncode == 0:
            return python
    pytest.fail(f"no python{version} on this machine (pyenv install {version})")


def fresh_blender(version: str) -> Path:
    """The python of a venv holding only the bpy wheel ``version`` (built once, then reused)."""
    python, requirements = FRESH[version]
    venv = Path(os.environ.get("DUET_BPY_CACHE") or Path.home() / ".cache" / "duet" / "bpy") / f"fresh-{version}"
    stamp = venv / ".duet-ready"
    if not (stamp.is_file() and stamp.read_text().strip() == " ".join(requirements)):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python_for(python), "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        *requirements], check=True, capture_output=True)
        stamp.write_text(" ".join(requirements))
    return venv / "bin" / "python"


def offline() -> list[str]:
    """The command prefix that runs a process without network (a fresh user and network namespace)."""
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.fail("cannot cut the network off here: 'unshare -rn' is not allowed")
    return ["unshare", "-rn"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """This platform's zip and the engine wheel beside it."""
    out = tmp_path_factory.mktemp("dist")
    r = run_duet("addon", "build", "-o", out, "--platform", "linux-x64", timeout=600)
    assert r.rc == 0, r.err
    assert [Path(p) for p in r.out.split()] == [out / "duet-0.1.0-linux_x64.zip"]
    return out / "duet-0.1.0-linux_x64.zip", out / "duet-0.1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def talk20(tmp_path_factory) -> Path:
    """20 s of two alternating espeak-ng voices, saved as a user's file would be: 48 kHz, 16-bit."""
    import soundfile as sf
    from scipy.signal import resample_poly

    d = tmp_path_factory.mktemp("talk20")
    lines = [("en-us+m3", "Did you see the game last night? It was unbelievable, honestly."),
             ("en-us+f4", "I missed it. I was working late again, sadly, and the bus was slow."),
             ("en-us+m3", "You have to watch the replay. The second half was something else."),
             ("en-us+f4", "Fine, I will, but only if you stop telling me the score first.")]
    parts, n = [], 0
    for i in range(12):
        voice, text = lines[i % 4]
        x = espeak(text, voice, d / f"line{i % 4}.wav")
        parts += [x, np.zeros(8000, np.float32)]
        n += len(x) + 8000
        if n >= 20 * 16000:
            break
    mix = np.concatenate(parts)[:20 * 16000]
    sf.write(d / "talk20.wav", resample_poly(mix, 3, 1).astype(np.float32), 48000, subtype="PCM_16")
    return d / "talk20.wav"


SCRIPT = r'''
import importlib.util, json, os, socket, sys, time
import bpy
out = {"blender": bpy.app.version_string, "python": "%d.%d" % sys.version_info[:2],
       "torch": importlib.util.find_spec("torch") is not None}
try:
    socket.create_connection(("pypi.org", 443), timeout=3).close()
    out["network"] = True
except OSError:
    out["network"] = False
repo = bpy.context.preferences.extensions.repos.new(name="Test", module="duet_test",
                                                    custom_directory=os.path.join(TMP, "repo"), source="USER")
t0 = time.time()
assert bpy.ops.extensions.package_install_files(filepath=ZIP, repo="duet_test", enable_on_install=True) == {"FINISHED"}
import duet
out["duet"] = duet.__file__
prefs = bpy.context.preferences.addons["bl_ext.duet_test.duet"].preferences
out["mode"] = prefs.engine_mode
s, scene = bpy.context.scene.duet, bpy.context.scene
assert bpy.ops.duet.add_head_pair() == {"FINISHED"}
s.audio = AUDIO
out["result"] = sorted(bpy.ops.duet.generate())
out["seconds"] = time.time() - t0
out["message"], out["error"] = s.message, s.message_is_error
out["sounds"] = [(st.type, os.path.basename(st.sound.filepath)) for st in scene.sequence_editor.strips]
out["takes"] = []
for head in (s.head_a, s.head_b):
    tracks = head.animation_data.nla_tracks
    out["takes"].append([st.action.name for t in tracks for st in t.strips])
jaw = {"A": [], "B": []}
for f in range(scene.frame_start, scene.frame_start + 480, 4):
    scene.frame_set(f)
    for p, head in zip("AB", (s.head_a, s.head_b)):
        jaw[p].append(head.pose.bones["jaw"].rotation_quaternion.angle)
out["jaw_max"] = {p: max(v) for p, v in jaw.items()}
'''


@pytest.mark.parametrize("version", list(FRESH))
def test_zip_generates_in_a_fresh_offline_blender(version, built, talk20, tmp_path):
    zip_path, _ = built
    python = fresh_blender(version)
    head = f"TMP = {str(tmp_path)!r}\nZIP = {str(zip_path)!r}\nAUDIO = {str(talk20)!r}\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(BLENDER_USER_CONFIG=str(tmp_path / "config"), BLENDER_USER_SCRIPTS=str(tmp_path / "scripts"),
               BLENDER_USER_EXTENSIONS=str(tmp_path / "ext"), PYTHONNOUSERSITE="1")
    p = subprocess.run([*offline(), str(python), "-c", head + SCRIPT + "\nprint(json.dumps(out))"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["blender"].startswith(version) and r["python"] == FRESH[version][0]
    assert not r["network"] and not r["torch"]
    assert r["duet"].startswith(str(tmp_path / "ext")), r["duet"]  # the engine wheel Blender installed
    assert r["mode"] == "BUILT_IN"
    assert r["result"] == ["FINISHED"] and not r["error"], r["message"]
    assert r["seconds"] < 60, r["seconds"]  # install + Generate
    assert r["sounds"] == [["SOUND", "talk20.wav"]]
    assert r["takes"] == [["Duet A"], ["Duet B"]]  # one NLA strip per head
    assert r["jaw_max"]["A"] > 0.1 and r["jaw_max"]["B"] > 0.1, r["jaw_max"]  # both people speak


def test_engine_wheel_installs_without_torch_on_python_3_13(built, talk20, tmp_path):
    from duet.blender.extension import wheel_cache

    _, wheel = built
    venv = tmp_path / "venv"
    subprocess.run([python_for("3.13"), "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
           "--find-links", str(wheel_cache())]
    p = subprocess.run([*pip, str(wheel)], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, check=True).stdout
    names = {d["name"].lower() for d in json.loads(listed)}
    assert "duet" in names and "onnxruntime" in names and not {"torch", "nvidia-cublas-cu12"} & names
    out = tmp_path / "talk.npz"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    p = subprocess.run([str(venv / "bin" / "duet"), "generate", str(talk20), "--prompt", "two friends in a cafe",
                        "-o", str(out)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    from duet.motion import DyadicMotion

    m = DyadicMotion.load(out)
    assert m.n_frames == 500 and np.abs(m.A.poses["jaw"]).max() > 0.05


def test_platform_zips_hold_their_own_wheels(tmp_path):
    from duet.blender.extension import PLATFORMS, PYTHONS

    r = run_duet("addon", "build", "-o", tmp_path, timeout=900)
    assert r.rc == 0, r.err
    zips = [Path(p) for p in r.out.split()]
    assert [z.name for z in zips] == sorted(f"duet-0.1.0-{p.replace('-', '_')}.zip" for p in PLATFORMS)
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted([z.name for z in zips] + ["duet-0.1.0-py3-none-any.whl"])
    tags = {"linux_x64": "linux", "windows_x64": "win_amd64", "macos_arm64": "macosx"}
    import tomllib

    for z in zips:
        with zipfile.ZipFile(z) as f:
            names = f.namelist()
            manifest = tomllib.loads(f.read("blender_manifest.toml").decode())
        platform = z.stem.split("-")[-1]
        generated = manifest["build"]["generated"]  # what Blender's tool wrote for this platform's zip
        assert generated["platforms"] == [platform.replace("_", "-")]
        assert sorted(generated["wheels"]) == sorted("./" + n for n in names if n.endswith(".whl"))
        wheels = [n.split("/")[-1] for n in names if n.endswith(".whl")]
        assert "duet-0.1.0-py3-none-any.whl" in wheels
        for package in ("onnxruntime", "scipy", "webrtcvad_wheels", "cffi"):
            for py in PYTHONS:
                tag = "cp" + py.replace(".", "")
                found = [w for w in wheels if w.startswith(package + "-") and f"-{tag}-" in w]
                assert len(found) == 1 and tags[platform] in found[0], (z.name, package, py, wheels)
        assert not any("torch" in n for n in names)
        assert {"__init__.py", "operators.py", "panel.py", "engine_setup.py"} <= set(names)
