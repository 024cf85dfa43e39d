"""Build the Blender extension zip: addon/ + blender_manifest.toml + the pure parts of duet in vendor/.

The bundled modules must import only the standard library, numpy, bpy/mathutils and each other
(Blender has no torch or scipy); ``bundled_imports`` checks that before anything is written. The
zip is then built and validated by Blender's own extension tool (``blender_ext.py`` from the bpy
wheel) when it is installed, else checked against the manifest rules here.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from duet import __version__
from duet.errors import DuetError
from duet.files import atomic_output

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = Path(__file__).resolve().parents[1]
# what the add-on needs from duet: motion files, frames, ARKit names, the rigs and duet.blender, the client
BUNDLED = ("__init__.py", "errors.py", "files.py", "motion.py", "frames.py", "arkit.py", "constants.py", "progress.py",
           "rigs/*.py", "blender/*.py", "exports/*.py", "service/__init__.py", "service/client.py")
ASSETS = ("rigs/openhead.npz",)  # found by duet.rigs.openhead at <extension>/rigs/
ALLOWED_THIRD_PARTY = {"numpy", "bpy", "mathutils", "bpy_extras", "gpu", "aud"}
REQUIRED = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
            "blender_version_min", "license")


def bundled_files() -> list[Path]:
    files = sorted({p for pattern in BUNDLED for p in PACKAGE.glob(pattern)})
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
    """Problems: imports in bundled files that Blender's Python cannot satisfy.

    Every ``duet`` import must be bundled; other packages must be in Blender at import time, while an
    import inside a function is an optional path (e.g. smplx for a user's FLAME model) and may fail there.
    """
    bundled = {".".join(("duet", *f.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
               for f in files}
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
                    if name not in bundled and name.rsplit(".", 1)[0] not in bundled:
                        problems.append(f"{f.relative_to(PACKAGE)} imports {name}, which is not bundled")
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


def stage(folder: Path) -> None:
    """Lay out the extension's source tree in ``folder``."""
    addon = ROOT / "addon"
    for f in sorted(addon.glob("*.py")):
        shutil.copy2(f, folder / f.name)
    shutil.copy2(ROOT / "blender_manifest.toml", folder / "blender_manifest.toml")
    for f in bundled_files():
        dest = folder / "vendor" / "duet" / f.relative_to(PACKAGE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    for asset in ASSETS:
        if (ROOT / asset).is_file():
            (folder / asset).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / asset, folder / asset)


def _ext(tool: Path, *args: str) -> None:
    p = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)
    if p.returncode != 0:
        lines = (p.stdout + p.stderr).strip().splitlines()
        raise DuetError(f"Blender's extension tool refused the add-on: {lines[-1] if lines else p.returncode}")


def build(out_dir: str | Path) -> Path:
    """Build ``duet-<version>.zip`` in ``out_dir``; returns its path. Nothing is left behind on failure."""
    if not (ROOT / "addon" / "__init__.py").is_file():
        raise DuetError(f"{ROOT}: no addon/ here; 'duet addon build' runs from a Duet source checkout")
    try:
        manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DuetError(f"blender_manifest.toml: {e}") from None
    problems = check_manifest(manifest) + bundled_imports(bundled_files())
    if problems:
        raise DuetError(f"the add-on cannot be built: {'; '.join(problems)}")
    out = Path(out_dir).expanduser() / f"{manifest['id']}-{manifest['version']}.zip"
    tool = blender_ext_tool()
    with tempfile.TemporaryDirectory(prefix="duet-addon-") as tmp, atomic_output(out) as zip_tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        stage(src)
        if tool:
            zip_tmp.unlink()
            _ext(tool, "build", "--source-dir", str(src), "--output-filepath", str(zip_tmp))
            _ext(tool, "validate", str(zip_tmp))
        else:
            with zipfile.ZipFile(zip_tmp, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(src.rglob("*")):
                    if f.is_file():
                        z.write(f, f.relative_to(src).as_posix())
    return out
