//! The browser adapter: the JavaScript API (`upload`, `hashFile`) over the
//! protocol core. It reads the file, sends requests (`fetch`, and
//! `XMLHttpRequest` for part bodies), keeps time, watches the `AbortSignal`
//! and the browser's online state; every protocol decision is the engine's.

mod blob;
mod cache;
mod input;
mod js;
mod progress;
mod reader;
mod upload;
mod wake;

use std::task::Poll;

use futures_util::FutureExt;
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use self::blob::ReadError;
use self::cache::HashCache;
use self::js::ObjectBuilder;
use self::upload::{Session, Stop};
use self::wake::AbortWatch;
use crate::cache::is_stale_refusal;
use crate::engine::Outcome;
use crate::error::{client_code, Stage, UploadError};
use crate::hash::PartMd5s;
use crate::options::Options;
use crate::progress::{Meter, ProgressStage};
use crate::signature::split_file_name;
use crate::transfer::{unreadable, Transfer};

#[wasm_bindgen(typescript_custom_section)]
const TYPESCRIPT: &'static str = include_str!("api.d.ts");

/// Uploads a File or Blob; resolves to `{fileId, url, fileSha, instant,
/// resumed, rehashed, partsUploaded, partsSkipped, bytesUploaded}`.
#[wasm_bindgen(skip_typescript)]
pub async fn upload(file: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    let watch = AbortWatch::new(js_signal(&options));
    run_upload(&file, &options, &watch)
        .await
        .map_err(|stop| stop_to_js(stop, &watch))
}

/// SHA-1 of a File or Blob, read in chunks: 40 lowercase hex digits.
#[wasm_bindgen(js_name = hashFile, skip_typescript)]
pub async fn hash_file(file: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    let watch = AbortWatch::new(js_signal(&options));
    let result = async {
        let input = input::file(&file, true)?;
        let on_progress = input::hash_options(&options)?;
        hash(&input, None, on_progress.as_ref(), &watch)
            .await
            .map(|hashes| hashes.sha1)
    };
    result
        .await
        .map(JsValue::from)
        .map_err(|stop| stop_to_js(stop, &watch))
}

async fn run_upload(
    file: &JsValue,
    options: &JsValue,
    watch: &AbortWatch,
) -> Result<JsValue, Stop> {
    let input = input::file(file, false)?;
    let (options, hooks) = input::upload_options(options)?;
    if watch.aborted() {
        return Err(Stop::Aborted);
    }
    let job = Job {
        input: &input,
        options: &options,
        hooks: &hooks,
        watch,
        cache: options.cache.then(|| HashCache::for_file(file)).flatten(),
    };
    let (file_sha, outcome, rehashed) = job.run().await?;
    Ok(ObjectBuilder::new()
        .set("fileId", outcome.file_id)
        .set("url", outcome.url)
        .set("fileSha", file_sha)
        .set("instant", outcome.instant)
        .set("resumed", outcome.resumed)
        .set("rehashed", rehashed)
        .set("partsUploaded", outcome.parts_uploaded as f64)
        .set("partsSkipped", outcome.parts_skipped as f64)
        .set("bytesUploaded", outcome.bytes_uploaded as f64)
        .build())
}

/// One call of `upload()`, from its checked input to its outcome.
struct Job<'a> {
    input: &'a input::Input,
    options: &'a Options,
    hooks: &'a input::Hooks,
    watch: &'a AbortWatch,
    /// The file's hash cache entry; `None` with `cache: false` or a Blob.
    cache: Option<HashCache>,
}

