//! One call of `upload()` or `hashFile()`, sans I/O: the steps around the
//! requests ([`Transfer`]). For `hashFile`, one pass over the file. For
//! `upload`, the file's hashes from the hash cache ([`crate::cache`]) when
//! there are good ones, else a pass over the file (remembered then); the
//! first signature; the transfer; and the cache entry forgotten once the
//! upload is done.
//!
//! When remembered hashes prove stale (the server refuses them: the file
//! changed in place), the entry is forgotten and the upload starts again
//! from a fresh hash, once. An instant upload answered to a remembered
//! SHA-1 is no proof that the file still has it (nothing else would
//! check): the file is hashed then, and the answer kept only for the same
//! SHA-1.
//!
//! Like the transfer, the job says what to do ([`Effect`]) and is fed what
//! ends; the browser's driver (`src/web/driver.js`) performs it.

use std::collections::VecDeque;

use crate::cache::{is_stale_refusal, Entry};
use crate::engine::Outcome;
use crate::error::{Stage, UploadError};
use crate::hash::{FileHasher, PartMd5s};
use crate::options::Options;
use crate::progress::{Meter, Progress, ProgressStage};
use crate::protocol::to_hex;
use crate::transfer::{self, unreadable, Transfer};

/// What the adapter should do next.
#[derive(Debug, PartialEq)]
pub enum Effect {
    /// Look the file's hashes up in the hash cache: [`Job::on_cache`].
    CacheLoad,
    /// Remember this entry: [`Job::on_cache`] once it is kept (or not).
    CacheStore(Entry),
    /// Forget the file's entry: [`Job::on_cache`] once it is gone.
    CacheForget,
    /// Hash the whole file, front to back: read it and feed
    /// [`Job::on_bytes`], then [`Job::on_hashed`]; or have it hashed
    /// elsewhere (the reading Worker, with [`Job::part_size`]) and feed
    /// [`Job::on_hash_progress`], then [`Job::on_digests`].
    Hash,
    /// Ask `getSignature` for a signature: [`Job::on_signature`].
    Sign,
    /// A request, a read of part of the file, or a wait (never
    /// [`transfer::Effect::Sign`], [`transfer::Effect::Done`] and the like:
    /// those are [`Effect::Sign`] and [`Effect::End`]).
    Transfer(transfer::Effect),
    /// The call is over.
    End(Ended),
}

/// How a call ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// `hashFile`: the file's SHA-1.
    Hashed(String),
    /// `upload`: the file's SHA-1, the outcome, and whether remembered
    /// hashes proved stale and the file was hashed again.
    Uploaded {
        file_sha: String,
        outcome: Outcome,
        rehashed: bool,
    },
    Failed(UploadError),
    Aborted,
}

/// Where the call is.
enum Phase {
    /// Waiting for the adapter (a cache look-up, store or deletion); with
    /// the hashes to send once the effects queued are done.
    Waiting(Option<(String, PartMd5s)>),
    Hashing {
        hasher: FileHasher,
        /// Bytes fed to `hasher`: a pass begun again from the first byte
        /// (the reading Worker failed) reports progress only past what
        /// was reported.
        fed: u64,
        meter: Meter,
    },
    Sending {
        file_sha: String,
        transfer: Box<Transfer>,
    },
    Ended,
}

/// One call, from its checked input to its end.
pub struct Job {
    file_size: u64,
    /// `None` for `hashFile`.
    options: Option<Options>,
    /// The file has a hash cache entry (a `File`, with `cache: true`).
    cached: bool,
    /// The look-up in the cache has answered (or there was none to make).
    looked_up: bool,
    seed: u64,
    phase: Phase,
    /// The hashes being sent are the cache's, not computed now.
    remembered: bool,
    /// An instant upload answered to remembered hashes: its SHA-1 and
    /// outcome, kept if a fresh hash gives the same SHA-1.
    unconfirmed: Option<(String, Outcome)>,
    rehashed: bool,
    /// Effects to hand out in order, the next one once the adapter has
    /// said the one before ended (`blocked` meanwhile).
    queue: VecDeque<Effect>,
    blocked: bool,
    progress: VecDeque<Progress>,
    /// Whether the browser is online, as last fed (for a transfer yet to start).
    online: bool,
}

