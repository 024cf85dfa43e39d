"""Blender 4.4, 4.5 LTS and 5.3 bake, export and re-import too: tools/blender_versions.sh runs the
Blender-side tests in one cached venv per bpy version (the project's own venv covers 5.0). About 4 min
with the venvs cached; the first run downloads three bpy wheels (about 1.1 GB) and needs python3.11,
python3.13 (pyenv) and the package index."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.blender]
VERSIONS = {"4.4.0": "Blender 4.4.0", "4.5.15": "Blender 4.5.15 LTS",  # bpy wheel -> bpy.app.version_string
            "5.3.0": "Blender 5.3.0"}


def test_blender_side_tests_pass_on_blender_4_4_4_5_and_5_3():
    p = subprocess.run(["bash", str(ROOT / "tools" / "blender_versions.sh"), *VERSIONS], capture_output=True,
                       text=True, timeout=1800, check=False)
    assert p.returncode == 0, p.stdout + p.stderr[-4000:]
    lines = p.stdout.strip().splitlines()
    assert [line.split(" (")[0] for line in lines] == list(VERSIONS.values())
    counts = []
    for line in lines:
        m = re.search(r"\): (\d+) passed in [\d.]+s( \([\d:]+\))?$", line)  # nothing failed, errored or skipped
        assert m, line
        counts.append(int(m[1]))
    assert len(set(counts)) == 1 and counts[0] >= 20
