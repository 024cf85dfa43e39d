"""Layout evaluation on the held-out annotated prompts: translation MSE and pass rate per predictor.

    python -m duet.layout.evaluate [--llm]      (--llm adds zero-shot and few-shot via the endpoint)

tMSE is the mean over prompts of the mean squared distance (m^2) between predicted and annotated eye
positions of A and B (talking-together, supplementary 4). A prediction passes when each head is
within max(0.25 m, 20% of the annotated distance) of its annotation.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from duet.layout import Layout, eval_set


def errors(pred: Layout, target: Layout) -> tuple[float, bool]:
    da = np.linalg.norm(np.subtract(pred.A, target.A))
    db = np.linalg.norm(np.subtract(pred.B, target.B))
    tol = max(0.25, 0.2 * target.distance)
    return float((da**2 + db**2) / 2), bool(da <= tol and db <= tol)


def score(predictor) -> dict:
    """{"tmse", "pass_rate", "n", "failed"} of ``predictor(prompt) -> Layout`` over the held-out set."""
    mses, passes, failed = [], [], 0
    for prompt, target in eval_set():
        try:
            pred = predictor(prompt)
        except Exception:  # noqa: BLE001 - an endpoint failure counts against the predictor
            failed += 1
            continue
        mse, ok = errors(pred, target)
        mses.append(mse)
        passes.append(ok)
    n = len(eval_set())
    return {"tmse": float(np.mean(mses)) if mses else float("nan"), "pass_rate": float(np.sum(passes)) / n,
            "n": n, "failed": failed}


def main(argv=None) -> int:
    from duet import llm
    from duet.layout import offline, prompting
    from duet.layout.embedding import embed

    ap = argparse.ArgumentParser(prog="python -m duet.layout.evaluate")
    ap.add_argument("--llm", action="store_true", help="also score zero-shot and few-shot via the endpoint")
    args = ap.parse_args(argv)
    _, method = embed(["probe"], ["probe"])
    rows = [("k-NN average (k=5, %s)" % method, offline.knn_average),
            ("retrieval only (nearest example, %s)" % method, offline.retrieve),
            ("offline: retrieval + rules (%s)" % method, offline.predict_offline)]
    if args.llm:
        if not llm.settings().configured:
            print("no endpoint configured (OPENAI_API_KEY / OPENAI_BASE_URL)", file=sys.stderr)
            return 1
        rows += [("zero-shot LLM (%s)" % llm.settings().model,
                  lambda p: prompting.predict_llm(p, shots=0, use_cache=False)),
                 ("few-shot LLM, 3 examples (%s)" % llm.settings().model,
                  lambda p: prompting.predict_llm(p, use_cache=False))]
    print(f"| predictor | tMSE (m^2) | pass rate | n |\n|---|---|---|---|")
    for name, fn in rows:
        s = score(fn)
        extra = f" ({s['failed']} failed)" if s["failed"] else ""
        print(f"| {name} | {s['tmse']:.3f} | {100 * s['pass_rate']:.0f}% | {s['n']}{extra} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
