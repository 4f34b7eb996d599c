#!/usr/bin/env bash
# Installs the Debian packages chexrt needs to build, test and make its reference models.
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang-format curl
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata
  libpng-dev libjpeg-dev libdeflate-dev libisal-dev libdcmtk-dev libdnnl-dev ocl-icd-opencl-dev
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libgrpc++-dev protobuf-compiler-grpc
  libgtest-dev libgmock-dev libbenchmark-dev libspng-dev libturbojpeg0-dev
  python3 python3-numpy python3-torch python3-torchvision python3-onnx python3-pil python3-pydicom python3-grpcio
  python3-yaml python3-protobuf
  # the Python module (python/) and its tests (tests/python/)
  python3-pybind11 pybind11-dev python3-dev python3-pytest
  # the web page's test drives headless Chromium (tests/server/web_page_test.py)
  chromium python3-websocket
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
