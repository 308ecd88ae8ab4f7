#!/usr/bin/env bash
# Builds the webhook fuzz target with clang (libFuzzer + ASan + UBSan) and runs it for a bounded
# number of runs on the fixture corpus, with a fixed seed so that the suite is repeatable.
# Usage: tests/fuzz/run.sh BUILD_DIR [RUNS] [SEED]
# Longer exploration: FUZZ_SECONDS=600 tests/fuzz/run.sh build/fuzz -1 0   (unbounded runs, random seed)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?build dir}
RUNS=${2:-60000}
SEED=${3:-1}
mkdir -p "$OUT/corpus"
CXX=${FUZZ_CXX:-clang++}
LAUNCHER=$(command -v ccache || true)
SOURCES=(tests/fuzz/webhook_fuzz.cpp src/woo/normalize.cpp src/woo/html_entities.cpp src/woo/signature.cpp
         src/model/canonical.cpp src/model/money.cpp src/model/identity.cpp src/core/clock.cpp)
OBJS=()
for s in "${SOURCES[@]}"; do
  o="$OUT/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$ROOT/$s" -nt "$o" ] || [ -n "$(find "$ROOT/include" -newer "$o" -name '*.hpp' | head -1)" ]; then
    $LAUNCHER $CXX -std=c++20 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -I"$ROOT/include" -c "$ROOT/$s" -o "$o"
  fi
  OBJS+=("$o")
done
$CXX -fsanitize=fuzzer,address,undefined "${OBJS[@]}" -lcrypto -lfmt -lsimdjson -o "$OUT/webhook_fuzz"
# Seed corpus: the byte-exact fixtures, prefixed with a topic byte and an empty signature.
i=0
for f in "$ROOT"/tests/fixtures/woocommerce/*.json; do
  printf "\\x$(printf %02x $((i % 8)))\\x00" > "$OUT/corpus/seed$i"
  cat "$f" >> "$OUT/corpus/seed$i"
  i=$((i + 1))
done
cd "$OUT"
# Inputs that once failed run first, every time.
./webhook_fuzz "$ROOT"/tests/fuzz/regressions/* > regressions.log 2>&1 || { cat regressions.log; exit 1; }
rm -rf corpus.run && cp -r corpus corpus.run
./webhook_fuzz -runs="$RUNS" -seed="$SEED" -max_total_time="${FUZZ_SECONDS:-0}" -max_len=16384 -timeout=10 -rss_limit_mb=2048 corpus.run 2>&1 | tail -n 5
