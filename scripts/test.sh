#!/usr/bin/env bash
# Fresh machine to test results: installs the Debian packages, builds, runs every test, then the
# engine core's tests cross-built for 64-bit Arm under qemu (scripts/test_arm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
./scripts/fetch_gemma4_vocab.sh build/vocab/gemma4/tokenizer.json
npm ci --prefix tests/tools --no-audit --no-fund
(cd build && ctest --output-on-failure -j "$(nproc)") | tee build/ctest.log
./scripts/test_arm.sh | tee build/ctest-arm.log
echo "x86-64:          $(grep -E '^[0-9]+% tests passed' build/ctest.log)"
echo "aarch64 (qemu):  $(grep -E '^[0-9]+% tests passed' build/ctest-arm.log)"
