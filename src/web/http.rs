//! One protocol request with `fetch`, its own time limit, and an abort when
//! it is dropped (the upload ended, failed or was aborted), classified into a
//! [`Reply`] for the engine.

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

/// Sends one request and reads its whole answer within `timeout_ms`.
///
/// Whether a failure was a timeout is decided here, by which future won,
/// never from the error's name: engines differ in what an aborted fetch
/// rejects with.
pub async fn send(method: &str, url: &str, body: Option<&Blob>, timeout_ms: f64) -> Reply {
    let controller = AbortController::new().expect("AbortController is available");
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
    let exchange = pin!(exchange(request));
    match select(exchange, sleep(timeout_ms)).await {
        Either::Left((reply, _)) => reply,
        Either::Right(_) => Reply::Timeout,
    }
}

async fn exchange(request: Request) -> Reply {
    let response: Response = match JsFuture::from(js::fetch_with_request(&request)).await {
        Ok(response) => response.unchecked_into(),
        Err(error) => return Reply::Network(js::describe_thrown(&error)),
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let body = match response.array_buffer() {
        Ok(promise) => JsFuture::from(promise).await,
        Err(error) => Err(error),
    };
    match body {
        Ok(buffer) => Reply::from_http(status, &content_type, &Uint8Array::new(&buffer).to_vec()),
        Err(error) => Reply::Network(js::describe_thrown(&error)),
    }
}
