#!/usr/bin/env bash
# The memory check's estimate (`g4 show --json`) against the measured peak RSS (GNU time's %M) of
# a real `g4 run` whose prompt fills the context. A benchmark, not a ctest: on a real-shape model
# each run prefills the whole context, which takes minutes on a small machine.
#
#   scripts/memory_vs_rss.sh MODEL [CTX ...]        (default CTX: 1024)
#   e.g. build/g4-random-model --preset e2b --type q4_0 -o /tmp/e2b-q4_0.gguf
#        scripts/memory_vs_rss.sh /tmp/e2b-q4_0.gguf 512 2048
# Needs GNU time (Debian package `time`). G4=path/to/g4 and THREADS=N override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
G4=${G4:-build/g4}
THREADS=${THREADS:-$(nproc)}
model=$1
shift
contexts=("$@")
[ ${#contexts[@]} -gt 0 ] || contexts=(1024)
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }

words() {  # N pseudo-random words
  awk -v n="$1" 'BEGIN { srand(7); split("time people year way day thing man world life hand part child eye woman place work week case point government company number group problem fact river stone light garden winter paper market", w, " ");
    for (i = 0; i < n; ++i) printf "%s%s ", w[int(rand() * 35) + 1], (rand() < 0.2 ? int(rand() * 1000) : "") }'
}
# Tokens per word for this model's tokenizer, from a sample.
sample_tokens=$(words 2000 | "$G4" tokenize -m "$model" | tr -cd ',' | wc -c)
printf "%-8s %12s %12s %8s   %s\n" context estimated measured diff "breakdown (weights + KV + buffers + runtime)"
for ctx in "${contexts[@]}"; do
  want=$((ctx - 48))  # room for the chat template and 16 answer tokens
  n_words=$((want * 2000 / (sample_tokens + 1)))
  prompt=$(words "$n_words")
  # Shrink until the prompt fits (the sample's ratio is only an estimate).
  while true; do
    n_tokens=$(printf "%s" "$prompt" | "$G4" tokenize -m "$model" | tr -cd ',' | wc -c)
    [ "$n_tokens" -lt "$want" ] && break
    n_words=$((n_words * want * 95 / (100 * (n_tokens + 1))))
    prompt=$(words "$n_words")
  done
  est=$("$G4" show "$model" -c "$ctx" -t "$THREADS" --json)
  total=$(echo "$est" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).memory.total)')
  parts=$(echo "$est" | node -e 'const m = JSON.parse(require("fs").readFileSync(0)).memory;
    console.log(["weights", "kv_cache", "buffers", "runtime"].map((k) => (m[k] / 1048576).toFixed(1)).join(" + ") + " MiB")')
  if ! /usr/bin/time -f "%M" -o /tmp/g4_memory_vs_rss.rss "$G4" run -m "$model" -c "$ctx" -t "$THREADS" -n 16 \
       --temp 0 --no-memory-check -p "$prompt" >/dev/null 2>/tmp/g4_memory_vs_rss.err; then
    cat /tmp/g4_memory_vs_rss.err >&2
    exit 1
  fi
  rss_kib=$(tail -1 /tmp/g4_memory_vs_rss.rss)
  grep -o '\[[0-9]* prompt tokens[^]]*\]' /tmp/g4_memory_vs_rss.err >&2 || true
  awk -v c="$ctx" -v e="$total" -v m="$((rss_kib * 1024))" -v p="$parts" \
    'BEGIN { printf "%-8d %9.1f MiB %9.1f MiB %+7.1f%%   %s\n", c, e / 1048576, m / 1048576, 100 * (m - e) / e, p }'
done
