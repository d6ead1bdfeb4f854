//! A part body sent with `XMLHttpRequest`: the one request API whose upload
//! events report bytes as they leave, in every engine (`fetch` reports
//! nothing until the answer). Those events give progress inside a part and
//! the stall limit: the request fails when no byte has moved, body sent or
//! answer received, for the limit, however long a slow but moving part takes.
//! Where there is no `XMLHttpRequest` (Node.js), parts go with `fetch`
//! ([`super::http`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_util::FutureExt;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, ProgressEvent, XmlHttpRequest, XmlHttpRequestResponseType};

use super::js;
use super::wake::{sleep, Sleep};
use crate::reply::Reply;

/// True where `XMLHttpRequest` exists (browsers, their workers).
pub fn available() -> bool {
    js_sys::Reflect::has(&js_sys::global(), &JsValue::from_str("XMLHttpRequest")).unwrap_or(false)
}

/// What the request's events tell the future that drives it.
struct Shared {
    /// Body bytes sent, from the last upload progress event.
    sent: Cell<u64>,
    /// `sent` changed since the future last looked.
    sent_news: Cell<bool>,
    /// When a byte last moved, either way (`performance.now()`).
    moved_at: Cell<f64>,
    /// `loadend` fired: the request is over, one way or the other.
    ended: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Shared {
    fn wake(&self) {
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// An `XMLHttpRequest` in flight, aborted when dropped before it ends.
struct InFlight {
    xhr: XmlHttpRequest,
    shared: Rc<Shared>,
    // The event handlers, alive as long as the request.
    _on_sent: Closure<dyn FnMut(ProgressEvent)>,
    _on_received: Closure<dyn FnMut()>,
    _on_end: Closure<dyn FnMut()>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.shared.ended.get() {
            // No handler may run into a dropped future.
            if let Ok(upload) = self.xhr.upload() {
                upload.set_onprogress(None);
            }
            self.xhr.set_onprogress(None);
            self.xhr.set_onreadystatechange(None);
            self.xhr.set_onloadend(None);
            let _ = self.xhr.abort();
        }
    }
}

/// POSTs `body` to `url`, calling `on_sent` with the body bytes sent so
/// far as they move; fails with [`Reply::Timeout`] after `stall_ms` without
/// a byte moving.
pub async fn post(url: &str, body: &Blob, stall_ms: f64, mut on_sent: impl FnMut(u64)) -> Reply {
    let request = match start(url, body) {
        Ok(request) => request,
        Err(error) => return Reply::Network(js::describe_thrown(&error)),
    };
    let shared = &request.shared;
    let mut timer: Sleep = sleep(stall_ms);
    std::future::poll_fn(|cx: &mut Context<'_>| {
        if shared.sent_news.replace(false) {
            on_sent(shared.sent.get());
        }
        if shared.ended.get() {
            return Poll::Ready(answer(&request.xhr));
        }
        *shared.waker.borrow_mut() = Some(cx.waker().clone());
        while timer.poll_unpin(cx).is_ready() {
            let still = js::now() - shared.moved_at.get();
            if still >= stall_ms {
                return Poll::Ready(Reply::Timeout);
            }
            timer = sleep(stall_ms - still);
        }
        Poll::Pending
    })
    .await
}

fn start(url: &str, body: &Blob) -> Result<InFlight, JsValue> {
    let xhr = XmlHttpRequest::new()?;
    let shared = Rc::new(Shared {
        sent: Cell::new(0),
        sent_news: Cell::new(false),
        moved_at: Cell::new(js::now()),
        ended: Cell::new(false),
        waker: RefCell::new(None),
    });
    let on_sent = {
        let shared = shared.clone();
        Closure::<dyn FnMut(ProgressEvent)>::new(move |event: ProgressEvent| {
            shared.sent.set(event.loaded() as u64);
            shared.sent_news.set(true);
            shared.moved_at.set(js::now());
            shared.wake();
        })
    };
    let on_received = {
        let shared = shared.clone();
        Closure::<dyn FnMut()>::new(move || shared.moved_at.set(js::now()))
    };
    let on_end = {
        let shared = shared.clone();
        Closure::<dyn FnMut()>::new(move || {
            shared.ended.set(true);
            shared.wake();
        })
    };
    xhr.open("POST", url)?;
    xhr.set_response_type(XmlHttpRequestResponseType::Arraybuffer);
    xhr.upload()?
        .set_onprogress(Some(on_sent.as_ref().unchecked_ref()));
    // Headers and each chunk of the answer count as bytes moving too.
    xhr.set_onreadystatechange(Some(on_received.as_ref().unchecked_ref()));
    xhr.set_onprogress(Some(on_received.as_ref().unchecked_ref()));
    xhr.set_onloadend(Some(on_end.as_ref().unchecked_ref()));
    xhr.send_with_opt_blob(Some(body))?;
    Ok(InFlight {
        xhr,
        shared,
        _on_sent: on_sent,
        _on_received: on_received,
        _on_end: on_end,
    })
}

/// The ended request as a [`Reply`]: status 0 means it never got an answer.
fn answer(xhr: &XmlHttpRequest) -> Reply {
    let status = xhr.status().unwrap_or(0);
    if status == 0 {
        return Reply::Network("XMLHttpRequest failed (network error)".into());
    }
    let content_type = xhr
        .get_response_header("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let body = match xhr.response() {
        Ok(buffer) if buffer.is_instance_of::<js_sys::ArrayBuffer>() => Uint8Array::new(&buffer).to_vec(),
        _ => Vec::new(),
    };
    Reply::from_http(status, &content_type, &body)
}
