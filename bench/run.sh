#!/usr/bin/env bash
# Runs every benchmark in turn; figures go to docs/benchmarks.md by hand with the machine line.
set -euo pipefail
cd "$(dirname "$0")"
./http_healthz.sh
./ingest.sh
./delivery.sh
./checkout.sh
