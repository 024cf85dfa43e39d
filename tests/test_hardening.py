"""What a web page, a hostile file or a Ctrl-C can do to Duet (issue 30): each probe, as it was run,
against a real `duet serve` on 127.0.0.1, real signals to real processes and real files."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import run_duet

TOKEN = "s3cret-token-for-tests-0123456789"


# --- the service ------------------------------------------------------------------------------------

@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_mb(self) -> int:
        """The service process's peak resident memory so far (VmHWM)."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) // 1024


@contextlib.contextmanager
def server(*args, env=None):
    """`duet serve --port 0 ARGS` with its log read in the background (a full pipe would stall it)."""
    p = subprocess.Popen([sys.executable, "-m", "duet", "serve", "--port", "0", *map(str, args)],
                         stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    try:
        line = p.stderr.readline()
        m = re.search(r"listening on http://[\d.]+:(\d+)", line)
        assert m, f"serve did not start: {line}{p.stderr.read() if p.poll() is not None else ''}"
        s = Server(p, int(m.group(1)))
        threading.Thread(target=lambda: s.log.extend(p.stderr), daemon=True).start()
        end = time.monotonic() + 30
        while time.monotonic() < end:  # up and answering
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{s.url}/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200:
                    break
            time.sleep(0.05)
        yield s
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=30)


def upload(url, path, headers=None, timeout=120, **options):
    with open(path, "rb") as f:
        return httpx.post(f"{url}/jobs/upload", files={"audio": (Path(path).name, f)},
                          data={"options": json.dumps(options)}, headers=headers or {}, timeout=timeout)


