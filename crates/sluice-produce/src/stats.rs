//! The producer's counters: records and bytes written, produce requests,
//! records that failed. Counted per batch (and per failed record) with
//! relaxed atomics in the background task, copied out by
//! [`Producer::stats`](crate::Producer::stats).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The counters a [`Producer`](crate::Producer) keeps (shared by its clones).
#[derive(Debug, Default)]
pub struct ProducerStats {
    records: AtomicU64,
    bytes: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
}

impl ProducerStats {
    /// A produce request was sent.
    pub fn request_sent(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    /// A batch of `records` records, `bytes` bytes encoded, was acknowledged.
    pub fn delivered(&self, records: usize, bytes: usize) {
        self.records.fetch_add(records as u64, Relaxed);
        self.bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// A record failed for good.
    pub fn failed(&self) {
        self.errors.fetch_add(1, Relaxed);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> ProducerStatsSnapshot {
        ProducerStatsSnapshot {
            records: self.records.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            requests: self.requests.load(Relaxed),
            errors: self.errors.load(Relaxed),
        }
    }
}

/// The producer's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerStatsSnapshot {
    /// Records acknowledged (or sent, with `acks=0`).
    pub records: u64,
    /// Bytes of the record batches those records went in (encoded and
    /// compressed, as sent).
    pub bytes: u64,
    /// Produce requests sent (retries included).
    pub requests: u64,
    /// Records that failed for good (refused, timed out, unknown topic or
    /// partition).
    pub errors: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_batches_requests_and_failures() {
        let stats = ProducerStats::default();
        stats.request_sent();
        stats.request_sent();
        stats.delivered(3, 120);
        stats.delivered(1, 70);
        stats.failed();
        assert_eq!(
            stats.snapshot(),
            ProducerStatsSnapshot {
                records: 4,
                bytes: 190,
                requests: 2,
                errors: 1
            }
        );
    }
}
