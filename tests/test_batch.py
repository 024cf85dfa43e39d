"""duet batch: many clips with worker processes, failures summarised without stopping, resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import run_duet
from tests.bake_support import synthetic_motion

pytestmark = pytest.mark.blender


def _manifest(tmp_path, n_good: int, bad: bool):
    clips = []
    for i in range(n_good):
        synthetic_motion(seconds=0.8, seed=i).save(tmp_path / f"m{i}.npz")
        clips.append({"id": f"good{i}", "motion": f"m{i}.npz", "blend": f"out/good{i}.blend"})
    if bad:
        (tmp_path / "broken.npz").write_bytes(b"not a zip")
        clips.insert(1, {"id": "broken", "motion": "broken.npz"})
    path = tmp_path / "clips.json"
    path.write_text(json.dumps(clips))
    return path


def test_batch_runs_clips_in_parallel_reports_failures_and_skips_finished_ones(tmp_path):
    manifest = _manifest(tmp_path, n_good=2, bad=True)
    r = run_duet("batch", manifest, "-j", "2")
    assert r.rc == 1 and "1 of 3 clips failed" in r.err, r.err
    assert "Traceback" not in r.err
    assert (tmp_path / "out" / "good0.blend").stat().st_size > 0 and (tmp_path / "out" / "good1.blend").is_file()
    assert not (tmp_path / "broken.blend").exists()
    failures = json.loads((tmp_path / "clips.batch" / "failures.json").read_text())
    assert list(failures) == ["broken"] and "not a DyadicMotion" in failures["broken"]
    state = json.loads((tmp_path / "clips.batch" / "state.json").read_text())["clips"]
    assert {k: v["status"] for k, v in state.items()} == {"good0": "done", "good1": "done", "broken": "failed"}

    mtime = (tmp_path / "out" / "good0.blend").stat().st_mtime_ns
    again = run_duet("batch", manifest, "-j", "2")
    assert "3 already handled, 0 to run" in again.err and again.rc == 1
    assert (tmp_path / "out" / "good0.blend").stat().st_mtime_ns == mtime

    # a changed clip runs again; the others stay skipped
    synthetic_motion(seconds=1.0, seed=9).save(tmp_path / "m1.npz")
    os.utime(tmp_path / "m1.npz", ns=(time.time_ns(), time.time_ns() + 10**9))
    third = run_duet("batch", manifest)
    assert "2 already handled, 1 to run" in third.err


def test_batch_resumes_after_interruption(tmp_path):
    manifest = _manifest(tmp_path, n_good=3, bad=False)
    p = subprocess.Popen([sys.executable, "-m", "duet", "batch", str(manifest), "-j", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    state = tmp_path / "clips.batch" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline and not state.exists():
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL)  # the batch and the clip it was running, mid-way
    p.wait()
    done_before = json.loads(state.read_text())["clips"]
    assert 1 <= len(done_before) < 3
    r = run_duet("batch", manifest, "-j", "2")
    assert r.rc == 0, r.err
    assert f"{len(done_before)} already handled, {3 - len(done_before)} to run" in r.err
    assert all((tmp_path / "out" / f"good{i}.blend").is_file() for i in range(3))


def test_batch_rejects_bad_manifests(tmp_path):
    (tmp_path / "m.json").write_text('[{"id": "a", "audio": "x.wav", "colour": "red"}]')
    r = run_duet("batch", tmp_path / "m.json")
    assert r.rc == 1 and "unknown field(s) ['colour']" in r.err
    (tmp_path / "m.csv").write_text("id,prompt\nsame,hello\nsame,again\n")
    r = run_duet("batch", tmp_path / "m.csv")
    assert r.rc == 1 and "appears twice" in r.err
    r = run_duet("batch", tmp_path / "nothing.json")
    assert r.rc == 1 and "no such manifest" in r.err
