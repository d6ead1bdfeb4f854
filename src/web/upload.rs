//! Runs the engine in the browser: starts what it asks for (fetches, part
//! reads, a fresh signature), feeds back what ends, the bytes parts have
//! sent and the browser going offline or online, waits for retries,
//! reports progress and stops everything on abort. No protocol decision is
//! taken here.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Poll, Waker};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use js_sys::{Function, Uint8Array};

use super::blob::{self, ReadError};
use super::cache::check_parts;
use super::http::send;
use super::input::Input;
use super::progress::report;
use super::wake::{sleep, AbortWatch, OnlineWatch};
use super::{js, xhr};
use crate::engine::{Engine, Outcome, PartJob, PartReply, Step};
use crate::error::{client_code, Stage, UploadError};
use crate::hash::md5::DIGEST_LEN;
use crate::hash::{Md5, PartMd5s};
use crate::options::Options;
use crate::plan::Part;
use crate::protocol::{to_hex, FinishQuery, InitQuery, PartQuery};
use crate::reply::Reply;

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

/// Everything the requests of one upload share.
pub struct Session<'a> {
    pub input: &'a Input,
    pub file_sha: &'a str,
    /// The signature requests carry now: replaced when it expired and
    /// `getSignature` gave a fresh one.
    pub signature: RefCell<String>,
    pub get_signature: &'a Function,
    /// The parts' MD5s from the hashing pass (for the part size asked for).
    pub part_md5s: Option<&'a PartMd5s>,
    /// The hashes are remembered ones (the hash cache), not computed from
    /// the file now: parts the server holds are checked (see [`Checks`]).
    pub remembered: bool,
    pub checks: Checks,
    pub options: Options,
    pub on_progress: Option<&'a Function>,
    pub abort: &'a AbortWatch,
    /// Body bytes sent by parts in flight, for the engine.
    pub sent: SentFeed,
}

/// Bytes sent inside parts, as the requests' events report them, queued for
/// the upload loop (which owns the engine) and waking it.
#[derive(Default)]
pub struct SentFeed {
    news: RefCell<Vec<(u64, u64)>>,
    waker: RefCell<Option<Waker>>,
}

