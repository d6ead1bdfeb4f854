//! The browser adapter: the JavaScript API (`upload`, `hashFile`) over the
//! protocol core. It checks the input, and hands each call ([`Job`], sans
//! I/O) to a small JavaScript driver that reads the file, sends requests
//! (`fetch`, and `XMLHttpRequest` for part bodies), keeps time, and watches
//! the `AbortSignal` and the browser's online state ([`call`]); every
//! protocol decision is the core's.

mod cache;
mod call;
mod input;
mod js;
mod progress;
mod worker;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use self::cache::HashCache;
use self::call::{Call, Stop};
use crate::error::{client_code, message, Stage, UploadError};
use crate::job::{Ended, Job};
use crate::signature::split_file_name;

#[wasm_bindgen(typescript_custom_section)]
const TYPESCRIPT: &'static str = include_str!("api.d.ts");

/// Uploads a File or Blob; resolves to `{fileId, url, fileSha, instant,
/// resumed, rehashed, partsUploaded, partsSkipped, bytesUploaded}`.
#[wasm_bindgen(skip_typescript)]
pub fn upload(file: JsValue, options: JsValue) -> Promise {
    let signal = js_signal(&options);
    let checked =
        input::file(&file, false).and_then(|input| Ok((input, input::upload_options(&options)?)));
    let (input, (options, hooks)) = match checked {
        Ok(checked) => checked,
        Err(error) => return Promise::reject(&stop_to_js(Stop::Failed(error), None)),
    };
    let cache = options.cache.then(|| HashCache::for_file(&file)).flatten();
    let seed = (js_sys::Math::random() * 2f64.powi(53)) as u64;
    let stall_ms = options.timeout_ms as f64;
    let job = Job::upload(input.size, options, cache.is_some(), seed, js::now());
    let mut call = Call::new(job);
    call.sign = Some((hooks.get_signature, input.file_name));
    call.on_progress = hooks.on_progress;
    call.cache = cache;
    call.signal = signal;
    call.start(&input.blob, stall_ms)
}

/// SHA-1 of a File or Blob, read in chunks: 40 lowercase hex digits.
#[wasm_bindgen(js_name = hashFile, skip_typescript)]
pub fn hash_file(file: JsValue, options: JsValue) -> Promise {
    let signal = js_signal(&options);
    let checked =
        input::file(&file, true).and_then(|input| Ok((input, input::hash_options(&options)?)));
    let (input, on_progress) = match checked {
        Ok(checked) => checked,
        Err(error) => return Promise::reject(&stop_to_js(Stop::Failed(error), None)),
    };
    let mut call = Call::new(Job::hash_file(input.size, js::now()));
    call.on_progress = on_progress;
    call.signal = signal;
    call.start(&input.blob, 0.0)
}

/// The value a call settles with, and whether it resolves (else rejects).
fn result(ended: Ended, signal: Option<&web_sys::AbortSignal>) -> (JsValue, bool) {
    let (file_sha, outcome, rehashed) = match ended {
        Ended::Hashed(file_sha) => return (file_sha.into(), true),
        Ended::Uploaded {
            file_sha,
            outcome,
            rehashed,
        } => (file_sha, outcome, rehashed),
        Ended::Failed(error) => return (stop_to_js(Stop::Failed(error), signal), false),
        Ended::Aborted => return (stop_to_js(Stop::Aborted, signal), false),
    };
    let value = js::uploaded(
        &outcome.file_id,
        &outcome.url,
        &file_sha,
        outcome.instant,
        outcome.resumed,
        rehashed,
        outcome.parts_uploaded as f64,
        outcome.parts_skipped as f64,
        outcome.bytes_uploaded as f64,
    );
    (value, true)
}

/// What `getSignature` is called with: `{f, ft, fs, fileName, fileSize}`.
fn sign_info(file_name: &str, file_size: u64, file_sha: &str) -> JsValue {
    let (f, ft) = split_file_name(file_name);
    js::sign_info(&f, &ft, file_sha, file_name, file_size as f64)
}

/// The signature from what `getSignature`'s promise settled with.
fn signature_of(settled: Result<JsValue, (&str, JsValue)>) -> Result<String, Stop> {
    let value = settled
        .map_err(|(how, e)| signature_failed(message(&[how, &js::describe_thrown(&e)]), true))?;
    match value.as_string() {
        Some(signature) if !signature.trim().is_empty() => Ok(signature.trim().to_owned()),
        Some(_) => Err(signature_failed("returned an empty string".into(), false)),
        None => Err(signature_failed(
            message(&[
                "returned ",
                &js::to_js_string(&value),
                " instead of a string",
            ]),
            false,
        )),
    }
}

fn signature_failed(detail: String, can_retry: bool) -> Stop {
    Stop::Failed(UploadError::new(
        client_code::SIGNATURE_FAILED,
        can_retry,
        Stage::Sign,
        message(&[
            "getSignature ",
            &detail,
            ". It must return (or resolve to) the signature string from your backend.",
        ]),
    ))
}

/// The caller's `options.signal`, when it is an AbortSignal (the driver
/// watches it; an AbortError's `cause` is its reason).
fn js_signal(options: &JsValue) -> Option<web_sys::AbortSignal> {
    js::get(options, "signal").dyn_into().ok()
}

/// The rejection value: an `Error` named `UgcError`, or a `DOMException`
/// named `AbortError` whose `cause` is the signal's reason.
fn stop_to_js(stop: Stop, signal: Option<&web_sys::AbortSignal>) -> JsValue {
    match stop {
        Stop::Failed(error) => js::ugc_error(
            &error.message,
            error.code as f64,
            error.can_retry,
            error.stage.as_str(),
        ),
        Stop::Aborted => js::abort_error(signal),
    }
}

/// The module's allocator: Talc instead of Rust's default on wasm32,
/// dlmalloc, which was 7 KB of the module (issue 13: the package's size).
/// The module is single-threaded (no `atomics`); the heap grows with the
/// wasm memory and freed chunks are reused, so the hashing buffers, freed
/// and taken again for every read, do not make the memory grow with the file.
#[cfg(not(target_feature = "atomics"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
