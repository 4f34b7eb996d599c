#!/usr/bin/env bash
# The main job on the bundled default: installs what is missing, builds, makes the default demo
# model (DenseNet-121 with seeded weights, NOT trained for diagnosis), and predicts the 14
# findings for the bundled demo chest X-rays, writing heat maps to build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
/usr/bin/python3 scripts/make_reference_model.py
mkdir -p build/demo
build/tools/cli/chexrt predict data/demo --heatmap-dir build/demo "$@"