def wait_done(url, job_id, timeout=300):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = httpx.get(f"{url}/jobs/{job_id}").json()
        if s["state"] in ("done", "failed", "cancelled"):
            return s
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def read_response(sock: socket.socket) -> tuple[int, dict, bytes]:
    """Status, headers and body of one HTTP/1.1 response on ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def long_wav(conversation, path: Path, seconds: float, sr: int = 16000, channels: int = 1) -> Path:
    """The conversation repeated to ``seconds`` (speech throughout), as 16-bit audio."""
    import soundfile as sf
    from scipy.signal import resample_poly

    from duet.audio.io import load_audio

    x = load_audio(conversation.mix).mono
    if sr != 16000:
        x = resample_poly(x, sr // 1000, 16).astype(np.float32)
    n = int(seconds * sr)
    x = np.tile(x, n // len(x) + 1)[:n]
    data = np.stack([np.roll(x, k * sr) for k in range(channels)], 1)
    sf.write(str(path), data, sr, subtype="PCM_16")
    return path


def test_chunked_body_cannot_pass_the_size_limit(conversation, tmp_path):
    """Probe: `Content-Length: 1` with `Transfer-Encoding: chunked` got a 9.6 MB WAV past --max-request-mb 1."""
    from duet.service.client import multipart

    wav = long_wav(conversation, tmp_path / "talk.wav", 300)
    assert wav.stat().st_size > 9_000_000
    body, ctype = multipart({"audio": wav}, {"options": json.dumps({"animator": "baseline"})})
    with server("--max-request-mb", "1") as s:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        sock.sendall(f"POST /jobs/upload HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\nContent-Type: {ctype}\r\n"
                     f"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        with contextlib.suppress(OSError):  # the service may close before it has all of it
            for i in range(0, len(body), 1 << 20):
                chunk = body[i: i + (1 << 20)]
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        status, headers, data = read_response(sock)
        sock.close()
        assert status == 411 and "Content-Length" in json.loads(data)["error"], data
        assert headers["content-type"] == "application/json"
        assert httpx.get(f"{s.url}/jobs").json() == []  # no job was made from it


def test_a_refused_body_still_sending_gets_its_answer_and_a_clean_close():
    """CI saw a 411 arrive with its JSON body lost: closing on a body still coming sent a reset."""
    with server("--max-request-mb", "1") as s:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            sock.sendall(f"POST /jobs/upload HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\nContent-Type: "
                         f"multipart/form-data; boundary=x\r\nContent-Length: {8 << 20}\r\n\r\n".encode()
                         + bytes(2 << 20))  # sent before the answer is read: the service is closing on it
            status, headers, data = read_response(sock)
            assert status == 413 and "too large" in json.loads(data)["error"]
            assert sock.recv(65536) == b""  # a FIN after the answer, not a reset
            sock.close()


def test_oversized_body_is_refused_without_being_read():
    """Probe: a 400 MiB body was read in full before the rejection."""
    with server("--max-request-mb", "1") as s:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        total = 400 << 20
        sock.sendall(f"POST /jobs/upload HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\nContent-Type: multipart/form-data; "
                     f"boundary=x\r\nContent-Length: {total}\r\n\r\n".encode())
        status, headers, data = read_response(sock)
        assert status == 413 and "too large" in json.loads(data)["error"]
        sent, chunk = 0, bytes(1 << 20)
        with contextlib.suppress(OSError):  # reset, broken pipe or a stalled send once nobody reads
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        sock.close()
        assert sent < 64 << 20, f"the service took {sent >> 20} MiB of a refused body"
        assert headers.get("connection") == "close"


def test_stalled_body_times_out():
    """A client that declares a body and stops sending is dropped after --body-timeout."""
    with server("--body-timeout", "1") as s:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        t0 = time.monotonic()
        sock.sendall(f"POST /jobs/upload HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\nContent-Type: multipart/form-data; "
                     f"boundary=x\r\nContent-Length: 100000\r\n\r\n--x\r\n".encode())
        status, _, data = read_response(sock)
        sock.close()
        assert status == 408 and "stalled" in json.loads(data)["error"]
        assert time.monotonic() - t0 < 10
        assert httpx.get(f"{s.url}/health").status_code == 200


@pytest.fixture(scope="module")
def declared_huge(tmp_path_factory):
    """Small files that decode huge: 1000 s of 8-channel 48 kHz silence (0.4 MB), and 200 s of it
    (within the duration limit, not within the samples a job takes)."""
    import soundfile as sf

    d = tmp_path_factory.mktemp("huge")
    block = np.zeros((48000 * 10, 8), np.int16)
    for name, seconds in (("long8.flac", 1000), ("wide8.flac", 200)):
        with sf.SoundFile(str(d / name), "w", 48000, 8, "PCM_16", format="FLAC") as f:
            for _ in range(seconds // 10):
                f.write(block)
    assert (d / "long8.flac").stat().st_size < 1_000_000
    return d


def test_audio_is_refused_by_its_header_before_decoding(declared_huge, tmp_path):
    """Probe: a 0.4 MB FLAC (8 channels, 48 kHz, 1000 s of silence) was decoded before the duration
    check; the service grew from 336 MB to 3 GB."""
    with server() as s:
        r = upload(s.url, declared_huge / "long8.flac")
        assert r.status_code == 413, r.text
        assert r.json()["error"] == "long8.flac: audio is too long (1000 s; the limit is 600 s)"
        r = upload(s.url, declared_huge / "wide8.flac")
        assert r.status_code == 413
        assert "200 s x 8 channels x 48000 Hz is more audio than a job takes" in r.json()["error"]
        if shutil.which("ffmpeg"):
            # a piped FLAC does not say its length: it is counted, not trusted
            streamed = tmp_path / "streamed.flac"
            subprocess.run(f"ffmpeg -v error -f lavfi -i anullsrc=r=16000:cl=mono -t 700 -f flac - > {streamed}",
                           shell=True, check=True)
            # AAC is not libsndfile's: ffprobe reads its header
            aac = tmp_path / "long.m4a"
            subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "700",
                            "-c:a", "aac", "-b:a", "16k", str(aac)], check=True)
            for path, length in ((streamed, "over 600 s"), (aac, "700 s")):
                r = upload(s.url, path)
                assert r.status_code == 413, r.text
                assert r.json()["error"].startswith(f"{path.name}: audio is too long ({length};"), r.text
        assert s.peak_mb() < 400, f"the service reached {s.peak_mb()} MB"


def test_largest_upload_within_the_limits_stays_under_1_gb(conversation, tmp_path):
    """599 s of 48 kHz stereo (the most audio a job takes, 30 MB as FLAC): uploaded, checked and
    animated by the default animator (the model), the service's peak memory stays under 1 GB (issue 30's
    bar; the number is printed)."""
    flac = long_wav(conversation, tmp_path / "longest.flac", 599, sr=48000, channels=2)
    with server() as s:
        r = upload(s.url, flac, timeout=300)
        assert r.status_code == 202, r.text
        accepted = s.peak_mb()
        assert wait_done(s.url, r.json()["id"])["state"] == "done"
        peak = s.peak_mb()
    print(f"service peak memory: {accepted} MB after the upload's checks, {peak} MB after the job")
    assert peak < 1024, f"{peak} MB"


def test_foreign_host_and_cross_origin_requests_are_refused(conversation):
    """Probe: a cross-origin form post (Origin: http://evil.example) made a job on the token-less
    loopback service, and a foreign Host header was answered (DNS rebinding)."""
    with server() as s:
        r = httpx.get(f"{s.url}/version", headers={"Host": f"evil.example:{s.port}"})
        assert r.status_code == 403 and "evil.example" in r.json()["error"]
        for host in (f"localhost:{s.port}", f"127.0.0.1:{s.port}", f"[::1]:{s.port}", "LOCALHOST"):
            assert httpx.get(f"{s.url}/version", headers={"Host": host}).status_code == 200, host
        r = upload(s.url, conversation.mix, headers={"Origin": "http://evil.example"}, animator="baseline")
        assert r.status_code == 403 and "cross-origin" in r.json()["error"]
        r = upload(s.url, conversation.mix, headers={"Origin": "null"}, animator="baseline")
        assert r.status_code == 403
        r = httpx.get(f"{s.url}/jobs", headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        assert httpx.get(f"{s.url}/jobs").json() == []  # none of them made a job
        own = upload(s.url, conversation.mix, headers={"Origin": s.url, "Sec-Fetch-Site": "same-origin"},
                     animator="baseline")
        assert own.status_code == 202  # the service's own page (/docs) still works
    with server("--token", TOKEN) as s:  # with a token, a cross-origin request needs it like any other
        evil = {"Origin": "http://evil.example"}
        assert upload(s.url, conversation.mix, headers=evil, animator="baseline").status_code == 401
        r = upload(s.url, conversation.mix, headers={**evil, "Authorization": f"Bearer {TOKEN}"}, animator="baseline")
        assert r.status_code == 202


def test_every_failure_is_one_json_line_without_a_traceback(conversation, tmp_path):
    """Probe: a NUL byte in a path or deeply nested options gave a plain-text 500, a negative seed an
    "internal error"."""
    (tmp_path / "mix.wav").write_bytes(Path(conversation.mix).read_bytes())
    nested = "[" * 30000 + "]" * 30000
    with server("--allow", tmp_path) as s:
        replies = {
            "nul": httpx.post(f"{s.url}/jobs", json={"audio": str(tmp_path / "mi\0x.wav")}),
            "nested options": httpx.post(f"{s.url}/jobs/upload", data={"options": nested},
                                         files={"audio": ("mix.wav", Path(conversation.mix).read_bytes())}),
            "nested body": httpx.post(f"{s.url}/jobs", content=nested, headers={"Content-Type": "application/json"}),
            "negative seed": upload(s.url, conversation.mix, seed=-1),
            "negative seed by path": httpx.post(f"{s.url}/jobs", json={"audio": str(tmp_path / "mix.wav"), "seed": -5}),
            "huge seed": upload(s.url, conversation.mix, seed=2**40),
            "no such route": httpx.get(f"{s.url}/nope"),
            "wrong method": httpx.delete(f"{s.url}/jobs"),
        }
        for what, r in replies.items():
            assert 400 <= r.status_code < 500, (what, r.status_code, r.text)
            assert r.headers["content-type"] == "application/json", (what, r.text)
            error = r.json()["error"]
            assert error and "\n" not in error and "Traceback" not in r.text, (what, r.text)
        assert "NUL" in replies["nul"].json()["error"]
        assert "nested too deeply" in replies["nested options"].json()["error"]
        assert "seed" in replies["negative seed"].json()["error"]
        assert httpx.get(f"{s.url}/jobs").json() == []
        assert not any("Traceback" in line for line in s.log)


def test_a_killed_service_leaves_no_uploads_for_good(conversation, tmp_path):
    """Probe: a killed service left uploaded audio in its temporary folder for good; the next start
    removes it (a live service's folder is left alone)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    precious = tmp_path / "precious-talk.wav"
    long_wav(conversation, precious, 120)
    env = {"TMPDIR": str(tmp)}
    with server(env=env) as live, server(env=env) as s:
        r = upload(s.url, precious)
        assert r.status_code == 202, r.text
        assert list(tmp.rglob(precious.name))
        s.proc.kill()
        s.proc.wait()
        assert list(tmp.rglob(precious.name)), "the killed service's upload should still be there"
        assert upload(live.url, precious, animator="baseline").status_code == 202
        with server(env=env):
            left = list(tmp.rglob(precious.name))
            assert len(left) == 1 and Path(f"/proc/{live.proc.pid}").exists()  # only the live service's
            assert str(live.proc.pid) in str(left[0])
    assert list(tmp.iterdir()) == []  # services stopped normally remove their own


def test_service_and_subprocess_engine_give_the_same_motion(conversation, tmp_path):
    """Issue 27: the add-on's Generate sends no engine; the service and the subprocess worker must
    then both use the model, and give the same motion for the same audio and seed."""
    from duet.motion import DyadicMotion
    from duet.service.client import ServiceJob, SubprocessJob

    spec = {"audio": str(conversation.mix), "seed": 5, "prompt": "two friends at a cafe"}
    with server() as s:
        served = ServiceJob(s.url, None, spec, tmp_path / "served.npz").wait(300)
    local = SubprocessJob(sys.executable, spec, tmp_path / "local.npz").wait(300)
    assert served.state == "done" and local.state == "done", (served, local)
    a, b = DyadicMotion.load(served.motion), DyadicMotion.load(local.motion)
    assert "model" in a.meta and a.meta["model"] == b.meta["model"]  # the model, not the baseline animator
    for p in "AB":
        for k, v in a.person(p).arrays().items():
            np.testing.assert_allclose(v, b.person(p).arrays()[k], atol=1e-5, err_msg=f"{p} {k}")


# --- the worker and the CLI -------------------------------------------------------------------------

def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def freeze_while(proc: subprocess.Popen, folder: Path, pattern: str, timeout: float = 300) -> bool:
    """SIGSTOP ``proc`` while a file matching ``pattern`` exists in ``folder`` (so a signal lands
    while it writes); False when the process ended first."""
    rx = re.compile(pattern)
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        if any(rx.fullmatch(n) for n in os.listdir(folder)):
            proc.send_signal(signal.SIGSTOP)
            if any(rx.fullmatch(n) for n in os.listdir(folder)):
                return True
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.001)
    return False


def test_cancelled_worker_leaves_no_temporaries(conversation, tmp_path):
    """Probe: the add-on's Esc (SIGTERM to the worker) left a hidden .name-XXXX temporary beside the
    output. Each try stops the worker while its motion's temporary exists, then cancels it."""
    from duet.service.client import SubprocessJob

    audio = long_wav(conversation, tmp_path / "long.wav", 400)
    out = tmp_path / "out"
    out.mkdir()
    caught = 0
    for _ in range(4):
        job = SubprocessJob(sys.executable, {"audio": str(audio), "animator": "baseline"}, out / "m.npz")
        if freeze_while(job._proc, out, r"\.m-.*\.npz"):
            caught += 1
            job.cancel()  # SIGTERM, as Esc in the add-on
            job._proc.send_signal(signal.SIGCONT)
            s = job.wait(60)
            assert s.state == "cancelled" and job._proc.returncode == 130, (s, job._proc.returncode)
            assert hidden(out) == [] and not (out / "m.npz").exists()
            break
        assert job.wait(60).state == "done"
        (out / "m.npz").unlink()
    assert caught, "the cancel never landed while the motion was being written"


def test_killed_runs_leave_temporaries_that_the_next_run_removes(tmp_path):
    """Probe: SIGKILL left hidden .name-XXXX temporaries beside the outputs for good."""
    from tests.bake_support import synthetic_motion

    synthetic_motion(seconds=2.0).save(tmp_path / "m.npz")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "duet", "bake", str(tmp_path / "m.npz"), "-o", str(out / "x.blend"),
           "--glb", str(out / "x.glb")]
    p = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 120
    while len(hidden(out) if out.exists() else []) < 2 and time.monotonic() < end:
        time.sleep(0.01)
    p.kill()
    p.wait()
    left = hidden(out)
    assert len(left) == 2 and all(re.fullmatch(rf"\.x-{p.pid}-\w{{8}}\.(blend|glb)@?", n) for n in left), left
    r = run_duet("bake", tmp_path / "m.npz", "-o", out / "x.blend", "--glb", out / "x.glb")
    assert r.rc == 0, r.err
    assert hidden(out) == [] and sorted(os.listdir(out)) == ["x.blend", "x.glb"]


