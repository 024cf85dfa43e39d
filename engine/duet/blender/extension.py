"""Build the Blender extension: one self-contained zip per platform, the engine and its runtime inside.

Each zip holds ``addon/*.py`` (the UI), ``blender_manifest.toml`` and ``wheels/``: the engine itself
(``duet-VERSION-py3-none-any.whl``, built from this checkout, networks and heads included) and the
packages that ``duet generate`` needs on Blender's own Python (ONNX Runtime, SciPy, soundfile,
webrtcvad, jsonschema and what they import), for Python 3.11 (Blender 4.4 to 5.0) and 3.13 (5.1 on).
Blender installs the wheels when the extension is enabled, offline; Generate then runs the engine
with Blender's own Python (see ``addon/operators.py``), and Install Engine installs the same engine
wheel into a separate environment for the GPU renderer or a service.

The third-party wheels are fetched once per platform from the package index into a cache
(``DUET_WHEEL_CACHE``, default ``~/.cache/duet/wheels``); later builds run offline. The zips are built,
split by platform and validated by Blender's own extension tool (``blender_ext.py`` from the bpy wheel).

The modules the add-on imports inside Blender's process (``IN_BLENDER``) must import only the standard
library, numpy, bpy/mathutils and each other at import time, so that enabling the add-on stays quick;
``bundled_imports`` checks that before anything is written.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from duet import __version__
from duet.errors import DuetError

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = Path(__file__).resolve().parents[1]
# what the add-on imports in Blender's own process: motion files, frames, ARKit names, the rigs and
# duet.blender, the engine client (the rest of duet runs in the engine process)
IN_BLENDER = ("__init__.py", "errors.py", "files.py", "motion.py", "frames.py", "arkit.py", "constants.py",
              "progress.py", "rigs/*.py", "blender/*.py", "exports/*.py", "service/__init__.py", "service/client.py")
ALLOWED_THIRD_PARTY = {"numpy", "bpy", "mathutils", "bpy_extras", "gpu", "aud"}
REQUIRED = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
            "blender_version_min", "license")
# What the engine imports at inference besides numpy (which Blender ships), pinned: the versions
# tested on Blender 4.5 (numpy 1.26) and 5.3 (numpy 2.x).
RUNTIME = ("onnxruntime==1.31.1", "scipy==1.17.1", "soundfile==0.13.1", "cffi==2.1.1", "pycparser==3.12",
           "webrtcvad-wheels==2.0.14", "jsonschema==4.26.0", "attrs==26.1.0", "referencing==0.37.0",
           "rpds-py==2026.9.1", "jsonschema-specifications==2025.9.1", "typing-extensions==4.16.0")
PYTHONS = ("3.11", "3.13")  # Blender 4.4 to 5.0; Blender 5.1 on
PLATFORMS = {  # Blender's platform name -> the wheel platform tags pip may pick for it
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"),
}


def bundled_files() -> list[Path]:
    """The duet modules the add-on imports inside Blender's process."""
    files = sorted({p for pattern in IN_BLENDER for p in PACKAGE.glob(pattern)})
    if not files:
        raise DuetError(f"{PACKAGE}: no duet sources found")
    return files