impl Job {
    /// `hashFile()` of a file of `file_size` bytes.
    pub fn hash_file(file_size: u64, now: f64) -> Job {
        let mut job = Job::new(file_size, None, false, 0);
        job.start_hash(now);
        job
    }

    /// `upload()`: `cached` when the file has a hash cache entry; `seed`
    /// feeds the retry jitter ([`crate::engine::Engine::new`]).
    pub fn upload(file_size: u64, options: Options, cached: bool, seed: u64, now: f64) -> Job {
        let mut job = Job::new(file_size, Some(options), cached, seed);
        if cached {
            job.queue.push_back(Effect::CacheLoad);
        } else {
            job.start_hash(now);
        }
        job
    }

    fn new(file_size: u64, options: Option<Options>, cached: bool, seed: u64) -> Job {
        Job {
            file_size,
            options,
            cached,
            looked_up: !cached,
            seed,
            phase: Phase::Waiting(None),
            remembered: false,
            unconfirmed: None,
            rehashed: false,
            queue: VecDeque::new(),
            blocked: false,
            progress: VecDeque::new(),
            online: true,
        }
    }

    /// What to do next, at time `now`.
    pub fn poll(&mut self, now: f64) -> Effect {
        loop {
            if !self.blocked {
                if let Some(effect) = self.queue.pop_front() {
                    self.blocked = !matches!(effect, Effect::End(_));
                    if let Effect::End(_) = effect {
                        self.phase = Phase::Ended;
                    }
                    return effect;
                }
            }
            if !self.blocked && self.queue.is_empty() {
                self.start_transfer(now);
            }
            let Phase::Sending { transfer, .. } = &mut self.phase else {
                return Effect::Transfer(transfer::Effect::Wait { until: None });
            };
            let effect = transfer.poll(now);
            if matches!(
                effect,
                transfer::Effect::Done(_) | transfer::Effect::Failed(_) | transfer::Effect::Aborted
            ) {
                // The transfer's last reports (the finish stage) outlive it.
                self.progress
                    .extend(std::iter::from_fn(|| transfer.poll_progress()));
            }
            match effect {
                transfer::Effect::Sign => return Effect::Sign,
                transfer::Effect::Done(outcome) => self.sent(outcome, now),
                transfer::Effect::Failed(error) => self.send_failed(error, now),
                transfer::Effect::Aborted => self.end(Ended::Aborted),
                effect => return Effect::Transfer(effect),
            }
        }
    }

    /// The next progress report, if any is waiting.
    pub fn poll_progress(&mut self) -> Option<Progress> {
        if let Some(progress) = self.progress.pop_front() {
            return Some(progress);
        }
        match &mut self.phase {
            Phase::Sending { transfer, .. } => transfer.poll_progress(),
            _ => None,
        }
    }

    /// The transfer, while the upload's requests run: requests, reads and
    /// the network's state are fed to it.
    pub fn transfer(&mut self) -> Option<&mut Transfer> {
        match &mut self.phase {
            Phase::Sending { transfer, .. } => Some(transfer),
            _ => None,
        }
    }

    /// Whether the browser is online: fed before every result.
    pub fn set_online(&mut self, online: bool, now: f64) {
        self.online = online;
        if let Some(transfer) = self.transfer() {
            transfer.set_online(online, now);
        }
    }

    /// The file's size and the SHA-1 being signed ([`Effect::Sign`]).
    pub fn signing(&self) -> (u64, &str) {
        let file_sha = match &self.phase {
            Phase::Sending { file_sha, .. } => file_sha,
            _ => "",
        };
        (self.file_size, file_sha)
    }

