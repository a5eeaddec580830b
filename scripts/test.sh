#!/usr/bin/env bash
# Set up what the tests need, lint with ruff, then run the whole test suite headless.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
. .venv/bin/activate
export QT_QPA_PLATFORM=offscreen
# Lint first (configured in pyproject.toml): a mistake ruff can see fails the run in seconds.
python -m ruff check --quiet .
exec python -m pytest -q -p no:cacheprovider "$@"
