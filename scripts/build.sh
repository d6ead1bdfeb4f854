#!/usr/bin/env bash
# Builds the npm package (pkg/: wasm-pack --target web, release, then
# scripts/package.mjs: entries, exports map, CLI) and the vod-ugc-server binary
# (target/release/vod-ugc-server). Run scripts/setup.sh first (npm start and
# npm test do).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# wasm-opt comes from the npm package binaryen (node_modules/.bin): without a
# wasm-opt on PATH, a release build of wasm-pack tries to download one and fails.
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
command -v wasm-opt >/dev/null || { echo "build: wasm-opt missing: run scripts/setup.sh" >&2; exit 1; }

if [ -d target/wasm32-unknown-unknown/release ]; then
  echo "build: wasm package -> pkg/"
else
  echo "build: wasm package -> pkg/ (the first build compiles the crate's dependencies for wasm32: a minute or two)"
fi
wasm-pack build --target web --release --out-dir pkg
# The npm package around wasm-pack's output: entries that load the .wasm on
# first use (browsers, bundlers, Node.js), exports map, CLI, error codes.
node scripts/package.mjs pkg

if [ -x target/release/vod-ugc-server ]; then
  echo "build: vod-ugc-server -> target/release/vod-ugc-server"
else
  echo "build: vod-ugc-server -> target/release/vod-ugc-server (the first build compiles its ~250 dependencies: a few minutes on 2 cores; later builds take seconds)"
fi
cargo build --release -p vod-ugc-server
