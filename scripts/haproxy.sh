#!/usr/bin/env bash
# HAProxy in front of instances running on this machine (a benchmark of several instances, a
# manual try), with docker/haproxy.cfg itself: only what works inside Docker alone is replaced
# (the bind address, the replicas found through Docker's DNS). Runs in the background, its log
# and PID under $HAPROXY_TEST_DIR (default .tap/haproxy/), stopped by PID.
#   scripts/haproxy.sh start PORT HOST:PORT [HOST:PORT...]   # listens on 127.0.0.1:PORT
#   scripts/haproxy.sh stop | status
# Debian's haproxy is installed by scripts/redis-server.sh install.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$(realpath -m "${HAPROXY_TEST_DIR:-.tap/haproxy}")"
PIDFILE="$DIR/haproxy.pid"

haproxy_bin() { command -v haproxy || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; } || { echo "haproxy not found: bash scripts/redis-server.sh install" >&2; exit 1; }; }
. scripts/pid-server.sh

start() {
  local port=${1:?usage: $0 start PORT HOST:PORT [HOST:PORT...]}; shift
  [ $# -gt 0 ] || { echo "usage: $0 start PORT HOST:PORT [HOST:PORT...]" >&2; exit 2; }
  if running; then echo "already running (pid $(cat "$PIDFILE")): $0 stop first" >&2; exit 1; fi
  if port_open "$port"; then echo "port $port is already in use" >&2; exit 1; fi
  mkdir -p "$DIR"
  local servers="" i=1
  for backend in "$@"; do servers+="  server tus-$i $backend check\n"; i=$((i + 1)); done
  grep -q '^  bind :1080$' docker/haproxy.cfg && grep -q '^  server-template tus- ' docker/haproxy.cfg \
    || { echo "docker/haproxy.cfg: the bind or server-template line this script replaces has changed" >&2; exit 1; }
  sed -e "s/^  bind :1080$/  bind 127.0.0.1:$port/" \
      -e "s/^  server-template tus- .*$/$servers/" \
      -e 's/ resolvers docker init-addr [^ ]*//' \
      docker/haproxy.cfg > "$DIR/haproxy.cfg"
  "$(haproxy_bin)" -c -q -f "$DIR/haproxy.cfg"
  nohup "$(haproxy_bin)" -f "$DIR/haproxy.cfg" -db > "$DIR/haproxy.log" 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 100); do
    if port_open "$port"; then echo "http://127.0.0.1:$port"; return 0; fi
    running || break
    sleep 0.1
  done
  echo "haproxy did not open port $port; log in $DIR/haproxy.log" >&2; exit 1
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) if running; then echo "haproxy running (pid $(cat "$PIDFILE"))"; else echo "haproxy stopped"; fi ;;
  *) echo "usage: $0 start PORT HOST:PORT [HOST:PORT...] | stop | status" >&2; exit 2 ;;
esac
