#!/usr/bin/env bash
# One idempotent set-up step for building and testing this workspace.
#
#   scripts/setup.sh              what building and serving need (npm start)
#   scripts/setup.sh --for-tests  that, and the test browsers (npm test)
#
# Installs only what is missing, says what it installs, why, and how long it took:
#   - the Rust target wasm32-unknown-unknown          (rustup)
#   - the release .wasm's pinned nightly Rust, with rust-src and the wasm32
#     target (scripts/release-toolchain.sh)            (rustup)
#   - wasm-bindgen-cli at exactly Cargo.lock's version (cargo install)
#   - wasm-pack                                         (cargo install)
#   - the npm devDependencies (binaryen's wasm-opt, esbuild, playwright-core)
#     with `npm ci`, when node_modules is missing or package-lock.json changed
#   with --for-tests only:
#   - Debian's chromium + chromium-driver, firefox-esr, webkit2gtk-driver,
#     xvfb + xauth                                      (apt-get)
#   - geckodriver                                       (cargo install)
#   - moto[server] in .venv-moto/ (the S3 API of the server's tests) (pip)
#
# Fast when everything is there: a few version checks, no network.
# Set SKIP_BROWSER_INSTALL=1 to skip the browsers and drivers (e.g. no root).
set -euo pipefail

for_tests=0
case "${1:-}" in
  --for-tests) for_tests=1 ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--for-tests]" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export PATH="$HOME/.cargo/bin:$PATH"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
# timed WHAT COMMAND...: runs an install step and says how long it took.
timed() {
  local what="$1" started=$SECONDS; shift
  "$@"
  say "$what: done in $(( SECONDS - started )) s"
}

# --- Rust toolchain -----------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs) first"
command -v rustup >/dev/null || die "rustup not found: the wasm32 target is added with rustup"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "installing Rust target wasm32-unknown-unknown (the .wasm is built for it; a download of about 20 MB)"
  timed "wasm32 target" rustup target add wasm32-unknown-unknown
fi

# The release .wasm's toolchain: a pinned nightly that rebuilds std for size
# (scripts/release-toolchain.sh says why). A minimal profile: rustc, cargo,
# rust-std, plus rust-src (std's sources) and the wasm32 target.
. "$ROOT/scripts/release-toolchain.sh"
if ! rustup run "$RELEASE_TOOLCHAIN" rustc --version >/dev/null 2>&1 \
   || ! rustup component list --toolchain "$RELEASE_TOOLCHAIN" --installed 2>/dev/null | grep -qx rust-src \
   || ! rustup target list --toolchain "$RELEASE_TOOLCHAIN" --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "installing Rust $RELEASE_TOOLCHAIN with rust-src and the wasm32 target: the release .wasm is built with it (std rebuilt for size, panics that abort at once); a download of about 100 MB, once"
  timed "Rust $RELEASE_TOOLCHAIN" rustup toolchain install "$RELEASE_TOOLCHAIN" --profile minimal \
    --component rust-src --target wasm32-unknown-unknown
fi