impl SentFeed {
    fn push(&self, index: u64, sent: u64) {
        self.news.borrow_mut().push((index, sent));
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    fn poll_news(&self, cx: &mut std::task::Context<'_>) -> Poll<Vec<(u64, u64)>> {
        let news = std::mem::take(&mut *self.news.borrow_mut());
        if news.is_empty() {
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(news)
        }
    }
}

/// Parts the server holds that were skipped on a remembered MD5, waiting
/// to be read back and compared ([`Engine::on_checked`]): one check runs
/// at a time, beside the part uploads.
#[derive(Default)]
pub struct Checks {
    waiting: RefCell<Vec<(Part, [u8; DIGEST_LEN])>>,
    running: Cell<bool>,
}

/// How a request started by the engine ended.
enum Completion {
    Init(Reply),
    Part(u64, PartReply),
    Finish(Reply),
    /// `getSignature` gave a fresh signature.
    Signed(String),
    /// `getSignature` failed.
    Stopped(Stop),
    /// Parts checked: (index, still the remembered bytes).
    Checked(Vec<(u64, bool)>),
    /// A part could not be read from the file.
    Unreadable(String),
    Aborted,
}

type Request<'a> = Pin<Box<dyn Future<Output = Completion> + 'a>>;

/// What woke the loop.
enum Event {
    Ended(Completion),
    /// Bytes sent inside parts: (part index, bytes sent).
    Sent(Vec<(u64, u64)>),
    /// The browser went online or offline.
    Connectivity,
    Wake,
    Abort,
}

impl Session<'_> {
    pub async fn run(&self) -> Result<Outcome, Stop> {
        let mut engine = Engine::new(
            self.input.size,
            self.options.clone(),
            (js_sys::Math::random() * 2f64.powi(53)) as u64,
        );
        let online = OnlineWatch::new();
        engine.set_online(online.online(), js::now());
        let use_xhr = xhr::available();
        let mut requests: FuturesUnordered<Request<'_>> = FuturesUnordered::new();
        loop {
            let wake_at = loop {
                match engine.poll(js::now()) {
                    Step::Init { part_size } => requests.push(Box::pin(self.init(part_size))),
                    Step::Part(job) => requests.push(Box::pin(self.part(job, use_xhr))),
                    Step::Finish => requests.push(Box::pin(self.finish())),
                    Step::Sign => requests.push(Box::pin(self.sign_again())),
                    Step::Wait { until } => break until,
                    Step::Done(outcome) => {
                        self.flush_progress(&mut engine);
                        return Ok(outcome);
                    }
                    Step::Failed(error) => return Err(Stop::Failed(error)),
                    Step::Aborted => return Err(Stop::Aborted),
                }
            };
            self.flush_progress(&mut engine);
            if let Some(check) = self.next_check() {
                requests.push(check);
            }
            let mut timer = wake_at.map(|at| sleep(at - js::now()));
            let event = std::future::poll_fn(|cx| {
                if self.abort.poll_aborted(cx).is_ready() {
                    return Poll::Ready(Event::Abort);
                }
                if let Poll::Ready(Some(completion)) = requests.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Ended(completion));
                }
                if let Poll::Ready(news) = self.sent.poll_news(cx) {
                    return Poll::Ready(Event::Sent(news));
                }
                if online.poll_changed(cx).is_ready() {
                    return Poll::Ready(Event::Connectivity);
                }
                match timer.as_mut().map(|timer| timer.poll_unpin(cx)) {
                    Some(Poll::Ready(())) => Poll::Ready(Event::Wake),
                    _ => Poll::Pending,
                }
            })
            .await;
            let now = js::now();
            // Whatever happened, the engine first learns whether the browser
            // is online: a request that failed while offline spends no retry.
            engine.set_online(online.online(), now);
            match event {
                Event::Ended(Completion::Init(reply)) => engine.on_init(reply, now),
                Event::Ended(Completion::Part(index, reply)) => engine.on_part(index, reply, now),
                Event::Ended(Completion::Finish(reply)) => engine.on_finish(reply, now),
                Event::Ended(Completion::Signed(signature)) => {
                    *self.signature.borrow_mut() = signature;
                    engine.on_signature(now);
                }
                Event::Ended(Completion::Stopped(stop)) => return Err(stop),
                Event::Ended(Completion::Checked(results)) => {
                    self.checks.running.set(false);
                    for (index, same) in results {
                        engine.on_checked(index, same);
                    }
                }
                Event::Ended(Completion::Unreadable(detail)) => {
                    return Err(Stop::Failed(unreadable(Stage::Part, &detail)));
                }
                Event::Ended(Completion::Aborted) | Event::Abort => {
                    engine.abort();
                    // Dropping `requests` aborts every request still in flight.
                    return Err(Stop::Aborted);
                }
                Event::Sent(news) => {
                    for (index, sent) in news {
                        engine.on_part_sent(index, sent, now);
                    }
                }
                Event::Connectivity | Event::Wake => {}
            }
        }
    }

    /// A check of the parts waiting for one, unless one is running.
    fn next_check(&self) -> Option<Request<'_>> {
        let checks = &self.checks;
        if checks.running.get() || checks.waiting.borrow().is_empty() {
            return None;
        }
        checks.running.set(true);
        let parts = checks.waiting.take();
        Some(Box::pin(async move {
            match check_parts(&self.input.blob, parts, self.abort).await {
                Ok(results) => Completion::Checked(results),
                Err(ReadError::Aborted) => Completion::Aborted,
                Err(ReadError::Unreadable(detail)) => Completion::Unreadable(detail),
            }
        }))
    }

    fn flush_progress(&self, engine: &mut Engine) {
        while let Some(progress) = engine.poll_progress() {
            report(self.on_progress, &progress);
        }
    }

    /// The stall limit of each request.
    fn stall_ms(&self) -> f64 {
        self.options.timeout_ms as f64
    }

    fn signature(&self) -> String {
        self.signature.borrow().clone()
    }

    /// A GET call (InitUploadUGC, FinishUploadUGC) within the stall limit.
    async fn get(&self, url: &str) -> Reply {
        send("GET", url, None, self.stall_ms()).await
    }

    /// Asks `getSignature` again, with the same info, for a signature
    /// that replaces the expired one.
    async fn sign_again(&self) -> Completion {
        match super::sign(self.input, self.file_sha, self.get_signature, self.abort).await {
            Ok(signature) => Completion::Signed(signature),
            Err(stop) => Completion::Stopped(stop),
        }
    }

    async fn init(&self, part_size: u64) -> Completion {
        let query = InitQuery {
            file_sha: self.file_sha.to_owned(),
            file_size: self.input.size,
            data_size: part_size,
            signature: self.signature(),
        };
        Completion::Init(self.get(&query.url(&self.options.endpoint)).await)
    }

    /// Sends the part straight from the file (a `Blob` slice as the body:
    /// no copy in JavaScript memory), unless the server already holds the
    /// same bytes. Its MD5 comes from the hashing pass; only for a part
    /// size the server fixed otherwise is the part read and hashed here.
    /// With `use_xhr`, its bytes are reported as they are sent.
    async fn part(&self, job: PartJob, use_xhr: bool) -> Completion {
        let part = job.part;
        let blob = &self.input.blob;
        let hashed = self.part_md5s.and_then(|md5s| md5s.get(&part));
        let data_md5 = match hashed {
            Some(md5) => to_hex(&md5),
            None => match blob::read(blob, part.offset, part.end(), self.abort).await {
                Ok(buffer) => to_hex(&Md5::digest(&Uint8Array::new(&buffer).to_vec())),
                Err(ReadError::Aborted) => return Completion::Aborted,
                Err(ReadError::Unreadable(detail)) => return Completion::Unreadable(detail),
            },
        };
        if job.known_md5.as_deref() == Some(data_md5.as_str()) {
            return Completion::Part(part.index, self.stored(part, hashed));
        }
        let body = match blob.slice_with_f64_and_f64(part.offset as f64, part.end() as f64) {
            Ok(body) => body,
            Err(error) => return Completion::Unreadable(js::describe_thrown(&error)),
        };
        let query = PartQuery {
            file_sha: self.file_sha.to_owned(),
            offset: part.offset,
            data_size: part.len,
            data_md5,
            signature: self.signature(),
        };
        let url = query.url(&self.options.endpoint);
        let reply = if use_xhr {
            xhr::post(&url, &body, self.stall_ms(), |sent| self.sent.push(part.index, sent)).await
        } else {
            send("POST", &url, Some(&body), self.stall_ms()).await
        };
        Completion::Part(part.index, PartReply::Sent(reply))
    }

    /// The server holds `part` with the MD5 we have for it: trusted when
    /// computed from the file now, checked later when remembered.
    fn stored(&self, part: Part, hashed: Option<[u8; DIGEST_LEN]>) -> PartReply {
        match hashed {
            Some(md5) if self.remembered => {
                self.checks.waiting.borrow_mut().push((part, md5));
                PartReply::RememberedMatch
            }
            _ => PartReply::AlreadyStored,
        }
    }

    async fn finish(&self) -> Completion {
        let query = FinishQuery {
            file_sha: self.file_sha.to_owned(),
            signature: self.signature(),
        };
        Completion::Finish(self.get(&query.url(&self.options.endpoint)).await)
    }
}

/// The file could not be read: it was changed, moved or deleted since it
/// was picked (the browser's `File` is a snapshot). The same `File` will not
/// read again, so not retryable; picked again, it uploads, resuming where
/// it stopped.
pub fn unreadable(stage: Stage, detail: &str) -> UploadError {
    UploadError::new(
        client_code::FILE_UNREADABLE,
        false,
        stage,
        [
            "The file could not be read (",
            detail,
            "): it was changed, moved or deleted since it was picked. Pick it again: the upload resumes where it stopped.",
        ]
        .concat(),
    )
}
