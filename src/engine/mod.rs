//! The upload engine, sans I/O: it decides what to send next from the answers
//! it is fed, and never touches the network, a clock or a file itself.
//!
//! The adapter (the browser module, or a test) runs a loop:
//! [`Engine::poll`] says what to start ([`Step`]); the adapter starts it and,
//! when it ends, feeds the [`Reply`] back through `on_init`, `on_part` or
//! `on_finish`; progress reports are drained with [`Engine::poll_progress`].
//! Time is always passed in (`now`, milliseconds), so every decision,
//! including retry backoff, is a plain function of its inputs and is tested
//! natively.
//!
//! The network's state is an input too: bytes of a part body as they are
//! sent ([`Engine::on_part_sent`]), the browser going offline and online
//! ([`Engine::set_online`]), and a fresh signature ([`Engine::on_signature`])
//! after the engine asked for one ([`Step::Sign`]). From them the engine
//! decides how many parts may be in flight (fewer on a struggling link),
//! when to wait without spending retries (offline), and when a signature
//! has expired and is worth asking for once more.

use std::collections::VecDeque;

use crate::error::{client_code, message, Stage, UploadError};
use crate::json;
use crate::options::{Options, MAX_RETRY_DELAY_MS};
use crate::plan::{Part, PartPlan};
use crate::progress::{Meter, Progress, ProgressStage, Waiting};
use crate::protocol::{code, Answer};
use crate::reply::Reply;

/// A part to send. With `known_md5`, the server already holds a part at this
/// offset: the adapter hashes the local part and, if the MD5 matches, reports
/// [`PartReply::AlreadyStored`] instead of sending it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartJob {
    pub part: Part,
    pub known_md5: Option<String>,
}

/// What the adapter should do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Send InitUploadUGC asking for this part size.
    Init { part_size: u64 },
    /// Send (or check) this part.
    Part(PartJob),
    /// Send FinishUploadUGC.
    Finish,
    /// The signature expired: call `getSignature` again (same info), use
    /// its answer for every later request, and feed [`Engine::on_signature`].
    Sign,
    /// Nothing to start now. Poll again when a request ends, or at `until`
    /// (when a retry falls due).
    Wait { until: Option<f64> },
    /// The upload is complete.
    Done(Outcome),
    /// The upload failed for good.
    Failed(UploadError),
    /// [`Engine::abort`] was called.
    Aborted,
}

/// How a part request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartReply {
    /// The part was sent; this came back.
    Sent(Reply),
    /// The local part's MD5 equals the server's: nothing was sent.
    AlreadyStored,
    /// The server's MD5 equals the one remembered for this part (the hash
    /// cache), not yet one computed from the file now: nothing was sent,
    /// and the upload does not finish before [`Engine::on_checked`] says
    /// the file's bytes still have that MD5.
    RememberedMatch,
}

/// A completed upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub file_id: String,
    pub url: String,
    /// InitUploadUGC answered 2: the server had the file; nothing was sent.
    pub instant: bool,
    /// InitUploadUGC answered 1: the server held some parts already.
    pub resumed: bool,
    pub parts_uploaded: u64,
    pub parts_skipped: u64,
    pub bytes_uploaded: u64,
}

/// Retry bookkeeping of one request.
#[derive(Clone, Copy, Debug, Default)]
struct Tries {
    /// Failed tries so far.
    failures: u64,
    /// Not to be sent again before this time.
    ready_at: f64,
}

/// A part request in flight.
#[derive(Clone, Copy, Debug)]
struct Flight {
    index: u64,
    /// Failed tries of this part before this one.
    failures: u64,
    /// Body bytes sent so far.
    sent: u64,
    /// Order in which requests started: failures of requests started before
    /// the last cut in concurrency do not cut it again.
    seq: u64,
    /// The signature this request carries (0 the first, then one per refresh).
    signature: u32,
}

/// Where the upload is.
#[derive(Debug)]
enum Phase {
    Init {
        tries: Tries,
        in_flight: bool,
    },
    Parts(Parts),
    Finish {
        parts: Parts,
        tries: Tries,
        /// The signature of the request in flight, if one is.
        in_flight: Option<u32>,
    },
    Done(Outcome),
    Failed(UploadError),
    Aborted,
}

