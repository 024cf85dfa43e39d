"""The engine outside Blender's process: the environment of the built-in engine, and "Install Engine"
(a virtual environment with the engine wheel, for the GPU renderer or a faster Python).

Pure Python (no bpy) so it can be read and tested on its own; the operator runs the install commands
one after another in the background. The engine needs no torch (its networks run in ONNX Runtime), so
this works with any Python 3.11 to 3.13, Blender's own included.
"""

import os
import sys
from pathlib import Path

WHEELS = Path(__file__).parent / "wheels"  # what the extension ships; Blender installs these on enabling it


def engine_wheel() -> str:
    """The engine wheel inside this extension ("" when running from a source checkout)."""
    found = sorted(WHEELS.glob("duet-*-py3-none-any.whl"))
    return str(found[-1]) if found else ""


def builtin_env() -> dict:
    """Environment for running the engine with Blender's own Python (``sys.executable``): the same
    module path as Blender's, where it installed the extension's wheels, and no user site-packages."""
    return {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "PYTHONNOUSERSITE": "1"}


def venv_python(venv: str) -> str:
    folder = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    return str(Path(venv) / folder / exe)


def install_commands(venv: str, source: str = "", base_python: str | None = None) -> list[list[str]]:
    """venv, then the engine from ``source`` with the service's extra: a checkout folder or a wheel
    (default: the wheel inside this extension); any other text is passed to pip as a requirement."""
    python = venv_python(venv)
    source = source or engine_wheel()
    if not source:
        raise ValueError("no engine wheel in this extension: set the engine source")
    is_path = Path(source).is_dir() or source.endswith(".whl")
    return [
        [base_python or sys.executable, "-m", "venv", str(venv)],
        [python, "-m", "pip", "install", "--upgrade", "pip"],
        [python, "-m", "pip", "install", f"{source}[serve]" if is_path else source],
    ]
