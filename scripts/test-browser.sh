#!/usr/bin/env bash
# Browser tests of the wasm module (tests/browser.rs + tests/browser/cases.js)
# in real headless browsers, against the real vod-ugc-server on loopback.
#
#   scripts/test-browser.sh [chrome]     (the default engine is chrome)
#
# Starts, on ephemeral ports: the server (dev signer, and a static page where
# an endpoint should be), a second server with --fault-rate 0.3, a TCP
# "black hole" that never answers; picks a closed port for "unreachable".
# Their addresses reach the tests at build time (option_env!).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
engines=("${@:-chrome}")

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -q -p vod-ugc-server
server_bin="$ROOT/target/release/vod-ugc-server"

# start_server NAME ARGS...: starts a server, sets $address to its base URL.
start_server() {
  local name="$1"; shift
  mkdir -p "$work/$name"
  "$server_bin" --listen 127.0.0.1:0 --data "$work/$name" \
    --secret-id browser-tests --secret-key browser-tests-key --dev-signer "$@" \
    >"$work/$name.out" 2>"$work/$name.log" &
  pids+=("$!")
  for _ in $(seq 100); do
    address="$(sed -n 's/^vod-ugc-server listening on \(http:[^ ]*\).*/\1/p' "$work/$name.out")"
    [ -n "$address" ] && return 0
    sleep 0.1
  done
  echo "the $name server did not start:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

start_server main --www tests/browser/www
export UGC_TEST_SERVER="$address"
start_server faulty --fault-rate 0.3 --fault-seed 7
export UGC_TEST_FAULT_SERVER="$address"

node tests/support/blackhole.mjs >"$work/blackhole.out" &
pids+=("$!")
for _ in $(seq 100); do
  port="$(cat "$work/blackhole.out")"
  [ -n "$port" ] && break
  sleep 0.1
done
export UGC_TEST_BLACKHOLE="http://127.0.0.1:$port/v2/index.php"

closed_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
export UGC_TEST_UNREACHABLE="http://127.0.0.1:$closed_port/v2/index.php"

echo "server $UGC_TEST_SERVER, faulty server $UGC_TEST_FAULT_SERVER, black hole $UGC_TEST_BLACKHOLE, unreachable $UGC_TEST_UNREACHABLE"

status=0
for engine in "${engines[@]}"; do
  echo "==> browser tests in $engine"
  started=$(date +%s)
  if wasm-pack test --headless "--$engine" -- --test browser; then
    echo "==> $engine: passed in $(( $(date +%s) - started )) s"
  else
    echo "==> $engine: FAILED" >&2
    status=1
  fi
done
exit "$status"
