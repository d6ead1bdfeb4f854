#!/usr/bin/env bash
# npm test: set up what is missing, then run every test, in order:
#   1. cargo test --workspace        (protocol core, signature, server)
#   2. build pkg/ and the server     (scripts/build.sh)
#   3. scripts/test-browser.sh       (the wasm module in Chromium, Firefox and WebKit)
#   4. node --test tests/e2e/        (the demo page against the real server)
#   5. node --test tests/consumers/  (the packed package in Vite, webpack, esbuild,
#                                     plain-page and Node.js apps, the CLI, tsc --strict)
#   6. node --test tests/network/    (throttled, offline, expiring signatures:
#                                     Chromium's network emulation, ~3.5 min)
# Exits non-zero on the first failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

step "setup"
bash scripts/setup.sh --for-tests

step "cargo test --workspace"
cargo test --workspace

step "build"
bash scripts/build.sh

step "browser tests of the wasm module (scripts/test-browser.sh)"
bash scripts/test-browser.sh

step "end-to-end tests (tests/e2e)"
node --test --test-concurrency=1 tests/e2e/

step "consumer tests: the packed package in apps, Node.js, the CLI and tsc (tests/consumers)"
node --test --test-concurrency=1 tests/consumers/

step "network tests (tests/network)"
node --test --test-concurrency=1 tests/network/

step "all tests passed"
