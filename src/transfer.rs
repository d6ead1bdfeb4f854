//! One upload's requests, sans I/O: the [`engine`](crate::engine)'s steps
//! turned into the I/O an adapter performs ([`Effect`]: send a request to
//! this URL with these bytes of the file as its body, read these bytes,
//! ask for a signature, wait), and what comes back fed in (`on_*`).
//!
//! Beside the engine it decides what the engine leaves to its adapter: the
//! URLs (with the signature in use: replaced when a fresh one comes), a
//! part's MD5 (from the hashing pass, or read and hashed here when the
//! server fixed another part size), whether a part the server holds is
//! this file's bytes (then nothing is sent), and the checks of the parts
//! skipped on a remembered MD5 (the hash cache), one read at a time beside
//! the uploads. The browser's driver (`src/web/driver.js`) only performs
//! the effects, so all of this is tested natively with plain values.

use std::collections::VecDeque;

use crate::engine::{Engine, Outcome, PartJob, PartReply, Step};
use crate::error::{client_code, message, Stage, UploadError};
use crate::hash::md5::DIGEST_LEN;
use crate::hash::{Md5, PartMd5s};
use crate::options::Options;
use crate::plan::Part;
use crate::protocol::{to_hex, FinishQuery, InitQuery, PartQuery};
use crate::reply::Reply;

/// Longest read of the checks: runs of adjacent parts are read together up
/// to this many bytes.
const MAX_CHECK_READ: u64 = 4 << 20;

/// Which request or read a result belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Init,
    Part(u64),
    Finish,
    /// The run of parts being checked (reads only).
    Check,
    /// The first byte of a part whose request failed on the network (reads
    /// only): whether the file can still be read.
    Probe(u64),
}

/// What the adapter should do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send a request: a GET, or with `body` a POST of the file's bytes
    /// `start..end`. Its end goes to [`Transfer::on_reply`], and a part's
    /// body bytes as they are sent to [`Transfer::on_sent`].
    Send {
        target: Target,
        url: String,
        body: Option<(u64, u64)>,
    },
    /// Read the file's bytes `start..end`: feed them to [`Transfer::on_read`].
    Read {
        target: Target,
        start: u64,
        end: u64,
    },
    /// Ask `getSignature` again (same info): [`Transfer::on_signature`].
    Sign,
    /// Nothing to start: poll again when something ends, or at `until`.
    Wait {
        until: Option<f64>,
    },
    Done(Outcome),
    Failed(UploadError),
    Aborted,
}

/// What one upload with known hashes needs to send its requests.
pub struct Transfer {
    engine: Engine,
    file_size: u64,
    endpoint: String,
    file_sha: String,
    /// The signature requests carry now (empty before the first).
    signature: String,
    /// The parts' MD5s from the hashing pass (for the part size asked for).
    part_md5s: Option<PartMd5s>,
    /// The hashes are remembered ones (the hash cache), not computed from
    /// the file now: parts the server holds are checked.
    remembered: bool,
    /// Parts being read to compute their MD5 (a part size the server fixed).
    reading: Vec<PartJob>,
    /// Parts skipped on a remembered MD5, waiting for their check.
    unchecked: VecDeque<(Part, [u8; DIGEST_LEN])>,
    /// The run of parts whose bytes are being read for their check.
    checking: Vec<(Part, [u8; DIGEST_LEN])>,
    /// Parts whose request failed on the network while online, with that
    /// failure, until a byte of theirs is read ([`Target::Probe`]).
    probing: Vec<(u64, Reply)>,
    /// A request decided while a result was fed, handed out first.
    queue: VecDeque<Effect>,
    /// Why the upload stopped, when it was not the engine's decision.
    failure: Option<UploadError>,
}

