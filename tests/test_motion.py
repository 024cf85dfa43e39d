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
    with pytest.raises(DuetError, match="absolute audio path"):
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
