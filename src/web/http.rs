//! One protocol request with `fetch`, its stall limit, and an abort when
//! it is dropped (the upload ended, failed or was aborted), classified into a
//! [`Reply`] for the engine.
//!
//! `fetch` tells nothing while the body goes out, so the limit runs from the
//! start until the answer's headers, and again until its body has come: for
//! InitUploadUGC and FinishUploadUGC (no body) that is "no byte moved for
//! the limit"; for a part sent this way (only where there is no
//! `XMLHttpRequest`, see [`super::xhr`]) the whole part must go within it.

use std::future::Future;
use std::pin::pin;

use futures_util::future::{select, Either};
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;
use web_sys::{AbortController, Request, RequestInit, Response};

use super::js;
use super::wake::sleep;
use crate::reply::Reply;

/// Aborts its request when dropped; a no-op once the request has ended.
struct AbortOnDrop(AbortController);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends one request and reads its whole answer, failing with
/// [`Reply::Timeout`] when the headers, then the body, take longer than
/// `stall_ms`.
///
/// Whether a failure was a timeout is decided here, by which future won,
/// never from the error's name: engines differ in what an aborted fetch
/// rejects with.
pub async fn send(method: &str, url: &str, body: Option<&Blob>, stall_ms: f64) -> Reply {
    let controller =
        AbortController::new().unwrap_or_else(|_| unreachable!("AbortController is available"));
    let guard = AbortOnDrop(controller);
    let init = RequestInit::new();
    init.set_method(method);
    init.set_signal(Some(&guard.0.signal()));
    if let Some(body) = body {
        init.set_body(body);
    }
    let request = match Request::new_with_str_and_init(url, &init) {
        Ok(request) => request,
        Err(error) => return Reply::Network(js::describe_thrown(&error)),
    };
    let response = match within(stall_ms, JsFuture::from(js::fetch_with_request(&request))).await {
        Some(Ok(response)) => response.unchecked_into::<Response>(),
        Some(Err(error)) => return Reply::Network(js::describe_thrown(&error)),
        None => return Reply::Timeout,
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let body = match response.array_buffer() {
        Ok(promise) => within(stall_ms, JsFuture::from(promise)).await,
        Err(error) => Some(Err(error)),
    };
    match body {
        Some(Ok(buffer)) => {
            Reply::from_http(status, &content_type, &Uint8Array::new(&buffer).to_vec())
        }
        Some(Err(error)) => Reply::Network(js::describe_thrown(&error)),
        None => Reply::Timeout,
    }
}

/// `future`'s output, or `None` when `ms` pass first.
async fn within<T>(ms: f64, future: impl Future<Output = T>) -> Option<T> {
    match select(pin!(future), sleep(ms)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}
