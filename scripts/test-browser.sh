#!/usr/bin/env bash
# Browser tests of the wasm module (tests/browser.rs + tests/browser/cases.js)
# in real headless browsers, against the real vod-ugc-server on loopback.
#
#   scripts/test-browser.sh [ENGINE...]   ENGINE: chrome, firefox, webkit
#                                         (default: all three)
#
# Starts, on ephemeral ports: the server (dev signer, and a static page where
# an endpoint should be), a second server with --fault-rate 0.3, a TCP
# "black hole" that never answers; picks a closed port for "unreachable".
# Their addresses reach the tests at build time (option_env!). Each
# engine's run gets its own folder for the servers' data, output and logs;
# the output and logs of a run that failed are kept (the path is printed).
# RUST_LOG (e.g. debug) reaches the servers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
if [ "$#" -gt 0 ]; then engines=("$@"); else engines=(chrome firefox webkit); fi

work="$(mktemp -d)"
pids=()
failed=()
cleanup() {
  stop_servers
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "==> the servers' logs of the failed runs are kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

cargo build --release -q -p vod-ugc-server
server_bin="$ROOT/target/release/vod-ugc-server"

# start_server NAME ARGS...: starts a server in $run, sets $address to its
# base URL. Its output file must be new: `cmd >file &` truncates the file
# only once the forked child runs, so a file left by an earlier server could
# be read first and hand the tests that server's (closed) port. Until that
# child runs, the file does not exist yet either: reading it then is not an
# error (under `set -e` a failed read here ended the whole run).
start_server() {
  local name="$1"; shift
  mkdir "$run/$name"
  "$server_bin" --listen 127.0.0.1:0 --data "$run/$name" \
    --secret-id browser-tests --secret-key browser-tests-key --dev-signer "$@" \
    >"$run/$name.out" 2>"$run/$name.log" &
  pids+=("$!")
  for _ in $(seq 100); do
    address="$(sed -n 's/^vod-ugc-server listening on \(http:[^ ]*\).*/\1/p' "$run/$name.out" 2>/dev/null || true)"
    [ -n "$address" ] && return 0
    sleep 0.1
  done
  echo "the $name server did not start:" >&2
  cat "$run/$name.log" >&2
  exit 1
}

# start_servers ENGINE: fresh servers, data and files in a new folder $run
# for one engine's run, so that one engine's uploads never turn into
# another's instant uploads, and no file of an earlier run is read.
start_servers() {
  stop_servers
  run="$(mktemp -d "$work/$1.XXXX")"
  start_server main --www tests/browser/www
  export UGC_TEST_SERVER="$address"
  start_server faulty --fault-rate 0.3 --fault-seed 7
  export UGC_TEST_FAULT_SERVER="$address"

  node tests/support/blackhole.mjs >"$run/blackhole.out" &
  pids+=("$!")
  port=""
  for _ in $(seq 100); do
    port="$(cat "$run/blackhole.out" 2>/dev/null || true)"
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "the black hole server did not start" >&2; exit 1; }
  export UGC_TEST_BLACKHOLE="http://127.0.0.1:$port/v2/index.php"

  closed_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
  export UGC_TEST_UNREACHABLE="http://127.0.0.1:$closed_port/v2/index.php"

  echo "server $UGC_TEST_SERVER, faulty server $UGC_TEST_FAULT_SERVER, black hole $UGC_TEST_BLACKHOLE, unreachable $UGC_TEST_UNREACHABLE"
}

stop_servers() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}

# wasm-bindgen-test-runner takes a driver from GECKODRIVER / SAFARIDRIVER /
# CHROMEDRIVER before PATH: name each engine's driver explicitly.
unset GECKODRIVER SAFARIDRIVER CHROMEDRIVER
# The runner gives a whole suite 20 s by default; ours uploads ~100 MiB.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-300}"

run_engine() {
  case "$1" in
    chrome) wasm-pack test --headless --chrome --chromedriver "$(command -v chromedriver)" -- --test browser ;;
    firefox) wasm-pack test --headless --firefox --geckodriver "$(command -v geckodriver)" -- --test browser ;;
    # WebKitGTK's driver needs a display, even headless.
    webkit) xvfb-run -a wasm-pack test --headless --safari --safaridriver /usr/bin/WebKitWebDriver -- --test browser ;;
    *) echo "unknown engine $1 (chrome, firefox, webkit)" >&2; return 2 ;;
  esac
}

summary=()
for engine in "${engines[@]}"; do
  echo "==> browser tests in $engine"
  start_servers "$engine"
  started=$(date +%s)
  if run_engine "$engine"; then
    summary+=("$engine: passed in $(( $(date +%s) - started )) s")
    stop_servers
    rm -rf "$run"
  else
    summary+=("$engine: FAILED after $(( $(date +%s) - started )) s (servers' logs: $run)")
    failed+=("$engine")
    stop_servers
    rm -rf "$run/main" "$run/faulty" # the uploaded files; the logs stay
  fi
done
printf '==> %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "==> browser tests failed in: ${failed[*]}" >&2
  exit 1
fi
