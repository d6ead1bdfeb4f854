//! Runs one call of `upload()` or `hashFile()` ([`Job`], sans I/O) in the
//! browser: a small JavaScript driver (`driver.js`) performs its effects
//! (requests with `XMLHttpRequest` or `fetch` and their stall limit, reads
//! of the file through the reading Worker, the retry timer, the
//! `AbortSignal`, the online and offline events, the promises of
//! `getSignature` and of the hash cache) and feeds what ends back through
//! the methods of [`Call`]. Awaiting I/O there, instead of in Rust
//! futures, keeps the module small: no state machine per await, no
//! executor. No protocol decision is taken here nor in the driver.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, Blob};

use super::cache::HashCache;
use super::js;
use super::progress::report;
use crate::error::UploadError;
use crate::job::{Effect, Job};
use crate::reply::Reply;
use crate::transfer::{self, Target};

#[wasm_bindgen(module = "/src/web/driver.js")]
extern "C" {
    /// Performs `call`'s effects until it ends: a promise of its result.
    /// The pass over a file of more than 4 MiB goes to the page's reading
    /// Worker, started from `worker_code`; it hashes with `module`, this
    /// module.
    fn drive(
        call: Call,
        blob: &Blob,
        stall_ms: f64,
        signal: Option<AbortSignal>,
        module: JsValue,
        worker_code: JsValue,
    ) -> Promise;
}

#[wasm_bindgen(module = "/src/web/read-worker.js")]
extern "C" {
    /// The reading Worker's code (`read-worker.js`: how it reads and
    /// hashes, and the messages it takes and sends), a function the driver
    /// starts as a Worker (one per page). A snippet, not text in the
    /// module: the package's build minifies it with the rest of the JS.
    /// Handed to the driver through the module, since wasm-bindgen ships
    /// only the snippets the module imports from.
    #[wasm_bindgen(js_name = readWorkerCode)]
    fn read_worker_code() -> JsValue;
}

/// Why a call stopped without a result.
pub enum Stop {
    Failed(UploadError),
    Aborted,
}

impl From<UploadError> for Stop {
    fn from(error: UploadError) -> Stop {
        Stop::Failed(error)
    }
}

/// One call, as the driver sees it. Targets are numbers there: a part's
/// index, or [`INIT`], [`FINISH`], [`CHECK`], [`HASH`], or a probe of part
/// `i` as `PROBE - i`.
#[wasm_bindgen(skip_typescript)]
pub struct Call {
    job: Job,
    /// `getSignature`, and the file's name it is told (an upload's).
    pub(super) sign: Option<(Function, String)>,
    pub(super) on_progress: Option<Function>,
    pub(super) cache: Option<HashCache>,
    pub(super) signal: Option<AbortSignal>,
    /// The promise handed out is a signature's (else the cache's).
    signing: bool,
}

const INIT: f64 = -1.0;
const FINISH: f64 = -2.0;
const CHECK: f64 = -3.0;
/// The pass over the whole file.
const HASH: f64 = -4.0;
/// A probe of part 0; of part `i`, `PROBE - i`.
const PROBE: f64 = -5.0;

/// The effect kinds, as `driver.js` numbers them.
const SEND: u32 = 0;
const READ: u32 = 1;
const AWAIT: u32 = 2;
const WAIT: u32 = 3;
const END: u32 = 4;
const READ_ALL: u32 = 5;
const SIGN: u32 = 6;

/// What [`Call::feed`] is fed, as `driver.js` numbers it (0: nothing, a
/// wake): a request's answer (the status, the bytes, the `content-type`
/// value), a request that got no answer (the error value), bytes sent
/// (the number), a read's bytes, the pass over the file done (the digests'
/// bytes, if the Worker hashed), a read that failed (the error value), the
/// promise handed out settled (the value; the number says how: rejected
/// (0), `FULFILLED`, or `THREW` when `getSignature` threw), the caller's
/// signal aborted.
const ON_REPLY: u32 = 1;
const ON_FAILED: u32 = 2;
const ON_SENT: u32 = 3;
const ON_READ: u32 = 4;
const ON_HASHED: u32 = 5;
const ON_UNREADABLE: u32 = 6;
const ON_SETTLED: u32 = 7;
const ON_ABORT: u32 = 8;