# A Ctrl-C that arrives while Blender runs Python of its own. The signal is sent by the bake process
# itself, at the moment Python imports a module that only that stage imports (an audit hook), so the
# test is deterministic.
_SIGINT_ON_IMPORT = """
import os, signal, sys
first = sys.argv.pop(1)
def hook(event, args):
    global first
    if event == "import" and args[0] == first:
        first = None
        os.kill(os.getpid(), signal.SIGINT)
sys.addaudithook(hook)
from duet.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("module", [
    "cycles.engine",  # Blender's start-up registering its add-ons: a KeyboardInterrupt there crashed it (SIGSEGV)
    "io_scene_gltf2.io.exp.user_extensions",  # the glTF exporter, after the .blend is written: swallowed there
])
def test_ctrl_c_in_bake_is_one_line_exit_130_and_leaves_nothing(tmp_path, module):
    """Probes: Ctrl-C in `duet bake` printed a KeyboardInterrupt traceback (exit 3); Ctrl-C while
    Blender starts crashed it. Now Blender's own work finishes and the interrupt lands after it."""
    from tests.bake_support import synthetic_motion

    synthetic_motion(seconds=4.0).save(tmp_path / "m.npz")
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-c", _SIGINT_ON_IMPORT, module, "bake", str(tmp_path / "m.npz"),
                        "-o", str(out / "x.blend"), "--glb", str(out / "x.glb"), "--fbx", str(out / "x.fbx")],
                       capture_output=True, text=True, timeout=300)
    # 130 from duet; a process that Python itself ends by SIGINT reads the same (130) in a shell
    assert p.returncode in (130, -signal.SIGINT), (p.returncode, p.stderr)
    assert p.stderr.strip().splitlines()[-1] == "duet bake: interrupted" and "Traceback" not in p.stderr, p.stderr
    assert not out.exists() or os.listdir(out) == []