def _module_level(tree: ast.AST):
    """The nodes that run at import time (function bodies are skipped)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(c for c in ast.iter_child_nodes(node)
                     if not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))


def bundled_imports(files: list[Path]) -> list[str]:
    """Problems: imports in the in-Blender modules that would slow or break enabling the add-on.

    Every ``duet`` import must be one of those modules; other packages must be in Blender at import
    time, while an import inside a function is an optional path (e.g. smplx for a user's FLAME model).
    """
    bundled = {".".join(("duet", *f.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
               for f in {*files, *bundled_files()}}
    problems = []
    for f in files:
        tree = ast.parse(f.read_text(encoding="utf-8"))
        at_import = {id(n) for n in _module_level(tree)}
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top == "duet":
                    if id(node) in at_import and name not in bundled and name.rsplit(".", 1)[0] not in bundled:
                        problems.append(f"{f.relative_to(PACKAGE)} imports {name} inside Blender")
                elif (id(node) in at_import and top not in sys.stdlib_module_names
                      and top not in ALLOWED_THIRD_PARTY):
                    problems.append(f"{f.relative_to(PACKAGE)} imports {top}, which Blender does not have")
    return sorted(set(problems))


def check_manifest(manifest: dict) -> list[str]:
    """The rules of blender_manifest.toml (4.2+) that a build must meet."""
    problems = [f"missing '{k}'" for k in REQUIRED if k not in manifest]
    tagline = manifest.get("tagline", "")
    if len(tagline) >= 64:
        problems.append(f"tagline is {len(tagline)} characters (under 64 allowed)")
    if tagline and not tagline[-1].isalnum():
        problems.append("tagline must not end in punctuation")
    if not isinstance(manifest.get("license"), list) or not all(
            str(x).startswith("SPDX:") for x in manifest.get("license", [])):
        problems.append("license must be a list of 'SPDX:...' identifiers")
    for name, reason in manifest.get("permissions", {}).items():
        if not reason or reason.endswith(".") or len(reason) > 64:
            problems.append(f"permission '{name}' needs a reason of at most 64 characters without a final period")
    if manifest.get("version") != __version__:
        problems.append(f"version {manifest.get('version')} differs from duet {__version__}")
    return problems


def blender_ext_tool() -> Path | None:
    """Blender's extension command line (build, validate), shipped inside the bpy wheel."""
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        return None
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return found[-1] if found else None


def wheel_cache() -> Path:
    return Path(os.environ.get("DUET_WHEEL_CACHE") or Path.home() / ".cache" / "duet" / "wheels")


def _quiet(text: str) -> str:
    """pip's output without this machine's warnings about missing index folders."""
    return "\n".join(line for line in text.splitlines() if "is ignored: it is neither" not in line).strip()


def runtime_wheels(platform: str, python: str, cache: Path | None = None) -> list[Path]:
    """The RUNTIME wheels for one Blender platform and Python version, fetched into the cache once.

    A stamp file records what a fetch got for exactly these pins, so a later build needs no network."""
    cache = cache or wheel_cache()
    cache.mkdir(parents=True, exist_ok=True)
    stamp = cache / f"{platform}-py{python}.txt"
    pins = "\n".join(RUNTIME)
    if stamp.is_file():
        saved_pins, _, names = stamp.read_text().partition("\n\n")
        files = [cache / n for n in names.split()]
        if saved_pins == pins and files and all(f.is_file() for f in files):
            return files
    with tempfile.TemporaryDirectory(prefix="duet-wheels-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", python, "--dest", tmp]
        for tag in PLATFORMS[platform]:
            cmd += ["--platform", tag]
        p = subprocess.run([*cmd, *RUNTIME], capture_output=True, text=True)
        if p.returncode != 0:
            lines = _quiet(p.stdout + p.stderr).splitlines() or [f"exit status {p.returncode}"]
            raise DuetError(f"cannot fetch the runtime wheels for {platform}, Python {python} ({lines[-1]}); "
                            f"the first build needs the package index, later ones use {cache}")
        names = sorted(f.name for f in Path(tmp).glob("*.whl"))
        for n in names:
            shutil.copy2(Path(tmp) / n, cache / n)
    stamp.write_text(pins + "\n\n" + "\n".join(names) + "\n")
    return [cache / n for n in names]


def engine_wheel(folder: Path) -> Path:
    """Build ``duet-VERSION-py3-none-any.whl`` from a clean copy of this checkout's engine (no stale build/)."""
    with tempfile.TemporaryDirectory(prefix="duet-engine-") as tmp:
        src = Path(tmp)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(ROOT / "engine", src / "engine",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                            "--no-deps", "--no-build-isolation", "--wheel-dir", str(folder), str(src)],
                           capture_output=True, text=True)
    found = sorted(folder.glob(f"duet-{__version__}-py3-none-any.whl"))
    if p.returncode != 0 or not found:
        lines = _quiet(p.stdout + p.stderr).splitlines() or [f"exit status {p.returncode}"]
        raise DuetError(f"cannot build the engine wheel: {lines[-1]}")
    return found[0]