/// How a promise settled, beside rejected (0).
const FULFILLED: f64 = 1.0;
const THREW: f64 = 2.0;

fn number(target: Target) -> f64 {
    match target {
        Target::Init => INIT,
        Target::Finish => FINISH,
        Target::Check => CHECK,
        Target::Part(index) => index as f64,
        Target::Probe(index) => PROBE - index as f64,
    }
}

fn target(number: f64) -> Target {
    match number {
        INIT => Target::Init,
        FINISH => Target::Finish,
        CHECK => Target::Check,
        probe if probe <= PROBE => Target::Probe((PROBE - probe) as u64),
        index => Target::Part(index as u64),
    }
}

impl Call {
    pub fn new(job: Job) -> Call {
        Call {
            job,
            sign: None,
            on_progress: None,
            cache: None,
            signal: None,
            signing: false,
        }
    }

    /// Starts the driver: the promise of the call's result.
    pub fn start(self, blob: &Blob, stall_ms: f64) -> Promise {
        let signal = self.signal.clone();
        drive(
            self,
            blob,
            stall_ms,
            signal,
            wasm_bindgen::module(),
            read_worker_code(),
        )
    }

    fn stop(&mut self, stop: Stop) {
        match stop {
            Stop::Failed(error) => self.job.fail(error),
            Stop::Aborted => self.job.abort(),
        }
    }

    /// The promise of a cache effect; without a cache (never asked for
    /// then), nothing to wait for.
    fn cached(
        &mut self,
        effect: impl FnOnce(&HashCache) -> Promise,
        now: f64,
    ) -> Option<Result<(Promise, bool), Stop>> {
        match &self.cache {
            Some(cache) => Some(Ok((effect(cache), false))),
            None => {
                self.job.on_cache(None, now);
                None
            }
        }
    }
}

#[wasm_bindgen]
impl Call {
    /// The next effect, as `{k, t, u, a, b, p}`: its kind, target, URL,
    /// bytes `a..b` of the file (a request's body, a read), a promise `p`
    /// to wait for, the call's result `p` (a rejection unless `u`); for a
    /// wait, the time `u` to poll again at (none: when something ends); for
    /// the pass over the file, the part size `p` of the parts' MD5s (0:
    /// none); to sign, `getSignature` `p` to call with `u`, then to wait
    /// for what it returns.
    pub fn poll(&mut self) -> JsValue {
        let (kind, target, u, range, p) = loop {
            let now = js::now();
            let promise = match self.job.poll(now) {
                Effect::Sign => match &self.sign {
                    Some((get_signature, file_name)) => {
                        let (file_size, file_sha) = self.job.signing();
                        let info = super::sign_info(file_name, file_size, file_sha);
                        self.signing = true;
                        break (SIGN, 0.0, info, None, get_signature.into());
                    }
                    None => unreachable!("only an upload signs, with getSignature"),
                },
                Effect::CacheLoad => self.cached(HashCache::load, now),
                Effect::CacheStore(entry) => self.cached(|cache| cache.store(entry), now),
                Effect::CacheForget => self.cached(HashCache::forget, now),
                Effect::Hash => {
                    let part_size = self.job.part_size().unwrap_or(0) as f64;
                    break (READ_ALL, HASH, JsValue::UNDEFINED, None, part_size.into());
                }
                Effect::Transfer(transfer::Effect::Send { target, url, body }) => {
                    break (SEND, number(target), url.into(), body, JsValue::UNDEFINED)
                }
                Effect::Transfer(transfer::Effect::Read { target, start, end }) => {
                    break (
                        READ,
                        number(target),
                        JsValue::UNDEFINED,
                        Some((start, end)),
                        JsValue::UNDEFINED,
                    )
                }
                Effect::Transfer(transfer::Effect::Wait { until }) => {
                    break (
                        WAIT,
                        0.0,
                        until.map_or(JsValue::UNDEFINED, JsValue::from),
                        None,
                        JsValue::UNDEFINED,
                    )
                }
                Effect::Transfer(_) => unreachable!("the job hands out requests, reads and waits"),
                Effect::End(ended) => {
                    let (value, ok) = super::result(ended, self.signal.as_ref());
                    break (END, 0.0, ok.into(), None, value);
                }
            };
            match promise {
                Some(Ok((promise, signing))) => {
                    self.signing = signing;
                    break (AWAIT, 0.0, JsValue::UNDEFINED, None, promise.into());
                }
                Some(Err(stop)) => self.stop(stop),
                None => {}
            }
        };
        while let Some(progress) = self.job.poll_progress() {
            report(self.on_progress.as_ref(), &progress);
        }
        let (a, b) = range.map_or((None, None), |(a, b)| (Some(a as f64), Some(b as f64)));
        js::effect(kind, target, &u, a, b, &p)
    }

