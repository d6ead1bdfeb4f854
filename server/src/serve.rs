//! Accepting and serving connections with the limits a public server needs.
//!
//! A client that opens a connection and says nothing, sends half its
//! headers, keeps an idle connection forever or stops sending a body would
//! otherwise hold a socket (and a file descriptor) for good, and a few
//! thousand of them lock everyone else out. So each connection is watched:
//!
//! - headers must arrive within `header_timeout`, counted from the
//!   connection's start, or from the first byte of a later request;
//! - a kept-alive connection waiting for its next request is closed after
//!   `idle_timeout`;
//! - a request body that sends no byte for `body_stall_timeout` fails (the
//!   handler answers, and the connection closes since its body is unread);
//!   a slow body that keeps moving is fine;
//! - at most `max_connections` are open at once; the next ones wait in the
//!   kernel's accept queue, and the moment the cap is hit is logged.
//!
//! While a request is being handled nothing else times out: FinishUploadUGC
//! may hash a large file for a while without a byte on the wire.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// File descriptors kept apart from connections: the listener, logs, data
/// files, and room for the temp file each receiving connection writes.
const RESERVED_FILES: u64 = 64;

/// The connection limits of a server (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_stall_timeout: Duration,
    pub max_connections: u32,
}

impl Limits {
    /// `max_connections` lowered, if need be, so that connections and the
    /// file each may have open fit under the process's open-file limit.
    pub fn fitted_to_open_file_limit(mut self) -> Limits {
        if let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
            let fits = (soft.saturating_sub(RESERVED_FILES) / 2).clamp(1, u32::MAX.into()) as u32;
            if fits < self.max_connections {
                tracing::info!(
                    "the open-file limit is {soft}: at most {fits} connections at once instead of {}",
                    self.max_connections
                );
                self.max_connections = fits;
            }
        }
        self
    }
}

/// Raises this process's open-file soft limit to its hard limit (the usual
/// soft limit, 1024, is far too few for a server), returning the new one.
pub fn raise_open_file_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Serves `router` on `listener` until `shutdown` completes; then stops
/// accepting, lets every connection finish its request in flight, and
/// returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut at_cap = false;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if !at_cap {
                    at_cap = true;
                    tracing::warn!(
                        "connection limit reached: {} connections are open (--max-connections); \
                         new connections wait until one closes",
                        limits.max_connections
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or memory, or an aborted handshake:
                    // wait a little instead of spinning on the error.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if at_cap && slots.available_permits() > 0 {
            at_cap = false;
            tracing::info!("connections are back under the limit");
        }
        tokio::spawn(connection(
            stream,
            router.clone(),
            limits,
            slot,
            stopping.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    // Each connection holds a slot until it ends.
    let _all = slots.acquire_many(limits.max_connections).await;
    Ok(())
}

/// Serves one connection, closing it when a time limit passes.
async fn connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let busy = Busy::start(activity.clone());
            let request =
                request.map(|body| Body::new(TimeoutBody::new(limits.body_stall_timeout, body)));
            let response = router.clone().oneshot(request);
            async move {
                let response = response.await?;
                Ok::<_, Infallible>(response.map(|body| Body::new(Tracked { body, _busy: busy })))
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None) // `Activity` keeps the time instead
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut stopped = false;
    loop {
        let (deadline, why) = activity.deadline(&limits);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = sleep_until(deadline) => {
                if activity.deadline(&limits).0.is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!("closing a connection: {why}");
                    return;
                }
            }
            () = activity.changed.notified() => {}
            _ = stopping.changed(), if !stopped => {
                stopped = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Where a connection is: what it waits for and since when.
struct Activity {
    state: Mutex<Phase>,
    /// Woken when the phase changes, so the watchdog sees a new deadline.
    changed: Notify,
}

#[derive(Clone, Copy)]
enum Phase {
    /// Waiting for (the rest of) a request's headers.
    Headers(Instant),
    /// Requests are being handled.
    Busy(usize),
    /// Kept alive, waiting for the next request.
    Idle(Instant),
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: Mutex::new(Phase::Headers(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *phase = change(*phase);
        // One waiter, the watchdog: a stored permit is never lost.
        self.changed.notify_one();
    }

    /// The first byte after an idle wait starts the header clock.
    fn bytes_read(&self) {
        let mut phase = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Headers(Instant::now());
            self.changed.notify_one();
        }
    }

    fn deadline(&self, limits: &Limits) -> (Option<Instant>, &'static str) {
        match *self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            Phase::Headers(since) => (
                Some(since + limits.header_timeout),
                "no complete request headers within --header-timeout",
            ),
            Phase::Idle(since) => (Some(since + limits.idle_timeout), "idle for --idle-timeout"),
            Phase::Busy(_) => (None, "busy"),
        }
    }
}

/// Marks a connection busy from a request's headers to the end of its
/// response body.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: Arc<Activity>) -> Busy {
        activity.update(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// A response body that keeps its connection busy until it is sent (or
/// dropped).
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, telling [`Activity`] when bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
