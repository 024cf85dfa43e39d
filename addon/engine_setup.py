"""The "install engine" helper: a virtual environment with the Duet engine, for subprocess mode.

Pure Python (no bpy) so it can be read and tested on its own; the operator runs these commands one
after another in the background.
"""

import os
import sys
from pathlib import Path

TORCH = "torch==2.13.0"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def venv_python(venv: str) -> str:
    folder = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    return str(Path(venv) / folder / exe)


def install_commands(venv: str, source: str, base_python: str | None = None) -> list[list[str]]:
    """venv, then CPU torch (pinned, small), then the engine from ``source`` (a checkout, wheel or requirement)."""
    python = venv_python(venv)
    return [
        [base_python or sys.executable, "-m", "venv", str(venv)],
        [python, "-m", "pip", "install", "--upgrade", "pip"],
        [python, "-m", "pip", "install", TORCH, "--index-url", TORCH_INDEX],
        [python, "-m", "pip", "install", f"{source}[audio,service]" if Path(source).is_dir() else source],
    ]

