#!/usr/bin/env bash
# Run the Blender-side tests (numpy + bpy only, no torch) on every Blender that Duet supports.
#
#   tools/blender_versions.sh [VERSION ...]      default: 4.4.0 4.5.15 5.3.0 project
#
# Each bpy VERSION gets its own throwaway venv under $DUET_BPY_CACHE (default ~/.cache/duet/bpy),
# built once and reused: python3.11 (3.13 for Blender 5.1 on) + bpy==VERSION + numpy + the tests' few helpers. "project" is the
# repository's own .venv (Blender 5.0, the target). The first build of a 4.x venv downloads its bpy
# wheel (about 370 MB) and takes about 1 GB of disk. Prints one line per version, exits 1 if any failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DUET_BPY_CACHE:-$HOME/.cache/duet/bpy}"
PYTHON="${DUET_BPY_PYTHON:-python3.11}"
TESTS=(tests/test_bake.py tests/test_bake_scene.py tests/test_rigs_blender.py tests/test_livelink.py tests/test_batch.py)
HELPERS=(pytest soundfile trimesh pillow)  # what those tests import besides numpy and bpy
[ $# -gt 0 ] || set -- 4.4.0 4.5.15 5.3.0 project

python_for() {  # VERSION -> the Python that bpy VERSION is built for: 3.11 up to Blender 5.0, 3.13 after
    case "$1" in
        4.*|5.0.*) echo "$PYTHON" ;;
        *) ls -d "$HOME"/.pyenv/versions/3.13.*/bin/python3.13 2>/dev/null | tail -1 || echo python3.13 ;;
    esac
}

venv_for() {  # VERSION -> path of a venv with that bpy (built if missing or incomplete)
    local version="$1" dir="$CACHE/$1" numpy="numpy<2"  # every 4.x wheel is built against numpy 1.x
    case "$version" in 4.*) ;; *) numpy="numpy" ;; esac
    local want="bpy==$version $numpy ${HELPERS[*]}"
    if [ "$(cat "$dir/.duet-ready" 2>/dev/null)" != "$want" ]; then
        echo "building $dir ($want)" >&2
        rm -rf "$dir"
        mkdir -p "$CACHE"
        nice -n 10 "$(python_for "$version")" -m venv "$dir" >&2 || return 1
        # shellcheck disable=SC2086
        nice -n 10 "$dir/bin/pip" install -q --disable-pip-version-check $want >&2 || return 1
        echo "$want" > "$dir/.duet-ready"
    fi
    echo "$dir"
}

status=0
summary=()
for version in "$@"; do
    if [ "$version" = project ]; then
        venv="$ROOT/.venv"
    else
        venv="$(venv_for "$version")" || { summary+=("bpy $version: could not build the venv"); status=1; continue; }
    fi
    blender="$("$venv/bin/python" -c 'import bpy; print(bpy.app.version_string)' 2>/dev/null | tail -1)"
    log="$(mktemp)"
    (cd "$ROOT" && PYTHONPATH="$ROOT/engine:$ROOT" nice -n 10 "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        -m "not slow" "${TESTS[@]}") > "$log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || { status=1; grep -E "^(FAILED|ERROR) " "$log" | sed "s/^/  [$version] /" >&2; }
    summary+=("Blender ${blender:-?} ($version): $(tail -1 "$log" | sed 's/=//g; s/^ *//; s/ *$//')")
    rm -f "$log"
done
printf '%s\n' "${summary[@]}"
exit $status
