#!/usr/bin/env bash
# Fresh machine to test results: installs the Debian packages, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)"