# --- wasm-bindgen-cli, at the version Cargo.lock pins ---------------------------
# The CLI must match the wasm-bindgen crate exactly, or wasm-pack refuses (and
# then tries to download one, which fails without internet).
FALLBACK_WASM_BINDGEN_VERSION="0.2.130"   # keep equal to Cargo.lock / package.json config
WASM_BINDGEN_VERSION="$(awk '
  $0 == "name = \"wasm-bindgen\"" { found = 1; next }
  found && /^version = / { gsub(/"/, "", $3); print $3; exit }
' Cargo.lock 2>/dev/null || true)"
WASM_BINDGEN_VERSION="${WASM_BINDGEN_VERSION:-$FALLBACK_WASM_BINDGEN_VERSION}"

have_bindgen="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have_bindgen" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (found: ${have_bindgen:-none}): it writes the JS glue of the .wasm and must match the crate exactly; cargo compiles it from source, a few minutes on 2 cores, once"
  # No --locked: one of its locked dependencies is not on the registry mirror here.
  timed "wasm-bindgen-cli" cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --force
fi

# --- wasm-pack ----------------------------------------------------------------
if ! wasm-pack --version >/dev/null 2>&1; then
  say "installing wasm-pack: it drives the .wasm build; cargo compiles it from source, a few minutes on 2 cores, once"
  timed "wasm-pack" cargo install wasm-pack
fi

# --- Browsers and their drivers ---------------------------------------------
# Chromium drives the e2e tests (playwright-core) and, with chromedriver, the
# wasm module's browser tests; Firefox ESR (geckodriver) and WebKitGTK
# (WebKitWebDriver, under xvfb-run) run those browser tests in the other engines.
# Only the tests need them (npm start does not): --for-tests.
if [ "$for_tests" = 1 ] && [ "${SKIP_BROWSER_INSTALL:-0}" != 1 ]; then
  apt_missing=()
  [ -x /usr/bin/chromium ] || apt_missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || apt_missing+=(chromium-driver)
  [ -x /usr/bin/firefox-esr ] || apt_missing+=(firefox-esr)
  [ -x /usr/bin/WebKitWebDriver ] || apt_missing+=(webkit2gtk-driver)
  [ -x /usr/bin/xvfb-run ] || apt_missing+=(xvfb)
  command -v xauth >/dev/null || apt_missing+=(xauth)
  if [ "${#apt_missing[@]}" -gt 0 ]; then
    say "installing Debian packages for the browser tests: ${apt_missing[*]} (a download of a few hundred MB)"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null || die "missing ${apt_missing[*]} and this is not root: run 'apt-get install ${apt_missing[*]}' as root"
      SUDO="sudo"
    fi
    timed "apt-get update" $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
    timed "Debian packages" $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${apt_missing[@]}"
  fi
  if ! geckodriver --version >/dev/null 2>&1; then
    say "installing geckodriver (Firefox's WebDriver, for the browser tests in Firefox); cargo compiles it from source, a few minutes, once"
    timed "geckodriver" bash -c 'cargo install geckodriver --locked || cargo install geckodriver'
  fi
fi

# --- moto_server: a real S3 API for the server's S3 tests ---------------------
# In a venv of its own (.venv-moto/, git-ignored); the tests start and stop it.
# Only the tests need it: --for-tests.
MOTO_VERSION="5.2.5"
if [ "$for_tests" = 1 ]; then
  have_moto="$(.venv-moto/bin/python -c 'import moto; print(moto.__version__)' 2>/dev/null || true)"
  if [ "$have_moto" != "$MOTO_VERSION" ] || [ ! -x .venv-moto/bin/moto_server ]; then
    say "installing moto[server] $MOTO_VERSION in .venv-moto (found: ${have_moto:-none}): the S3 API the server's tests run on"
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
      [ "$(id -u)" = 0 ] || die "python3's venv module is missing: run 'apt-get install python3-venv' as root"
      timed "apt-get update" env DEBIAN_FRONTEND=noninteractive apt-get update
      timed "python3-venv" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv
    fi
    timed "moto venv" python3 -m venv .venv-moto
    timed "moto[server]" .venv-moto/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
fi

# --- npm devDependencies ------------------------------------------------------
command -v npm >/dev/null || die "npm not found: install Node.js 20 or newer"
# npm ci records the lock it installed in node_modules/.package-lock.json;
# we keep our own stamp with the lock's checksum so any change re-runs npm ci.
lock_sum="$(sha1sum package-lock.json | awk '{print $1}')"
stamp="node_modules/.setup-lock-sha1"
if [ ! -d node_modules ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ] \
   || [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] \
   || [ ! -d node_modules/esbuild ]; then
  say "installing npm packages (npm ci): binaryen's wasm-opt shrinks the .wasm; esbuild minifies the package's JS; playwright-core drives the test browser"
  timed "npm ci" npm ci --no-audit --no-fund
  printf '%s\n' "$lock_sum" > "$stamp"
fi

say "ok: $(rustc --version | awk '{print $1, $2}') (release .wasm: $RELEASE_TOOLCHAIN), wasm-bindgen $WASM_BINDGEN_VERSION, $(wasm-pack --version), $(node_modules/.bin/wasm-opt --version | awk '{print $1, $3}'), node $(node --version)"
