#!/usr/bin/env bash
# A real Azure Blob Storage emulator for tests: Azurite's blob service (the `azurite` npm
# package, node_modules/.bin/azurite-blob) on 127.0.0.1, its state under $AZURE_TEST_DIR
# (default .azure-test/): the data, the PID file, the log.
#   scripts/azurite-server.sh start | stop | status | env
# `start` starts it in the background (port $AZURE_TEST_PORT, default 27300), waits until it
# answers, creates the test container ($AZURE_TEST_CONTAINER, default tus-test) and writes
# $AZURE_TEST_DIR/env: AZURE_TEST_ENDPOINT, AZURE_TEST_ACCOUNT, AZURE_TEST_KEY,
# AZURE_TEST_CONTAINER. `stop` stops it by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$(realpath -m "${AZURE_TEST_DIR:-.azure-test}")"
PORT="${AZURE_TEST_PORT:-27300}"
CONTAINER="${AZURE_TEST_CONTAINER:-tus-test}"
PIDFILE="$DIR/azurite.pid"
# Azurite's well-known development account and key (public, documented by Microsoft).
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

. scripts/pid-server.sh

start() {
  mkdir -p "$DIR/data"
  if ! running; then
    if port_open "$PORT"; then
      echo "port $PORT is already in use: stop what holds it, or set AZURE_TEST_PORT to another port" >&2
      exit 1
    fi
    nohup node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$PORT" --location "$DIR/data" \
      --silent --skipApiVersionCheck > "$DIR/azurite.log" 2>&1 &
    echo $! > "$PIDFILE"
  fi
  for _ in $(seq 1 150); do
    if port_open "$PORT"; then
      env_lines > "$DIR/env"
      # shellcheck disable=SC1091
      set -a; . "$DIR/env"; set +a
      node --input-type=module -e "
        import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
        const e = process.env;
        const service = new BlobServiceClient(e.AZURE_TEST_ENDPOINT, new StorageSharedKeyCredential(e.AZURE_TEST_ACCOUNT, e.AZURE_TEST_KEY));
        await service.getContainerClient(e.AZURE_TEST_CONTAINER).createIfNotExists();
      "
      return 0
    fi
    sleep 0.1
  done
  echo "Azurite did not answer on 127.0.0.1:$PORT; log in $DIR/azurite.log" >&2
  exit 1
}

env_lines() {
  echo "AZURE_TEST_ENDPOINT=http://127.0.0.1:$PORT/$ACCOUNT"
  echo "AZURE_TEST_ACCOUNT=$ACCOUNT"
  echo "AZURE_TEST_KEY=$KEY"
  echo "AZURE_TEST_CONTAINER=$CONTAINER"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "azurite running (pid $(cat "$PIDFILE"), port $PORT)"; else echo "azurite stopped"; fi ;;
  env) env_lines ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
