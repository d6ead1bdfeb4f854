//! Reading a `Blob` front to back, off the page's main thread when it can.
//!
//! Measured in Chromium 156 on a 2-core machine: a `Blob.arrayBuffer()`
//! read costs the calling thread about 0.7 ms per MiB (it drains the pipe
//! the data arrives through), time the main thread would otherwise spend
//! hashing, and every read allocates a fresh buffer (page faults, garbage).
//! So the reads run in a small dedicated Worker (one per page, started
//! from `read-worker.js`, embedded at build time, shared by all calls). It
//! reads the file into a few buffers of a fixed size that travel back and
//! forth without copies: the Worker fills one and transfers it to the
//! page, the page hashes it and transfers it back. Reading and hashing
//! overlap, the memory used is those buffers whatever the file's size, and
//! the page's tasks stay short (one buffer per task). How the Worker reads
//! (a BYOB stream or slices, and going on with slices when a stream read
//! fails) is said in that file. Where no Worker can be made (a Content
//! Security Policy without `blob:` in `worker-src`) or it fails, the page
//! reads the slices itself.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures_util::FutureExt;
use js_sys::{Array, ArrayBuffer};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use super::js::{self, ObjectBuilder};
use super::wake::AbortWatch;
use crate::json;

/// Bytes per buffer the Worker fills: what the page hashes in one task.
const BUFFER: u64 = 4 << 20;
/// Buffers per reading: the reader's memory (16 MiB), and how far reading
/// runs ahead of hashing.
const BUFFERS: u32 = 4;
/// Without the Worker: bytes per read on the page, and reads in flight.
const SLICE: u64 = 8 << 20;
const AHEAD: usize = 2;

/// Why reading stopped.
pub enum ReadError {
    Aborted,
    /// The browser could not read the file (moved, changed, revoked).
    Unreadable(String),
}

/// The Worker's script (`read-worker.js`, how it reads and the messages it
/// takes and sends), as `build.rs` embeds it: without its comments.
const WORKER_SCRIPT: &str = include_str!(concat!(env!("OUT_DIR"), "/read-worker.js"));

#[wasm_bindgen]
extern "C" {
    type Worker;

    #[wasm_bindgen(constructor, catch)]
    fn new(url: &str) -> Result<Worker, JsValue>;

    #[wasm_bindgen(method, js_name = postMessage)]
    fn post_message(this: &Worker, message: &JsValue);

    #[wasm_bindgen(method, js_name = postMessage)]
    fn post_message_with_transfer(this: &Worker, message: &JsValue, transfer: &Array);

    #[wasm_bindgen(method, setter)]
    fn set_onmessage(this: &Worker, handler: &js_sys::Function);

    #[wasm_bindgen(method, setter)]
    fn set_onerror(this: &Worker, handler: &js_sys::Function);

    #[wasm_bindgen(js_namespace = URL, js_name = createObjectURL, catch)]
    fn create_object_url(blob: &Blob) -> Result<String, JsValue>;
}

/// What came back for one reading, in order.
#[derive(Default)]
struct Inbox {
    arrived: RefCell<VecDeque<Arrival>>,
    /// The Worker failed: whatever is missing must be read on the page.
    broken: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

enum Arrival {
    Bytes {
        buffer: ArrayBuffer,
        len: u64,
        done: bool,
    },
    Error(String),
}

impl Inbox {
    fn wake(&self) {
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// The page's read Worker and the readings waiting on it.
struct ReadWorker {
    worker: Worker,
    sessions: RefCell<Vec<(u32, Rc<Inbox>)>>,
    next_id: Cell<u32>,
    broken: Cell<bool>,
    _on_message: Closure<dyn FnMut(JsValue)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

thread_local! {
    /// Made on first use; `Some(None)` once it could not be made.
    static READ_WORKER: RefCell<Option<Option<Rc<ReadWorker>>>> = const { RefCell::new(None) };
}

impl ReadWorker {
    /// The page's read Worker, made on first use; `None` where no Worker
    /// can be made or it has failed.
    fn get() -> Option<Rc<ReadWorker>> {
        READ_WORKER.with(|cell| {
            let mut cell = cell.borrow_mut();
            cell.get_or_insert_with(ReadWorker::start)
                .clone()
                .filter(|worker| !worker.broken.get())
        })
    }

    fn start() -> Option<Rc<ReadWorker>> {
        let script = Blob::new_with_str_sequence(&Array::of1(&WORKER_SCRIPT.into())).ok()?;
        let url = create_object_url(&script).ok()?;
        let worker = Worker::new(&url).ok()?;
        Some(Rc::new_cyclic(|weak: &std::rc::Weak<ReadWorker>| {
            let on_message = {
                let weak = weak.clone();
                Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                    if let Some(this) = weak.upgrade() {
                        this.deliver(&js::get(&event, "data"));
                    }
                })
            };
            let on_error = {
                let weak = weak.clone();
                Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
                    if let Some(this) = weak.upgrade() {
                        this.fail();
                    }
                })
            };
            worker.set_onmessage(on_message.as_ref().unchecked_ref());
            worker.set_onerror(on_error.as_ref().unchecked_ref());
            ReadWorker {
                worker,
                sessions: RefCell::new(Vec::new()),
                next_id: Cell::new(0),
                broken: Cell::new(false),
                _on_message: on_message,
                _on_error: on_error,
            }
        }))
    }

