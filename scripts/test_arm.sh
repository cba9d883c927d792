#!/usr/bin/env bash
# The engine core cross-built for 64-bit Arm (aarch64) into ./build-arm, and its tests run under
# qemu-aarch64 (cmake/aarch64-linux-gnu.cmake, G4_ENGINE_CORE_ONLY). Needs the packages that
# scripts/setup.sh installs; scripts/test.sh runs this after the x86-64 tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-arm -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake >/dev/null
cmake --build build-arm -j "$(nproc)"
cd build-arm
ctest --output-on-failure -j "$(nproc)"
