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

# The .wasm: a pinned nightly Rust with std rebuilt for size and panics that
# abort at once (scripts/release-toolchain.sh says why; setup.sh installs it).
. "$ROOT/scripts/release-toolchain.sh"
rustup run "$RELEASE_TOOLCHAIN" rustc --version >/dev/null 2>&1 \
  || { echo "build: Rust $RELEASE_TOOLCHAIN missing: run scripts/setup.sh" >&2; exit 1; }
if [ -d target/wasm32-unknown-unknown/release ]; then
  echo "build: wasm package -> pkg/ (Rust $RELEASE_TOOLCHAIN)"
else
  echo "build: wasm package -> pkg/ (Rust $RELEASE_TOOLCHAIN; the first build compiles std and the crate's dependencies for wasm32: two or three minutes)"
fi
(release_build_env && wasm-pack build . --target web --release --out-dir pkg -- "${RELEASE_CARGO_ARGS[@]}")
# The npm package around wasm-pack's output: entries that load the .wasm on
# first use (browsers, bundlers, Node.js), exports map, CLI, error codes.
node scripts/package.mjs pkg

if [ -x target/release/vod-ugc-server ]; then
  echo "build: vod-ugc-server -> target/release/vod-ugc-server"
else
  echo "build: vod-ugc-server -> target/release/vod-ugc-server (the first build compiles its ~250 dependencies: a few minutes on 2 cores; later builds take seconds)"
fi
cargo build --release -p vod-ugc-server