    /// The end of a cache effect: for [`Effect::CacheLoad`], the hashes of
    /// a good entry, if there is one ([`Entry::hashes`]).
    pub fn on_cache(&mut self, hashes: Option<(String, PartMd5s)>, now: f64) {
        if !self.blocked {
            return;
        }
        self.blocked = false;
        if std::mem::replace(&mut self.looked_up, true) {
            return;
        }
        match hashes {
            Some(hashes) => {
                self.remembered = true;
                // The "hash" stage of a remembered hash: one report,
                // complete, and no read of the file.
                let mut meter = Meter::new(ProgressStage::Hash, self.file_size, now);
                self.progress.push_back(meter.advance(self.file_size, now));
                self.sign(hashes);
            }
            None => self.start_hash(now),
        }
    }

    /// The part size of the parts' MD5s to compute with the SHA-1
    /// ([`Effect::Hash`]): `None` for `hashFile`.
    pub fn part_size(&self) -> Option<u64> {
        self.options.as_ref().map(|options| options.part_size)
    }

    /// The next bytes of the file, in order from the first ([`Effect::Hash`]).
    pub fn on_bytes(&mut self, bytes: &[u8], now: f64) {
        let Phase::Hashing { hasher, fed, .. } = &mut self.phase else {
            return;
        };
        hasher.update(bytes);
        *fed += bytes.len() as u64;
        let fed = *fed;
        self.on_hash_progress(fed, now);
    }

    /// The first `hashed` bytes of the file are hashed (where the file is
    /// hashed elsewhere: [`Effect::Hash`]).
    pub fn on_hash_progress(&mut self, hashed: u64, now: f64) {
        let Phase::Hashing { meter, .. } = &mut self.phase else {
            return;
        };
        if hashed > meter.loaded() {
            let advance = meter.advance(hashed - meter.loaded(), now);
            self.progress.push_back(advance);
        }
    }

    /// The whole file was read (`date_now`: the wall clock, for the cache
    /// entry's age).
    pub fn on_hashed(&mut self, date_now: f64) {
        let Phase::Hashing { hasher, .. } =
            std::mem::replace(&mut self.phase, Phase::Waiting(None))
        else {
            return;
        };
        let (sha1, part_md5s) = hasher.finish();
        self.hashed(&sha1, part_md5s, date_now);
    }

    /// The digests of the whole file, hashed elsewhere: its SHA-1 (20
    /// bytes), then its parts' MD5s (16 bytes each) at [`Job::part_size`]
    /// for an upload. Digests of the wrong length fail the call (the file's
    /// hashes are unknown then).
    pub fn on_digests(&mut self, digests: &[u8], date_now: f64) {
        let Phase::Hashing { .. } = self.phase else {
            return;
        };
        self.phase = Phase::Waiting(None);
        let (sha1, md5s) = digests.split_at(digests.len().min(20));
        let part_md5s = match self.part_size() {
            Some(part_size) => PartMd5s::from_bytes(self.file_size, part_size, md5s).map(Some),
            None => md5s.is_empty().then_some(None),
        };
        match part_md5s {
            Some(part_md5s) if sha1.len() == 20 => self.hashed(sha1, part_md5s, date_now),
            _ => self.end(Ended::Failed(unreadable(
                Stage::Hash,
                "the reading Worker's digests were malformed",
            ))),
        }
    }

    /// The file's hashes are known (`sha1`: 20 bytes).
    fn hashed(&mut self, sha1: &[u8], part_md5s: Option<PartMd5s>, date_now: f64) {
        self.blocked = false;
        let file_sha = to_hex(sha1);
        let Some(part_md5s) = part_md5s else {
            return self.end(Ended::Hashed(file_sha));
        };
        if self.cached {
            if let Some(entry) = Entry::new(&file_sha, &part_md5s, date_now) {
                self.queue.push_back(Effect::CacheStore(entry));
            }
        }
        if let Some((claimed, outcome)) = self.unconfirmed.take() {
            if claimed == file_sha {
                return self.finish(file_sha, outcome, false);
            }
        }
        self.sign((file_sha, part_md5s));
    }

    /// The file could not be read.
    pub fn on_unreadable(&mut self, detail: &str) {
        match &mut self.phase {
            Phase::Sending { transfer, .. } => transfer.on_unreadable(detail),
            _ => self.end(Ended::Failed(unreadable(Stage::Hash, detail))),
        }
    }

