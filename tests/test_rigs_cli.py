"""``duet rig``: the asset rebuilds deterministically; bad input is one clear line."""

from __future__ import annotations

import numpy as np
from conftest import run_duet

from duet.rigs.openhead import ASSET


def test_rig_build_reproduces_the_committed_asset(tmp_path):
    out = tmp_path / "openhead.npz"
    r = run_duet("rig", "build", "-o", out)
    assert r.rc == 0, r.err
    with np.load(out) as new, np.load(ASSET) as old:
        assert sorted(new.files) == sorted(old.files)
        for k in old.files:
            if old[k].dtype.kind == "f":  # the same up to floating-point noise across CPUs
                np.testing.assert_allclose(new[k], old[k], rtol=0, atol=1e-7, err_msg=k)
            else:
                np.testing.assert_array_equal(new[k], old[k], err_msg=k)


def test_rig_commands_reject_bad_input(tmp_path):
    r = run_duet("rig", "build", "-o", tmp_path / "head.obj")
    assert r.rc == 1 and "must be a .npz" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "head.obj").exists()
    (tmp_path / "file").write_text("mine")
    r = run_duet("rig", "render", "-o", tmp_path / "file")
    assert r.rc == 1 and "not a folder" in r.err
    assert (tmp_path / "file").read_text() == "mine"
    r = run_duet("rig", "render", "-o", tmp_path / "pics", "--size", "9")
    assert r.rc == 1 and "--size" in r.err and not (tmp_path / "pics").exists()
