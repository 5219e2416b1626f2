#!/usr/bin/env bash
# The long reliability runs (`npm run test:reliability`; issue 14). `npm test` runs short
# versions of the same tests; this runs each long, one after the other (so the soak measures the
# server alone), through scripts/test.sh with its own settings, and ends with
# "N passed, M failed" over all of them. Results: .tap/reliability.tap, the soak's table and
# figures: .tap/soak-report.md. Takes about half an hour on a shared 2-core machine.
#   SEED=<n> replays the seeded runs; any of the settings below can be overridden from the environment.
set -uo pipefail
cd "$(dirname "$0")/.."

# One S3 test server and one Redis for every run (scripts/test.sh starts its own unless these are set).
STOP_AT_EXIT=()
trap 'for ((i = ${#STOP_AT_EXIT[@]} - 1; i >= 0; i--)); do ${STOP_AT_EXIT[i]}; done' EXIT
if [ -z "${S3_TEST_ENDPOINT:-}" ]; then
  echo "== starting the S3 test server (scripts/s3-server.sh)"
  bash scripts/s3-server.sh start || exit 1
  STOP_AT_EXIT+=("bash scripts/s3-server.sh stop")
  set -a; . "${S3_TEST_DIR:-.s3-test}/env"; set +a
fi
if [ -z "${REDIS_TEST_URL:-}" ]; then
  bash scripts/redis-server.sh start || exit 1
  STOP_AT_EXIT+=("bash scripts/redis-server.sh stop")
  set -a; . "${REDIS_TEST_DIR:-.redis-test}/env"; set +a
fi

mkdir -p .tap
RESULTS=.tap/reliability.tap
: > "$RESULTS"
export SOAK_REPORT="$PWD/.tap/soak-report.md"
TIMEOUT="${RELIABILITY_TIMEOUT:-3600}" # seconds per test file (.taprc: 900)

# name | environment | test file
RUNS=(
  "soak|SOAK_SECONDS=${SOAK_SECONDS:-300} SOAK_CONCURRENCY=${SOAK_CONCURRENCY:-200} SOAK_LARGE=${SOAK_LARGE:-4} SOAK_LARGE_SIZE=${SOAK_LARGE_SIZE:-256MiB}|test/s3/soak.test.ts"
  "client cuts|CUTS=${CUTS:-50} SIZE=${CUTS_SIZE:-64MiB}|test/s3/client-cuts.test.ts"
  "server crashes|KILLS=${KILLS:-20}|test/s3/server-crashes.test.ts"
  "fuzz|FUZZ_REQUESTS=${FUZZ_REQUESTS:-5000}|test/e2e/fuzz.test.ts"
  "S3 faults||test/s3/faults.test.ts"
)

started=$(date +%s)
for run in "${RUNS[@]}"; do
  IFS='|' read -r name settings file <<< "$run"
  echo "== $name: $settings $file"
  run_started=$(date +%s)
  rm -f .tap/results.tap
  # shellcheck disable=SC2086
  env $settings bash scripts/test.sh --timeout="$TIMEOUT" "$file"
  # A run that died before tap's closing counts (or before tap started) counts as one failure.
  if ! grep -q '^# { ' .tap/results.tap 2>/dev/null; then echo '# { total: 1, pass: 0, fail: 1 }' >> .tap/results.tap; fi
  cat .tap/results.tap >> "$RESULTS"
  echo "== $name: $(node scripts/tap-summary.mjs .tap/results.tap) in $(( $(date +%s) - run_started )) s"
done

echo "== reliability runs took $(( $(date +%s) - started )) s; the soak's figures: $SOAK_REPORT"
node scripts/tap-summary.mjs "$RESULTS"