    /// The signature asked for by [`Effect::Sign`].
    pub fn on_signature(&mut self, signature: String, now: f64) {
        if let Some(transfer) = self.transfer() {
            transfer.on_signature(signature, now);
        }
    }

    /// `getSignature` failed with `error`: the transfer, which asked,
    /// decides (it asks again once online when the browser is offline).
    pub fn fail(&mut self, error: UploadError) {
        match &mut self.phase {
            Phase::Sending { transfer, .. } => transfer.on_signature_failed(error),
            _ => self.end(Ended::Failed(error)),
        }
    }

    /// The caller's signal aborted: unless the call is over, it ends so.
    pub fn abort(&mut self) {
        match &mut self.phase {
            Phase::Sending { transfer, .. } => transfer.abort(),
            Phase::Ended => {}
            _ if self.queue.iter().any(|e| matches!(e, Effect::End(_))) => {}
            _ => self.end(Ended::Aborted),
        }
    }

    fn start_hash(&mut self, now: f64) {
        let meter = Meter::new(ProgressStage::Hash, self.file_size, now);
        self.progress.push_back(meter.report());
        self.phase = Phase::Hashing {
            hasher: FileHasher::new(self.file_size, self.part_size()),
            fed: 0,
            meter,
        };
        self.queue.push_back(Effect::Hash);
    }

    /// Sends the upload with these hashes, once the effects queued are
    /// done ([`Job::start_transfer`]).
    fn sign(&mut self, hashes: (String, PartMd5s)) {
        self.phase = Phase::Waiting(Some(hashes));
    }

    /// Starts the transfer of hashes waiting to be sent. It asks for the
    /// first signature: getSignature is called as the requests are sent,
    /// only while online (the app's backend is as far as the server).
    fn start_transfer(&mut self, now: f64) {
        let Phase::Waiting(hashes @ Some(_)) = &mut self.phase else {
            return;
        };
        let (file_sha, part_md5s) = hashes.take().expect("matched Some");
        let options = self.options.clone().expect("only an upload sends");
        let mut transfer = Box::new(Transfer::new(
            self.file_size,
            options,
            self.seed,
            file_sha.clone(),
            None,
            Some(part_md5s),
            self.remembered,
        ));
        transfer.set_online(self.online, now);
        self.phase = Phase::Sending { file_sha, transfer };
    }

    /// The transfer ended with `outcome`.
    fn sent(&mut self, outcome: Outcome, now: f64) {
        let Phase::Sending { file_sha, .. } =
            std::mem::replace(&mut self.phase, Phase::Waiting(None))
        else {
            return;
        };
        if self.remembered && outcome.instant {
            self.unconfirmed = Some((file_sha, outcome));
            self.hash_again(now);
        } else {
            self.finish(file_sha, outcome, self.rehashed);
        }
    }

    /// The transfer failed with `error`.
    fn send_failed(&mut self, error: UploadError, now: f64) {
        if self.remembered && is_stale_refusal(&error) {
            self.phase = Phase::Waiting(None);
            if self.cached {
                self.queue.push_back(Effect::CacheForget);
            }
            self.hash_again(now);
        } else {
            self.end(Ended::Failed(error));
        }
    }

    /// The second turn, from a fresh hash.
    fn hash_again(&mut self, now: f64) {
        self.remembered = false;
        self.rehashed = true;
        self.start_hash(now);
    }

    fn finish(&mut self, file_sha: String, outcome: Outcome, rehashed: bool) {
        if self.cached {
            self.queue.push_back(Effect::CacheForget);
        }
        self.end(Ended::Uploaded {
            file_sha,
            outcome,
            rehashed,
        });
    }

    /// Ends the call, after the effects queued (a cache deletion), or at
    /// once when it failed or was aborted.
    fn end(&mut self, ended: Ended) {
        if !matches!(ended, Ended::Uploaded { .. }) {
            self.queue.clear();
            self.blocked = false;
        }
        self.phase = Phase::Waiting(None);
        self.queue.push_back(Effect::End(ended));
    }
}

#[cfg(test)]
mod tests;
