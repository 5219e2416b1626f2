#!/usr/bin/env bash
# The one test command (`npm test`): installs what the tests need, builds, runs every
# tap test, and ends with "N passed, M failed" from tap's own counts.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/tap ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing npm dependencies"
  npm ci --no-audit --no-fund || exit 1
fi

echo "== building"
npm run --silent build || exit 1

mkdir -p .tap
export TEST_LOG_DIR="$PWD/.tap/logs"
rm -rf "$TEST_LOG_DIR" && mkdir -p "$TEST_LOG_DIR"

echo "== running tests"
npx tap --reporter=tap "$@" | tee .tap/results.tap
node scripts/tap-summary.mjs .tap/results.tap
