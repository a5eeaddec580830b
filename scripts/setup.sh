#!/usr/bin/env bash
# Create .venv and install SPAM Studio with everything it needs (idempotent).
# Usage: scripts/setup.sh [--test]   (--test also installs the test tools and Qt's system libraries)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want_test=0; [ "${1:-}" = "--test" ] && want_test=1

# Qt's xcb plugin needs these on Linux (a desktop session usually has most of them already).
if [ "$(uname -s)" = "Linux" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  pkgs="libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
. .venv/bin/activate
# Nothing to do when the install is complete and pyproject.toml has not changed since.
if [ $want_test = 1 ]; then extras="[test]"; stamp=.venv/.spam-installed-test
else extras=""; stamp=.venv/.spam-installed; fi
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! python -c "import spam_gui" 2>/dev/null; then
  # PyTorch first, pinned, so that nothing pulls another build.
  python -c "import torch, torchvision" 2>/dev/null || python -m pip install -q torch==2.14.1 torchvision==0.29.1
  python -m pip install -q -e ".$extras"
  echo "$want" > "$stamp"
fi
