"""The results page: markdown tables (method x metric, best in bold) and PNG plots beside them."""

from __future__ import annotations

import json
import math
from pathlib import Path

from duet.errors import DuetError
from duet.files import atomic_folder, atomic_output

# key, header, direction (min / max / abs: closest to 0 / truth: closest to the ground-truth row), decimals
TABLES = {
    "Lip sync": [
        ("lve_mm2", "LVE mm²", "min", 2), ("fdd_mm2", "FDD mm²", "abs", 3),
        ("bilabial_closure", "m/b/p closed", "max", 2), ("open_vowel", "open vowels open", "max", 2),
        ("openness_r", "gap~openness r", "max", 2), ("openness_lag_ms", "lag ms", "abs", 0),
        ("leakage", "listener leakage", "min", 2),
    ],
    "Parameter accuracy and realism": [
        ("mse_lip_speaker", "MSE lip (spk)", "min", 4), ("mse_expression_speaker", "MSE expr (spk)", "min", 4),
        ("mse_expression_listener", "MSE expr (lis)", "min", 4), ("mse_eye_all", "MSE eye", "min", 4),
        ("mse_rotation_all", "MSE rot", "min", 4), ("mse_translation_all", "MSE transl cm²", "min", 3),
        ("fd_expression", "FD expr", "min", 3), ("fd_jaw", "FD jaw", "min", 4), ("fd_pose", "FD pose", "min", 4),
        ("pfd_expression", "P-FD expr", "min", 3), ("pfd_jaw", "P-FD jaw", "min", 4),
        ("pfd_pose", "P-FD pose", "min", 4),
    ],
    "Diversity, gaze and speed": [
        ("sid_speaker", "SID spk", "max", 2), ("sid_listener", "SID lis", "max", 2),
        ("variance", "variance", "truth", 4),
        ("eye_contact_listening", "eye contact listening", "truth", 2),
        ("eye_contact_speaking", "eye contact speaking", "truth", 2),
        ("gaze_error_deg", "gaze error °", "min", 2), ("head_sync", "head sync", "truth", 2),
        ("seconds_per_audio_second", "s per audio s", "min", 3),
    ],
}
ALL_ROLES_NOTE = ("spk/lis: frames where the person speaks / listens (ground-truth masks). "
                  "Bold: best non-reference row; for variance, eye contact and head sync, best = closest to the "
                  "ground truth.")


def _fmt(v: float, decimals: int) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:.{decimals}f}"


def _best(rows, key: str, direction: str, truth_value: float | None):
    vals = [(i, r["metrics"].get(key, float("nan"))) for i, r in enumerate(rows) if not r["reference"]]
    vals = [(i, v) for i, v in vals if v is not None and math.isfinite(v)]
    if not vals:
        return set()
    score = {"min": lambda v: v, "max": lambda v: -v, "abs": abs,
             "truth": lambda v: abs(v - truth_value) if truth_value is not None else 0.0}[direction]
    best = min(score(v) for _, v in vals)
    return {i for i, v in vals if abs(score(v) - best) <= 1e-12 * max(1.0, abs(best))}


def table(rows, columns) -> str:
    """One markdown table: a row per method and input shape, best value per column in bold."""
    truth = next((r for r in rows if r["method"] == "ground truth"), None)
    lines = ["| method | input | " + " | ".join(h for _, h, _, _ in columns) + " |",
             "|---|---|" + "---:|" * len(columns)]
    bold = {}
    for key, _, direction, _ in columns:
        truth_value = truth["metrics"].get(key) if truth else None
        bold[key] = _best(rows, key, direction, truth_value)
    for i, r in enumerate(rows):
        cells = []
        for key, _, _, decimals in columns:
            text = _fmt(r["metrics"].get(key, float("nan")), decimals)
            cells.append(f"**{text}**" if i in bold[key] else text)
        name = f"*{r['method']}*" if r["reference"] else r["method"]
        lines.append(f"| {name} | {r['shape']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plots_folder(page: str | Path) -> Path:
    """Where a page's plots go: a folder beside it named after it (RESULTS.md -> RESULTS/). A
    DuetError when that name is taken by a file, so a caller can refuse before the evaluation."""
    plots = Path(page).with_suffix("")
    if plots.exists() and not plots.is_dir():
        raise DuetError(f"{plots}: exists and is not a folder (the page's plots go there; name the page "
                        f"so that its name without the suffix is free or a folder)")
    return plots


def write(results: dict, path: str | Path, command: str, sections: dict | None = None) -> Path:
    """Write ``path`` (markdown) and its plots in ``plots_folder(path)``, with the raw numbers as
    results.json there too."""
    path = Path(path)
    plots = plots_folder(path)
    with atomic_folder(plots) as tmp:
        (tmp / "results.json").write_text(json.dumps(results, indent=1))
        images = draw(results, tmp)
    with atomic_output(path) as tmp:
        tmp.write_text(markdown(results, command, plots.name, images, sections, path.parent))
    return path


def markdown(results: dict, command: str, plots: str, images: list[tuple[str, str]],
             sections: dict | None = None, base: Path | None = None) -> str:
    """The page; ``sections`` maps a heading to a results page (layout, avatars) included below."""
    setup, rows = results["setup"], results["rows"]
    model_rows = [r for r in rows if r["method"].startswith("model")]
    out = ["# Duet results", "",
           "Generated by one command (do not edit by hand):", "", "```", command, "```", "",
           f"- Data: corpus split `{setup['split']}` (voices and sentences unseen in training), "
           f"{len(setup['clips'])} clips ({setup['audio_seconds']:.0f} s of conversation): "
           f"{', '.join(setup['clips'])}.",
           f"- Input shapes: {', '.join(setup['shapes'])} (stereo = each channel hears the other "
           "person 20 dB down). Methods that do not read the audio are run once (input `-`).",
           f"- Hardware: {setup['hardware']}. Whole evaluation: {setup['wall_seconds']:.0f} s wall time.",
           f"- Listen-R retrieves from the first {setup['listen_r_train_clips']} training-split clips; seed {setup['seed']}.",
           ""]
    if not model_rows:
        out += ["**The learned model is not in these tables yet:** `duet.pipeline` offers no `model` engine, "
                "so neither the dual-stream model nor its single-stream ablation (no cross-attention) could "
                "be run. They join automatically as the first rows once the engine lands; rerun the command "
                "above.", ""]
    out += ["## Methods", ""]
    out += [f"- **{name}**: {note}" for name, note in results["methods"].items()]
    out += ["- *ground truth*: the corpus's own motion scored against itself: 0 for errors, and the "
            "level the rates and diversity should reach.", ""]
    for title, columns in TABLES.items():
        out += [f"## {title}", "", table(rows, columns), ""]
    out += [ALL_ROLES_NOTE, "", "Definitions: [docs/eval.md](eval.md).", "", "## Plots", ""]
    out += [f"![{alt}]({plots}/{name})" for name, alt in images]
    out.append("")
    for heading, page in (sections or {}).items():
        page = Path(page)
        rel = page.name if base is None else Path(_relative(page, base))
        out += [f"## {heading}", ""]
        if page.is_file():
            out += [f"From [{rel}]({rel}):", "", _demote(page.read_text()), ""]
        else:
            out += [f"Not available yet: [{rel}]({rel}) has not been written.", ""]
    return "\n".join(out)


def _relative(path: Path, base: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), base.resolve())