def test_an_interrupt_inside_an_uninterrupted_block_waits_for_its_end():
    code = ("import os, signal\nfrom duet.files import interrupt_on_signals, uninterrupted\n"
            "interrupt_on_signals()\nsteps = []\ntry:\n    with uninterrupted():\n"
            "        with uninterrupted():\n            os.kill(os.getpid(), signal.SIGINT)\n"
            "            steps.append('inner')\n        steps.append('outer')\n"
            "    steps.append('after')\nexcept KeyboardInterrupt:\n    print(steps)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "['inner', 'outer']", p.stdout + p.stderr


@pytest.fixture
def small_mount(tmp_path):
    """mount(options) -> a folder on its own tiny tmpfs (read-only or nearly full); needs root."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    mounted = []

    def mount(options: str) -> Path:
        d = tmp_path / f"mnt{len(mounted)}"
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(d)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", str(d)], check=False)


def test_read_only_folder_and_full_disk_are_one_line_and_exit_1(small_mount, conversation, tmp_path):
    """Probe: a read-only output folder or a full disk gave "internal error", exit 3 and a traceback."""
    from tests.bake_support import synthetic_motion

    synthetic_motion(seconds=2.0).save(tmp_path / "m.npz")
    read_only, full = small_mount("size=1m,ro"), small_mount("size=300k")
    runs = {
        "generate, read-only": (run_duet("generate", conversation.mix, "-o", read_only / "m.npz", "--animator",
                                         "baseline"), read_only, "read-only file system"),
        "bake, read-only": (run_duet("bake", tmp_path / "m.npz", "-o", read_only / "x.blend"), read_only,
                            "read-only file system"),
        "bake, disk full": (run_duet("bake", tmp_path / "m.npz", "-o", full / "x.blend"), full,
                            "no space left on device"),
    }
    for what, (r, folder, reason) in runs.items():
        last = r.err.strip().splitlines()[-1]
        assert r.rc == 1 and reason in last.lower() and "error:" in last, (what, r.rc, r.err)
        assert "Traceback" not in r.err and "internal error" not in r.err, (what, r.err)
        assert os.listdir(folder) == [], (what, os.listdir(folder))


@pytest.fixture(scope="module")
def hostile_motions(tmp_path_factory) -> dict[str, Path]:
    """The probes' motion files, each made as an attacker would (np.savez, not DyadicMotion.save)."""
    from tests.bake_support import synthetic_motion
    from tests.test_motion import write_declared_npz

    folder = tmp_path_factory.mktemp("hostile")
    base = synthetic_motion(seconds=1.0).to_arrays()
    (folder / "secret.wav").write_bytes(b"RIFF-not-yours")
    made = {}
    for name, change in (("float64", {"A_expr": base["A_expr"].astype(np.float64) * 1e39}),
                         ("fps", {"fps": np.float64(1e6)}),
                         ("dotdot", {"meta": np.asarray(json.dumps({"version": 1, "audio": ["../secret.wav"]}))})):
        sub = folder / name
        sub.mkdir()
        np.savez(sub / "m.npz", **{**base, **change})
        made[name] = sub / "m.npz"
    write_declared_npz(folder / "frames.npz", 3_000_000)
    made["frames"] = folder / "frames.npz"
    return made


@pytest.mark.parametrize("probe,message", [
    ("float64", "'A_expr' holds values too large for float32"),
    ("fps", "'fps' is 1e+06; it must lie between 1 and 240"),
    ("dotdot", "'../secret.wav', which is not a plain file name"),
    ("frames", "'A_expr' declares 3000000 frames"),
])
def test_hostile_motion_files_are_refused_in_one_line(hostile_motions, tmp_path, probe, message):
    """Probes: float64 values beyond float32 baked as inf/NaN keys (exit 0); fps 1e6 squeezed the keys
    into 18 frames; a '..' in the audio list packed a file from outside the motion's folder; a 1.6 MB
    .npz declaring 3 million frames took 6.9 GB."""
    motion = hostile_motions[probe]
    r = run_duet("bake", motion, "-o", tmp_path / "out.blend")
    lines = r.err.strip().splitlines()
    assert r.rc == 1 and len(lines) == 1 and lines[0].startswith(f"duet bake: error: {motion}: "), r.err
    assert message in lines[0], r.err
    assert os.listdir(tmp_path) == []


USER_SCENE = r'''
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.context.scene.render.fps = 25
build_user_head("Hero", ["jawOpen", "eyeBlinkLeft"])
build_user_head("Sidekick", ["jawOpen", "eyeBlinkLeft"])
bpy.ops.wm.save_as_mainfile(filepath=OUT)
print(json.dumps({"ok": True}))
'''


@pytest.fixture(scope="module")
def user_scene(tmp_path_factory):
    from tests.bake_support import run_blender, synthetic_motion

    d = tmp_path_factory.mktemp("user")
    run_blender(f"OUT = {str(d / 'user.blend')!r}\n" + USER_SCENE)
    synthetic_motion(seconds=1.0).save(d / "talk.npz")
    return d


@pytest.mark.blender
def test_heads_that_share_parts_are_refused(user_scene, tmp_path):
    """Probe: --head-b naming A's own face mesh deleted "Duet A" and exited 0."""
    scene = tmp_path / "user.blend"
    shutil.copy(user_scene / "user.blend", scene)
    before = scene.read_bytes()
    for head_b in ("Hero_face", "Hero"):
        r = run_duet("bake", user_scene / "talk.npz", "-o", tmp_path / "out.blend", "--into", scene,
                     "--head-a", "Hero", "--head-b", head_b)
        last = r.err.strip().splitlines()[-1]
        assert r.rc == 1 and last.startswith("duet bake: error: heads A ('Hero') and B") and "share" in last, r.err
        assert "Hero_face" in last and "Traceback" not in r.err
        assert not (tmp_path / "out.blend").exists() and scene.read_bytes() == before
    r = run_duet("bake", user_scene / "talk.npz", "-o", tmp_path / "out.blend", "--into", scene,
                 "--head-a", "Hero", "--head-b", "Sidekick_face")
    assert r.rc == 0, r.err


@pytest.mark.blender
def test_baking_into_the_same_file_keeps_a_blend1(user_scene, tmp_path):
    """Probe: -o equal to --into replaced the user's only copy with no backup (Blender keeps a .blend1)."""
    scene = tmp_path / "user.blend"
    shutil.copy(user_scene / "user.blend", scene)
    before = scene.read_bytes()
    r = run_duet("bake", user_scene / "talk.npz", "-o", scene, "--into", scene, "--head-a", "Hero",
                 "--head-b", "Sidekick")
    assert r.rc == 0, r.err
    assert (tmp_path / "user.blend1").read_bytes() == before and scene.read_bytes() != before
    assert hidden(tmp_path) == []
    # a failed bake keeps both as they were
    again = scene.read_bytes()
    r = run_duet("bake", user_scene / "talk.npz", "-o", scene, "--into", scene, "--head-a", "Hero",
                 "--head-b", "Nobody")
    assert r.rc == 1 and "Nobody" in r.err
    assert scene.read_bytes() == again and (tmp_path / "user.blend1").read_bytes() == before
    assert hidden(tmp_path) == []


# --- duet batch -------------------------------------------------------------------------------------

def motion_manifest(folder: Path, n: int) -> Path:
    from tests.bake_support import synthetic_motion

    clips = []
    for i in range(n):
        synthetic_motion(seconds=0.8, seed=i).save(folder / f"m{i}.npz")
        clips.append({"id": f"c{i}", "motion": f"m{i}.npz", "blend": f"out/c{i}.blend"})
    path = folder / "clips.json"
    path.write_text(json.dumps(clips))
    return path


def duet_processes(marker: str) -> list[int]:
    """Live processes whose command line names ``marker``."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and d.name != str(os.getpid()):
            with contextlib.suppress(OSError):
                if marker in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(d.name))
    return pids


@pytest.mark.blender
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_batch_stops_at_once_records_what_finished_and_names_the_rest(tmp_path, how):
    """Probe: Ctrl-C kept running queued clips for 38 s and did not record them. Ctrl-C reaches the
    whole process group (a terminal); SIGTERM only the batch (a process manager)."""
    manifest = motion_manifest(tmp_path, 4)
    clips = json.loads(manifest.read_text())
    p = subprocess.Popen([sys.executable, "-m", "duet", "batch", str(manifest)], stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    state = tmp_path / "clips.batch" / "state.json"
    end = time.monotonic() + 300
    while not state.exists() and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.3)  # the second clip is under way
    t0 = time.monotonic()
    if how == "ctrl-c":
        os.killpg(p.pid, signal.SIGINT)
    else:
        p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=60)[1]
    stopped_in = time.monotonic() - t0
    assert p.returncode == 130 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    done = json.loads(state.read_text())["clips"]
    left = [c["id"] for c in clips if c["id"] not in done]
    assert last == (f"duet batch: interrupted: {len(done)} of 4 clips finished and recorded; not finished: "
                    f"{', '.join(left)} (run the same command again to do them)"), err
    assert 1 <= len(done) <= 2 and all(v["status"] == "done" for v in done.values())
    assert stopped_in < 20, f"took {stopped_in:.1f} s to stop"
    logs = sorted(p.stem for p in (tmp_path / "clips.batch").glob("*.log"))
    assert len(logs) <= len(done) + 1, logs  # no clip started after the interrupt
    assert sorted(os.listdir(tmp_path / "out")) == sorted(f"{c}.blend" for c in done)  # nothing half-written
    assert duet_processes(str(tmp_path / "out")) == []  # the running clip was stopped, not orphaned
    r = run_duet("batch", manifest)
    assert r.rc == 0 and f"{len(done)} already handled, {4 - len(done)} to run" in r.err, r.err


def test_batch_refuses_two_clips_with_one_output(tmp_path):
    """Probe: two clips with the same output path both reported "done" while one overwrote the other."""
    manifest = motion_manifest(tmp_path, 3)
    clips = json.loads(manifest.read_text())
    clips[2]["blend"] = "out/../out/c0.blend"
    manifest.write_text(json.dumps(clips))
    r = run_duet("batch", manifest)
    assert r.rc == 1 and f"clips 'c0' and 'c2' both write {tmp_path / 'out' / 'c0.blend'}" in r.err, r.err
    assert not (tmp_path / "out").exists() and not (tmp_path / "clips.batch").exists()


@pytest.mark.blender
def test_batch_clips_run_in_an_isolated_python(tmp_path):
    """Probe: clips ran as `python -m duet` from the current folder, so a stray grp.py there was imported
    (here argparse.py too: every duet command imports it)."""
    manifest = motion_manifest(tmp_path, 1)
    marker = tmp_path / "imported"
    for stray in ("grp", "argparse"):
        (tmp_path / f"{stray}.py").write_text(f"open({str(marker)!r}, 'w').write('{stray}.py ran')\n")
    duet = Path(sys.executable).with_name("duet")
    r = subprocess.run([str(duet), "batch", str(manifest)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "c0.blend").is_file() and not marker.exists()
    assert " -P -s -m duet " in (tmp_path / "clips.batch" / "c0.log").read_text().splitlines()[0]
