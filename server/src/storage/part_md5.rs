//! The MD5s of whole part bodies, hashed several at a time.
//!
//! MD5 cannot be vectorised within one message (each step needs the one
//! before), but parts of one length are independent messages: several of
//! them hash side by side in the 32-bit lanes of a vector, for the price of
//! one ([`vod_ugc_upload::hash::md5_wide::Kernel`], chosen for the
//! processor at run time: eight lanes with AVX2 or AVX-512, else four with
//! SSE2). A server receiving several uploads, several parts in flight each,
//! has such parts at hand: bodies queue here, and a hashing thread takes
//! up to a kernel's lanes of one length at a time. A body alone is hashed
//! by itself (with `md-5`), so a quiet server waits for nothing.
//!
//! While other bodies are still arriving ([`PartMd5::receiving`]), a thread
//! about to hash fewer than its kernel's lanes waits up to [`GATHER`] for
//! more: on the machine of BENCHMARKS.md, 4 uploads × 4 parts in flight
//! left 17 % of parts hashed alone and 30 % in twos and threes (four lanes),
//! and a lone 1 MiB part costs 1.9 ms of a core where four together cost
//! 2.4 ms. With eight lanes (AVX-512: eight 1 MiB parts in 1.7 ms),
//! waiting for eight rather than four took the server's CPU per GiB
//! received from 1.5–1.6 s to 1.2–1.4 s.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::sync::oneshot;
use vod_ugc_upload::hash::md5::DIGEST_LEN;
use vod_ugc_upload::hash::md5_wide::Kernel;

/// The longest a body waits for others to share its hashing with: about
/// the time two more parts take to arrive on a busy server, and small
/// next to a part's trip over any network.
const GATHER: Duration = Duration::from_millis(2);

pub struct PartMd5 {
    queue: Mutex<Queue>,
    /// Signalled when a body is queued or given up.
    changed: Condvar,
    /// At most one hashing thread per core.
    max_workers: usize,
    kernel: Kernel,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    workers: usize,
    /// Bodies being received, to be hashed here soon.
    receiving: usize,
}

/// A body on its way (see [`PartMd5::receiving`]); counted until it is
/// hashed or dropped.
pub struct Receiving(Arc<PartMd5>);

impl Drop for Receiving {
    fn drop(&mut self) {
        self.0.lock().receiving -= 1;
        self.0.changed.notify_all();
    }
}

struct Job {
    body: Bytes,
    done: oneshot::Sender<[u8; DIGEST_LEN]>,
}

impl PartMd5 {
    pub fn new() -> PartMd5 {
        PartMd5::with_kernel(Kernel::best())
    }

    fn with_kernel(kernel: Kernel) -> PartMd5 {
        PartMd5 {
            queue: Mutex::default(),
            changed: Condvar::new(),
            max_workers: std::thread::available_parallelism().map_or(1, usize::from),
            kernel,
        }
    }

    /// Says a body is being received that [`PartMd5::digest`] will be
    /// asked for: hashing threads then wait a little for it to batch it.
    pub fn receiving(self: &Arc<Self>) -> Receiving {
        self.lock().receiving += 1;
        Receiving(Arc::clone(self))
    }

