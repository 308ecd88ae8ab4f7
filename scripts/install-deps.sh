#!/usr/bin/env bash
# Installs what orderbridge needs to build, test and run, from Debian 12 (bookworm) packages.
# Idempotent: only missing packages are installed. Run as root or with sudo available.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-url1.81-dev
  nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev prometheus-cpp-dev libcli11-dev
  libssl-dev libsqlite3-dev libsimdjson-dev libpqxx-dev libpq-dev libcurl4-openssl-dev librdkafka-dev libvalijson-dev libsystemd-dev
  libjemalloc-dev
)
TEST_PACKAGES=(
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  postgresql postgresql-client sqlite3 prometheus python3 curl wrk clang libclang-rt-14-dev
  chromium chromium-driver
)

want=("${BUILD_PACKAGES[@]}")
case "${1:-all}" in
  build) ;;
  all|test) want+=("${TEST_PACKAGES[@]}") ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

# tests/console drives Debian's chromium with playwright-core, pinned in tests/console/package-lock.json
# (no browser download; needs the machine's Node.js 20+ and npm). Reinstalled when the lock file changes.
console_test_deps() {
  if [ "${1:-all}" = build ]; then return 0; fi
  local dir; dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/console"
  if ! command -v npm >/dev/null; then
    echo "install-deps: npm (Node.js 20+) is missing: tests/console will be skipped" >&2
    return 0
  fi
  if [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dir" --no-audit --no-fund
  fi
}

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  console_test_deps "${1:-all}"
  echo "install-deps: everything is installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The prometheus package is only used for promtool and test scrapes; its service must not run.
echo 'exit 101' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod +x /usr/sbin/policy-rc.d
trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
console_test_deps "${1:-all}"
