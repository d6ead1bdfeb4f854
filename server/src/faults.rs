//! Fault injection for UploadPartUGC (`--fault-rate`, `--fault-seed`), so
//! that clients can prove their retries against a server that misbehaves
//! the three ways real networks and servers do.
//!
//! Which requests fail depends only on the seed and the order in which
//! requests arrive; the three kinds take turns, so they are evenly mixed.

use std::sync::Mutex;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use vod_ugc_upload::protocol::{code, Answer};

use crate::rng::SplitMix64;

/// One way a part upload fails on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500: the server itself failed.
    ServerError,
    /// HTTP 200 with code -10004 and `canRetry: 1`.
    RetryableCode,
    /// The connection breaks before an answer arrives.
    DroppedConnection,
}

impl Fault {
    /// The response that produces the fault. The dropped connection is a
    /// body that fails at once: hyper then aborts the connection, and the
    /// client sees a network error instead of an answer.
    pub fn response(self) -> Response {
        match self {
            Fault::ServerError => {
                (StatusCode::INTERNAL_SERVER_ERROR, "injected fault\n").into_response()
            }
            Fault::RetryableCode => crate::handlers::answer_response(&Answer::failure(
                code::WRITE_STATE,
                "injected fault: failed to write upload state",
                true,
            )),
            Fault::DroppedConnection => {
                let broken = futures_util::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "injected fault: connection dropped",
                    ))
                });
                Response::new(Body::from_stream(broken))
            }
        }
    }
}

/// The fault plan of one server run.
pub struct Faults {
    rate: f64,
    state: Mutex<(SplitMix64, u64)>,
}

impl Faults {
    pub fn new(rate: f64, seed: u64) -> Faults {
        Faults {
            rate,
            state: Mutex::new((SplitMix64::new(seed), 0)),
        }
    }

    /// Decides the fate of the next part upload: `None` to serve it.
    pub fn draw(&self) -> Option<Fault> {
        if self.rate <= 0.0 {
            return None;
        }
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (rng, injected) = &mut *state;
        if rng.next_f64() >= self.rate {
            return None;
        }
        *injected += 1;
        Some(match *injected % 3 {
            1 => Fault::ServerError,
            2 => Fault::RetryableCode,
            _ => Fault::DroppedConnection,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_never_faults() {
        let f = Faults::new(0.0, 1);
        assert!((0..1000).all(|_| f.draw().is_none()));
    }

    #[test]
    fn rate_is_honoured_reproducibly_and_kinds_are_mixed() {
        let run = |seed| {
            let f = Faults::new(0.3, seed);
            (0..3000).map(|_| f.draw()).collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        let faults: Vec<Fault> = a.into_iter().flatten().collect();
        assert!(
            (800..1000).contains(&faults.len()),
            "{} faults",
            faults.len()
        );
        for kind in [
            Fault::ServerError,
            Fault::RetryableCode,
            Fault::DroppedConnection,
        ] {
            let n = faults.iter().filter(|f| **f == kind).count();
            assert!(n.abs_diff(faults.len() / 3) <= 1, "{kind:?}: {n}");
        }
    }

    #[test]
    fn full_rate_always_faults() {
        let f = Faults::new(1.0, 9);
        assert!((0..100).all(|_| f.draw().is_some()));
    }
}
