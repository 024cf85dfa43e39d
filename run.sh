#!/usr/bin/env bash
# Duet's one entry point from a clean clone: installs what is missing (idempotent), then
#   ./run.sh demo   -> out/demo.blend, out/demo.glb, out/demo.mp4 (two heads talking)
#   ./run.sh test   -> the whole test suite
#   ./run.sh duet ARGS...  -> the duet command inside the project's environment
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
tools/bootstrap.sh >&2
export PATH="$here/.venv/bin:$PATH"
cmd="${1:-demo}"; shift || true
case "$cmd" in
  demo) exec duet demo -o out "$@" ;;
  test) exec python -m pytest -q -p no:cacheprovider "$@" ;;
  duet) exec duet "$@" ;;
  *) echo "usage: ./run.sh demo|test|duet ARGS..." >&2; exit 2 ;;
esac
