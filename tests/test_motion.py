import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duet.arkit import ARKIT_52
from duet.errors import DuetError
from duet.motion import FORMAT_VERSION, JOINTS, DyadicMotion, PersonMotion, required_keys


def make_motion(n=30, seed=0) -> DyadicMotion:
    rng = np.random.default_rng(seed)
    people = []
    for transl in ((-0.5, 1.6, 0.0), (0.5, 1.6, 0.0)):
        p = PersonMotion.still(n, len(ARKIT_52), transl)
        p.expr[:] = rng.uniform(0, 1, p.expr.shape)
        for j in JOINTS:
            p.poses[j][:] = rng.normal(0, 0.1, (n, 3))
        p.speaking[:] = rng.uniform(0, 1, n)
        p.betas[:] = rng.normal(0, 1, p.betas.shape)
        people.append(p)
    return DyadicMotion(A=people[0], B=people[1], expr_names=ARKIT_52, fps=25,
                        meta={"prompt": "two friends on a bench", "audio": ["mix.wav"], "seed": 3})


def test_round_trip_keeps_every_array_and_meta(tmp_path):
    m = make_motion()
    path = m.save(tmp_path / "m.npz")
    back = DyadicMotion.load(path)
    assert back.expr_names == ARKIT_52 and back.fps == 25 and back.n_frames == 30
    assert back.meta == {"prompt": "two friends on a bench", "audio": ["mix.wav"], "seed": 3}
    for p in "AB":
        for k, v in m.person(p).arrays().items():
            np.testing.assert_array_equal(back.person(p).arrays()[k], v.astype(np.float32))
    with np.load(path) as z:
        assert sorted(z.files) == sorted(required_keys())
        assert json.loads(str(z["meta"]))["version"] == FORMAT_VERSION


def _arrays(m):
    return m.to_arrays()


@pytest.mark.parametrize("key", required_keys())
def test_missing_key_is_named(key):
    arrays = _arrays(make_motion())
    del arrays[key]
    with pytest.raises(DuetError, match=f"missing key '{key}'"):
        DyadicMotion.from_arrays(arrays)


def test_mismatched_lengths_are_rejected():
    arrays = _arrays(make_motion())
    arrays["B_jaw"] = arrays["B_jaw"][:-1]
    with pytest.raises(DuetError, match="'B_jaw' has 29 frames but 'A_expr' has 30"):
        DyadicMotion.from_arrays(arrays)


def test_unknown_version_is_rejected():
    arrays = _arrays(make_motion())
    arrays["meta"] = np.asarray(json.dumps({"version": 99}))
    with pytest.raises(DuetError, match="format version 99 is not supported"):
        DyadicMotion.from_arrays(arrays)


def test_absolute_audio_paths_are_rejected(tmp_path):
    m = make_motion()
    m.meta["audio"] = ["/home/someone/secret/mix.wav"]
    with pytest.raises(DuetError, match="not a plain file name"):
        m.save(tmp_path / "m.npz")
    assert not any(tmp_path.iterdir()), "a failed save must leave nothing behind"


def test_not_an_npz(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(DuetError, match="not a DyadicMotion .npz file"):
        DyadicMotion.load(bad)


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from([k for k in required_keys() if k.startswith(("A_", "B_"))]),
       bad=st.sampled_from([np.nan, np.inf, -np.inf]), data=st.data())
def test_non_finite_values_are_rejected_wherever_they_are(key, bad, data):
    arrays = _arrays(make_motion(n=8))
    a = arrays[key].copy()
    idx = data.draw(st.integers(0, a.size - 1))
    a.flat[idx] = bad
    arrays[key] = a
    with pytest.raises(DuetError, match=f"'{key}' contains NaN or infinite values"):
        DyadicMotion.from_arrays(arrays)


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from([k for k in required_keys() if k.startswith(("A_", "B_")) and not k.endswith("betas")]),
       cut=st.integers(1, 7))
def test_any_length_mismatch_is_rejected(key, cut):
    arrays = _arrays(make_motion(n=8))
    arrays[key] = arrays[key][:-cut]
    with pytest.raises(DuetError, match="frames but"):
        DyadicMotion.from_arrays(arrays)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_round_trip_fuzz(tmp_path_factory, n, seed):
    m = make_motion(n=n, seed=seed)
    back = DyadicMotion.load(m.save(tmp_path_factory.mktemp("rt") / "m.npz"))
    np.testing.assert_array_equal(back.B.expr, m.B.expr.astype(np.float32))
    np.testing.assert_array_equal(back.A.poses["eye_R"], m.A.poses["eye_R"].astype(np.float32))


