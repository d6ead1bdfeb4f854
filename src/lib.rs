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
pub mod job;
pub mod json;
pub mod options;
pub mod plan;
pub mod progress;
pub mod protocol;
pub mod reply;
pub mod signature;
pub mod transfer;

#[cfg(target_arch = "wasm32")]
pub mod web;