    /// A message from the Worker.
    fn deliver(&self, data: &JsValue) {
        let id = js::get(data, "id").as_f64().unwrap_or(-1.0) as u32;
        let sessions = self.sessions.borrow();
        // A reading that has ended (done, aborted) no longer listens.
        let Some((_, inbox)) = sessions.iter().find(|(session, _)| *session == id) else {
            return;
        };
        let arrival = match js::get(data, "buf").dyn_into::<ArrayBuffer>() {
            Ok(buffer) => Arrival::Bytes {
                buffer,
                len: js::get(data, "len").as_f64().unwrap_or(0.0) as u64,
                done: js::get(data, "done").as_f64() == Some(1.0),
            },
            Err(_) => Arrival::Error(
                js::get(data, "error")
                    .as_string()
                    .unwrap_or_else(|| "the read failed".into()),
            ),
        };
        inbox.arrived.borrow_mut().push_back(arrival);
        inbox.wake();
    }

    /// The Worker failed (it could not start, or its script threw): the
    /// readings go on on the page.
    fn fail(&self) {
        self.broken.set(true);
        for (_, inbox) in self.sessions.borrow().iter() {
            inbox.broken.set(true);
            inbox.wake();
        }
    }

    /// Starts reading `blob`. `hooks` is the page's
    /// `globalThis.__vodUgcUploadRead`, for tests and the benchmark:
    /// `{mode: "stream" | "slices", streamFailsAt, slicesFailAt, poison}`
    /// (a way of reading; offsets from which reads fail, as in engines
    /// where the file is too large for a stream or changed on disk;
    /// buffers poisoned before reuse), see `read-worker.js`.
    fn open(&self, blob: &Blob, hooks: &JsValue) -> (u32, Rc<Inbox>) {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let inbox = Rc::new(Inbox::default());
        self.sessions.borrow_mut().push((id, inbox.clone()));
        let message = ObjectBuilder::new()
            .set("id", id)
            .set("blob", blob.clone())
            .set("n", BUFFERS)
            .set("size", BUFFER as f64)
            .set("mode", js::get(hooks, "mode"))
            .set("hooks", hooks.clone())
            .build();
        self.worker.post_message(&message);
        (id, inbox)
    }

    fn give_back(&self, id: u32, buffer: ArrayBuffer) {
        let message = ObjectBuilder::new()
            .set("id", id)
            .set("buf", buffer.clone())
            .build();
        self.worker
            .post_message_with_transfer(&message, &Array::of1(&buffer));
    }

    fn close(&self, id: u32) {
        self.sessions
            .borrow_mut()
            .retain(|(session, _)| *session != id);
        let message = ObjectBuilder::new().set("id", id).set("stop", true).build();
        self.worker.post_message(&message);
    }
}

/// Where the bytes of one reading come from.
enum Source {
    Worker {
        worker: Rc<ReadWorker>,
        id: u32,
        inbox: Rc<Inbox>,
    },
    Page {
        /// Reads in flight, in order.
        reads: VecDeque<JsFuture>,
        /// Start of the next slice to ask for.
        requested: u64,
    },
}

/// The next bytes of the file: the first `len` bytes of `buffer`.
pub struct Chunk {
    pub buffer: ArrayBuffer,
    pub len: u64,
}

/// Reads one Blob front to back.
pub struct Reader {
    blob: Blob,
    size: u64,
    /// Bytes handed out so far.
    delivered: u64,
    source: Source,
}