    /// The MD5 of `body`, which was announced by `receiving`.
    pub async fn digest(
        self: &Arc<Self>,
        receiving: Receiving,
        body: Bytes,
    ) -> io::Result<[u8; DIGEST_LEN]> {
        let (done, digest) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            queue.jobs.push_back(Job { body, done });
            // One thread per batch waiting, up to one per core.
            let wanted = queue
                .jobs
                .len()
                .div_ceil(self.kernel.lanes())
                .min(self.max_workers);
            let start = queue.workers < wanted;
            queue.workers += usize::from(start);
            start
        };
        // No longer on its way: counted as queued now (and a waiting
        // thread told).
        drop(receiving);
        if start {
            // A thread of its own, not one of tokio's blocking pool: a part
            // being stored waits for its MD5 on a blocking thread
            // (`Parts::put`), so with the pool full of such parts, a hashing
            // task queued there would never run.
            let this = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("part-md5".into())
                .spawn(move || this.work());
            if let Err(e) = spawned {
                // No thread to be had: with no other thread hashing, the
                // bodies queued get an error (as after a panic, `Running`)
                // rather than wait for a body that may never come.
                let mut queue = self.lock();
                queue.workers -= 1;
                if queue.workers == 0 {
                    queue.jobs.clear();
                }
                return Err(e);
            }
        }
        digest
            .await
            .map_err(|_| io::Error::other("hashing the part failed"))
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The queue once its first body can be hashed: with a full batch of
    /// its length (the kernel's lanes), or nothing more on its way, or
    /// after [`GATHER`].
    fn gather(&self) -> MutexGuard<'_, Queue> {
        let deadline = Instant::now() + GATHER;
        let mut queue = self.lock();
        loop {
            let Some(first) = queue.jobs.front() else {
                return queue;
            };
            let len = first.body.len();
            let alike = queue.jobs.iter().filter(|j| j.body.len() == len).count();
            let now = Instant::now();
            if alike >= self.kernel.lanes() || queue.receiving == 0 || now >= deadline {
                return queue;
            }
            queue = self
                .changed
                .wait_timeout(queue, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Hashes batches until the queue is empty.
    fn work(&self) {
        // Should hashing panic, the thread is given up and its waiters get
        // an error instead of waiting for ever.
        let running = Running(self);
        loop {
            let batch = {
                let mut queue = self.gather();
                match take_batch(&mut queue.jobs, self.kernel.lanes()) {
                    Some(batch) => batch,
                    None => {
                        queue.workers -= 1;
                        std::mem::forget(running);
                        return;
                    }
                }
            };
            let digests = digests(self.kernel, &batch);
            for (job, digest) in batch.into_iter().zip(digests) {
                // The request may be gone (a closed connection).
                let _ = job.done.send(digest);
            }
        }
    }
}

/// The first job and up to `lanes - 1` more of its length, in queue order.
fn take_batch(jobs: &mut VecDeque<Job>, lanes: usize) -> Option<Vec<Job>> {
    let first = jobs.pop_front()?;
    let len = first.body.len();
    let mut batch = vec![first];
    let mut i = 0;
    while batch.len() < lanes && i < jobs.len() {
        if jobs[i].body.len() == len {
            batch.extend(jobs.remove(i));
        } else {
            i += 1;
        }
    }
    Some(batch)
}

/// One digest per job: one body alone with `md-5`, more side by side.
fn digests(kernel: Kernel, batch: &[Job]) -> Vec<[u8; DIGEST_LEN]> {
    if let [job] = batch {
        return vec![Md5::digest(&job.body).into()];
    }
    let bodies: Vec<&[u8]> = batch.iter().map(|job| &job.body[..]).collect();
    kernel.digest(&bodies)
}

struct Running<'a>(&'a PartMd5);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        queue.workers -= 1;
        queue.jobs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(digest: [u8; DIGEST_LEN]) -> String {
        vod_ugc_upload::protocol::to_hex(&digest)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_bodies_of_mixed_lengths() {
        // Each kernel this processor runs (the fallback, always).
        for kernel in Kernel::supported() {
            hash_many_bodies(Arc::new(PartMd5::with_kernel(kernel))).await;
        }
    }

    async fn hash_many_bodies(hasher: Arc<PartMd5>) {
        let bodies: Vec<Bytes> = (0..23u8)
            .map(|i| {
                let len =
                    [0, 1, 55, 56, 64, 1000, 4096][usize::from(i) % 7] * (1 + usize::from(i) / 7);
                Bytes::from((0..len).map(|j| (j as u8) ^ i).collect::<Vec<u8>>())
            })
            .collect();
        // Twice: the threads that end when the queue empties are started
        // again for later bodies.
        for _ in 0..2 {
            let all = futures_util::future::join_all(
                bodies
                    .iter()
                    .map(|b| hasher.digest(hasher.receiving(), b.clone())),
            )
            .await;
            for (body, digest) in bodies.iter().zip(all) {
                assert_eq!(hex(digest.unwrap()), hex(Md5::digest(body).into()));
            }
        }
        for body in &bodies[..3] {
            let digest = hasher
                .digest(hasher.receiving(), body.clone())
                .await
                .unwrap();
            assert_eq!(hex(digest), hex(Md5::digest(body).into()));
        }
    }

    /// A body announced but never delivered (its request failed on the
    /// way) delays the others by at most `GATHER`, not for ever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_that_never_comes_holds_nothing_up() {
        let hasher = Arc::new(PartMd5::new());
        let _stalled = hasher.receiving();
        let body = Bytes::from(vec![7; 1000]);
        let digest = hasher.digest(hasher.receiving(), body.clone()).await;
        assert_eq!(hex(digest.unwrap()), hex(Md5::digest(&body).into()));
        assert_eq!(
            hasher.lock().receiving,
            1,
            "the stalled body is still counted"
        );
    }

    /// Bodies are hashed even while every blocking thread of the runtime
    /// waits for a digest, as parts being stored do (`Parts::put`).
    #[test]
    fn hashes_while_the_blocking_pool_waits_for_it() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let hasher = Arc::new(PartMd5::new());
        let body = Bytes::from(vec![9; 1000]);
        let (sent, digest) = std::sync::mpsc::channel();
        let waiting = runtime.spawn_blocking(move || digest.recv().unwrap());
        let expected = body.clone();
        let hashed = runtime.block_on(async move {
            let digest = hasher.digest(hasher.receiving(), body).await.unwrap();
            sent.send(digest).unwrap();
            waiting.await.unwrap()
        });
        assert_eq!(hex(hashed), hex(Md5::digest(&expected).into()));
    }

    #[test]
    fn batches_take_one_length() {
        let job = |len: usize| Job {
            body: Bytes::from(vec![0; len]),
            done: oneshot::channel().0,
        };
        let mut jobs: VecDeque<Job> = [1, 2, 1, 1, 2, 1, 1].into_iter().map(job).collect();
        let lens = |b: Vec<Job>| b.iter().map(|j| j.body.len()).collect::<Vec<_>>();
        assert_eq!(lens(take_batch(&mut jobs, 4).unwrap()), [1, 1, 1, 1]);
        assert_eq!(lens(take_batch(&mut jobs, 4).unwrap()), [2, 2]);
        assert_eq!(lens(take_batch(&mut jobs, 4).unwrap()), [1]);
        assert!(take_batch(&mut jobs, 4).is_none());
    }
}
