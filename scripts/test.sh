#!/usr/bin/env bash
# Fresh machine to test results: installs the Debian packages, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
./scripts/fetch_gemma4_vocab.sh build/vocab/gemma4/tokenizer.json
npm ci --prefix tests/tools --no-audit --no-fund
cd build
ctest --output-on-failure -j "$(nproc)"
