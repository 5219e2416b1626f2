#!/usr/bin/env bash
# A real Redis for tests and benchmarks: Debian's redis-server on 127.0.0.1, with a password,
# no persistence (--save '' --appendonly no), daemonized, all state under $REDIS_TEST_DIR
# (default .redis-test/): redis.conf (mode 600: the password is not on a command line), the
# pidfile, the log, the chosen port and password. Port: $REDIS_TEST_PORT, or the one of the
# last start while it is free, or the first free one from 16379 up. Password:
# $REDIS_TEST_PASSWORD, or a random one kept for later starts.
#   scripts/redis-server.sh install | start | stop | status | env
# `install` also installs Debian's haproxy (the load balancer of the multi-instance tests,
# started per test by test/helpers/haproxy.ts). `start` installs if missing, starts Redis,
# waits until it answers PING with the password and writes $REDIS_TEST_DIR/env:
#   REDIS_TEST_URL=redis://:<password>@127.0.0.1:<port>/0, REDIS_TEST_HOST, REDIS_TEST_PORT,
#   REDIS_TEST_PASSWORD, REDIS_TEST_PIDFILE
# `stop` stops it by the PID in its pidfile. Tests that stop Redis on purpose (an outage) must
# start their own (test/helpers/redis.ts startRedis), never stop this shared one.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$(realpath -m "${REDIS_TEST_DIR:-.redis-test}")"
PIDFILE="$DIR/redis.pid"

install() {
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null && haproxy_bin >/dev/null; then return; fi
  echo "installing redis-server and haproxy from Debian packages" >&2
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server redis-tools haproxy >/dev/null
  # On a machine with systemd, the packages start their system services (Redis on 6379,
  # HAProxy on its default configuration): the tests start their own, on free ports.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $sudo systemctl stop redis-server haproxy 2>/dev/null || true
  fi
}

haproxy_bin() { command -v haproxy || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; }; }

. scripts/pid-server.sh

choose_port() {
  if [ -n "${REDIS_TEST_PORT:-}" ]; then echo "$REDIS_TEST_PORT"; return; fi
  # The port of the last start, unless something else holds it now.
  if [ -f "$DIR/port" ] && ! port_open "$(cat "$DIR/port")"; then cat "$DIR/port"; return; fi
  local p=16379
  while port_open "$p"; do p=$((p + 1)); done
  echo "$p"
}

choose_password() {
  if [ -n "${REDIS_TEST_PASSWORD:-}" ]; then echo "$REDIS_TEST_PASSWORD"; return; fi
  if [ -f "$DIR/password" ]; then cat "$DIR/password"; return; fi
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

start() {
  install
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  local port password
  port="$(choose_port)"
  password="$(choose_password)"
  if ! running; then
    if port_open "$port"; then
      echo "port $port is already in use: stop what holds it, or set REDIS_TEST_PORT to another port" >&2
      exit 1
    fi
    echo "$port" > "$DIR/port"
    (umask 077; echo "$password" > "$DIR/password")
    (umask 077; cat > "$DIR/redis.conf" <<CONF
bind 127.0.0.1
port $port
protected-mode yes
requirepass $password
save ""
appendonly no
dir $DIR
daemonize yes
pidfile $PIDFILE
logfile $DIR/redis.log
loglevel notice
CONF
)
    rm -f "$PIDFILE"
    redis-server "$DIR/redis.conf"
  fi
  port="$(cat "$DIR/port")"
  password="$(cat "$DIR/password")"
  for _ in $(seq 1 100); do
    if [ "$(REDISCLI_AUTH="$password" redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
      env_lines > "$DIR/env"
      chmod 600 "$DIR/env"
      return 0
    fi
    sleep 0.1
  done
  echo "Redis did not answer PING on 127.0.0.1:$port; log in $DIR/redis.log" >&2
  exit 1
}

env_lines() {
  local port password
  port="$(cat "$DIR/port")"
  password="$(cat "$DIR/password")"
  echo "REDIS_TEST_URL=redis://:$password@127.0.0.1:$port/0"
  echo "REDIS_TEST_HOST=127.0.0.1"
  echo "REDIS_TEST_PORT=$port"
  echo "REDIS_TEST_PASSWORD=$password"
  echo "REDIS_TEST_PIDFILE=$PIDFILE"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) if running; then echo "redis running (pid $(cat "$PIDFILE"), port $(cat "$DIR/port"))"; else echo "redis stopped"; fi ;;
  env) if [ -f "$DIR/port" ]; then env_lines; else echo "not started: run $0 start" >&2; exit 1; fi ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
