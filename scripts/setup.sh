#!/usr/bin/env bash
# Create .venv and install SPAM Studio with everything it needs (idempotent), saying each step:
# what it installs and roughly how big. pip's own output goes to .venv/setup-pip.log (shown on failure).
#
# Usage: scripts/setup.sh [--test] [--cpu] [--dry-run]
#   --test     also the test tools (pytest, pytest-qt, hypothesis, ruff)
#   --cpu      PyTorch's CPU-only build, from PyTorch's CPU index (about 190 MB to download and
#              0.8 GB on disk, instead of about 5 GB with NVIDIA's CUDA libraries on Linux). When
#              that index cannot be reached it says so and installs the default build.
#   --dry-run  say what would be installed, install nothing
# On Linux as root with apt-get, Qt's system libraries are installed too (when missing).
# Environment: PYTHON (default python3); SPAM_TORCH_VERSION, SPAM_TORCHVISION_VERSION (the pins,
#   default 2.14.1 / 0.29.1); SPAM_TORCH_CPU_INDEX (default https://download.pytorch.org/whl/cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_V=${SPAM_TORCH_VERSION:-2.14.1}
TORCHVISION_V=${SPAM_TORCHVISION_VERSION:-0.29.1}
CPU_INDEX=${SPAM_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
want_test=0; want_cpu=0; dry=0
for a in "$@"; do
  case "$a" in
    --test) want_test=1 ;;
    --cpu) want_cpu=1 ;;
    --dry-run) dry=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $a (use --test, --cpu, --dry-run)" >&2; exit 2 ;;
  esac
done
say() { printf 'setup: %s\n' "$*"; }
LOG=.venv/setup-pip.log
pip_logged() {  # pip_logged WHAT PIP-ARGS...: pip quietly into $LOG; on failure its tail, exit 1
  local what=$1; shift
  if ! python -m pip "$@" >>"$LOG" 2>&1; then
    echo "setup: FAILED: $what. The last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
}

# -- 1. Qt's xcb plugin needs these on Linux (a desktop session usually has most of them already).
if [ "$(uname -s)" = "Linux" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  pkgs="libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    say "Qt's system libraries (apt-get, usually 10-60 MB):$missing"
    if [ $dry = 0 ]; then
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
  fi
fi

# -- 2. The virtual environment.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$PY" --version 2>&1) and upgrading pip in it (about 20 MB)"
  if [ $dry = 1 ]; then
    say "(dry run: stopping here; with a .venv it would go on to PyTorch and SPAM Studio)"
    exit 0
  fi
  "$PY" -m venv .venv
  . .venv/bin/activate
  pip_logged "upgrading pip" install -q --upgrade pip
fi
. .venv/bin/activate

# What torch is installed, without importing it: "none", or "cpu VERSION" / "cuda VERSION" (a
# build that depends on NVIDIA's CUDA packages: PyPI's default on Linux).
torch_kind() {
  python - <<'EOF'
import importlib.metadata as m
try:
    version, req = m.version("torch"), m.requires("torch") or []
    m.version("torchvision")
except m.PackageNotFoundError:
    print("none")
else:
    print("cuda" if any(r.lower().startswith("nvidia") for r in req) else "cpu", version)
EOF
}
# Why PyTorch's CPU index cannot be reached (empty when it can).
cpu_index_problem() {
  python - "$CPU_INDEX" <<'EOF'
import sys
import urllib.request

url = sys.argv[1].rstrip("/") + "/torch/"
try:
    with urllib.request.urlopen(url, timeout=10):   # the answer is not read
        pass
except Exception as exc:  # no network, DNS, proxy, HTTP error: said in one line
    print(getattr(exc, "reason", None) or exc)
EOF
}
default_build_size() {
  if [ "$(uname -s)" = "Linux" ]; then
    echo "on Linux a CUDA build: about 2.8 GB to download and 5.3 GB on disk with NVIDIA's CUDA libraries"
  else
    echo "about 80-200 MB to download"
  fi
}

# -- 3 and 4: nothing to do when the install is complete and the build files have not changed since
# (and, with --cpu, the installed PyTorch is a CPU build).
if [ $want_test = 1 ]; then extras="[test]"; stamp=.venv/.spam-installed-test
else extras=""; stamp=.venv/.spam-installed; fi
want="$(cat pyproject.toml setup.py 2>/dev/null | sha256sum | cut -d' ' -f1)"
kind=""
if [ $want_cpu = 1 ]; then kind=$(torch_kind); fi
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ "${kind%% *}" != "cuda" ] && [ "${kind%% *}" != "none" ] \
   && python -c "import spam_gui" 2>/dev/null; then
  say ".venv is up to date (pyproject.toml and setup.py unchanged since its install): nothing to install"
  exit 0