impl Job<'_> {
    /// Uploads with the remembered hashes when there are good ones, else
    /// hashes first. When the remembered ones prove stale (the file changed
    /// in place), forgets them and starts again from a fresh hash, once.
    /// An instant upload answered to a remembered SHA-1 is no proof that
    /// the file still has it (nothing else would check): the file is
    /// hashed then, and the answer kept only for the same SHA-1. Resolves
    /// to the file's SHA-1, the outcome, and whether it re-hashed.
    async fn run(&self) -> Result<(String, Outcome, bool), Stop> {
        let mut hashes = match &self.cache {
            Some(cache) => cache.load().await,
            None => None,
        };
        let mut remembered = hashes.is_some();
        if remembered {
            self.report_remembered();
        }
        let mut unconfirmed: Option<(String, Outcome)> = None;
        let mut rehashed = false;
        // At most two turns: the second starts from a fresh hash.
        let done = loop {
            let (file_sha, part_md5s) = match hashes.take() {
                Some(hashes) => hashes,
                None => self.hash_and_remember().await?,
            };
            if let Some((claimed, instant)) = unconfirmed.take() {
                if claimed == file_sha {
                    break (file_sha, instant, false);
                }
            }
            match self.send(&file_sha, part_md5s, remembered).await {
                Ok(outcome) if remembered && outcome.instant => {
                    unconfirmed = Some((file_sha, outcome));
                }
                Ok(outcome) => break (file_sha, outcome, rehashed),
                Err(Stop::Failed(error)) if remembered && is_stale_refusal(&error) => {
                    if let Some(cache) = &self.cache {
                        cache.forget().await;
                    }
                }
                Err(stop) => return Err(stop),
            }
            remembered = false;
            rehashed = true;
        };
        if let Some(cache) = &self.cache {
            cache.forget().await;
        }
        Ok(done)
    }

    /// Hashes the file and remembers the hashes.
    async fn hash_and_remember(&self) -> Result<(String, PartMd5s), Stop> {
        let on_progress = self.hooks.on_progress.as_ref();
        let hashes = hash(
            self.input,
            Some(self.options.part_size),
            on_progress,
            self.watch,
        )
        .await?;
        let part_md5s = hashes
            .part_md5s
            .expect("an upload's hashing pass computes the part MD5s");
        if let Some(cache) = &self.cache {
            cache.store(&hashes.sha1, &part_md5s).await;
        }
        Ok((hashes.sha1, part_md5s))
    }

    /// Signs and runs the upload with these hashes (`remembered`: from the
    /// cache, so the parts the server holds are checked).
    async fn send(
        &self,
        file_sha: &str,
        part_md5s: PartMd5s,
        remembered: bool,
    ) -> Result<Outcome, Stop> {
        let get_signature = &self.hooks.get_signature;
        let sign_info = sign_info(self.input, file_sha);
        let signature = sign(get_signature, &sign_info, self.watch).await?;
        let transfer = Transfer::new(
            self.input.size,
            self.options.clone(),
            (js_sys::Math::random() * 2f64.powi(53)) as u64,
            file_sha.to_owned(),
            signature,
            Some(part_md5s),
            remembered,
        );
        Session {
            transfer,
            blob: &self.input.blob,
            stall_ms: self.options.timeout_ms as f64,
            signal: self.watch.signal(),
            get_signature: get_signature.clone(),
            sign_info,
            on_progress: self.hooks.on_progress.clone(),
        }
        .run()
        .await
    }

    /// The "hash" stage of a remembered hash: one report, complete, and no
    /// read of the file.
    fn report_remembered(&self) {
        let now = js::now();
        let mut meter = Meter::new(ProgressStage::Hash, self.input.size, now);
        progress::report(
            self.hooks.on_progress.as_ref(),
            &meter.advance(self.input.size, now),
        );
    }
}

/// Hashes the file (and with `part_size`, its parts), reporting the
/// "hash" stage.
async fn hash(
    input: &input::Input,
    part_size: Option<u64>,
    on_progress: Option<&js_sys::Function>,
    watch: &AbortWatch,
) -> Result<blob::Hashes, Stop> {
    let mut meter = Meter::new(ProgressStage::Hash, input.size, js::now());
    progress::report(on_progress, &meter.report());
    let result = blob::hash(&input.blob, watch, part_size, |hashed| {
        let report = meter.advance(hashed - meter.loaded(), js::now());
        progress::report(on_progress, &report);
    })
    .await;
    match result {
        Ok(hashes) => Ok(hashes),
        Err(ReadError::Aborted) => Err(Stop::Aborted),
        Err(ReadError::Unreadable(detail)) => Err(Stop::Failed(unreadable(Stage::Hash, &detail))),
    }
}

