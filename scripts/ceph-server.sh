#!/usr/bin/env bash
# A second real S3-compatible server for tests: Ceph radosgw on a one-node cluster (one monitor,
# one OSD on a sparse file with bluestore, cephx on), bound to 127.0.0.1, all state under
# $CEPH_TEST_DIR (default .ceph-test/). radosgw's beast frontend listens on $CEPH_TEST_PORT
# (default 18480); the monitor uses port + 1 (v2) and port + 2 (v1), the OSD ports port + 10..+ 29.
#   scripts/ceph-server.sh install | start | stop | status | env
# `start` installs the Debian packages if missing, creates the cluster on first use, starts the
# daemons in the background (PIDs under $DIR/run), creates the S3 user and the test bucket and
# writes $DIR/env with the same S3_TEST_* variables as .s3-test/env.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$(realpath -m "${CEPH_TEST_DIR:-.ceph-test}")"
PORT="${CEPH_TEST_PORT:-18480}"
MON_PORT=$((PORT + 1)); MON_V1_PORT=$((PORT + 2))
OSD_PORT_MIN=$((PORT + 10)); OSD_PORT_MAX=$((PORT + 29))
BUCKET="${S3_TEST_BUCKET:-tus-test}"
CONF="$DIR/ceph.conf"
ADMIN=(-c "$CONF" -n client.admin -k "$DIR/keyring.admin")
S3_USER=tus-test
S3_KEY=TUSCEPHTESTADMINKEY1
S3_SECRET=tus-ceph-test-secret-7c2d9e41
# A user that owns nothing and is granted nothing: its writes to the bucket are denied.
READER_USER=tus-reader
READER_KEY=TUSCEPHTESTREADERKEY
READER_SECRET=tus-ceph-reader-secret-4b8a17f3

install() {
  if command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && command -v ceph >/dev/null; then return; fi
  echo "installing Ceph (radosgw, ceph-mon, ceph-osd, ceph-common) from Debian packages" >&2
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    radosgw ceph-mon ceph-osd ceph-common >/dev/null
}

write_config() {
  mkdir -p "$DIR/run" "$DIR/log" "$DIR/mon" "$DIR/osd" "$DIR/rgw"
  [ -f "$DIR/fsid" ] || cat /proc/sys/kernel/random/uuid > "$DIR/fsid"
  cat > "$CONF" <<CONF
[global]
fsid = $(cat "$DIR/fsid")
mon_host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
ms_bind_port_min = $OSD_PORT_MIN
ms_bind_port_max = $OSD_PORT_MAX
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
run_dir = $DIR/run
admin_socket = $DIR/run/\$name.asok
log_file = $DIR/log/\$name.log
pid_file =
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_max_pg_per_osd = 1000
mon_warn_on_pool_no_redundancy = false
debug_ms = 0
[client.admin]
keyring = $DIR/keyring.admin
[mon]
mon_data = $DIR/mon/\$id
mon_initial_members = a
[osd]
osd_data = $DIR/osd/\$id
keyring = $DIR/osd/\$id/keyring
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 21474836480
bluestore_fsck_on_mount = false
osd_memory_target = 939524096
bluestore_cache_autotune = false
bluestore_cache_size = 134217728
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
[client.rgw.a]
keyring = $DIR/keyring.rgw
rgw_data = $DIR/rgw
rgw_frontends = beast endpoint=127.0.0.1:$PORT
rgw_enable_usage_log = false
rgw_crypt_require_ssl = false
rgw_thread_pool_size = 64
CONF
}

running() { [ -f "$DIR/run/$1.pid" ] && kill -0 "$(cat "$DIR/run/$1.pid")" 2>/dev/null; }

spawn() { # name, command...
  local name=$1; shift
  running "$name" && return
  nohup "$@" > "$DIR/log/$name.out" 2>&1 &
  echo $! > "$DIR/run/$name.pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # seconds, description, command...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "$what did not happen within ${seconds}s; logs in $DIR/log" >&2; return 1
}

