#!/usr/bin/env bash
# Runs one file of the Python API tests under pytest, with the build folder's package on
# PYTHONPATH. Exit 77 (ctest: skipped) with the reason where pytest or the module is missing.
#   run_pytest.sh TEST_FILE PYTHON_DIR CHEXRT_CLI
set -uo pipefail
test_file=$1 python_dir=$2 cli=$3
python=/usr/bin/python3
if ! "$python" -c "import pytest" 2>/dev/null; then
  echo "skipped: pytest is not installed (Debian: python3-pytest; scripts/install_deps.sh installs it)"
  exit 77
fi
if [ ! -d "$python_dir/chexrt" ]; then
  echo "skipped: the chexrt Python module is not built (needs pybind11-dev and python3-dev)"
  exit 77
fi
cd "$(dirname "$test_file")"
PYTHONPATH="$python_dir${PYTHONPATH:+:$PYTHONPATH}" CHEXRT_CLI="$cli" \
  "$python" -m pytest -q -rs -p no:cacheprovider "$(basename "$test_file")"
