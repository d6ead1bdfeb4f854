#!/usr/bin/env bash
# npm run bench [-- --write] [-- --help]: set up and build what is missing
# (or stale), then run the benchmark (bench/run.mjs) in headless Chromium
# against vod-ugc-server on loopback. Prints one table; --write also records
# it in BENCHMARKS.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"

case " $* " in *" --help "* | *" -h "*) exec node bench/run.mjs --help ;; esac

# Fast when everything is there: version checks, no network.
bash scripts/setup.sh --for-tests >&2

# Build when an output is missing or older than the sources it comes from.
stale() {
  local out="$1"; shift
  [ -e "$out" ] || return 0
  [ -n "$(find "$@" -newer "$out" -type f -print -quit 2>/dev/null)" ]
}
if stale pkg/vod_ugc_upload_bg.wasm src Cargo.toml Cargo.lock \
   || [ ! -e pkg/vod_ugc_upload.js ] \
   || stale target/release/vod-ugc-server server src Cargo.toml Cargo.lock; then
  echo "bench: building (pkg/ or the server is missing or older than the sources)" >&2
  bash scripts/build.sh >&2
fi

# The server section's load generator (bench/load).
if stale target/release/vod-ugc-load bench/load Cargo.toml Cargo.lock; then
  echo "bench: building the load generator (bench/load)" >&2
  cargo build --release -p vod-ugc-load >&2
fi

exec node bench/run.mjs "$@"
