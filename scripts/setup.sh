#!/usr/bin/env bash
# Installs the Debian packages g4 builds and tests with. Idempotent: safe to run again.
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config
  nlohmann-json3-dev libcli11-dev
  libcurl4-openssl-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
  libpng-dev libjpeg-dev libexif-dev libwebp-dev libgif-dev libstb-dev  # image decoding
  libavformat-dev libavcodec-dev libavutil-dev libswresample-dev libswscale-dev  # audio, video
  python3-pil ffmpeg  # media test references: PIL decodes and resizes, ffmpeg encodes test clips
  chromium  # the web chat page's browser test (driven by playwright-core from npm)
  g++-aarch64-linux-gnu qemu-user googletest  # the Arm cross build and its tests (scripts/test_arm.sh)
)
# The tokenizer tests build their Gemma 4 vocabulary with Node.js (scripts/fetch_gemma4_vocab.sh);
# a node/npm already on the PATH (e.g. from nodesource) is used as is.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
