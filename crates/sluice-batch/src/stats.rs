//! The pipeline's counters: batches, their records and results, retries and
//! failures, with histograms of batch sizes and of the time a batch takes
//! (function, writes and commit). Counted once per batch, copied out by
//! [`Pipeline::stats`](crate::Pipeline::stats).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use sluice_fetch::histogram::{Histogram, HistogramSnapshot};

/// The counters a [`Pipeline`](crate::Pipeline) keeps.
#[derive(Debug)]
pub struct BatchStats {
    batches: AtomicU64,
    records: AtomicU64,
    results: AtomicU64,
    retries: AtomicU64,
    failures: AtomicU64,
    size: Histogram,
    latency: Histogram,
}

impl Default for BatchStats {
    fn default() -> Self {
        BatchStats {
            batches: AtomicU64::new(0),
            records: AtomicU64::new(0),
            results: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            size: Histogram::counts(),
            latency: Histogram::durations(),
        }
    }
}

impl BatchStats {
    /// A batch of `records` records finished (its `results` written and its
    /// offsets committed where allowed) `took` after it was taken.
    pub fn finished(&self, records: usize, results: u64, took: Duration) {
        self.batches.fetch_add(1, Relaxed);
        self.records.fetch_add(records as u64, Relaxed);
        self.results.fetch_add(results, Relaxed);
        self.size.observe(records as u64);
        self.latency.observe_duration(took);
    }

    /// A batch attempt failed and is tried again.
    pub fn retried(&self) {
        self.retries.fetch_add(1, Relaxed);
    }

    /// A batch failed for good (the run stops).
    pub fn failed(&self) {
        self.failures.fetch_add(1, Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> BatchStatsSnapshot {
        BatchStatsSnapshot {
            batches: self.batches.load(Relaxed),
            records: self.records.load(Relaxed),
            results: self.results.load(Relaxed),
            retries: self.retries.load(Relaxed),
            failures: self.failures.load(Relaxed),
            size: self.size.snapshot(),
            latency: self.latency.snapshot(),
        }
    }
}

/// The pipeline's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStatsSnapshot {
    /// Batches finished.
    pub batches: u64,
    /// Records in them.
    pub records: u64,
    /// Result records written for them.
    pub results: u64,
    /// Batch attempts that failed and were tried again.
    pub retries: u64,
    /// Batches that failed for good.
    pub failures: u64,
    /// Records per finished batch.
    pub size: HistogramSnapshot,
    /// Time from taking a batch to its commit, retries included, in
    /// nanoseconds.
    pub latency: HistogramSnapshot,
}

impl Default for BatchStatsSnapshot {
    fn default() -> Self {
        BatchStats::default().snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_batches_records_and_their_sizes() {
        let stats = BatchStats::default();
        stats.finished(500, 1, Duration::from_millis(30));
        stats.finished(500, 1, Duration::from_millis(70));
        stats.finished(7, 0, Duration::from_millis(2));
        stats.retried();
        stats.failed();
        let s = stats.snapshot();
        assert_eq!((s.batches, s.records, s.results), (3, 1007, 2));
        assert_eq!((s.retries, s.failures), (1, 1));
        assert_eq!(s.size.count(), 3);
        assert_eq!(s.size.sum, 1007);
        // 7 lands in the 10 bucket, both 500s in the 500 bucket.
        assert_eq!(s.size.cumulative()[1], (10, 1));
        assert_eq!(s.size.cumulative()[5], (500, 3));
        assert_eq!(s.latency.sum, 102_000_000);
    }
}
