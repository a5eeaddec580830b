#!/usr/bin/env bash
# Check a build in dist/spam-studio/: the app starts offscreen and draws superpixels on the sample
# set, the CLI answers --version/--help and segments the samples, and SAM / DINO code paths run on
# tiny random checkpoints. Usage: packaging/check_build.sh [DIST_DIR] (default dist/spam-studio)
set -euo pipefail
cd "$(dirname "$0")/.."
D=$(cd "${1:-dist/spam-studio}" && pwd)
S=$D/_internal/spam_gui/_resources/samples
W=$(mktemp -d /tmp/spam-check.XXXXXX)
export SPAM_CACHE_DIR=$W/cache QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
echo "== build: $D ($(du -sh "$D" | cut -f1))"
echo "== spam-studio --smoke"
"$D/spam-studio" --smoke --smoke-out "$W/smoke"
echo "== spam --version; spam-studio --version"
"$D/spam" --version
"$D/spam-studio" --version
for c in $("$D/spam" --help | awk '/^  COMMAND/{on=1; next} on && /^    [a-z]/{print $1} /^options:/{on=0}'); do
  "$D/spam" "$c" --help >/dev/null && echo "spam $c --help: ok"
done
echo "== spam segment (the sample set, with its priors)"
"$D/spam" segment "$S" --prior "$S/priors" --out "$W/segment" --no-progress
ls "$W/segment"
if [ -x "${CHECK_PYTHON:-build/venv-cpu/bin/python}" ]; then
  "${CHECK_PYTHON:-build/venv-cpu/bin/python}" packaging/make_tiny_checkpoints.py "$W/tiny" >/dev/null
  echo "== spam prior with a tiny random SAM checkpoint (segment-anything, torchvision nms)"
  "$D/spam" prior "$S/coffee.jpg" --sam-checkpoint "$W/tiny/tiny_sam.pth" --points-per-side 8 \
    --pred-iou-thresh 0 --stability-score-thresh 0 --device cpu --out "$W/prior"
  echo "== spam saliency with a tiny random DINO checkpoint (timm)"
  "$D/spam" saliency "$S/coffee.jpg" --dino-checkpoint "$W/tiny/tiny_dino.pth" --device cpu --out "$W/saliency"
fi
echo "== all checks passed (outputs in $W)"
