"""Layout from text, today's path against the issue-9 path, side by side in one run.

Run: .venv/bin/python benchmarks/layout.py [--runs N]

The issue-9 path is the engine as of commit BEFORE (retrieval over 30 examples with MiniLM through
sentence-transformers, plus its rules), unpacked from git into a temporary folder; the new one is this
working tree. For each it prints:
- `duet layout --offline PROMPT` as a whole process (python start, imports, model load, answer): the
  median wall time of N runs, for a prompt whose words settle the layout and one that needs the
  nearest examples (and so the sentence encoder);
- what `duet generate --prompt` pays for the layout: importing the layout package and one offline
  prediction of the second prompt in a fresh process that has already imported numpy (as generate has);
- the offline pass rate on this tree's held-out prompts and on issue 9's 36 held-out prompts, each
  path predicting with its own code and examples (targets: 90% held-out, under 1 s, under 0.5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "67d311d"  # main before issue 29: the issue-9 layout
PROMPTS = {  # one the words settle, one whose arrangement the nearest examples decide (the encoder runs)
    "words settle it": "Two workers shouting to each other from the opposite ends of a long warehouse.",
    "encoder runs": "Two colleagues chatting by the water cooler about the weekend.",
}

_IN_PROCESS = """
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from duet.layout import predict
predict(sys.argv[1], use_llm=False)
layout_s = time.perf_counter() - t0
from duet.layout.offline import predict_offline
sets = json.loads(sys.stdin.read())
rates = {}
for name, rows in sets.items():
    ok = 0
    for r in rows:
        p = predict_offline(" ".join(r["prompt"].split()))
        tol = max(0.25, 0.2 * float(np.linalg.norm(np.subtract(r["B"], r["A"]))))
        ok += bool(np.linalg.norm(np.subtract(p.A, r["A"])) <= tol and np.linalg.norm(np.subtract(p.B, r["B"])) <= tol)
    rates[name] = ok / len(rows)
print(json.dumps({"layout_s": layout_s, "rates": rates}))
"""


def measure(engine: Path, runs: int, sets: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(engine), "HF_HUB_OFFLINE": "1"}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DUET_TEXT_EMBEDDING"):
        env.pop(name, None)
    out = {"wall": {}, "answer": {}}
    for kind, prompt in PROMPTS.items():
        cmd = [sys.executable, "-c", "import sys; from duet.cli import main; sys.exit(main())", "layout", "--offline",
               prompt]
        subprocess.run(cmd, env=env, check=True, capture_output=True)  # warm the page cache
        walls = []
        for _ in range(runs):
            t0 = time.perf_counter()
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            if r.returncode:
                raise SystemExit(f"duet layout failed under {engine}: {r.stderr.strip()}")
        out["wall"][kind] = statistics.median(walls)
        out["answer"][kind] = r.stdout.strip().splitlines()[-1]
    inner = subprocess.run([sys.executable, "-c", _IN_PROCESS, PROMPTS["encoder runs"]], env=env,
                           input=json.dumps(sets), capture_output=True, text=True, check=True)
    return {**out, **json.loads(inner.stdout)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks/layout.py")
    ap.add_argument("--runs", type=int, default=5, help="whole-process runs per path (median)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "engine"))
    from duet.layout import eval_set, issue9_eval_set

    rows = lambda s: [{"prompt": p, "A": list(l.A), "B": list(l.B)} for p, l in s]  # noqa: E731
    sets = {"held-out": rows(eval_set()), "issue 9 held-out": rows(issue9_eval_set())}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE, "engine/duet"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        before = measure(Path(tmp) / "engine", args.runs, sets)
    now = measure(ROOT / "engine", args.runs, sets)
    n_held, n_old = len(sets["held-out"]), len(sets["issue 9 held-out"])
    print(f"| | issue-9 path ({BEFORE}) | this tree | ratio |\n|---|---|---|---|")
    for kind, prompt in PROMPTS.items():
        b, n = before["wall"][kind], now["wall"][kind]
        print(f"| `duet layout` whole process, {kind} (median of {args.runs}) | {b:.2f} s | {n:.2f} s | "
              f"{b / n:.1f}x faster |")
    print(f"| layout cost inside `duet generate` | {before['layout_s']:.2f} s | {now['layout_s']:.2f} s | "
          f"{before['layout_s'] / now['layout_s']:.1f}x faster |")
    for kind, prompt in PROMPTS.items():
        print(f"| {prompt} | {before['answer'][kind]} | {now['answer'][kind]} | |")
    for name, n in (("held-out", n_held), ("issue 9 held-out", n_old)):
        print(f"| pass rate, {name} ({n} prompts) | {100 * before['rates'][name]:.1f}% | "
              f"{100 * now['rates'][name]:.1f}% | |")
    ok = max(now["wall"].values()) < 1.0 and now["layout_s"] <= 0.5
    print(f"targets: whole process < 1 s and generate's layout <= 0.5 s: {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
