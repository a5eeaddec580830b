#!/usr/bin/env bash
# Build dist/spam-studio/: a one-folder Linux build of SPAM Studio with CPU-only PyTorch.
# Usage: packaging/build.sh            (about 5-15 minutes; see packaging/README.md)
# Environment:
#   TORCH_INDEX_URL   extra package index holding CPU wheels of torch/torchvision
#   TORCH_SPEC        default torch==2.13.0+cpu
#   TORCHVISION_SPEC  default torchvision==0.28.0 (+cpu when TORCH_INDEX_URL is set)
#   SPAM_BUILD_VENV   the build environment, default build/venv-cpu (never the dev .venv: its
#                     torch is the CUDA build)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${SPAM_BUILD_VENV:-build/venv-cpu}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0+cpu}
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  TORCHVISION_SPEC=${TORCHVISION_SPEC:-torchvision==0.28.0+cpu}
  index=(--extra-index-url "$TORCH_INDEX_URL")
else
  TORCHVISION_SPEC=${TORCHVISION_SPEC:-torchvision==0.28.0}
  index=()
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
. "$VENV/bin/activate"
if ! python -c "import sys, torch, torchvision; sys.exit(torch.version.cuda is not None)" 2>/dev/null; then
  python -m pip install -q "${index[@]}" "$TORCH_SPEC" "$TORCHVISION_SPEC"
fi
python -c "import sys, torch; sys.exit(torch.version.cuda is not None)" || {
  echo "build.sh: $VENV has a CUDA build of torch; remove it or point TORCH_SPEC at a +cpu wheel" >&2
  exit 1
}
python -m pip install -q . "pyinstaller>=6"
# the icons and the sample priors are committed; regenerate them with
#   packaging/make_icon.py and scripts/make_sample_priors.py
pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller \
  packaging/spam-studio.spec
du -sh dist/spam-studio
echo "built dist/spam-studio/ (spam-studio, spam); check it with:"
echo "  QT_QPA_PLATFORM=offscreen dist/spam-studio/spam-studio --smoke"
