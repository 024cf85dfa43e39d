import subprocess
import sys

from conftest import run_duet
from duet.cli import COMMANDS

DOCUMENTED_COMMANDS = {"generate", "bake", "run", "layout", "dialogue", "batch", "serve", "train", "eval",
                   "data", "render", "addon"}


def test_every_design_command_exists():
    assert DOCUMENTED_COMMANDS <= set(COMMANDS)
    r = run_duet("--help")
    assert r.rc == 0
    for name in DOCUMENTED_COMMANDS:
        assert f"  {name} " in r.out


def test_help_imports_nothing_heavy():
    code = ("import sys, duet.cli, contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "    duet.cli.main(['--help'])\n"
            "heavy = {'numpy', 'torch', 'bpy', 'scipy', 'librosa'} & set(sys.modules)\n"
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_command():
    r = run_duet("frobnicate")
    assert r.rc == 2 and "unknown command 'frobnicate'" in r.err


def test_output_suffix_is_checked(tmp_path, conversation):
    r = run_duet("generate", conversation.mix, "-o", tmp_path / "out.blend")
    assert r.rc == 1 and "must end in .npz" in r.err
