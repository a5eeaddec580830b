#!/usr/bin/env bash
# Build SPAM Studio's sdist, build the wheel from that sdist, install the wheel (not editable) into
# a fresh virtual environment, and check it works from there, away from the checkout:
#   1. spam_gui and every shipped resource (encoder, edge model, samples, icons) come from the
#      installed wheel (spam_gui/_resources), never from this checkout's resources/;
#   2. `spam segment --builtin-prior` on a bundled sample (the shipped encoder and edge model);
#   3. `python -c "import spam_gui.app.main"` with QT_QPA_PLATFORM=offscreen.
# Offline: the build uses .venv's setuptools (no build isolation, no index), and the fresh venv sees
# .venv's packages (torch, Qt, ...) through a .pth file, so nothing is downloaded; spam_gui itself
# is only in the wheel. About a minute.
#
# Usage: scripts/smoke_wheel.sh [--keep]      (--keep: leave the work folder for a look)
# Environment: SPAM_SMOKE_PYTHON  the Python that builds (default .venv/bin/python)
#              SPAM_SMOKE_DIR     the work folder (default: a new one under $TMPDIR, removed after)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${SPAM_SMOKE_PYTHON:-$ROOT/.venv/bin/python}
keep=0; [ "${1:-}" = "--keep" ] && keep=1
W=${SPAM_SMOKE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/spam-smoke-wheel.XXXXXX")}
mkdir -p "$W"
W=$(cd "$W" && pwd)
start=$SECONDS
cleanup() {
  rc=$?
  if [ $rc = 0 ] && [ $keep = 0 ] && [ -z "${SPAM_SMOKE_DIR:-}" ]; then rm -rf "$W"
  else echo "smoke_wheel: work folder kept: $W"; fi
  exit $rc
}
trap cleanup EXIT
step() { printf 'smoke_wheel [%3ss] %s\n' $((SECONDS - start)) "$*"; }
fail() { echo "smoke_wheel: FAILED: $*" >&2; exit 1; }
run_logged() {  # run_logged LOG CMD...: quiet unless it fails
  local log=$1; shift
  "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "$* (log above)"; }
}

[ -x "$PY" ] || fail "$PY: no Python to build with (run ./scripts/setup.sh first)"
"$PY" -c "import setuptools" 2>/dev/null || fail "$PY has no setuptools: the offline build needs it"

step "copying the sources (pyproject.toml, setup.py, README.md, spam_gui/, resources/) to $W/src"
mkdir -p "$W/src" "$W/dist" "$W/unpacked" "$W/run"
tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml setup.py README.md spam_gui resources \
  | tar -xf - -C "$W/src"

step "building the sdist (setuptools from $PY, no build isolation: offline)"
(cd "$W/src" && run_logged "$W/sdist.log" "$PY" -c \
  'import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))' "$W/dist")
sdist=$(ls "$W"/dist/*.tar.gz)
tar -xzf "$sdist" -C "$W/unpacked"

step "building the wheel from the sdist (so the sdist is known to be complete)"
run_logged "$W/wheel.log" "$PY" -m pip wheel --no-deps --no-build-isolation --no-index \
  -w "$W/dist" "$W"/unpacked/*/
wheel=$(ls "$W"/dist/*.whl)
if grep -h -A3 '^ *!!' "$W/sdist.log" "$W/wheel.log" | grep -v '^ *!!' | grep -q .; then
  echo "smoke_wheel: setuptools warned while building:"; grep -h -A8 '^ *!!' "$W/sdist.log" "$W/wheel.log" | head -40
fi
echo "  sdist $(basename "$sdist"): $(du -k "$sdist" | cut -f1) KiB"
echo "  wheel $(basename "$wheel"): $(du -k "$wheel" | cut -f1) KiB"

step "fresh venv $W/venv; its dependencies are .venv's packages through a .pth file"
"$PY" -m venv --without-pip "$W/venv"
VPY=$W/venv/bin/python
deps_site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
new_site=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$deps_site" > "$new_site/_spam_smoke_dependencies.pth"

step "installing the wheel, not editable"
# pip is .venv's (through the .pth) but installs into the fresh venv: $VPY is its interpreter.
# --ignore-installed: .venv's own (editable) spam-studio is visible there and must not count.
run_logged "$W/install.log" "$VPY" -m pip install --no-deps --no-index --ignore-installed \
  --no-warn-script-location "$wheel"
[ -x "$W/venv/bin/spam" ] || fail "the wheel installed no 'spam' command"

# Everything below runs in $W/run, so neither the checkout nor its resources/ can be found.
cd "$W/run"
export QT_QPA_PLATFORM=offscreen SPAM_CACHE_DIR=$W/cache SPAM_DATA_DIR=$W/data
unset PYTHONPATH SPAM_SAM_CHECKPOINT SPAM_DINO_CHECKPOINT

step "spam_gui and its resources come from the wheel"
"$VPY" - "$new_site" "$ROOT" <<'EOF' || fail "the installed package is incomplete or not the wheel's"
import sys
from pathlib import Path

import spam_gui
from spam_gui.core.io.resources import SHIPPED_RESOURCES, missing_resources, resources_dir

site, checkout = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
pkg = Path(spam_gui.__file__).resolve()
res = resources_dir().resolve()
print(f"  spam_gui from {pkg.parent}\n  resources from {res}")
assert site in pkg.parents, f"spam_gui was imported from {pkg}, not from the wheel in {site}"
assert site in res.parents and checkout not in res.parents, f"resources found at {res}"
missing = missing_resources()
assert not missing, f"missing from the wheel: {missing}"
print(f"  all {len(SHIPPED_RESOURCES)} checked resources present")
EOF

sample=$("$VPY" -c 'from spam_gui.core.io.resources import resource_path as r; print(r("samples/coffee.jpg"))')
step "spam segment $sample --builtin-prior (shipped encoder + built-in prior's edge model)"
run_logged "$W/segment.log" "$W/venv/bin/spam" segment "$sample" --builtin-prior \
  --out "$W/out" --device cpu --no-progress
sed 's/^/  /' "$W/segment.log" | tail -5
"$VPY" - "$W/out/coffee.json" <<'EOF' || fail "spam segment's result is not the shipped models' (see $W/out)"
import json, sys

d = json.load(open(sys.argv[1], encoding="utf-8"))
enc, prior = d["parameters"]["encoder"], d["prior"]
print(f"  {d['n_superpixels']} superpixels, encoder {enc}; prior {prior['source']}, "
      f"edge model {prior['edge_model']}")
assert "shipped, D=20" in enc, enc
assert prior["source"] == "builtin" and "shipped, D=20" in prior["encoder"], prior
assert d["n_superpixels"] > 50, d["n_superpixels"]
EOF

step "python -c 'import spam_gui.app.main' (QT_QPA_PLATFORM=offscreen)"
run_logged "$W/import.log" "$VPY" -c "import spam_gui.app.main"

expect_missing() {  # expect_missing NAME ARGS...: spam segment ARGS exits 2 naming NAME, no traceback
  local name=$1 rc=0; shift
  "$W/venv/bin/spam" segment "$sample" --out "$W/out-missing" --device cpu --no-progress "$@" \
    >"$W/missing.log" 2>&1 || rc=$?
  sed 's/^/  /' "$W/missing.log" | tail -3
  [ $rc = 2 ] && grep -q "error: .*$name.*missing" "$W/missing.log" && ! grep -q Traceback "$W/missing.log" \
    || fail "without $name, spam segment $* exited $rc instead of naming it (log above)"
}
res_dir=$("$VPY" -c 'from spam_gui.core.io.resources import resources_dir; print(resources_dir())')
step "without the shipped edge model: spam segment --builtin-prior names it (exit 2)"
rm "$res_dir/models/builtin_prior_edges.npz"
expect_missing builtin_prior_edges.npz --builtin-prior
step "without the shipped encoder: spam segment names it (exit 2), no silent 'no network' fallback"
rm "$res_dir/models/spam_encoder_d20.pt"
expect_missing spam_encoder_d20.pt

step "passed: sdist and wheel built, wheel installed and working ($((SECONDS - start)) s)"
