#!/usr/bin/env bash
# Installs what dualpipe needs to build and test, with apt-get, only when missing.
# Idempotent and quiet when everything is already there.
set -euo pipefail

packages=(
  cmake ninja-build g++ git python3
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  googletest libgtest-dev libgmock-dev
  libopenmpi-dev openmpi-bin
  libopenblas-dev
  nlohmann-json3-dev
  libssl-dev
  clang-14 libclang-rt-14-dev
  ccache
  libonnx-dev libprotobuf-dev python3-onnx libonnx-testdata
  python3-torch python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
