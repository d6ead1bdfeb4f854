# The toolchain and settings of the release .wasm (pkg/), sourced by
# scripts/setup.sh (installs it) and scripts/build.sh (builds with it).
#
# The release .wasm is built with a pinned nightly Rust that rebuilds std for
# it (-Zbuild-std) with panics that abort at once (-Cpanic=immediate-abort):
# no panic message, location or formatting machinery (core::fmt) is left in
# the module, and std is optimized for size like the crate. Everything else
# (cargo test, the browser tests' debug builds, the server) uses stable Rust.
# Why nightly pinned rather than stable with RUSTC_BOOTSTRAP=1, and the
# measured savings: BENCHMARKS.md, "Where the package's bytes go".
#
# rustup names a nightly by the date it was published: nightly-2026-05-20 is
# rustc 1.97.0-nightly (e50aa6fba 2026-05-19). It needs only the `rust-src`
# component (std is built from it) and the wasm32 target (wasm-pack checks it).
RELEASE_TOOLCHAIN="nightly-2026-05-20"

# release_build_env: the environment of the package build (scripts/build.sh).
#   - opt-level "z" for the crate and std (measured: −1.8 KB gzip against "s";
#     the hash kernels, unrolled by hand, come out the same either way);
#   - -reference-types: wasm-bindgen keeps JS objects in a table in its glue
#     instead of the module's externref table (measured: −0.8 KB of .wasm,
#     +0.2 KB of JS, gzip);
#   - -Zlocation-detail=none: no source paths for #[track_caller] locations
#     (the bounds checks still pass one to a panic that aborts without
#     reading it; measured: −0.3 KB gzip);
#   - these target flags add to .cargo/config.toml's (+simd128).
release_build_env() {
  export RUSTUP_TOOLCHAIN="$RELEASE_TOOLCHAIN"
  export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Ctarget-feature=-reference-types -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none"
}
# The cargo arguments of the package build (after wasm-pack's `--`).
RELEASE_CARGO_ARGS=(-Zbuild-std=std,panic_abort)
