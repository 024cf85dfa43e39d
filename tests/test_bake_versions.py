"""Blender 4.4 and 4.5 still bake, export and re-import: tools/blender_versions.sh runs the Blender-side
tests in one cached venv per bpy version (the project's own venv covers 5.0). About 70 s with the venvs
cached; the first run downloads two bpy wheels (about 740 MB) and needs python3.11 and the package index."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.blender]
VERSIONS = {"4.4.0": "Blender 4.4.0", "4.5.15": "Blender 4.5.15 LTS"}  # bpy wheel -> bpy.app.version_string


def test_blender_side_tests_pass_on_blender_4_4_and_4_5():
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
    assert counts[0] == counts[1] >= 20
