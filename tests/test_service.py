"""The engine service (`duet serve` on 127.0.0.1, a real uvicorn process) and the subprocess worker."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import run_duet

TOKEN = "s3cret-token-for-tests-0123456789"


@contextlib.contextmanager
def serve(*args, env=None):
    """Start `duet serve --port 0 ...`; yield its base URL; stop it."""
    p = subprocess.Popen([sys.executable, "-m", "duet", "serve", "--port", "0", *map(str, args)],
                         stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    try:
        line = p.stderr.readline()
        m = re.search(r"listening on (http://\S+)", line)
        assert m, f"serve did not start: {line}{p.stderr.read() if p.poll() is not None else ''}"
        yield m.group(1).replace("0.0.0.0", "127.0.0.1")
    finally:
        p.terminate()
        p.wait(timeout=30)


def upload(url, path, token=None, **options):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with open(path, "rb") as f:
        return httpx.post(f"{url}/jobs/upload", files={"audio": (Path(path).name, f)},
                          data={"options": json.dumps(options)}, headers=headers, timeout=60)


def wait_done(url, job_id, headers=None, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = httpx.get(f"{url}/jobs/{job_id}", headers=headers).json()
        if s["state"] in ("done", "failed", "cancelled"):
            return s
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {s}")


@pytest.fixture(scope="module")
def service():
    with serve() as url:
        yield url


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory, conversation):
    """The conversation repeated to nine minutes: a job that runs for seconds, so a cancel always
    lands while it runs (it stops at the job's next stage)."""
    from duet.audio.io import load_audio, save_wav

    x = load_audio(conversation.mix).mono
    path = tmp_path_factory.mktemp("long") / "long.wav"
    save_wav(path, np.tile(x, int(540 // (len(x) / 16000))))
    return path


def test_health_version_openapi(service):
    assert httpx.get(f"{service}/health").json() == {"status": "ok"}
    v = httpx.get(f"{service}/version").json()
    assert v["duet"] and v["motion_format"] == 1 and "baseline" in v["animators"]
    spec = httpx.get(f"{service}/openapi.json").json()
    for path in ("/jobs", "/jobs/upload", "/jobs/{job_id}", "/jobs/{job_id}/cancel", "/jobs/{job_id}/motion"):
        assert path in spec["paths"], path


def test_upload_job_gives_motion_matching_audio(service, conversation, tmp_path):
    from duet.motion import DyadicMotion

    r = upload(service, conversation.mix, seed=3, prompt="two friends on a bench")
    assert r.status_code == 202, r.text
    s = wait_done(service, r.json()["id"])
    assert s["state"] == "done" and s["fraction"] == 1.0, s
    m = httpx.get(f"{service}/jobs/{s['id']}/motion")
    assert m.status_code == 200
    motion = DyadicMotion.from_bytes(m.content)
    assert abs(motion.duration - conversation.seconds) < 0.1
    assert motion.meta["audio"] == ["mix.wav"] and motion.meta["prompt"] == "two friends on a bench"
    # A speaks the first line, B the second: the speaking masks must say so
    fps = motion.fps
    for who, start, end in conversation.turns[:2]:
        seg = slice(int((start + 0.2) * fps), int((end - 0.2) * fps))
        assert motion.person(who).speaking[seg].mean() > 0.6


def test_bad_audio_is_a_clear_422_without_server_paths(service, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio at all")
    r = upload(service, bad)
    assert r.status_code == 422
    err = r.json()["error"]
    assert "notes.wav" in err and "decode" in err and "duet-serve" not in err
    silent = tmp_path / "silent.wav"
    from duet.audio.io import save_wav

    save_wav(silent, np.zeros(16000 * 2, np.float32))
    r = upload(service, silent)
    assert r.status_code == 422 and "silent" in r.json()["error"]


def test_bad_options_unknown_job_and_unfinished_motion(service, conversation, long_audio):
    r = upload(service, conversation.mix, animator="no-such-animator")
    assert r.status_code == 422 and "animator" in r.json()["error"]
    r = upload(service, conversation.mix, colour="blue")
    assert r.status_code == 422 and "colour" in r.json()["error"]
    r = upload(service, conversation.mix, relation="boss-employee", senior="C")
    assert r.status_code == 422 and "senior" in r.json()["error"]
    assert httpx.get(f"{service}/jobs/nope").status_code == 404
    job = upload(service, long_audio, animator="baseline").json()
    r = httpx.get(f"{service}/jobs/{job['id']}/motion")
    assert r.status_code == 409 and "not done" in r.json()["error"]
    httpx.post(f"{service}/jobs/{job['id']}/cancel")
    assert wait_done(service, job["id"])["state"] == "cancelled"


def test_cancel_queued_and_running(service, long_audio):
    # the baseline animator: the model's front end reads nine minutes of audio before its first
    # cancellation point, which would hold these tests (and the jobs queued after them) for a minute
    first = upload(service, long_audio, animator="baseline").json()
    second = upload(service, long_audio, animator="baseline").json()
    assert second["queue_position"] is not None and second["queue_position"] >= 0
    r = httpx.post(f"{service}/jobs/{second['id']}/cancel").json()
    assert r["state"] == "cancelled"  # a queued job stops at once
    end = time.monotonic() + 60
    while httpx.get(f"{service}/jobs/{first['id']}").json()["state"] != "running":
        assert time.monotonic() < end
        time.sleep(0.05)
    httpx.post(f"{service}/jobs/{first['id']}/cancel")
    s = wait_done(service, first["id"])
    assert s["state"] == "cancelled", s
    assert httpx.get(f"{service}/jobs/{first['id']}/motion").status_code == 409


def test_concurrent_jobs_all_finish_with_their_own_results(service, conversation):
    from duet.motion import DyadicMotion

    inputs = [conversation.mix, conversation.stereo, conversation.a, conversation.mix]
    results = [None] * len(inputs)

    def submit(i):
        results[i] = upload(service, inputs[i], seed=i)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 202 for r in results), [r.text for r in results]
    ids = [r.json()["id"] for r in results]
    assert len(set(ids)) == len(ids)
    motions = []
    for job_id in ids:
        assert wait_done(service, job_id)["state"] == "done"
        motions.append(DyadicMotion.from_bytes(httpx.get(f"{service}/jobs/{job_id}/motion").content))
    assert [m.meta["audio"][0] for m in motions] == [Path(p).name for p in inputs]
    # same audio, different seed -> different motion; every job has the length of its audio
    assert not np.allclose(motions[0].A.poses["neck"], motions[3].A.poses["neck"])
    for m in motions:
        assert abs(m.duration - conversation.seconds) < 0.1


def test_token_required_off_loopback_and_checked(conversation):
    r = run_duet("serve", "--host", "0.0.0.0", "--port", "0", timeout=60)
    assert r.rc == 1 and "token" in r.err and "Traceback" not in r.err
    r = run_duet("serve", "--token", "short", "--port", "0", timeout=60)
    assert r.rc == 1 and "16 characters" in r.err
    with serve("--host", "0.0.0.0", env={"DUET_TOKEN": TOKEN}) as url:
        assert httpx.get(f"{url}/health").status_code == 401
        assert httpx.get(f"{url}/version", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{url}/version", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
        assert upload(url, conversation.mix).status_code == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{url}/version", headers=good).status_code == 200
        r = upload(url, conversation.mix, token=TOKEN)
        assert r.status_code == 202
        assert wait_done(url, r.json()["id"], headers=good)["state"] == "done"


def test_token_compare_is_constant_time(monkeypatch):
    import hmac

    from duet.service import app

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    assert app.token_matches(f"Bearer {TOKEN}", TOKEN)
    assert app.token_matches(f"bearer {TOKEN}", TOKEN)
    assert not app.token_matches("Bearer nope", TOKEN)
    assert not app.token_matches(None, TOKEN)
    assert not app.token_matches(TOKEN, TOKEN)  # no scheme
    assert len(calls) == 5  # every check, right or wrong, goes through compare_digest


def test_size_and_duration_limits(conversation, long_audio):
    with serve("--max-request-mb", "0.5", "--max-audio-seconds", "60") as url:
        r = upload(url, long_audio)  # ~17 MB
        assert r.status_code == 413 and "too large" in r.json()["error"]
    with serve("--max-audio-seconds", "5") as url:
        r = upload(url, conversation.mix)  # ~9 s
        assert r.status_code == 413 and "too long" in r.json()["error"]
        r = httpx.post(f"{url}/jobs/upload", content=iter([b"x" * 10]),
                       headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert r.status_code == 411


def test_paths_only_inside_allowed_folders(conversation, tmp_path):
    inside = tmp_path / "allowed"
    inside.mkdir()
    (inside / "mix.wav").write_bytes(Path(conversation.mix).read_bytes())
    (inside / "escape.wav").symlink_to(conversation.mix)  # points outside the allowed folder
    with serve() as url:
        r = httpx.post(f"{url}/jobs", json={"audio": str(inside / "mix.wav")})
        assert r.status_code == 403 and "uploads only" in r.json()["error"]
    with serve("--allow", inside) as url:
        r = httpx.post(f"{url}/jobs", json={"audio": str(inside / "mix.wav"), "seed": 1})
        assert r.status_code == 202, r.text
        assert wait_done(url, r.json()["id"])["state"] == "done"
        for bad in (str(conversation.mix), str(inside / "escape.wav"), str(inside / ".." / "x.wav"), "mix.wav"):
            r = httpx.post(f"{url}/jobs", json={"audio": bad})
            assert r.status_code == 403, (bad, r.text)


def test_worker_protocol(conversation, tmp_path):
    from duet.motion import DyadicMotion

    out = tmp_path / "m.npz"
    job = {"audio": str(conversation.mix), "seed": 2, "output": str(out)}
    p = subprocess.run([sys.executable, "-m", "duet.service.worker"], input=json.dumps(job),
                       capture_output=True, text=True, timeout=120)
    lines = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert p.returncode == 0, p.stderr
    stages = [ln["stage"] for ln in lines if "stage" in ln]
    assert list(dict.fromkeys(stages)) == ["loading audio", "placing the heads", "generating", "writing", "done"]
    fractions = [ln["fraction"] for ln in lines if "stage" in ln]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert lines[-1] == {"done": True, "motion": str(out)}
    assert abs(DyadicMotion.load(out).duration - conversation.seconds) < 0.1

    spoken = tmp_path / "spoken.npz"
    job = {"write_dialogue": True, "prompt": "two friends plan a picnic", "seed": 1, "output": str(spoken)}
    p = subprocess.run([sys.executable, "-m", "duet.service.worker"], input=json.dumps(job),
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert lines[0]["stage"] == "writing the dialogue"
    assert lines[-1]["audio"] == [str(tmp_path / "spoken-dialogue" / "mix.wav")]
    m = DyadicMotion.load(spoken)
    assert m.A.speaking.max() > 0.5 and m.B.speaking.max() > 0.5  # both people talk
    # as `duet run --prompt`: the script's exact speaking masks and its emotions turn by turn
    from duet import dialogue

    said = dialogue.load(tmp_path / "spoken-dialogue")
    exact = said.masks(25.0)
    n = min(m.n_frames, exact.shape[1])
    np.testing.assert_array_equal(np.stack([m.A.speaking, m.B.speaking])[:, :n] >= 0.5, exact[:, :n] >= 0.5)
    turns = dialogue.timed_turns(said.script, said.timings)
    assert [(speaker, label) for speaker, _, label in m.meta["emotion_turns"]] == \
        [(t["speaker"], t["emotion"]) for t in turns]  # rows of [speaker, start, emotion]

    bad = tmp_path / "bad.npz"
    p = subprocess.run([sys.executable, "-m", "duet.service.worker"],
                       input=json.dumps({"audio": str(tmp_path / "missing.wav"), "output": str(bad)}),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and not bad.exists()
    assert "no such audio file" in json.loads(p.stdout.splitlines()[-1])["error"]
    p = subprocess.run([sys.executable, "-m", "duet.service.worker"], input="{not json",
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "not valid JSON" in json.loads(p.stdout)["error"]


def test_clients_cancel_and_report(service, long_audio, conversation, tmp_path):
    from duet.service.client import EngineError, ServiceJob, SubprocessJob

    job = SubprocessJob(sys.executable, {"audio": str(long_audio)}, tmp_path / "a.npz")
    while job.poll().stage != "generating":
        time.sleep(0.05)
    job.cancel()
    assert job.wait(60).state == "cancelled" and not (tmp_path / "a.npz").exists()

    s = ServiceJob(service, None, {"audio": str(conversation.mix), "seed": 1}, tmp_path / "b.npz").wait(120)
    assert s.state == "done" and Path(s.motion).is_file()
    s = ServiceJob("http://127.0.0.1:9", None, {"audio": str(conversation.mix)}, tmp_path / "c.npz").wait(30)
    assert s.state == "failed" and "cannot reach" in s.error
    with pytest.raises(EngineError, match="Python"):
        SubprocessJob(str(tmp_path / "no-python"), {"audio": str(conversation.mix)}, tmp_path / "d.npz")


def test_worker_takes_per_person_behaviour_amounts(conversation, tmp_path):
    """The add-on's per-person Gaze Aversion (and the CLI's --head-motion/--expression) reach the engine."""
    import numpy as np

    from duet.eval.metrics import partner_gaze_angle
    from duet.motion import DyadicMotion

    def job(**spec):
        p = subprocess.run([sys.executable, "-m", "duet.service.worker"], input=json.dumps(spec),
                           capture_output=True, text=True, timeout=120)
        return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])

    angles = {}
    for name, amount in (("as made", None), ("A on B's eyes", {"A": 0.0, "B": 2.0})):
        out = tmp_path / f"{len(angles)}.npz"
        spec = {"audio": str(conversation.mix), "output": str(out)}
        if amount:
            spec["gaze_aversion"] = amount
        rc, last = job(**spec)
        assert rc == 0 and last["done"], last
        angles[name] = {p: float(np.mean(a)) for p, a in partner_gaze_angle(DyadicMotion.load(out)).items()}
    assert angles["A on B's eyes"]["A"] < 0.1 < angles["as made"]["A"]
    assert angles["A on B's eyes"]["B"] > 1.5 * angles["as made"]["B"]
    rc, last = job(audio=str(conversation.mix), relation="parent-child", senior="both", output=str(tmp_path / "b.npz"))
    assert rc == 1 and last["error"].startswith("'senior' must be"), last
    for bad, message in (({"A": 5}, "--gaze-aversion for person A must lie between 0 and 3"),
                         ("far", "'gaze_aversion' must be a number")):
        rc, last = job(audio=str(conversation.mix), gaze_aversion=bad, output=str(tmp_path / "bad.npz"))
        assert rc == 1 and last["error"].startswith(message), last
        assert not (tmp_path / "bad.npz").exists()
