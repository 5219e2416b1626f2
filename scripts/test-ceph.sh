#!/usr/bin/env bash
# `npm run test:ceph`: the S3 test suite against a second backend, Ceph radosgw (a one-node
# cluster started by scripts/ceph-server.sh, state under $CEPH_TEST_DIR, default .ceph-test/):
# test/s3, the end-to-end tests that store in S3, and test/ceph (the minimal IAM policy, run for
# real with radosgw users and a bucket policy). Runs through scripts/test.sh (which then skips
# Swift since S3_TEST_ENDPOINT is set) and ends with "N passed, M failed"; Ceph is stopped by PID
# at exit. Extra arguments replace the list of test files.
set -uo pipefail
cd "$(dirname "$0")/.."
DIR="$(realpath -m "${CEPH_TEST_DIR:-.ceph-test}")"

echo "== starting Ceph radosgw (scripts/ceph-server.sh)"
bash scripts/ceph-server.sh start || exit 1
trap 'bash scripts/ceph-server.sh stop' EXIT
set -a; . "$DIR/env"; set +a

if [ $# -gt 0 ]; then
  files=("$@")
else
  files=(test/s3/*.test.ts test/ceph/*.test.ts
    test/e2e/protocol.test.ts test/e2e/tus-js-client.test.ts test/e2e/ops.test.ts test/e2e/ownership.test.ts
    test/e2e/hostile-ids.test.ts test/e2e/front-door.test.ts test/e2e/readme-walkthrough.test.ts
    test/e2e/hooks-durable.test.ts test/cluster/hook-id-claim.test.ts)
fi
bash scripts/test.sh "${files[@]}"
