#!/usr/bin/env bash
# Set everything up (first run: creates .venv and installs SPAM Studio, a few minutes), then start
# the desktop app. Without arguments it opens the bundled sample photos with their prior maps
# (copied into the user data folder, so labels can be saved beside them).
# Usage: scripts/run.sh [FOLDER_OR_IMAGE] [spam-gui options]   (no arguments: spam-gui --sample)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. .venv/bin/activate
if [ "$(uname -s)" = "Linux" ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  echo "run.sh: no DISPLAY or WAYLAND_DISPLAY: start it from a desktop session (or set QT_QPA_PLATFORM)" >&2
fi
[ $# -eq 0 ] && set -- --sample
exec spam-gui "$@"
