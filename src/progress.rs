//! Progress of a stage, with a smoothed transfer rate: parts complete in
//! bursts (several finish at once, then none for a while), so the raw rate
//! jumps around; an exponentially weighted average over time gives a figure
//! a person can read and an honest time-left estimate.

/// The stage a progress report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressStage {
    Hash,
    Upload,
    Finish,
}

impl ProgressStage {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProgressStage::Hash => "hash",
            ProgressStage::Upload => "upload",
            ProgressStage::Finish => "finish",
        }
    }
}

/// Why an upload is standing still, when it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// The browser is offline: the upload goes on when it is back.
    Offline,
    /// A failed request waits for its retry's backoff, with nothing else in flight.
    Retry,
}

impl Waiting {
    pub const fn as_str(self) -> &'static str {
        match self {
            Waiting::Offline => "offline",
            Waiting::Retry => "retry",
        }
    }
}

/// One progress report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    pub stage: ProgressStage,
    pub loaded: u64,
    pub total: u64,
    pub bytes_per_second: f64,
    /// Set while the upload waits for the network or a retry.
    pub waiting: Option<Waiting>,
}

/// Time constant of the smoothing: older samples fade out over about this long.
const SMOOTHING_MS: f64 = 2_000.0;

/// Tracks `loaded` of `total` and a smoothed rate.
#[derive(Clone, Debug)]
pub struct Meter {
    stage: ProgressStage,
    total: u64,
    loaded: u64,
    last_ms: f64,
    rate: Option<f64>,
}

impl Meter {
    pub fn new(stage: ProgressStage, total: u64, now_ms: f64) -> Meter {
        Meter {
            stage,
            total,
            loaded: 0,
            last_ms: now_ms,
            rate: None,
        }
    }

    /// Adds `bytes` done at `now_ms`, and gives the report to send.
    pub fn advance(&mut self, bytes: u64, now_ms: f64) -> Progress {
        self.loaded = (self.loaded + bytes).min(self.total);
        let elapsed = (now_ms - self.last_ms).max(0.0);
        if elapsed > 0.0 {
            let instant = bytes as f64 * 1000.0 / elapsed;
            let weight = 1.0 - (-elapsed / SMOOTHING_MS).exp();
            self.rate = Some(match self.rate {
                Some(rate) => rate + weight * (instant - rate),
                None => instant,
            });
            self.last_ms = now_ms;
        }
        self.report()
    }

    /// Counts `bytes` as done without counting them in the rate (parts
    /// the server already holds).
    pub fn skip(&mut self, bytes: u64) {
        self.loaded = (self.loaded + bytes).min(self.total);
    }

    pub fn report(&self) -> Progress {
        Progress {
            stage: self.stage,
            loaded: self.loaded,
            total: self.total,
            bytes_per_second: self.rate.unwrap_or(0.0),
            waiting: None,
        }
    }

    pub fn loaded(&self) -> u64 {
        self.loaded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_is_reported_as_is() {
        let mut m = Meter::new(ProgressStage::Upload, 10_000_000, 0.0);
        let mut p = m.report();
        for i in 1..=5 {
            p = m.advance(1_000_000, i as f64 * 100.0);
        }
        assert_eq!(p.loaded, 5_000_000);
        assert!((p.bytes_per_second - 10_000_000.0).abs() < 1.0, "{p:?}");
    }

    #[test]
    fn bursts_are_smoothed_and_loaded_never_passes_total() {
        let mut m = Meter::new(ProgressStage::Upload, 3_000_000, 0.0);
        m.advance(1_000_000, 1000.0); // 1 MB/s
        let burst = m.advance(1_000_000, 1001.0); // 1 GB/s for a millisecond
        assert!(burst.bytes_per_second < 2_000_000.0, "{burst:?}");
        let end = m.advance(5_000_000, 2000.0);
        assert_eq!(end.loaded, end.total);
        // Same instant: loaded moves, the rate does not.
        assert_eq!(m.advance(0, 2000.0).bytes_per_second, end.bytes_per_second);
    }
}
