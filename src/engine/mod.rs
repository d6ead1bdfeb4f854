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

use std::collections::VecDeque;

use crate::error::{client_code, Stage, UploadError};
use crate::options::{Options, MAX_RETRY_DELAY_MS};
use crate::plan::{Part, PartPlan};
use crate::progress::{Meter, Progress, ProgressStage};
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
        in_flight: bool,
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
    /// Parts in flight, with their failures so far.
    /// (Few: at most `concurrency`.)
    in_flight: Vec<(u64, u64)>,
    /// MD5s of parts the server listed, to check against the local bytes.
    /// Sorted by part index.
    known_md5: Vec<(u64, String)>,
    /// Parts skipped on a remembered MD5, whose bytes are still being
    /// checked: FinishUploadUGC waits for them.
    unchecked: Vec<u64>,
    uploaded: u64,
    skipped: u64,
    bytes_uploaded: u64,
    meter: Meter,
}

impl Parts {
    fn remaining(&self) -> usize {
        self.fresh.len() + self.retrying.len() + self.in_flight.len()
    }
}

/// The upload state machine of one file.
#[derive(Debug)]
pub struct Engine {
    file_size: u64,
    options: Options,
    phase: Phase,
    progress: VecDeque<Progress>,
    rng: u64,
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
            options,
            phase: Phase::Init {
                tries: Tries::default(),
                in_flight: false,
            },
            progress: VecDeque::new(),
            rng: seed | 1,
        }
    }

    /// What to do next, at time `now`.
    pub fn poll(&mut self, now: f64) -> Step {
        let concurrency = self.options.concurrency as usize;
        match &mut self.phase {
            Phase::Init { tries, in_flight } => {
                if *in_flight {
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
                    return self.poll(now);
                }
                if parts.in_flight.len() >= concurrency {
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
                parts.in_flight.push((index, failures));
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
                if *in_flight {
                    Step::Wait { until: None }
                } else if tries.ready_at > now {
                    Step::Wait {
                        until: Some(tries.ready_at),
                    }
                } else {
                    *in_flight = true;
                    Step::Finish
                }
            }
            Phase::Done(outcome) => Step::Done(outcome.clone()),
            Phase::Failed(error) => Step::Failed(error.clone()),
            Phase::Aborted => Step::Aborted,
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
        let answer = match self.settle(reply, Stage::Init, &mut tries, now) {
            Settled::Answer(answer) => answer,
            Settled::Retry => {
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
            other => self.fail(bad_answer(Stage::Init, &format!("unknown code {other}"))),
        }
    }

    /// Feeds the end of a part request.
    pub fn on_part(&mut self, index: u64, reply: PartReply, now: f64) {
        let Phase::Parts(parts) = &mut self.phase else {
            return;
        };
        let Some(at) = parts.in_flight.iter().position(|(i, _)| *i == index) else {
            return;
        };
        let (_, failures) = parts.in_flight.swap_remove(at);
        let len = parts.plan.part(index).map_or(0, |p| p.len);
        let reply = match reply {
            PartReply::AlreadyStored | PartReply::RememberedMatch => {
                if reply == PartReply::RememberedMatch {
                    parts.unchecked.push(index);
                }
                parts.skipped += 1;
                let report = parts.meter.advance(len, now);
                self.progress.push_back(report);
                return;
            }
            PartReply::Sent(reply) => reply,
        };
        let mut tries = Tries {
            failures,
            ready_at: now,
        };
        match self.settle(reply, Stage::Part, &mut tries, now) {
            Settled::Answer(answer) if answer.code == code::OK => {
                let Phase::Parts(parts) = &mut self.phase else {
                    unreachable!()
                };
                parts.uploaded += 1;
                parts.bytes_uploaded += len;
                let report = parts.meter.advance(len, now);
                self.progress.push_back(report);
            }
            Settled::Answer(answer) => self.fail(bad_answer(
                Stage::Part,
                &format!("unknown code {}", answer.code),
            )),
            Settled::Retry => {
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
            in_flight: true,
            ..
        } = &mut self.phase
        else {
            return;
        };
        let mut tries = *tries;
        match self.settle(reply, Stage::Finish, &mut tries, now) {
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
                        self.progress.push_back(meter.advance(self.file_size, now));
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
                        &format!("code {code} without fileId and url"),
                    )),
                }
            }
            Settled::Retry => {
                if let Phase::Finish {
                    tries: t,
                    in_flight,
                    ..
                } = &mut self.phase
                {
                    (*t, *in_flight) = (tries, false);
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
            Err(_) => return self.fail(bad_answer(Stage::Init, &format!("part size {part_size}"))),
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
        self.progress.push_back(meter.report());
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
            meter,
        });
    }

    fn start_finish(&mut self, now: f64) {
        let Phase::Parts(parts) = std::mem::replace(&mut self.phase, Phase::Aborted) else {
            unreachable!("finish starts from the part phase")
        };
        self.progress
            .push_back(Meter::new(ProgressStage::Finish, self.file_size, now).report());
        self.phase = Phase::Finish {
            parts,
            tries: Tries::default(),
            in_flight: false,
        };
    }

    fn fail(&mut self, error: UploadError) {
        self.phase = Phase::Failed(error);
    }

    /// Applies the retry rules to a reply: a usable answer, a retry (with
    /// its backoff recorded in `tries`), or a final error.
    fn settle(&mut self, reply: Reply, stage: Stage, tries: &mut Tries, now: f64) -> Settled {
        if let Reply::Answer(answer) = &reply {
            if !answer.is_failure() {
                let Reply::Answer(answer) = reply else {
                    unreachable!()
                };
                return Settled::Answer(answer);
            }
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
        format!(
            "The server's answer to {} was not understood ({what}). Check that the endpoint is a VOD UGC upload service.",
            stage.call()
        ),
    )
}

/// The error an upload ends with when a request fails for good.
fn final_error(stage: Stage, reply: Reply, attempts: u64) -> UploadError {
    let call = stage.call();
    let tries = if attempts == 1 {
        "1 try".to_owned()
    } else {
        format!("{attempts} tries")
    };
    match reply {
        Reply::Answer(answer) => UploadError::from_answer(stage, &answer),
        Reply::Http(status) if status >= 500 || status == 429 => UploadError::new(
            client_code::BAD_ANSWER,
            true,
            stage,
            format!(
                "{call} failed: the server answered HTTP {status} after {tries}. It is overloaded or failing; try again later."
            ),
        ),
        Reply::Http(status) => UploadError::new(
            client_code::BAD_ANSWER,
            false,
            stage,
            format!(
                "{call} failed: the server answered HTTP {status} instead of an upload answer. Check the endpoint URL."
            ),
        ),
        Reply::NotUnderstood(what) => UploadError::new(
            client_code::BAD_ANSWER,
            false,
            stage,
            format!(
                "{call} failed: the server answered with {what} instead of JSON. Check that the endpoint is a VOD UGC upload service."
            ),
        ),
        Reply::Network(detail) => UploadError::new(
            client_code::NETWORK,
            true,
            stage,
            format!(
                "{call} failed: the network request failed after {tries} ({detail}). Check the connection and that the endpoint is reachable and allows this page's origin (CORS); then upload again to resume."
            ),
        ),
        Reply::Timeout => UploadError::new(
            client_code::TIMEOUT,
            true,
            stage,
            format!(
                "{call} failed: no answer within the time limit, after {tries}. The connection may be too slow: raise timeoutMs or lower concurrency, then upload again to resume."
            ),
        ),
    }
}

#[cfg(test)]
mod tests;