fi

# -- 3. PyTorch first, pinned, so that nothing pulls another build.
[ -n "$kind" ] || kind=$(torch_kind)
install_default_torch() {
  say "PyTorch $TORCH_V + torchvision $TORCHVISION_V, the default build ($(default_build_size))"
  [ $dry = 1 ] || pip_logged "installing PyTorch" install -q "torch==$TORCH_V" "torchvision==$TORCHVISION_V"
}
install_cpu_torch() {  # returns 1 (after saying why) when the CPU build cannot be installed
  local problem
  say "checking PyTorch's CPU index $CPU_INDEX"
  problem=$(cpu_index_problem)
  if [ -n "$problem" ]; then
    say "PyTorch's CPU index $CPU_INDEX is NOT reachable from here ($problem)"
    return 1
  fi
  say "PyTorch $TORCH_V+cpu + torchvision $TORCHVISION_V+cpu from $CPU_INDEX (CPU only: about 190 MB to download, 0.8 GB on disk)"
  [ $dry = 1 ] && return 0
  if ! python -m pip install -q --extra-index-url "$CPU_INDEX" \
       "torch==$TORCH_V+cpu" "torchvision==$TORCHVISION_V+cpu" >>"$LOG" 2>&1; then
    say "PyTorch's CPU index has no torch==$TORCH_V+cpu / torchvision==$TORCHVISION_V+cpu for this Python and platform (details in $LOG)"
    return 1
  fi
}
if [ $want_cpu = 1 ]; then
  case "$kind" in
    cpu*) say "PyTorch ${kind#cpu } (a CPU build) is installed already" ;;
    *)
      if install_cpu_torch; then
        [ "${kind%% *}" = "cuda" ] && say "note: the CUDA libraries of the previous build stay in .venv (pip keeps dependencies); for the saving, remove .venv and run ./scripts/setup.sh --cpu again"
      elif [ "${kind%% *}" = "cuda" ]; then
        say "keeping the installed default build, PyTorch ${kind#cuda } (with CUDA)"
      else
        say "falling back to the default build"
        install_default_torch
      fi ;;
  esac
elif [ "$kind" = none ]; then
  install_default_torch
  [ "$(uname -s)" = "Linux" ] && say "(a CPU-only machine needs no CUDA libraries: ./scripts/setup.sh --cpu installs PyTorch's CPU build instead)"
else
  say "PyTorch ${kind#* } is installed already ($([ "${kind%% *}" = cuda ] && echo "a CUDA build" || echo "a CPU build"))"
fi

# -- 4. SPAM Studio itself, editable (this folder), and its other dependencies.
say "SPAM Studio (editable, this folder) and its dependencies: NumPy, SciPy, OpenCV, scikit-image, Qt for Python (PySide6), numba, Dask, matplotlib, pycocotools, timm, segment-anything (about 1.2 GB on disk; already installed ones are kept)"
[ $want_test = 1 ] && say "  + the test tools: pytest, pytest-qt, hypothesis, pytest-timeout, ruff (about 60 MB)"
if [ $dry = 1 ]; then say "(dry run: nothing installed)"; exit 0; fi
pip_logged "installing SPAM Studio" install -q -e ".$extras"
echo "$want" > "$stamp"
say "done: .venv holds $(du -sh .venv 2>/dev/null | cut -f1) (pip's log: $LOG)"