impl Reader {
    pub fn new(blob: &Blob, size: u64) -> Reader {
        // A small file is one read on the page: quicker than a Worker trip.
        // `globalThis.__vodUgcUploadNoWorker = true` reads on the page
        // anyway (for tests of that path, and for diagnosis).
        let global = js_sys::global();
        let worker = if size > BUFFER && !js::get(&global, "__vodUgcUploadNoWorker").is_truthy() {
            ReadWorker::get()
        } else {
            None
        };
        let source = match worker {
            Some(worker) => {
                let (id, inbox) = worker.open(blob, &js::get(&global, "__vodUgcUploadRead"));
                Source::Worker { worker, id, inbox }
            }
            None => Source::Page {
                reads: VecDeque::new(),
                requested: 0,
            },
        };
        Reader {
            blob: blob.clone(),
            size,
            delivered: 0,
            source,
        }
    }

    /// The next bytes, front to back: `None` at the end. Give the buffer
    /// back with [`Reader::give_back`] once done with it.
    pub async fn next(&mut self, abort: &AbortWatch) -> Result<Option<Chunk>, ReadError> {
        loop {
            if self.delivered >= self.size {
                return Ok(None);
            }
            if let Source::Page { reads, requested } = &mut self.source {
                while *requested < self.size && reads.len() < AHEAD {
                    let end = (*requested + SLICE).min(self.size);
                    let slice = self
                        .blob
                        .slice_with_f64_and_f64(*requested as f64, end as f64)
                        .map_err(|e| ReadError::Unreadable(js::describe_thrown(&e)))?;
                    reads.push_back(JsFuture::from(slice.array_buffer()));
                    *requested = end;
                }
            }
            let next = std::future::poll_fn(|cx| {
                if abort.poll_aborted(cx).is_ready() {
                    return Poll::Ready(Err(ReadError::Aborted));
                }
                match &mut self.source {
                    Source::Worker { inbox, .. } => {
                        match inbox.arrived.borrow_mut().pop_front() {
                            Some(Arrival::Bytes { buffer, len, done }) => {
                                return Poll::Ready(Ok(Some((Chunk { buffer, len }, done))))
                            }
                            Some(Arrival::Error(detail)) => {
                                return Poll::Ready(Err(ReadError::Unreadable(detail)))
                            }
                            None => {}
                        }
                        if inbox.broken.get() {
                            return Poll::Ready(Ok(None));
                        }
                        *inbox.waker.borrow_mut() = Some(cx.waker().clone());
                        Poll::Pending
                    }
                    Source::Page { reads, .. } => {
                        let Some(read) = reads.front_mut() else {
                            return Poll::Ready(Ok(None));
                        };
                        read.poll_unpin(cx).map(|result| {
                            reads.pop_front();
                            let buffer: ArrayBuffer = result
                                .map_err(|e| ReadError::Unreadable(js::describe_thrown(&e)))?
                                .unchecked_into();
                            let len = buffer.byte_length() as u64;
                            Ok(Some((Chunk { buffer, len }, false)))
                        })
                    }
                }
            })
            .await?;
            match next {
                Some((chunk, done)) => {
                    let delivered = self.delivered + chunk.len;
                    if delivered > self.size || (done && delivered < self.size) {
                        return Err(ReadError::Unreadable(
                            "the file changed while it was read".into(),
                        ));
                    }
                    if chunk.len == 0 {
                        self.give_back(chunk.buffer);
                        continue;
                    }
                    self.delivered = delivered;
                    return Ok(Some(chunk));
                }
                None if matches!(self.source, Source::Page { .. }) => {
                    return Err(ReadError::Unreadable(
                        [
                            "the file ended after ",
                            &json::uint_text(self.delivered),
                            " of ",
                            &json::uint_text(self.size),
                            " bytes",
                        ]
                        .concat(),
                    ))
                }
                None => {
                    // The Worker failed: read the rest on the page.
                    self.close_worker();
                    self.source = Source::Page {
                        reads: VecDeque::new(),
                        requested: self.delivered,
                    };
                }
            }
        }
    }

    /// Returns a buffer from [`Reader::next`] for reuse.
    pub fn give_back(&self, buffer: ArrayBuffer) {
        if let Source::Worker { worker, id, .. } = &self.source {
            worker.give_back(*id, buffer);
        }
    }

    fn close_worker(&mut self) {
        if let Source::Worker { worker, id, .. } = &self.source {
            worker.close(*id);
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.close_worker();
    }
}
