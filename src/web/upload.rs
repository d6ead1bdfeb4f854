//! Runs one upload's requests ([`Transfer`], sans I/O) in the browser: a
//! small JavaScript driver (`driver.js`) performs the effects (requests
//! with `XMLHttpRequest` or `fetch` and their stall limit, reads of the
//! file, the retry timer, the `AbortSignal`, the online and offline events)
//! and feeds what ends back through the methods of [`Requests`]. Awaiting
//! I/O there, instead of in Rust futures, keeps the module small: no state
//! machine per request, no executor. No protocol decision is taken here
//! nor in the driver.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Blob};

use super::js::{self, ObjectBuilder};
use super::progress::report;
use crate::engine::Outcome;
use crate::error::UploadError;
use crate::reply::Reply;
use crate::transfer::{Effect, Target, Transfer};

#[wasm_bindgen(module = "/src/web/driver.js")]
extern "C" {
    /// Performs `requests`' effects until it ends; resolves then.
    fn drive(
        requests: Requests,
        blob: &Blob,
        stall_ms: f64,
        signal: Option<AbortSignal>,
    ) -> Promise;
}

/// Why an upload stopped without a result.
pub enum Stop {
    Failed(UploadError),
    Aborted,
}

impl From<UploadError> for Stop {
    fn from(error: UploadError) -> Stop {
        Stop::Failed(error)
    }
}

/// What the driver performs for one upload with known hashes, and how it
/// ends.
pub struct Session<'a> {
    pub transfer: Transfer,
    pub blob: &'a Blob,
    pub stall_ms: f64,
    pub signal: Option<AbortSignal>,
    pub get_signature: Function,
    /// What `getSignature` is called with.
    pub sign_info: JsValue,
    pub on_progress: Option<Function>,
}

impl Session<'_> {
    pub async fn run(self) -> Result<Outcome, Stop> {
        let result = Rc::new(RefCell::new(None));
        let requests = Requests {
            transfer: self.transfer,
            get_signature: self.get_signature,
            sign_info: self.sign_info,
            on_progress: self.on_progress,
            result: result.clone(),
        };
        // The driver resolves once the transfer has ended (`result` set).
        let _ = JsFuture::from(drive(requests, self.blob, self.stall_ms, self.signal)).await;
        let ended = result.borrow_mut().take();
        ended.unwrap_or(Err(Stop::Aborted))
    }
}

/// One upload's transfer, as the driver sees it. Targets are numbers there:
/// a part's index, or [`INIT`], [`FINISH`], [`CHECK`].
#[wasm_bindgen(skip_typescript)]
pub struct Requests {
    transfer: Transfer,
    get_signature: Function,
    sign_info: JsValue,
    on_progress: Option<Function>,
    result: Rc<RefCell<Option<Result<Outcome, Stop>>>>,
}

const INIT: f64 = -1.0;
const FINISH: f64 = -2.0;
const CHECK: f64 = -3.0;

/// The effect kinds, as `driver.js` numbers them.
const SEND: u32 = 0;
const READ: u32 = 1;
const SIGN: u32 = 2;
const WAIT: u32 = 3;
const END: u32 = 4;

fn target(number: f64) -> Target {
    match number {
        INIT => Target::Init,
        FINISH => Target::Finish,
        CHECK => Target::Check,
        index => Target::Part(index as u64),
    }
}

fn number(target: Target) -> f64 {
    match target {
        Target::Init => INIT,
        Target::Finish => FINISH,
        Target::Check => CHECK,
        Target::Part(index) => index as f64,
    }
}

#[wasm_bindgen]
impl Requests {
    /// The next effect, as `{k, t, u, a, b, p}`: its kind, target, URL,
    /// bytes `a..b` of the file (a request's body, a read), the promise of
    /// a signature, or for a wait the time `u` to poll again at (none:
    /// when something ends).
    pub fn poll(&mut self) -> JsValue {
        let effect = loop {
            let effect = self.transfer.poll(js::now());
            if matches!(effect, Effect::Sign) {
                match super::call_signature(&self.get_signature, &self.sign_info) {
                    Ok(promise) => break ObjectBuilder::new().set("k", SIGN).set("p", promise),
                    Err(stop) => self.stop(stop),
                }
                continue;
            }
            break match effect {
                Effect::Send { target, url, body } => {
                    let built = ObjectBuilder::new()
                        .set("k", SEND)
                        .set("t", number(target))
                        .set("u", url);
                    match body {
                        Some((start, end)) => built.set("a", start as f64).set("b", end as f64),
                        None => built,
                    }
                }
                Effect::Read { target, start, end } => ObjectBuilder::new()
                    .set("k", READ)
                    .set("t", number(target))
                    .set("a", start as f64)
                    .set("b", end as f64),
                Effect::Wait { until } => ObjectBuilder::new().set("k", WAIT).set("u", until),
                Effect::Done(outcome) => self.end(Ok(outcome)),
                Effect::Failed(error) => self.end(Err(Stop::Failed(error))),
                Effect::Aborted => self.end(Err(Stop::Aborted)),
                Effect::Sign => unreachable!("asked for above"),
            };
        };
        while let Some(progress) = self.transfer.poll_progress() {
            report(self.on_progress.as_ref(), &progress);
        }
        effect.build()
    }

    /// `navigator.onLine`, fed before every result.
    pub fn online(&mut self, online: bool) {
        self.transfer.set_online(online, js::now());
    }

    /// A request's answer: its status, `content-type` and body.
    pub fn reply(&mut self, target: f64, status: u16, content_type: &str, body: &[u8]) {
        let reply = Reply::from_http(status, content_type, body);
        self.transfer
            .on_reply(self::target(target), reply, js::now());
    }

    /// A request that got no answer: `error` what it failed with, or
    /// `undefined` when no byte moved within the stall limit.
    pub fn failed(&mut self, target: f64, error: JsValue) {
        let reply = if error.is_undefined() {
            Reply::Timeout
        } else {
            Reply::Network(js::describe_thrown(&error))
        };
        self.transfer
            .on_reply(self::target(target), reply, js::now());
    }

    /// Body bytes of part `index` sent so far.
    pub fn sent(&mut self, index: f64, sent: f64) {
        self.transfer.on_sent(index as u64, sent as u64, js::now());
    }

    /// The bytes of a read.
    pub fn read(&mut self, target: f64, bytes: &[u8]) {
        self.transfer
            .on_read(self::target(target), bytes, js::now());
    }

    /// A read failed with `error`.
    pub fn unreadable(&mut self, error: JsValue) {
        self.transfer.on_unreadable(&js::describe_thrown(&error));
    }

    /// What the promise of a signature settled with (`ok`: fulfilled).
    pub fn signed(&mut self, value: JsValue, ok: bool) {
        match super::signature_of(if ok { Ok(value) } else { Err(value) }) {
            Ok(signature) => self.transfer.on_signature(signature, js::now()),
            Err(stop) => self.stop(stop),
        }
    }

    /// The caller's signal aborted.
    pub fn abort(&mut self) {
        self.transfer.abort();
    }
}

impl Requests {
    fn stop(&mut self, stop: Stop) {
        match stop {
            Stop::Failed(error) => self.transfer.fail(error),
            Stop::Aborted => self.transfer.abort(),
        }
    }

    fn end(&mut self, result: Result<Outcome, Stop>) -> ObjectBuilder {
        *self.result.borrow_mut() = Some(result);
        ObjectBuilder::new().set("k", END)
    }
}
