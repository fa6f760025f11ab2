//! The fetch client's counters: polls, records and bytes consumed, fetch
//! requests and their latency, the time between polls. Counted per poll and
//! per fetch response with relaxed atomics, copied out by
//! [`FetchClient::stats`](crate::FetchClient::stats).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::TopicPartition;
use crate::histogram::{DURATION_BOUNDS_NS, Histogram, HistogramSnapshot};

/// The counters a [`FetchClient`](crate::FetchClient) keeps.
#[derive(Debug)]
pub struct FetchStats {
    polls: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    fetch_requests: AtomicU64,
    fetch_errors: AtomicU64,
    fetch_latency: Histogram,
    poll_interval: Histogram,
}

impl Default for FetchStats {
    fn default() -> Self {
        FetchStats {
            polls: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            fetch_requests: AtomicU64::new(0),
            fetch_errors: AtomicU64::new(0),
            fetch_latency: Histogram::durations(),
            poll_interval: Histogram::durations(),
        }
    }
}

impl FetchStats {
    /// A poll returned `records` records.
    pub fn polled(&self, records: usize) {
        self.polls.fetch_add(1, Relaxed);
        self.records.fetch_add(records as u64, Relaxed);
    }

    /// A poll started `since` after the previous one returned.
    pub fn poll_interval(&self, since: Duration) {
        self.poll_interval.observe_duration(since);
    }

    /// A fetch request was sent.
    pub fn fetch_sent(&self) {
        self.fetch_requests.fetch_add(1, Relaxed);
    }

    /// A fetch was answered after `latency`, with `bytes` bytes of records
    /// for the partitions still wanting them.
    pub fn fetch_answered(&self, latency: Duration, bytes: usize) {
        self.fetch_latency.observe_duration(latency);
        self.bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// A fetch failed (the connection broke or timed out) after `latency`.
    pub fn fetch_failed(&self, latency: Duration) {
        self.fetch_latency.observe_duration(latency);
        self.fetch_errors.fetch_add(1, Relaxed);
    }

    /// A copy of the counters, with `partitions` (the client's view of its
    /// assigned partitions) attached.
    pub fn snapshot(&self, partitions: Vec<PartitionStats>) -> FetchStatsSnapshot {
        FetchStatsSnapshot {
            polls: self.polls.load(Relaxed),
            records: self.records.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            fetch_requests: self.fetch_requests.load(Relaxed),
            fetch_errors: self.fetch_errors.load(Relaxed),
            fetch_latency: self.fetch_latency.snapshot(),
            poll_interval: self.poll_interval.snapshot(),
            partitions,
        }
    }
}

/// One assigned partition as the fetch client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStats {
    /// The partition.
    pub tp: TopicPartition,
    /// The next offset a poll returns, once known.
    pub position: Option<i64>,
    /// The high watermark of the last fetch response, once one came.
    pub high_watermark: Option<i64>,
    /// High watermark minus position, when both are known (never negative).
    pub lag: Option<i64>,
}

/// The fetch client's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchStatsSnapshot {
    /// Polls that returned (with records or not).
    pub polls: u64,
    /// Records returned by polls.
    pub records: u64,
    /// Bytes of record batches received in fetch responses (as on the
    /// wire, compressed or not).
    pub bytes: u64,
    /// Fetch requests sent.
    pub fetch_requests: u64,
    /// Fetch requests that failed without an answer.
    pub fetch_errors: u64,
    /// Time from sending a fetch to its answer (or failure), in nanoseconds.
    pub fetch_latency: HistogramSnapshot,
    /// Time from a poll returning to the next poll starting, in nanoseconds:
    /// what the application spends on the records between polls.
    pub poll_interval: HistogramSnapshot,
    /// The assigned partitions, in order.
    pub partitions: Vec<PartitionStats>,
}

impl Default for FetchStatsSnapshot {
    fn default() -> Self {
        FetchStatsSnapshot {
            polls: 0,
            records: 0,
            bytes: 0,
            fetch_requests: 0,
            fetch_errors: 0,
            fetch_latency: HistogramSnapshot::empty(DURATION_BOUNDS_NS),
            poll_interval: HistogramSnapshot::empty(DURATION_BOUNDS_NS),
            partitions: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_polls_fetches_and_bytes() {
        let stats = FetchStats::default();
        stats.polled(500);
        stats.polled(0);
        stats.fetch_sent();
        stats.fetch_sent();
        stats.fetch_answered(Duration::from_millis(2), 4096);
        stats.fetch_failed(Duration::from_secs(31));
        stats.poll_interval(Duration::from_millis(20));
        let s = stats.snapshot(Vec::new());
        assert_eq!((s.polls, s.records, s.bytes), (2, 500, 4096));
        assert_eq!((s.fetch_requests, s.fetch_errors), (2, 1));
        assert_eq!(s.fetch_latency.count(), 2);
        assert_eq!(s.fetch_latency.sum, 31_002_000_000);
        assert_eq!(s.poll_interval.count(), 1);
        assert_eq!(FetchStatsSnapshot::default().records, 0);
    }
}
