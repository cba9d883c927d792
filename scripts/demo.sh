#!/usr/bin/env bash
# Fresh machine to a first answer: installs the Debian packages, builds g4, pulls Gemma 4 E2B
# (Google's QAT Q4_0 GGUF) from the Hugging Face hub into the model store and asks it a question.
# Where the hub cannot be reached (as on the project's offline CI machines), it says so and
# answers with a tiny random-weight model that carries the real Gemma 4 vocabulary instead
# (its answer is noise; the path is real).
set -euo pipefail
cd "$(dirname "$0")/.."
question="${1:-What is 2+2?}"
./scripts/setup.sh
./scripts/build.sh
if ./build/g4 pull gemma4:e2b; then
  exec ./build/g4 run gemma4:e2b -p "$question"
fi
echo "demo: gemma4:e2b could not be pulled (no internet?); using a tiny random-weight model instead" >&2
./scripts/fetch_gemma4_vocab.sh build/vocab/gemma4/tokenizer.json
./build/g4-random-model --config tests/data/models/tiny-vocab.q4_0.config.json --type q4_0 \
  --vocab build/vocab/gemma4/tokenizer.json -q -o build/tiny-vocab.q4_0.gguf
./build/g4 info -m build/tiny-vocab.q4_0.gguf
./build/g4 run -m build/tiny-vocab.q4_0.gguf -p "$question" -n 32 --seed 1