/// The part phase: which parts remain, which are in flight, which wait for
/// a retry.
#[derive(Debug)]
struct Parts {
    plan: PartPlan,
    resumed: bool,
    /// Parts not yet tried, in order.
    fresh: VecDeque<u64>,
    /// Parts waiting to be tried again, with their bookkeeping.
    retrying: Vec<(u64, Tries)>,
    /// Parts in flight (few: at most `concurrency`).
    in_flight: Vec<Flight>,
    /// MD5s of parts the server listed, to check against the local bytes.
    /// Sorted by part index.
    known_md5: Vec<(u64, String)>,
    /// Parts skipped on a remembered MD5, whose bytes are still being
    /// checked: FinishUploadUGC waits for them.
    unchecked: Vec<u64>,
    uploaded: u64,
    skipped: u64,
    bytes_uploaded: u64,
    /// Bytes of parts that are done (sent and stored, or skipped).
    done: u64,
    meter: Meter,
}

impl Parts {
    fn remaining(&self) -> usize {
        self.fresh.len() + self.retrying.len() + self.in_flight.len()
    }

    /// Moves the meter up to the bytes done plus those sent in flight.
    /// It never moves back: the bytes of a failed part count again only
    /// once its retry has sent more than they were.
    fn advance_meter(&mut self, now: f64) -> Progress {
        let moved = self.done + self.in_flight.iter().map(|f| f.sent).sum::<u64>();
        let step = moved.saturating_sub(self.meter.loaded());
        self.meter.advance(step, now)
    }
}

/// Parts in flight, adapted to the link: cut in half (down to 1) when a
/// part stalls or fails on the network, one more after as many parts in a
/// row succeed as are allowed in flight, up to the `concurrency` option
/// (additive increase, multiplicative decrease, as TCP does).
#[derive(Debug)]
struct Window {
    limit: u64,
    max: u64,
    /// Parts that succeeded since the limit last changed or a part failed.
    successes: u64,
    /// Sequence number of the next request to start.
    next_seq: u64,
    /// Requests started before this one do not cut the limit again.
    cut_from: u64,
}

impl Window {
    fn new(max: u64) -> Window {
        Window {
            limit: max,
            max,
            successes: 0,
            next_seq: 0,
            cut_from: 0,
        }
    }

    fn start(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    fn succeeded(&mut self) {
        self.successes += 1;
        if self.limit < self.max && self.successes >= self.limit {
            self.limit += 1;
            self.successes = 0;
        }
    }

    /// A request started as `seq` stalled or failed on the network: one cut
    /// per round of requests, since the parts of one round share the link
    /// and tend to fail together.
    fn struggled(&mut self, seq: u64) {
        self.successes = 0;
        if seq >= self.cut_from {
            self.limit = (self.limit / 2).max(1);
            self.cut_from = self.next_seq;
        }
    }
}

/// The signature in use and whether asking for another may help.
#[derive(Debug, Default)]
struct Signature {
    /// Signatures that came: 0 before the first (when the engine asks for
    /// it, [`Engine::ask_signature`]), plus one per refresh.
    current: u32,
    /// The current signature was accepted at least once: a -10002 now means
    /// it expired, and a fresh one is worth asking for. A refreshed
    /// signature refused at once is wrong for good.
    proven: bool,
    /// [`Step::Sign`] is due.
    wanted: bool,
    /// [`Step::Sign`] was given and its answer is awaited.
    asked: bool,
}

impl Signature {
    fn pending(&self) -> bool {
        self.wanted || self.asked
    }
}

/// Least time between two reports of bytes sent inside parts.
pub const PROGRESS_INTERVAL_MS: f64 = 250.0;

/// The upload state machine of one file.
#[derive(Debug)]
pub struct Engine {
    file_size: u64,
    options: Options,
    phase: Phase,
    progress: VecDeque<Progress>,
    rng: u64,
    online: bool,
    window: Window,
    signature: Signature,
    /// What the last report said about waiting.
    waiting: Option<Waiting>,
    /// An upload-stage report was given (a waiting one before the parts).
    upload_reported: bool,
    last_report_ms: f64,
}

impl Engine {
    /// An engine for a file of `file_size` bytes (not zero). `seed` feeds the
    /// retry jitter; pass something random in production, a constant in tests.
    pub fn new(file_size: u64, options: Options, seed: u64) -> Engine {
        assert!(
            file_size > 0,
            "an empty file is refused before the engine starts"
        );
        Engine {
            file_size,
            phase: Phase::Init {
                tries: Tries::default(),
                in_flight: false,
            },
            progress: VecDeque::new(),
            rng: seed | 1,
            online: true,
            window: Window::new(options.concurrency),
            signature: Signature::default(),
            waiting: None,
            upload_reported: false,
            last_report_ms: f64::NEG_INFINITY,
            options,
        }
    }

