#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# (lit suite and GoogleTest unit suites) through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
