#!/usr/bin/env bash
# A real S3-compatible server for tests and benchmarks: OpenStack Swift with s3api, single
# node, single replica, all state under $S3_TEST_DIR (default .s3-test/). Two proxies share
# the storage: a plain one ($S3_TEST_PORT, default 18080) and one with the encryption
# middleware (port + 1), which accepts x-amz-server-side-encryption: AES256.
#   scripts/s3-server.sh install | start | stop | status | env
# `start` installs the Debian packages if missing, starts memcached and the servers in the
# background, records their PIDs, waits until the proxies answer and creates the bucket.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$(realpath -m "${S3_TEST_DIR:-.s3-test}")"
PORT="${S3_TEST_PORT:-18080}"
SSE_PORT=$((PORT + 1))
ACC_PORT=$((PORT + 2)); CON_PORT=$((PORT + 3)); OBJ_PORT=$((PORT + 4)); MC_PORT=$((PORT + 5))
BUCKET="${S3_TEST_BUCKET:-tus-test}"
USER_NAME="$(id -un)"

install() {
  if command -v swift-proxy-server >/dev/null && command -v memcached >/dev/null; then return; fi
  echo "installing OpenStack Swift and memcached from Debian packages" >&2
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    swift-proxy swift-account swift-container swift-object memcached >/dev/null
}

write_config() {
  mkdir -p "$DIR/etc" "$DIR/srv/d1" "$DIR/run" "$DIR/log" "$DIR/cache"
  cat > "$DIR/etc/swift.conf" <<CONF
[swift-hash]
swift_hash_path_prefix = tus-s3-server
swift_hash_path_suffix = test
[storage-policy:0]
name = Policy-0
default = yes
[swift-constraints]
max_file_size = 10737418240
CONF
  for kind in account container object; do
    local port; case $kind in account) port=$ACC_PORT;; container) port=$CON_PORT;; object) port=$OBJ_PORT;; esac
    cat > "$DIR/etc/$kind-server.conf" <<CONF
[DEFAULT]
swift_dir = $DIR/etc
devices = $DIR/srv
mount_check = false
bind_ip = 127.0.0.1
bind_port = $port
workers = 1
user = $USER_NAME
log_name = $kind
log_facility = LOG_LOCAL0
log_level = WARNING
[pipeline:main]
pipeline = $kind-server
[app:$kind-server]
use = egg:swift#$kind
[$kind-replicator]
[$kind-updater]
[$kind-auditor]
CONF
    if [ ! -f "$DIR/etc/$kind.ring.gz" ]; then
      (cd "$DIR/etc" && swift-ring-builder $kind.builder create 8 1 1 >/dev/null \
        && swift-ring-builder $kind.builder add r1z1-127.0.0.1:$port/d1 1 >/dev/null \
        && swift-ring-builder $kind.builder rebalance >/dev/null)
    fi
  done
  [ -f "$DIR/etc/root_secret" ] || head -c 32 /dev/urandom | base64 > "$DIR/etc/root_secret"
  for variant in plain sse; do
    local port=$PORT extra=""
    if [ $variant = sse ]; then port=$SSE_PORT; extra="keymaster encryption"; fi
    cat > "$DIR/etc/proxy-$variant.conf" <<CONF
[DEFAULT]
swift_dir = $DIR/etc
bind_ip = 127.0.0.1
bind_port = $port
workers = 1
user = $USER_NAME
log_name = proxy-$variant
log_level = WARNING
[pipeline:main]
pipeline = catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging $extra proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
max_upload_part_num = 10000
min_segment_size = 5242880
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = tus-s3-test-secret-5e1f0c2a .admin
user_test_reader = tus-s3-reader-secret-93b7d4e1
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000
[filter:dlo]
use = egg:swift#dlo
[filter:keymaster]
use = egg:swift#keymaster
encryption_root_secret = $(cat "$DIR/etc/root_secret")
[filter:encryption]
use = egg:swift#encryption
CONF
  done
}

running() { [ -f "$DIR/run/$1.pid" ] && kill -0 "$(cat "$DIR/run/$1.pid")" 2>/dev/null; }

spawn() { # name, command...
  local name=$1; shift
  running "$name" && return
  nohup "$@" > "$DIR/log/$name.log" 2>&1 &
  echo $! > "$DIR/run/$name.pid"
}

wait_port() {
  for _ in $(seq 1 150); do
    if port_open "$1"; then return 0; fi
    sleep 0.1
  done
  echo "port $1 did not open; logs in $DIR/log" >&2; return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  install
  if ! running proxy-plain; then
    for p in $PORT $SSE_PORT $ACC_PORT $CON_PORT $OBJ_PORT $MC_PORT; do
      if port_open "$p"; then
        echo "port $p is already in use (another S3 test server?): stop it, or set S3_TEST_PORT to another base port" >&2
        exit 1
      fi
    done
  fi
  write_config
  spawn memcached memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 -u "$USER_NAME"
  for kind in account container object; do spawn "$kind" "swift-$kind-server" "$DIR/etc/$kind-server.conf"; done
  spawn proxy-plain swift-proxy-server "$DIR/etc/proxy-plain.conf"
  spawn proxy-sse swift-proxy-server "$DIR/etc/proxy-sse.conf"
  for p in $ACC_PORT $CON_PORT $OBJ_PORT $PORT $SSE_PORT; do wait_port "$p"; done
  env_lines > "$DIR/env"
  # shellcheck disable=SC1091
  set -a; . "$DIR/env"; set +a
  node scripts/s3-create-bucket.mjs
}

stop() {
  for name in proxy-sse proxy-plain object container account memcached; do
    if running "$name"; then kill "$(cat "$DIR/run/$name.pid")" 2>/dev/null || true; fi
    rm -f "$DIR/run/$name.pid"
  done
}

env_lines() {
  echo "S3_TEST_ENDPOINT=http://127.0.0.1:$PORT"
  echo "S3_TEST_SSE_ENDPOINT=http://127.0.0.1:$SSE_PORT"
  echo "S3_TEST_REGION=us-east-1"
  echo "S3_TEST_KEY=test:tester"
  echo "S3_TEST_SECRET=tus-s3-test-secret-5e1f0c2a"
  echo "S3_TEST_BUCKET=$BUCKET"
  echo "S3_TEST_FORCE_PATH_STYLE=true"
  echo "S3_TEST_SWIFT_PIDS_DIR=$DIR/run"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) for n in memcached account container object proxy-plain proxy-sse; do running $n && echo "$n running" || echo "$n stopped"; done ;;
  env) env_lines ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
