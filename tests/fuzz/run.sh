#!/usr/bin/env bash
# Builds the webhook fuzz target with clang (libFuzzer + ASan + UBSan) and runs it for a bounded
# time on the fixture corpus. Usage: tests/fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?build dir}
SECONDS_TO_RUN=${2:-30}
mkdir -p "$OUT/corpus"
CXX=${FUZZ_CXX:-clang++}
LAUNCHER=$(command -v ccache || true)
SOURCES=(tests/fuzz/webhook_fuzz.cpp src/woo/normalize.cpp src/woo/html_entities.cpp src/woo/signature.cpp
         src/model/canonical.cpp src/model/money.cpp src/model/identity.cpp)
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
./webhook_fuzz -max_total_time="$SECONDS_TO_RUN" -max_len=16384 -timeout=10 -rss_limit_mb=2048 corpus 2>&1 | tail -n 5
