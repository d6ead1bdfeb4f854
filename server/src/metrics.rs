//! `GET /metrics`: counters of a running server in Prometheus' text format
//! (version 0.0.4), written by hand: a few counters and one histogram need
//! no metrics framework.
//!
//! Counts are per process: with several instances, Prometheus scrapes each
//! and sums.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use vod_ugc_upload::protocol::Action;

/// Upper bounds (seconds) of the part latency histogram's buckets: from a
/// part on loopback to one on a slow mobile link.
const PART_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Content-Type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Default)]
pub struct Metrics {
    started: AtomicU64,
    resumed: AtomicU64,
    instant: AtomicU64,
    finished: AtomicU64,
    received_bytes: AtomicU64,
    assembled_bytes: AtomicU64,
    /// (action, code) → count of negative answers.
    failures: Mutex<BTreeMap<(&'static str, i64), u64>>,
    /// Per bucket (not cumulative), plus one past the last bound.
    part_buckets: [AtomicU64; PART_BUCKETS.len() + 1],
    part_nanos: AtomicU64,
    notifications_delivered: AtomicU64,
    notifications_failed: AtomicU64,
}

/// What InitUploadUGC answered, for counting.
#[derive(Clone, Copy)]
pub enum Init {
    Started,
    Resumed,
    Instant,
}

impl Metrics {
    pub fn init(&self, outcome: Init) {
        let counter = match outcome {
            Init::Started => &self.started,
            Init::Resumed => &self.resumed,
            Init::Instant => &self.instant,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// A file was published (once per file, not per repeated finish).
    pub fn finished(&self) {
        self.finished.fetch_add(1, Relaxed);
    }

    /// Bytes of parts a finish read back and assembled.
    pub fn assembled(&self, bytes: u64) {
        self.assembled_bytes.fetch_add(bytes, Relaxed);
    }

    pub fn received(&self, bytes: usize) {
        self.received_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// A negative answer; `action` is `None` when the request named none
    /// that exists.
    pub fn failure(&self, action: Option<Action>, code: i64) {
        let action = action.map_or("unknown", Action::as_str);
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *failures.entry((action, code)).or_default() += 1;
    }

    /// How long an UploadPartUGC request took, whatever its answer.
    pub fn part(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = PART_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(PART_BUCKETS.len());
        self.part_buckets[bucket].fetch_add(1, Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.part_nanos.fetch_add(nanos, Relaxed);
    }

    pub fn notification(&self, delivered: bool) {
        let counter = if delivered {
            &self.notifications_delivered
        } else {
            &self.notifications_failed
        };
        counter.fetch_add(1, Relaxed);
    }

    /// Every metric in the text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "ugc_uploads_started_total",
                "InitUploadUGC answers 0: a new upload",
                &self.started,
            ),
            (
                "ugc_uploads_resumed_total",
                "InitUploadUGC answers 1: an upload resumed",
                &self.resumed,
            ),
            (
                "ugc_uploads_instant_total",
                "InitUploadUGC answers 2: an instant upload",
                &self.instant,
            ),
            (
                "ugc_uploads_finished_total",
                "files verified and published",
                &self.finished,
            ),
            (
                "ugc_received_bytes_total",
                "bytes of UploadPartUGC bodies received",
                &self.received_bytes,
            ),
            (
                "ugc_finish_assembled_bytes_total",
                "bytes of parts read back and assembled by FinishUploadUGC (none by a finish that answers a file published before or by another finish)",
                &self.assembled_bytes,
            ),
        ];
        for (name, help, value) in counters {
            counter_head(&mut out, name, help);
            let _ = writeln!(out, "{name} {}", value.load(Relaxed));
        }

        counter_head(
            &mut out,
            "ugc_failures_total",
            "negative answers, by action and code",
        );
        for ((action, code), n) in self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ugc_failures_total{{action=\"{action}\",code=\"{code}\"}} {n}"
            );
        }

        counter_head(
            &mut out,
            "ugc_notifications_total",
            "--notify-url deliveries, by outcome (failed: every attempt failed)",
        );
        for (outcome, value) in [
            ("delivered", &self.notifications_delivered),
            ("failed", &self.notifications_failed),
        ] {
            let _ = writeln!(
                out,
                "ugc_notifications_total{{outcome=\"{outcome}\"}} {}",
                value.load(Relaxed)
            );
        }

        let name = "ugc_part_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} time to receive, check and store one UploadPartUGC request"
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.part_buckets.iter().enumerate() {
            cumulative += count.load(Relaxed);
            let bound = PART_BUCKETS
                .get(i)
                .map_or("+Inf".to_owned(), f64::to_string);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let sum = self.part_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
        out
    }
}

fn counter_head(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        for ms in [1, 7, 7, 300, 60_000] {
            m.part(Duration::from_millis(ms));
        }
        let text = m.render();
        for line in [
            "ugc_part_duration_seconds_bucket{le=\"0.005\"} 1",
            "ugc_part_duration_seconds_bucket{le=\"0.01\"} 3",
            "ugc_part_duration_seconds_bucket{le=\"0.25\"} 3",
            "ugc_part_duration_seconds_bucket{le=\"0.5\"} 4",
            "ugc_part_duration_seconds_bucket{le=\"30\"} 4",
            "ugc_part_duration_seconds_bucket{le=\"+Inf\"} 5",
            "ugc_part_duration_seconds_sum 60.315",
            "ugc_part_duration_seconds_count 5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn failures_are_labelled() {
        let m = Metrics::default();
        m.failure(Some(Action::UploadPartUgc), -10006);
        m.failure(Some(Action::UploadPartUgc), -10006);
        m.failure(None, -10001);
        let text = m.render();
        assert!(
            text.contains("ugc_failures_total{action=\"UploadPartUGC\",code=\"-10006\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ugc_failures_total{action=\"unknown\",code=\"-10001\"} 1\n"),
            "{text}"
        );
    }
}