def test_speaking_outside_unit_interval_is_rejected():
    arrays = _arrays(make_motion())
    arrays["A_speaking"] = arrays["A_speaking"] + 1.5
    with pytest.raises(DuetError, match="'A_speaking' must lie in"):
        DyadicMotion.from_arrays(arrays)


def _save_raw(path, arrays):
    """Write arrays as an .npz without DyadicMotion's float32 cast (a file from another tool)."""
    np.savez(path, **arrays)
    return path


def test_values_beyond_float32_are_refused(tmp_path):
    arrays = _arrays(make_motion())
    arrays["A_neck"] = arrays["A_neck"].astype(np.float64)
    arrays["A_neck"][3, 1] = 1e39  # finite as float64, inf as float32
    with pytest.raises(DuetError, match="'A_neck' holds values too large for float32"):
        DyadicMotion.load(_save_raw(tmp_path / "big.npz", arrays))
    arrays["A_neck"][3, 1] = 3e38  # fits
    assert np.isfinite(DyadicMotion.load(_save_raw(tmp_path / "ok.npz", arrays)).A.poses["neck"]).all()


@pytest.mark.parametrize("fps,ok", [(1e6, False), (0.5, False), (0.0, False), (1.0, True), (240.0, True),
                                    (240.5, False)])
def test_fps_must_lie_between_1_and_240(tmp_path, fps, ok):
    arrays = _arrays(make_motion())
    arrays["fps"] = np.float64(fps)
    path = _save_raw(tmp_path / "m.npz", arrays)
    if ok:
        assert DyadicMotion.load(path).fps == fps
    else:
        with pytest.raises(DuetError, match="'fps' .* between 1 and 240"):
            DyadicMotion.load(path)


@pytest.mark.parametrize("name", ["../secret.wav", "sub/mix.wav", "..", "C:mix.wav", "a\\b.wav", "mix\0.wav", ""])
def test_audio_names_must_be_plain_file_names(tmp_path, name):
    m = make_motion()
    arrays = _arrays(m)
    arrays["meta"] = np.asarray(json.dumps({"version": FORMAT_VERSION, "audio": ["mix.wav", name]}))
    with pytest.raises(DuetError, match="not a plain file name"):
        DyadicMotion.load(_save_raw(tmp_path / "m.npz", arrays))


def write_declared_npz(path, frames: int) -> None:
    """A valid-looking motion whose A_expr declares ``frames`` x 52 float32 (all zeros, so the file
    stays small), written in chunks without ever holding the array."""
    import zipfile

    small = _arrays(make_motion(n=8))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for key, a in small.items():
            if key != "A_expr":
                with z.open(f"{key}.npy", "w") as f:
                    np.lib.format.write_array(f, a)
        with z.open("A_expr.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (frames, 52)})
            chunk = bytes(4 * 52 * 100_000)
            for start in range(0, frames, 100_000):
                f.write(chunk[: 4 * 52 * min(100_000, frames - start)])


def test_frame_count_is_checked_from_the_headers_before_loading(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "huge.npz"
    write_declared_npz(path, 3_000_000)  # 624 MB of arrays in a file of under 1 MB
    assert path.stat().st_size < 2_000_000
    # VmHWM, not ru_maxrss: on Linux that keeps the high-water mark of the forked parent across exec
    code = ("import re\nfrom duet.motion import DyadicMotion\nfrom duet.errors import DuetError\n"
            f"try:\n    DyadicMotion.load({str(path)!r})\nexcept DuetError as e:\n    print(e)\n"
            "print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    message, peak_mb = p.stdout.strip().splitlines()
    assert "'A_expr' declares 3000000 frames (the limit is 216000" in message, p.stdout + p.stderr
    assert int(peak_mb) < 200, f"loading took {peak_mb} MB"  # the arrays alone would take 624 MB


def test_declared_bytes_are_bounded_too(tmp_path):
    arrays = _arrays(make_motion())
    arrays["A_betas"] = np.zeros(40_000_000, np.float64)  # 305 MiB of identity parameters
    path = tmp_path / "fat.npz"
    np.savez_compressed(path, **arrays)
    with pytest.raises(DuetError, match="declares 305 MiB of arrays"):
        DyadicMotion.load(path)
    with pytest.raises(DuetError, match="declares 305 MiB"):
        DyadicMotion.from_bytes(path.read_bytes())


def test_a_bare_npy_is_not_read(tmp_path):
    path = tmp_path / "m.npz"
    np.save(path.with_suffix(".npy"), np.zeros(3))
    path.with_suffix(".npy").rename(path)
    with pytest.raises(DuetError, match="not a DyadicMotion .npz file .not a zip archive"):
        DyadicMotion.load(path)