impl Transfer {
    /// A transfer of the file with SHA-1 `file_sha` (`seed`: the retry
    /// jitter's, see [`Engine::new`]). Without a `signature`, it first asks
    /// for one ([`Effect::Sign`]).
    pub fn new(
        file_size: u64,
        options: Options,
        seed: u64,
        file_sha: String,
        signature: Option<String>,
        part_md5s: Option<PartMd5s>,
        remembered: bool,
    ) -> Transfer {
        let endpoint = options.endpoint.clone();
        let mut engine = Engine::new(file_size, options, seed);
        if signature.is_none() {
            engine.ask_signature();
        }
        Transfer {
            endpoint,
            engine,
            file_size,
            file_sha,
            signature: signature.unwrap_or_default(),
            part_md5s,
            remembered,
            reading: Vec::new(),
            unchecked: VecDeque::new(),
            checking: Vec::new(),
            probing: Vec::new(),
            queue: VecDeque::new(),
            failure: None,
        }
    }

    /// What to do next, at time `now`.
    pub fn poll(&mut self, now: f64) -> Effect {
        loop {
            if let Some(error) = &self.failure {
                return Effect::Failed(error.clone());
            }
            if let Some(effect) = self.queue.pop_front() {
                return effect;
            }
            return match self.engine.poll(now) {
                Step::Init { part_size } => {
                    let query = InitQuery {
                        file_sha: self.file_sha.clone(),
                        file_size: self.file_size,
                        data_size: part_size,
                        signature: self.signature.clone(),
                    };
                    self.get(Target::Init, query.url(&self.endpoint))
                }
                Step::Part(job) => {
                    let part = job.part;
                    match self.part_md5s.as_ref().and_then(|md5s| md5s.get(&part)) {
                        Some(md5) => match self.start_part(job, md5, true, now) {
                            Some(effect) => effect,
                            None => continue,
                        },
                        None => {
                            self.reading.push(job);
                            Effect::Read {
                                target: Target::Part(part.index),
                                start: part.offset,
                                end: part.end(),
                            }
                        }
                    }
                }
                Step::Finish => {
                    let query = FinishQuery {
                        file_sha: self.file_sha.clone(),
                        signature: self.signature.clone(),
                    };
                    self.get(Target::Finish, query.url(&self.endpoint))
                }
                Step::Sign => Effect::Sign,
                Step::Wait { until } => self.next_check().unwrap_or(Effect::Wait { until }),
                Step::Done(outcome) => Effect::Done(outcome),
                Step::Failed(error) => Effect::Failed(error),
                Step::Aborted => Effect::Aborted,
            };
        }
    }

    /// The next progress report, if any is waiting.
    pub fn poll_progress(&mut self) -> Option<crate::progress::Progress> {
        self.engine.poll_progress()
    }

    /// Whether the browser is online. Fed before every result: a request
    /// that failed while offline spends no retry.
    pub fn set_online(&mut self, online: bool, now: f64) {
        self.engine.set_online(online, now);
    }

    /// The end of a request.
    ///
    /// A part that failed on the network while online may have failed on
    /// its body instead: the browser says the same when the file became
    /// unreadable (changed, moved or deleted) as the part was sent. So a
    /// byte of the part is read first ([`Target::Probe`]): if that fails,
    /// the file is unreadable ([`Transfer::on_unreadable`]); if it reads,
    /// the failure goes to the engine and is retried as any other.
    pub fn on_reply(&mut self, target: Target, reply: Reply, now: f64) {
        match target {
            Target::Init => self.engine.on_init(reply, now),
            Target::Part(index) => match (&reply, self.engine.part(index)) {
                (Reply::Network(_), Some(part)) if self.engine.online() => {
                    self.probing.push((index, reply));
                    self.queue.push_back(Effect::Read {
                        target: Target::Probe(index),
                        start: part.offset,
                        end: part.offset + 1,
                    });
                }
                _ => self.engine.on_part(index, PartReply::Sent(reply), now),
            },
            Target::Finish => self.engine.on_finish(reply, now),
            Target::Check | Target::Probe(_) => {}
        }
    }

    /// Body bytes of part `index` sent so far.
    pub fn on_sent(&mut self, index: u64, sent: u64, now: f64) {
        self.engine.on_part_sent(index, sent, now);
    }