    /// What to do next, at time `now`.
    pub fn poll(&mut self, now: f64) -> Step {
        let step = self.next_step(now);
        self.report_waiting(now);
        step
    }

    fn next_step(&mut self, now: f64) -> Step {
        let idle = !self.online || self.signature.asked;
        if !idle && self.signature.wanted && !self.is_over() {
            self.signature.wanted = false;
            self.signature.asked = true;
            return Step::Sign;
        }
        match &mut self.phase {
            Phase::Init { tries, in_flight } => {
                if *in_flight || idle {
                    Step::Wait { until: None }
                } else if tries.ready_at > now {
                    Step::Wait {
                        until: Some(tries.ready_at),
                    }
                } else {
                    *in_flight = true;
                    Step::Init {
                        part_size: self.options.part_size,
                    }
                }
            }
            Phase::Parts(parts) => {
                if parts.remaining() == 0 && !parts.unchecked.is_empty() {
                    return Step::Wait { until: None };
                }
                if parts.remaining() == 0 {
                    self.start_finish(now);
                    return self.next_step(now);
                }
                if idle || parts.in_flight.len() as u64 >= self.window.limit {
                    return Step::Wait { until: None };
                }
                let due = parts
                    .retrying
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, tries))| tries.ready_at <= now)
                    .min_by_key(|(_, (index, _))| *index)
                    .map(|(at, _)| at);
                let (index, failures) = if let Some(at) = due {
                    let (index, tries) = parts.retrying.swap_remove(at);
                    (index, tries.failures)
                } else if let Some(index) = parts.fresh.pop_front() {
                    (index, 0)
                } else {
                    let until = parts
                        .retrying
                        .iter()
                        .map(|(_, t)| t.ready_at)
                        .reduce(f64::min);
                    return Step::Wait { until };
                };
                parts.in_flight.push(Flight {
                    index,
                    failures,
                    sent: 0,
                    seq: self.window.start(),
                    signature: self.signature.current,
                });
                Step::Part(PartJob {
                    part: parts
                        .plan
                        .part(index)
                        .expect("only planned parts are queued"),
                    known_md5: parts
                        .known_md5
                        .binary_search_by_key(&index, |(i, _)| *i)
                        .ok()
                        .map(|at| parts.known_md5[at].1.clone()),
                })
            }
            Phase::Finish {
                tries, in_flight, ..
            } => {
                if in_flight.is_some() || idle {
                    Step::Wait { until: None }
                } else if tries.ready_at > now {
                    Step::Wait {
                        until: Some(tries.ready_at),
                    }
                } else {
                    *in_flight = Some(self.signature.current);
                    Step::Finish
                }
            }
            Phase::Done(outcome) => Step::Done(outcome.clone()),
            Phase::Failed(error) => Step::Failed(error.clone()),
            Phase::Aborted => Step::Aborted,
        }
    }

    fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Done(_) | Phase::Failed(_) | Phase::Aborted)
    }

    /// Why the upload stands still at `now`, if it does: offline, or only
    /// retries' backoffs left to wait for (nothing in flight, nothing due).
    fn waiting_now(&self, now: f64) -> Option<Waiting> {
        if self.is_over() {
            return None;
        }
        if !self.online {
            return Some(Waiting::Offline);
        }
        let backoff = match &self.phase {
            Phase::Init { tries, in_flight } => !in_flight && tries.ready_at > now,
            Phase::Parts(parts) => {
                parts.in_flight.is_empty()
                    && parts.fresh.is_empty()
                    && !parts.retrying.is_empty()
                    && parts.retrying.iter().all(|(_, t)| t.ready_at > now)
            }
            Phase::Finish {
                tries, in_flight, ..
            } => in_flight.is_none() && tries.ready_at > now,
            _ => false,
        };
        (backoff && !self.signature.pending()).then_some(Waiting::Retry)
    }

    /// Reports a change of [`Waiting`], on the stage the upload is in.
    fn report_waiting(&mut self, now: f64) {
        let waiting = self.waiting_now(now);
        if waiting == self.waiting {
            return;
        }
        self.waiting = waiting;
        let report = match &self.phase {
            Phase::Parts(parts) => parts.meter.report(),
            Phase::Finish { .. } => Meter::new(ProgressStage::Finish, self.file_size, now).report(),
            _ if self.is_over() => return,
            _ => Meter::new(ProgressStage::Upload, self.file_size, now).report(),
        };
        self.push_report(report, now);
    }

    /// Queues a report, with the current [`Waiting`].
    fn push_report(&mut self, mut report: Progress, now: f64) {
        report.waiting = self.waiting;
        self.upload_reported |= report.stage == ProgressStage::Upload;
        self.last_report_ms = now;
        self.progress.push_back(report);
    }

    /// Feeds whether the browser is online. While it is offline nothing is
    /// started, and requests that fail on the network spend no retry: they
    /// are sent again once it is back.
    pub fn set_online(&mut self, online: bool, now: f64) {
        self.online = online;
        self.report_waiting(now);
    }

    /// Whether the browser is online, as last fed ([`Engine::set_online`]).
    pub fn online(&self) -> bool {
        self.online
    }

    /// Part `index`, while its request is in flight.
    pub fn part(&self, index: u64) -> Option<Part> {
        match &self.phase {
            Phase::Parts(parts) if parts.in_flight.iter().any(|f| f.index == index) => {
                parts.plan.part(index)
            }
            _ => None,
        }
    }

    /// Feeds how many body bytes of a part in flight have been sent (as the
    /// adapter learns it; the count only grows during one request).
    pub fn on_part_sent(&mut self, index: u64, sent: u64, now: f64) {
        let Phase::Parts(parts) = &mut self.phase else {
            return;
        };
        let Some(flight) = parts.in_flight.iter_mut().find(|f| f.index == index) else {
            return;
        };
        let len = parts.plan.part(index).map_or(0, |p| p.len);
        flight.sent = sent.min(len).max(flight.sent);
        let report = parts.advance_meter(now);
        if now - self.last_report_ms >= PROGRESS_INTERVAL_MS {
            self.push_report(report, now);
        }
    }

    /// Feeds the arrival of the signature asked for by [`Step::Sign`]:
    /// requests from now on carry it.
    pub fn on_signature(&mut self, now: f64) {
        if !self.signature.asked {
            return;
        }
        self.signature = Signature {
            current: self.signature.current + 1,
            ..Signature::default()
        };
        self.report_waiting(now);
    }

    /// Asks for a signature before anything is sent (an upload's first):
    /// [`Step::Sign`] comes first, and while offline it waits for the
    /// browser to be back, as requests do.
    pub fn ask_signature(&mut self) {
        self.signature.wanted = true;
    }

    /// Feeds a `getSignature` that failed (asked for by [`Step::Sign`]).
    /// One that may pass (it threw or rejected: `can_retry`) while the
    /// browser is offline failed as a request would then, the app's
    /// backend out of reach: it is asked again once online. Else the
    /// upload fails with `error`.
    pub fn on_signature_failed(&mut self, error: UploadError) {
        if !self.online && error.can_retry && self.signature.asked {
            self.signature.asked = false;
            self.signature.wanted = true;
        } else {
            self.fail(error);
        }
    }

    /// The next progress report, if any is waiting.
    pub fn poll_progress(&mut self) -> Option<Progress> {
        self.progress.pop_front()
    }

    /// Stops the upload: every later poll answers [`Step::Aborted`].
    pub fn abort(&mut self) {
        if !matches!(self.phase, Phase::Done(_) | Phase::Failed(_)) {
            self.phase = Phase::Aborted;
        }
    }

    /// Feeds the end of the InitUploadUGC request.
    pub fn on_init(&mut self, reply: Reply, now: f64) {
        let Phase::Init {
            tries,
            in_flight: true,
        } = &mut self.phase
        else {
            return;
        };
        let mut tries = *tries;
        let answer = match self.settle(reply, Stage::Init, &mut tries, now, None) {
            Settled::Answer(answer) => answer,
            Settled::Retry | Settled::Again => {
                self.phase = Phase::Init {
                    tries,
                    in_flight: false,
                };
                return;
            }
            Settled::Failed(error) => return self.fail(error),
        };
        match answer.code {
            code::OK => self.start_parts(self.options.part_size, &[], false, now),
            code::RESUME => {
                let part_size = answer.data_size.unwrap_or(self.options.part_size);
                let listed = answer.list_parts.unwrap_or_default();
                self.start_parts(part_size, &listed, true, now)
            }
            code::INSTANT => match (answer.file_id, answer.url) {
                (Some(file_id), Some(url)) if !file_id.is_empty() && !url.is_empty() => {
                    if self.upload_reported {
                        // A waiting report opened the stage: close it.
                        let mut meter = Meter::new(ProgressStage::Upload, self.file_size, now);
                        meter.skip(self.file_size);
                        self.push_report(meter.report(), now);
                    }
                    self.phase = Phase::Done(Outcome {
                        file_id,
                        url,
                        instant: true,
                        resumed: false,
                        parts_uploaded: 0,
                        parts_skipped: 0,
                        bytes_uploaded: 0,
                    })
                }
                _ => self.fail(bad_answer(
                    Stage::Init,
                    "code 2 (instant upload) without fileId and url",
                )),
            },
            other => self.fail(bad_answer(
                Stage::Init,
                &message(&["unknown code ", &json::int_text(other)]),
            )),
        }
    }

    /// Feeds the end of a part request.
    pub fn on_part(&mut self, index: u64, reply: PartReply, now: f64) {
        let Phase::Parts(parts) = &mut self.phase else {
            return;
        };
        let Some(at) = parts.in_flight.iter().position(|f| f.index == index) else {
            return;
        };
        let flight = parts.in_flight.swap_remove(at);
        let len = parts.plan.part(index).map_or(0, |p| p.len);
        let reply = match reply {
            PartReply::AlreadyStored | PartReply::RememberedMatch => {
                if reply == PartReply::RememberedMatch {
                    parts.unchecked.push(index);
                }
                parts.skipped += 1;
                parts.done += len;
                let report = parts.advance_meter(now);
                self.push_report(report, now);
                return;
            }
            PartReply::Sent(reply) => reply,
        };
        if self.online && matches!(reply, Reply::Network(_) | Reply::Timeout) {
            self.window.struggled(flight.seq);
        }
        let mut tries = Tries {
            failures: flight.failures,
            ready_at: now,
        };
        match self.settle(reply, Stage::Part, &mut tries, now, Some(flight.signature)) {
            Settled::Answer(answer) if answer.code == code::OK => {
                self.window.succeeded();
                let Phase::Parts(parts) = &mut self.phase else {
                    unreachable!()
                };
                parts.uploaded += 1;
                parts.bytes_uploaded += len;
                parts.done += len;
                let report = parts.advance_meter(now);
                self.push_report(report, now);
            }
            Settled::Answer(answer) => self.fail(bad_answer(
                Stage::Part,
                &message(&["unknown code ", &json::int_text(answer.code)]),
            )),
            Settled::Retry | Settled::Again => {
                let Phase::Parts(parts) = &mut self.phase else {
                    unreachable!()
                };
                parts.retrying.push((index, tries));
            }
            Settled::Failed(error) => self.fail(error),
        }
    }

    /// Feeds the check of a part skipped on a remembered MD5
    /// ([`PartReply::RememberedMatch`]): `same` when the file's bytes have
    /// that MD5. When they do not, the file changed since it was hashed,
    /// and the parts the server holds are not this file's: the upload fails
    /// with [`stale_file`] instead of publishing them.
    pub fn on_checked(&mut self, index: u64, same: bool) {
        let Phase::Parts(parts) = &mut self.phase else {
            return;
        };
        let Some(at) = parts.unchecked.iter().position(|i| *i == index) else {
            return;
        };
        parts.unchecked.swap_remove(at);
        if !same {
            self.fail(stale_file());
        }
    }

    /// Feeds the end of the FinishUploadUGC request.
    pub fn on_finish(&mut self, reply: Reply, now: f64) {
        let Phase::Finish {
            tries,
            in_flight: Some(signature),
            ..
        } = &mut self.phase
        else {
            return;
        };
        let (mut tries, signature) = (*tries, *signature);
        match self.settle(reply, Stage::Finish, &mut tries, now, Some(signature)) {
            Settled::Answer(answer) => {
                let Phase::Finish { parts, .. } =
                    std::mem::replace(&mut self.phase, Phase::Aborted)
                else {
                    unreachable!()
                };
                match (answer.code, answer.file_id, answer.url) {
                    (code::OK, Some(file_id), Some(url))
                        if !file_id.is_empty() && !url.is_empty() =>
                    {
                        let mut meter = Meter::new(ProgressStage::Finish, self.file_size, now);
                        self.waiting = None;
                        self.push_report(meter.advance(self.file_size, now), now);
                        self.phase = Phase::Done(Outcome {
                            file_id,
                            url,
                            instant: false,
                            resumed: parts.resumed,
                            parts_uploaded: parts.uploaded,
                            parts_skipped: parts.skipped,
                            bytes_uploaded: parts.bytes_uploaded,
                        });
                    }
                    (code, ..) => self.fail(bad_answer(
                        Stage::Finish,
                        &message(&["code ", &json::int_text(code), " without fileId and url"]),
                    )),
                }
            }
            Settled::Retry | Settled::Again => {
                if let Phase::Finish {
                    tries: t,
                    in_flight,
                    ..
                } = &mut self.phase
                {
                    (*t, *in_flight) = (tries, None);
                }
            }
            Settled::Failed(error) => self.fail(error),
        }
    }

    /// Plans the parts once InitUploadUGC has answered 0 or 1.
    fn start_parts(
        &mut self,
        part_size: u64,
        listed: &[crate::protocol::ListedPart],
        resumed: bool,
        now: f64,
    ) {
        let plan = match PartPlan::fixed_by_server(self.file_size, part_size) {
            Ok(plan) => plan,
            Err(_) => {
                return self.fail(bad_answer(
                    Stage::Init,
                    &message(&["part size ", &json::uint_text(part_size)]),
                ))
            }
        };
        // (part index, its MD5 if listed), sorted; for an index listed
        // twice, the last entry counts.
        let mut held: Vec<(u64, Option<String>)> = Vec::new();
        for entry in listed {
            // An entry that is not one of our parts (other size, odd offset)
            // is ignored: that part is simply sent again.
            if let Ok(part) = plan.check(entry.offset, entry.data_size) {
                let md5 = entry.data_md5.clone();
                match held.binary_search_by_key(&part.index, |(index, _)| *index) {
                    Ok(at) => held[at].1 = md5,
                    Err(at) => held.insert(at, (part.index, md5)),
                }
            }
        }
        let mut meter = Meter::new(ProgressStage::Upload, self.file_size, now);
        let mut held = held.into_iter().peekable();
        let mut known_md5 = Vec::new();
        let mut fresh = VecDeque::new();
        let mut skipped = 0;
        for part in plan.parts() {
            match held
                .next_if(|(index, _)| *index == part.index)
                .map(|(_, md5)| md5)
            {
                Some(None) => {
                    skipped += 1;
                    meter.skip(part.len);
                }
                Some(Some(md5)) => {
                    known_md5.push((part.index, md5));
                    fresh.push_back(part.index);
                }
                None => fresh.push_back(part.index),
            }
        }
        self.push_report(meter.report(), now);
        self.phase = Phase::Parts(Parts {
            plan,
            resumed,
            fresh,
            retrying: Vec::new(),
            in_flight: Vec::new(),
            known_md5,
            unchecked: Vec::new(),
            uploaded: 0,
            skipped,
            bytes_uploaded: 0,
            done: meter.loaded(),
            meter,
        });
    }

    fn start_finish(&mut self, now: f64) {
        let Phase::Parts(parts) = std::mem::replace(&mut self.phase, Phase::Aborted) else {
            unreachable!("finish starts from the part phase")
        };
        self.push_report(
            Meter::new(ProgressStage::Finish, self.file_size, now).report(),
            now,
        );
        self.phase = Phase::Finish {
            parts,
            tries: Tries::default(),
            in_flight: None,
        };
    }

    fn fail(&mut self, error: UploadError) {
        self.phase = Phase::Failed(error);
    }

    /// Applies the retry rules to a reply: a usable answer, a retry (with
    /// its backoff recorded in `tries`), the same request again at once
    /// without spending a try (offline, or an expired signature), or a
    /// final error. `signature` is the one the request carried (`None` for
    /// InitUploadUGC, whose -10002 no fresh signature can mend: the
    /// signature never worked).
    fn settle(
        &mut self,
        reply: Reply,
        stage: Stage,
        tries: &mut Tries,
        now: f64,
        signature: Option<u32>,
    ) -> Settled {
        if let Reply::Answer(answer) = &reply {
            if !answer.is_failure() {
                if signature.map_or(true, |s| s == self.signature.current) {
                    self.signature.proven = true;
                }
                let Reply::Answer(answer) = reply else {
                    unreachable!()
                };
                return Settled::Answer(answer);
            }
            if let (code::SIGNATURE, Some(sent_with)) = (answer.code, signature) {
                let stale = sent_with != self.signature.current || self.signature.pending();
                if stale || self.signature.proven {
                    // Expired: ask once for a fresh one (unless asked
                    // already), and send this again with it.
                    self.signature.wanted |= !stale;
                    tries.ready_at = now;
                    return Settled::Again;
                }
            }
        }
        if !self.online && matches!(reply, Reply::Network(_) | Reply::Timeout) {
            tries.ready_at = now;
            return Settled::Again;
        }
        if reply.is_transient() && tries.failures < self.options.retries {
            tries.failures += 1;
            tries.ready_at = now + self.backoff(tries.failures);
            return Settled::Retry;
        }
        let attempts = tries.failures + 1;
        Settled::Failed(final_error(stage, reply, attempts))
    }

    /// Full jitter: a uniform random delay below `base * 2^(failures-1)`,
    /// capped, so that many clients retrying at once spread out.
    fn backoff(&mut self, failures: u64) -> f64 {
        let ceiling = (self.options.retry_delay_ms as f64
            * 2f64.powi((failures - 1).min(30) as i32))
        .min(MAX_RETRY_DELAY_MS as f64);
        ceiling * self.next_random()
    }

    /// xorshift64*: uniform in [0, 1).
    fn next_random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