def _demote(md: str) -> str:
    """Push an included page's headings one level down so they nest under ours."""
    return "\n".join("#" + line if line.startswith("#") else line for line in md.strip().splitlines())


def draw(results: dict, folder: Path) -> list[tuple[str, str]]:
    """PNG plots into ``folder``; returns (file name, alt text) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tr = results["traces"]
    fps = tr["fps"]
    images = []

    fig, axes = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    for ax, p in zip(axes, ("A", "B")):
        truth = np.asarray(tr["methods"]["ground truth"]["gap"][p]) * 1000
        t = np.arange(len(truth)) / fps
        scale = max(np.percentile(truth, 95), 1e-6)
        ax.fill_between(t, 0, np.asarray(tr["openness"][p]) * scale, color="0.85", label="phone openness (scaled)")
        speaking = np.asarray(tr["speaking"][p]) >= 0.5
        ax.fill_between(t, -1, 0, where=speaking, color="tab:green", alpha=0.3, label="speaking")
        for name, trace in tr["methods"].items():
            style = dict(color="k", lw=1.6) if name == "ground truth" else dict(lw=0.9)
            ax.plot(t, np.asarray(trace["gap"][p]) * 1000, label=name, **style)
        ax.set_ylabel(f"person {p} lip gap (mm)")
    axes[0].set_title(f"Lip gap vs phonemes, clip {tr['clip']} (two-track input)")
    axes[-1].set_xlabel("time (s)")
    axes[0].legend(fontsize=7, ncol=3, loc="upper right")
    fig.tight_layout()
    fig.savefig(folder / "lip_gap.png", dpi=90)
    plt.close(fig)
    images.append(("lip_gap.png", "lip gap over time for both people against the phones' openness"))

    fig, axes = plt.subplots(2, 1, figsize=(12, 5), sharex=True)
    for ax, p in zip(axes, ("A", "B")):
        for name, trace in tr["methods"].items():
            style = dict(color="k", lw=1.6) if name == "ground truth" else dict(lw=0.9)
            g = np.asarray(trace["gaze_deg"][p])
            ax.plot(np.arange(len(g)) / fps, g, label=name, **style)
        ax.axhline(12, color="tab:red", ls="--", lw=0.8, label="eye contact (12°)")
        ax.set_ylabel(f"{p}: gaze to partner (°)")
        ax.set_ylim(0, 45)
    axes[0].set_title(f"Angle between gaze and the partner's eyes, clip {tr['clip']}")
    axes[-1].set_xlabel("time (s)")
    axes[0].legend(fontsize=7, ncol=3, loc="upper right")
    fig.tight_layout()
    fig.savefig(folder / "gaze.png", dpi=90)
    plt.close(fig)
    images.append(("gaze.png", "gaze angle to the partner over time"))

    keys = [c for cols in TABLES.values() for c in cols if c[0] != "seconds_per_audio_second"]
    rows = results["rows"]
    labels = [r["method"] + ("" if r["shape"] == "-" else f" [{r['shape']}]") for r in rows]
    ncol = 5
    nrow = math.ceil(len(keys) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow + 1.5))
    colors = plt.cm.tab20(np.linspace(0, 1, max(len(rows), 2)))
    for ax, (key, header, _, _) in zip(axes.ravel(), keys):
        vals = [r["metrics"].get(key, float("nan")) for r in rows]
        ax.bar(range(len(rows)), np.nan_to_num(vals), color=colors)
        ax.set_title(header, fontsize=9)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.legend([plt.Rectangle((0, 0), 1, 1, color=c) for c in colors], labels, loc="lower center",
               ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(folder / "metrics.png", dpi=80)
    plt.close(fig)
    images.append(("metrics.png", "every metric per method and input shape"))
    return images
