#!/usr/bin/env bash
# Set up what the tests need, then run the whole test suite headless.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
. .venv/bin/activate
export QT_QPA_PLATFORM=offscreen
exec python -m pytest -q -p no:cacheprovider "$@"