enum Settled {
    Answer(Answer),
    Retry,
    Again,
    Failed(UploadError),
}

/// The file's bytes differ from those its remembered hash was computed
/// from: refused as the server refuses a part whose MD5 is not its body's
/// (-10006), so that both lead to the same re-hash (see
/// [`crate::cache::is_stale_refusal`]).
pub fn stale_file() -> UploadError {
    UploadError::new(
        code::BODY,
        false,
        Stage::Part,
        "The file changed since it was hashed (same name, size and date, other bytes): upload it again.",
    )
}

fn bad_answer(stage: Stage, what: &str) -> UploadError {
    UploadError::new(
        client_code::BAD_ANSWER,
        false,
        stage,
        message(&[
            "The server's answer to ",
            stage.call(),
            " was not understood (",
            what,
            "). Check that the endpoint is a VOD UGC upload service.",
        ]),
    )
}

/// The error an upload ends with when a request fails for good.
fn final_error(stage: Stage, reply: Reply, attempts: u64) -> UploadError {
    let call = stage.call();
    let tries = if attempts == 1 {
        "1 try".to_owned()
    } else {
        message(&[&json::uint_text(attempts), " tries"])
    };
    match reply {
        Reply::Answer(answer) => UploadError::from_answer(stage, &answer),
        Reply::Http(status) if status >= 500 || status == 429 => UploadError::new(
            client_code::BAD_ANSWER,
            true,
            stage,
            message(&[
                call,
                " failed: the server answered HTTP ",
                &json::uint_text(status.into()),
                " after ",
                &tries,
                ". It is overloaded or failing; try again later.",
            ]),
        ),
        Reply::Http(status) => UploadError::new(
            client_code::BAD_ANSWER,
            false,
            stage,
            message(&[
                call,
                " failed: the server answered HTTP ",
                &json::uint_text(status.into()),
                " instead of an upload answer. Check the endpoint URL.",
            ]),
        ),
        Reply::NotUnderstood(what) => UploadError::new(
            client_code::BAD_ANSWER,
            false,
            stage,
            message(&[
                call,
                " failed: the server answered with ",
                &what,
                " instead of JSON. Check that the endpoint is a VOD UGC upload service.",
            ]),
        ),
        Reply::Network(detail) => UploadError::new(
            client_code::NETWORK,
            true,
            stage,
            message(&[
                call,
                " failed: the network request failed after ",
                &tries,
                " (",
                &detail,
                "). Check the connection and that the endpoint is reachable and allows this page's origin (CORS); then upload again to resume.",
            ]),
        ),
        Reply::Timeout => UploadError::new(
            client_code::TIMEOUT,
            true,
            stage,
            message(&[
                call,
                " failed: no byte moved within the time limit (timeoutMs), after ",
                &tries,
                ". The connection stalled: check it, or raise timeoutMs, then upload again to resume.",
            ]),
        ),
    }
}

#[cfg(test)]
mod tests;
