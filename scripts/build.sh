#!/usr/bin/env bash
# Builds the npm package (pkg/: vod_ugc_upload.js + vod_ugc_upload_bg.wasm,
# wasm-pack --target web, release) and the vod-ugc-server binary
# (target/release/vod-ugc-server). Run scripts/setup.sh first (npm start and
# npm test do).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# wasm-opt comes from the npm package binaryen (node_modules/.bin): without a
# wasm-opt on PATH, a release build of wasm-pack tries to download one and fails.
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
command -v wasm-opt >/dev/null || { echo "build: wasm-opt missing: run scripts/setup.sh" >&2; exit 1; }

echo "build: wasm package -> pkg/"
wasm-pack build --target web --release --out-dir pkg

echo "build: vod-ugc-server -> target/release/vod-ugc-server"
cargo build --release -p vod-ugc-server