create_cluster() {
  echo "creating a one-node Ceph cluster under $DIR" >&2
  ceph-authtool --create-keyring "$DIR/keyring.mon" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$DIR/keyring.admin" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$DIR/keyring.mon" --import-keyring "$DIR/keyring.admin" >/dev/null
  monmaptool --create --fsid "$(cat "$DIR/fsid")" --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring.mon"
  touch "$DIR/mon/created"
}

create_osd() {
  local uuid secret id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  secret=$(ceph-authtool --gen-print-key)
  id=$(echo "{\"cephx_secret\": \"$secret\"}" | ceph "${ADMIN[@]}" osd new "$uuid" -i -)
  mkdir -p "$DIR/osd/$id"
  ceph-authtool --create-keyring "$DIR/osd/$id/keyring" --name "osd.$id" --add-key "$secret" >/dev/null
  ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" > "$DIR/log/osd-mkfs.out" 2>&1
  echo "$id" > "$DIR/osd/id"
}

start() {
  install
  if ! running radosgw; then
    for p in $PORT $MON_PORT $MON_V1_PORT; do
      if port_open "$p"; then
        echo "port $p is already in use (another Ceph test server?): stop it, or set CEPH_TEST_PORT to another base port" >&2
        exit 1
      fi
    done
  fi
  write_config
  [ -f "$DIR/mon/created" ] || create_cluster
  spawn mon ceph-mon -c "$CONF" -i a -f
  wait_for 30 "the Ceph monitor answering" timeout 5 ceph "${ADMIN[@]}" mon stat
  [ -f "$DIR/osd/id" ] || create_osd
  local id; id=$(cat "$DIR/osd/id")
  spawn osd ceph-osd -c "$CONF" -i "$id" -f
  wait_for 60 "the OSD coming up" osd_up "$id"
  if [ ! -f "$DIR/keyring.rgw" ]; then
    ceph "${ADMIN[@]}" auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' -o "$DIR/keyring.rgw"
  fi
  spawn radosgw radosgw -c "$CONF" -n client.rgw.a -f
  wait_for 90 "radosgw answering on port $PORT" port_open "$PORT"
  if ! radosgw-admin "${ADMIN[@]}" user info --uid="$S3_USER" >/dev/null 2>&1; then
    radosgw-admin "${ADMIN[@]}" user create --uid="$S3_USER" --display-name="tus test admin" \
      --access-key="$S3_KEY" --secret-key="$S3_SECRET" >/dev/null
  fi
  if ! radosgw-admin "${ADMIN[@]}" user info --uid="$READER_USER" >/dev/null 2>&1; then
    radosgw-admin "${ADMIN[@]}" user create --uid="$READER_USER" --display-name="tus test reader" \
      --access-key="$READER_KEY" --secret-key="$READER_SECRET" >/dev/null
  fi
  env_lines > "$DIR/env"
  # shellcheck disable=SC1091
  set -a; . "$DIR/env"; set +a
  wait_for 60 "the test bucket being created" node scripts/s3-create-bucket.mjs
}

osd_up() { ceph "${ADMIN[@]}" osd dump 2>/dev/null | grep -q "^osd.$1 up"; }

stop() {
  for name in radosgw osd mon; do
    if running "$name"; then
      local pid; pid=$(cat "$DIR/run/$name.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$DIR/run/$name.pid"
  done
}

env_lines() {
  echo "S3_TEST_ENDPOINT=http://127.0.0.1:$PORT"
  echo "S3_TEST_SSE_ENDPOINT=http://127.0.0.1:$PORT"
  echo "S3_TEST_REGION=us-east-1"
  echo "S3_TEST_KEY=$S3_KEY"
  echo "S3_TEST_SECRET=$S3_SECRET"
  echo "S3_TEST_BUCKET=$BUCKET"
  echo "S3_TEST_FORCE_PATH_STYLE=true"
  echo "S3_TEST_READER_KEY=$READER_KEY"
  echo "S3_TEST_READER_SECRET=$READER_SECRET"
  echo "S3_TEST_BACKEND=ceph"
  echo "CEPH_TEST_CONF=$CONF"
  echo "CEPH_TEST_KEYRING=$DIR/keyring.admin"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) for n in mon osd radosgw; do running $n && echo "$n running" || echo "$n stopped"; done ;;
  env) env_lines ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