    /// Feeds what ended (`kind`, one of the `ON_*`, with its `target`,
    /// a number, bytes and a value), or nothing (a wake), and
    /// `navigator.onLine`, fed before every result. One entry, not one per
    /// kind: fewer exports in the module and wrappers in its glue.
    pub fn feed(
        &mut self,
        online: bool,
        kind: u32,
        target: f64,
        number: f64,
        bytes: Option<Vec<u8>>,
        value: JsValue,
    ) {
        self.job.set_online(online, js::now());
        match kind {
            ON_REPLY => {
                let content_type = value.as_string().unwrap_or_default();
                let body = bytes.unwrap_or_default();
                self.answer(
                    target,
                    Reply::from_http(number as u16, &content_type, &body),
                );
            }
            ON_FAILED => self.failed(target, value),
            ON_SENT => self.sent(target, number),
            ON_READ => self.read(target, &bytes.unwrap_or_default()),
            ON_HASHED => self.hashed(bytes),
            ON_UNREADABLE => self.job.on_unreadable(&js::describe_thrown(&value)),
            ON_SETTLED => self.settled(value, number),
            ON_ABORT => self.job.abort(),
            _ => {}
        }
    }
}

impl Call {
    /// A request that got no answer: `error` what it failed with, or
    /// `undefined` when no byte moved within the stall limit.
    fn failed(&mut self, target: f64, error: JsValue) {
        let reply = if error.is_undefined() {
            Reply::Timeout
        } else {
            Reply::Network(js::describe_thrown(&error))
        };
        self.answer(target, reply);
    }

    /// Bytes of `target` done so far: of a part's body, sent; for
    /// [`HASH`], of the file, hashed by the reading Worker.
    fn sent(&mut self, target: f64, sent: f64) {
        if target == HASH {
            self.job.on_hash_progress(sent as u64, js::now());
        } else if let Some(transfer) = self.job.transfer() {
            transfer.on_sent(target as u64, sent as u64, js::now());
        }
    }

    /// The bytes of a read; for [`HASH`], the next bytes of the file.
    fn read(&mut self, target: f64, bytes: &[u8]) {
        if target == HASH {
            self.job.on_bytes(bytes, js::now());
        } else if let Some(transfer) = self.job.transfer() {
            transfer.on_read(self::target(target), bytes, js::now());
        }
    }

    /// The whole file was read ([`HASH`]); hashed by the reading Worker,
    /// with these `digests` (the SHA-1, then the parts' MD5s).
    fn hashed(&mut self, digests: Option<Vec<u8>>) {
        match digests {
            Some(digests) => self.job.on_digests(&digests, js_sys::Date::now()),
            None => self.job.on_hashed(js_sys::Date::now()),
        }
    }

    /// What the promise handed out settled with (`how`: rejected (0),
    /// [`FULFILLED`], or for `getSignature`, [`THREW`]).
    fn settled(&mut self, value: JsValue, how: f64) {
        if !std::mem::take(&mut self.signing) {
            let hashes = self.cache.as_ref().and_then(|cache| cache.hashes(&value));
            return self.job.on_cache(hashes, js::now());
        }
        let settled = match how {
            FULFILLED => Ok(value),
            THREW => Err(("threw ", value)),
            _ => Err(("rejected with ", value)),
        };
        match super::signature_of(settled) {
            Ok(signature) => self.job.on_signature(signature, js::now()),
            Err(stop) => self.stop(stop),
        }
    }

    /// A request's answer.
    fn answer(&mut self, target: f64, reply: Reply) {
        if let Some(transfer) = self.job.transfer() {
            transfer.on_reply(self::target(target), reply, js::now());
        }
    }
}
