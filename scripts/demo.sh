#!/usr/bin/env bash
# Fresh machine to a first answer: installs the Debian packages, builds g4, fetches the Gemma 4
# vocabulary, makes a tiny random-weight model that carries it (no weights can be downloaded
# here), describes it and asks it a question. With a real model: ./build/g4 run -m MODEL -p "..."
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
./scripts/fetch_gemma4_vocab.sh build/vocab/gemma4/tokenizer.json
./build/g4-random-model --config tests/data/models/tiny-vocab.q4_0.config.json --type q4_0 \
  --vocab build/vocab/gemma4/tokenizer.json -q -o build/tiny-vocab.q4_0.gguf
./build/g4 info -m build/tiny-vocab.q4_0.gguf
./build/g4 run -m build/tiny-vocab.q4_0.gguf -p "${1:-What is 2+2?}" -n 32 --seed 1
