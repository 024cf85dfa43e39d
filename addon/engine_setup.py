"""The "install engine" helper: a virtual environment with the Duet engine, for subprocess mode.

Pure Python (no bpy) so it can be read and tested on its own; the operator runs these commands one
after another in the background. The engine needs no torch (its networks run in ONNX Runtime), so
this works with any Python 3.11 to 3.13, Blender's own included.
"""

import os
import sys
from pathlib import Path


def venv_python(venv: str) -> str:
    folder = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    return str(Path(venv) / folder / exe)


def install_commands(venv: str, source: str, base_python: str | None = None) -> list[list[str]]:
    """venv, then the engine from ``source`` (a checkout, with the service's extra; a wheel or requirement as given)."""
    python = venv_python(venv)
    return [
        [base_python or sys.executable, "-m", "venv", str(venv)],
        [python, "-m", "pip", "install", "--upgrade", "pip"],
        [python, "-m", "pip", "install", f"{source}[serve]" if Path(source).is_dir() else source],
    ]
