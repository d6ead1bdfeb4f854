//! `vod-ugc-upload`: upload a user's video from the browser with the VOD
//! "UGC" protocol (InitUploadUGC → UploadPartUGC → FinishUploadUGC).
//!
//! The crate has two layers. The protocol core is plain Rust with no I/O and
//! is shared with `vod-ugc-server`: [`protocol`] (calls, answers, codes),
//! [`signature`] (build and verify), [`plan`] (how a file is cut into parts),
//! [`hash`] (SHA-1, with a wasm SIMD message schedule), and the sans-IO upload
//! [`engine`] that decides what to send next from the answers it is given,
//! and the rules of the [`cache`] of hashes that spares a resumed upload
//! from reading the whole file again.
//! The browser adapter (`web`, wasm32 only) reads the `File`, talks `fetch`
//! and exposes the JavaScript API.

pub mod cache;
pub mod engine;
pub mod error;
pub mod hash;
pub mod json;
pub mod options;
pub mod plan;
pub mod progress;
pub mod protocol;
pub mod reply;
pub mod signature;
pub mod text;

#[cfg(target_arch = "wasm32")]
pub mod web;

/// The wasm module's allocator: Talc instead of Rust's default, dlmalloc,
/// which was 7 KB of the module (issue 13: the package's size). The module
/// is single-threaded (no `atomics`); the heap grows with the wasm memory
/// and freed chunks are reused, so the hashing buffers, freed and taken
/// again for every read, do not make the memory grow with the file.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