    /// The bytes of a [`Effect::Read`].
    pub fn on_read(&mut self, target: Target, bytes: &[u8], now: f64) {
        match target {
            Target::Part(index) => {
                let Some(at) = self.reading.iter().position(|job| job.part.index == index) else {
                    return;
                };
                let job = self.reading.swap_remove(at);
                let md5 = Md5::digest(bytes);
                if let Some(effect) = self.start_part(job, md5, false, now) {
                    self.queue.push_back(effect);
                }
            }
            Target::Check => {
                let Some((first, _)) = self.checking.first() else {
                    return;
                };
                let start = first.offset;
                for (part, md5) in std::mem::take(&mut self.checking) {
                    let at = (part.offset - start) as usize;
                    let same = bytes
                        .get(at..at + part.len as usize)
                        .is_some_and(|bytes| Md5::digest(bytes) == md5);
                    self.engine.on_checked(part.index, same);
                }
            }
            Target::Probe(index) => {
                if let Some(at) = self.probing.iter().position(|(i, _)| *i == index) {
                    let (_, reply) = self.probing.swap_remove(at);
                    self.engine.on_part(index, PartReply::Sent(reply), now);
                }
            }
            Target::Init | Target::Finish => {}
        }
    }

    /// A read failed: the file cannot be read any more.
    pub fn on_unreadable(&mut self, detail: &str) {
        self.fail(unreadable(Stage::Part, detail));
    }

    /// The fresh signature asked for by [`Effect::Sign`].
    pub fn on_signature(&mut self, signature: String, now: f64) {
        self.signature = signature;
        self.engine.on_signature(now);
    }

    /// `getSignature` failed with `error` (see [`Engine::on_signature_failed`]).
    pub fn on_signature_failed(&mut self, error: UploadError) {
        self.engine.on_signature_failed(error);
    }

    /// Stops the upload with `error`.
    fn fail(&mut self, error: UploadError) {
        self.engine.abort();
        self.failure.get_or_insert(error);
    }

    /// Stops the upload: every later poll answers [`Effect::Aborted`].
    pub fn abort(&mut self) {
        self.engine.abort();
    }

    fn get(&self, target: Target, url: String) -> Effect {
        Effect::Send {
            target,
            url,
            body: None,
        }
    }

    /// Sends the part, unless the server already holds the same bytes
    /// (then the engine learns it at once, and `None`). `from_pass`: the
    /// MD5 is the hashing pass's (remembered, with the hash cache), not one
    /// computed from the bytes just read.
    fn start_part(
        &mut self,
        job: PartJob,
        md5: [u8; DIGEST_LEN],
        from_pass: bool,
        now: f64,
    ) -> Option<Effect> {
        let part = job.part;
        let data_md5 = to_hex(&md5);
        if job.known_md5.as_deref() == Some(data_md5.as_str()) {
            let reply = if from_pass && self.remembered {
                self.unchecked.push_back((part, md5));
                PartReply::RememberedMatch
            } else {
                PartReply::AlreadyStored
            };
            self.engine.on_part(part.index, reply, now);
            return None;
        }
        let query = PartQuery {
            file_sha: self.file_sha.clone(),
            offset: part.offset,
            data_size: part.len,
            data_md5,
            signature: self.signature.clone(),
        };
        Some(Effect::Send {
            target: Target::Part(part.index),
            url: query.url(&self.endpoint),
            body: Some((part.offset, part.end())),
        })
    }

    /// A read of the next run of adjacent parts waiting for their check
    /// (they come front to back), unless one is being read.
    fn next_check(&mut self) -> Option<Effect> {
        if !self.checking.is_empty() {
            return None;
        }
        let (first, _) = *self.unchecked.front()?;
        let mut end = first.offset;
        while let Some(&(part, md5)) = self.unchecked.front() {
            let joins = part.offset == end && part.end() - first.offset <= MAX_CHECK_READ;
            if !self.checking.is_empty() && !joins {
                break;
            }
            end = part.end();
            self.checking.push((part, md5));
            self.unchecked.pop_front();
        }
        Some(Effect::Read {
            target: Target::Check,
            start: first.offset,
            end,
        })
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
        message(&[
            "The file could not be read (",
            detail,
            "): it was changed, moved or deleted since it was picked. Pick it again: the upload resumes where it stopped.",
        ]),
    )
}

#[cfg(test)]
mod tests;