def _manifest_text(text: str, wheels: list[str], platforms: list[str]) -> str:
    """blender_manifest.toml with ``platforms`` and ``wheels`` set (top-level keys, before the first table)."""
    lines = ["platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]", "wheels = ["]
    lines += [f'  "./wheels/{w}",' for w in wheels] + ["]", ""]
    m = re.search(r"^\[", text, flags=re.M)
    at = m.start() if m else len(text)
    return text[:at] + "\n".join(lines) + "\n" + text[at:]


def stage(folder: Path, platforms: list[str]) -> None:
    """Lay out the extension's source tree in ``folder``: the UI, the manifest and every platform's wheels."""
    for f in sorted((ROOT / "addon").glob("*.py")):
        shutil.copy2(f, folder / f.name)
    wheels = folder / "wheels"
    wheels.mkdir()
    engine_wheel(wheels)
    for platform in platforms:
        for python in PYTHONS:
            for f in runtime_wheels(platform, python):
                shutil.copy2(f, wheels / f.name)
    text = (ROOT / "blender_manifest.toml").read_text(encoding="utf-8")
    names = sorted(f.name for f in wheels.glob("*.whl"))
    (folder / "blender_manifest.toml").write_text(_manifest_text(text, names, platforms), encoding="utf-8")


def _ext(tool: Path, *args: str) -> None:
    p = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)
    if p.returncode != 0:
        lines = (p.stdout + p.stderr).strip().splitlines()
        raise DuetError(f"Blender's extension tool refused the add-on: {lines[-1] if lines else p.returncode}")


def build(out_dir: str | Path, platforms: list[str] | None = None) -> list[Path]:
    """Build ``duet-<version>-<platform>.zip`` for each platform (default: all) in ``out_dir``, plus the
    engine wheel beside them; returns the zips. Nothing is left behind on failure."""
    platforms = list(platforms or PLATFORMS)
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown:
        raise DuetError(f"unknown platform {unknown[0]!r} (one of: {', '.join(PLATFORMS)})")
    if not (ROOT / "addon" / "__init__.py").is_file():
        raise DuetError(f"{ROOT}: no addon/ here; 'duet addon build' runs from a Duet source checkout")
    try:
        manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DuetError(f"blender_manifest.toml: {e}") from None
    problems = check_manifest(manifest) + bundled_imports(bundled_files())
    if problems:
        raise DuetError(f"the add-on cannot be built: {'; '.join(problems)}")
    tool = blender_ext_tool()
    if tool is None:
        raise DuetError("'duet addon build' needs Blender's extension tool from the bpy wheel "
                        "(pip install 'duet[blender]')")
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="duet-addon-", dir=out) as tmp:
        src, built = Path(tmp) / "src", Path(tmp) / "built"
        src.mkdir()
        built.mkdir()
        stage(src, platforms)
        _ext(tool, "build", "--source-dir", str(src), "--output-dir", str(built), "--split-platforms")
        zips = sorted(built.glob("*.zip"))
        expected = {f"{manifest['id']}-{manifest['version']}-{p.replace('-', '_')}.zip" for p in platforms}
        if {z.name for z in zips} != expected:
            raise DuetError(f"Blender's extension tool made {sorted(z.name for z in zips)}, not {sorted(expected)}")
        for z in zips:
            _ext(tool, "validate", str(z))
        wheel = next((src / "wheels").glob("duet-*.whl"))
        results = []
        for f in [*zips, wheel]:  # each appears whole: moved into place from the same file system
            os.replace(f, out / f.name)
            results.append(out / f.name)
    return results[:-1]