/// What `getSignature` is called with: `{f, ft, fs, fileName, fileSize}`.
fn sign_info(input: &input::Input, file_sha: &str) -> JsValue {
    let (f, ft) = split_file_name(&input.file_name);
    ObjectBuilder::new()
        .set("f", f)
        .set("ft", ft)
        .set("fs", file_sha)
        .set("fileName", input.file_name.as_str())
        .set("fileSize", input.size as f64)
        .build()
}

/// Asks the page's `getSignature` for the signature of this file.
async fn sign(
    get_signature: &js_sys::Function,
    info: &JsValue,
    watch: &AbortWatch,
) -> Result<String, Stop> {
    let mut settled = JsFuture::from(call_signature(get_signature, info)?);
    let result = std::future::poll_fn(|cx| {
        if watch.poll_aborted(cx).is_ready() {
            return Poll::Ready(Err(Stop::Aborted));
        }
        settled.poll_unpin(cx).map(Ok)
    })
    .await?;
    signature_of(result)
}

/// Calls `getSignature(info)`: the promise of what it returns.
fn call_signature(get_signature: &js_sys::Function, info: &JsValue) -> Result<Promise, Stop> {
    get_signature
        .call1(&JsValue::UNDEFINED, info)
        .map(|returned| Promise::resolve(&returned))
        .map_err(|e| signature_failed(format!("threw {}", js::describe_thrown(&e)), true))
}

/// The signature from what `getSignature`'s promise settled with.
fn signature_of(settled: Result<JsValue, JsValue>) -> Result<String, Stop> {
    let value = settled.map_err(|e| {
        signature_failed(format!("rejected with {}", js::describe_thrown(&e)), true)
    })?;
    match value.as_string() {
        Some(signature) if !signature.trim().is_empty() => Ok(signature.trim().to_owned()),
        Some(_) => Err(signature_failed("returned an empty string".into(), false)),
        None => Err(signature_failed(
            format!("returned {} instead of a string", js::to_js_string(&value)),
            false,
        )),
    }
}

fn signature_failed(detail: String, can_retry: bool) -> Stop {
    Stop::Failed(UploadError::new(
        client_code::SIGNATURE_FAILED,
        can_retry,
        Stage::Sign,
        format!("getSignature {detail}. It must return (or resolve to) the signature string from your backend."),
    ))
}

/// The caller's `options.signal`, when it is an AbortSignal. Read before the
/// options are checked so that an abort is honoured however early it comes.
fn js_signal(options: &JsValue) -> Option<web_sys::AbortSignal> {
    js::get(options, "signal").dyn_into().ok()
}

/// The rejection value: an `Error` named `UgcError`, or a `DOMException`
/// named `AbortError` whose `cause` is the signal's reason.
fn stop_to_js(stop: Stop, watch: &AbortWatch) -> JsValue {
    match stop {
        Stop::Failed(error) => {
            let js_error = js_sys::Error::new(&error.message);
            js_error.set_name("UgcError");
            for (name, value) in [
                ("code", JsValue::from(error.code as f64)),
                ("canRetry", JsValue::from(error.can_retry)),
                ("stage", JsValue::from(error.stage.as_str())),
            ] {
                let _ = js_sys::Reflect::set(&js_error, &JsValue::from_str(name), &value);
            }
            js_error.into()
        }
        Stop::Aborted => {
            let error: JsValue = web_sys::DomException::new_with_message_and_name(
                "The upload was aborted.",
                "AbortError",
            )
            .map(Into::into)
            .unwrap_or_else(|_| {
                let fallback = js_sys::Error::new("The upload was aborted.");
                fallback.set_name("AbortError");
                fallback.into()
            });
            let _ = js_sys::Reflect::set(&error, &JsValue::from_str("cause"), &watch.reason());
            error
        }
    }
}
