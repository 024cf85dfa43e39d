#!/usr/bin/env bash
# Idempotent environment setup: system packages (as root), .venv with the pinned CPU torch first,
# the project with all extras, and the Khronos glTF validator. A stamp makes the second run instant.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
stamp=.venv/.duet-bootstrap
want="$(cat pyproject.toml tools/bootstrap.sh tools/package.json | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

say() { echo "[bootstrap] $*" >&2; }
apt_pkgs=(espeak-ng libespeak-ng1 ffmpeg flite festival festvox-kallpc16k sox)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "missing system packages (install them as root): ${missing[*]}"
  fi
fi

py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null || py=python3
if [ ! -x .venv/bin/python ]; then say "creating .venv"; "$py" -m venv .venv; fi
# --no-compile: byte-compiling every installed module (bpy's and torch's included) took 31 of the 84 s
# of a fresh setup; Python compiles what it imports, once, on first use.
pip=(quiet_pip .venv/bin/python -m pip install -q --no-compile --disable-pip-version-check)
# This machine's pip config names index folders that may not exist; hide only those warnings.
quiet_pip() { "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
# The CPU torch pin first: an unpinned torch would pull several GB of CUDA packages.
.venv/bin/python -c "import torch" 2>/dev/null || { say "installing torch 2.13.0 (CPU)"; "${pip[@]}" torch==2.13.0; }
say "installing duet with all extras"
"${pip[@]}" -e ".[all]"
# Resemblyzer, the reference our numpy GE2E encoder is tested against (tests/test_ge2e.py), without its
# dependencies: they would build webrtcvad from source over webrtcvad-wheels' identical module.
.venv/bin/python -c "import resemblyzer" 2>/dev/null || "${pip[@]}" --no-deps resemblyzer==0.1.4

if command -v npm >/dev/null; then
  say "installing the Khronos glTF validator"
  (cd tools && npm install --silent --no-audit --no-fund >/dev/null 2>&1) || say "npm install failed; GLB validation tests will fail"
fi
echo "$want" > "$stamp"
say "ready"
