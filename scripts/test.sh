#!/usr/bin/env bash
# The one test command (`npm test`): installs what the tests need, builds, runs every
# tap test, and ends with "N passed, M failed" from tap's own counts.
set -uo pipefail
cd "$(dirname "$0")/.."

# Node >= 22.12 for everything below (npm, tap, every test and the servers the tests start): the
# machine's own, or Node 24 fetched once from the npm registry into a cache outside the
# repository (scripts/runtime.mjs says so in one line). npm then runs under it too: no EBADENGINE.
NODE_BIN="$(node scripts/runtime.mjs path)" || exit 1
export PATH="$(dirname "$NODE_BIN"):$PATH"

if [ ! -x node_modules/.bin/tap ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing npm dependencies"
  npm ci --no-audit --no-fund || exit 1
fi

# A real S3-compatible server for test/s3 (OpenStack Swift with s3api), unless S3_TEST_ENDPOINT
# points at another one. Installed from Debian packages when missing; stopped by PID at exit.
# Test servers started here are stopped by PID at exit, in reverse order.
STOP_AT_EXIT=()
trap 'for ((i = ${#STOP_AT_EXIT[@]} - 1; i >= 0; i--)); do ${STOP_AT_EXIT[i]}; done' EXIT
if [ -z "${S3_TEST_ENDPOINT:-}" ]; then
  echo "== starting the S3 test server (scripts/s3-server.sh)"
  bash scripts/s3-server.sh start || exit 1
  STOP_AT_EXIT+=("bash scripts/s3-server.sh stop")
  set -a; . .s3-test/env; set +a
fi

# Azurite, Azure Blob Storage's emulator (the azurite npm package), for the azure driver's tests
# (scripts/azurite-server.sh, state under .azure-test/), unless AZURE_TEST_ENDPOINT points at another one.
if [ -z "${AZURE_TEST_ENDPOINT:-}" ]; then
  echo "== starting the Azure test server (scripts/azurite-server.sh)"
  bash scripts/azurite-server.sh start || exit 1
  STOP_AT_EXIT+=("bash scripts/azurite-server.sh stop")
  set -a; . "${AZURE_TEST_DIR:-.azure-test}/env"; set +a
fi

# Redis with a password for the multi-instance tests (scripts/redis-server.sh, state under
# .redis-test/), unless REDIS_TEST_URL points at another one. The same script installs Debian's
# redis-server and haproxy when missing; the tests start HAProxy themselves (test/helpers/haproxy.ts).
bash scripts/redis-server.sh install || exit 1
if [ -z "${REDIS_TEST_URL:-}" ]; then
  echo "== starting the Redis test server (scripts/redis-server.sh)"
  bash scripts/redis-server.sh start || exit 1
  STOP_AT_EXIT+=("bash scripts/redis-server.sh stop")
  set -a; . "${REDIS_TEST_DIR:-.redis-test}/env"; set +a
fi

# Headless Chromium for test/browser (Debian's package; playwright cannot download browsers here).
if [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null; then
  echo "== installing chromium from Debian packages"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null || exit 1
fi

# curl and openssl run the curl walk-throughs of docs/protocol.md and docs/ietf-draft.md.
for tool in curl openssl; do
  if ! command -v $tool >/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $tool >/dev/null || exit 1
  fi
done

echo "== building"
npm run --silent build || exit 1

mkdir -p .tap
export TEST_LOG_DIR="$PWD/.tap/logs"
rm -rf "$TEST_LOG_DIR" && mkdir -p "$TEST_LOG_DIR"

echo "== running tests under Node $(node --version) ($(command -v node))"
# tap's stderr (every test's warnings) is kept too: test/after/notices.after.ts reads it.
npx tap --reporter=tap "$@" 2> >(tee .tap/stderr.log >&2) | tee .tap/results.tap
if [ $# -eq 0 ]; then
  # Tests that load the whole machine (4 GiB of uploads in a memory cgroup) run alone, after the
  # others, so that they neither slow the timed tests beside them nor are measured under their load.
  echo "== running the tests that need the machine alone (test/solo)"
  npx tap --reporter=tap --jobs=1 test/solo/*.solo.ts 2> >(tee -a .tap/stderr.log >&2) | tee -a .tap/results.tap
  echo "== checking the logs of the whole run for secrets and runtime notices"
  npx tap --reporter=tap test/after/secrets.after.ts test/after/notices.after.ts | tee -a .tap/results.tap
fi
node scripts/tap-summary.mjs .tap/results.tap
