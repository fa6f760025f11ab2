//! A histogram with fixed buckets in relaxed atomics, for the metrics of the
//! consumer, producer and pipeline: observed once per fetch, commit, batch or
//! rebalance (never per record), read by [`Histogram::snapshot`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Bucket bounds for durations, in nanoseconds: 1 ms to 60 s.
pub const DURATION_BOUNDS_NS: &[u64] = &[
    1_000_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
    60_000_000_000,
];

/// Bucket bounds for sizes counted in records: 1 to 100 000.
pub const COUNT_BOUNDS: &[u64] = &[
    1, 10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 100_000,
];

/// Counts observations into buckets with fixed upper bounds (in the
/// histogram's unit: nanoseconds for durations, records for sizes), plus
/// their sum. Shared by reference; every update is a relaxed atomic add.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// One per bound, then one for larger values (`+Inf`).
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram over `bounds` (ascending upper bounds, inclusive).
    pub fn new(bounds: &'static [u64]) -> Self {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// A histogram of durations ([`DURATION_BOUNDS_NS`]).
    pub fn durations() -> Self {
        Self::new(DURATION_BOUNDS_NS)
    }

    /// A histogram of record counts ([`COUNT_BOUNDS`]).
    pub fn counts() -> Self {
        Self::new(COUNT_BOUNDS)
    }

    /// Counts one value.
    pub fn observe(&self, value: u64) {
        let i = self.bounds.partition_point(|&b| b < value);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum.fetch_add(value, Relaxed);
    }

    /// Counts one duration, in nanoseconds (saturating past 584 years).
    pub fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            buckets: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            sum: self.sum.load(Relaxed),
        }
    }
}

/// The counts of a [`Histogram`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// The buckets' upper bounds (inclusive), in the histogram's unit.
    pub bounds: &'static [u64],
    /// Observations per bucket (not cumulative): one per bound, then the
    /// count above the last bound.
    pub buckets: Vec<u64>,
    /// The sum of every observed value.
    pub sum: u64,
}

impl HistogramSnapshot {
    /// An empty snapshot over `bounds`.
    pub fn empty(bounds: &'static [u64]) -> Self {
        Histogram::new(bounds).snapshot()
    }

    /// How many values were observed.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Per bound, the observations at or below it (Prometheus' `le`
    /// buckets, without `+Inf`, which is [`HistogramSnapshot::count`]).
    pub fn cumulative(&self) -> Vec<(u64, u64)> {
        let mut total = 0;
        self.bounds
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, &n)| {
                total += n;
                (bound, total)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_at_or_above_them() {
        let h = Histogram::new(&[10, 100]);
        for v in [0, 10, 11, 100, 101, 5000] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![2, 2, 2]);
        assert_eq!(s.sum, 5222);
        assert_eq!(s.count(), 6);
        assert_eq!(s.cumulative(), vec![(10, 2), (100, 4)]);
    }

    #[test]
    fn durations_count_in_nanoseconds() {
        let h = Histogram::durations();
        h.observe_duration(Duration::from_millis(3));
        h.observe_duration(Duration::from_secs(120));
        let s = h.snapshot();
        assert_eq!(s.buckets[1], 1, "3 ms is in the 5 ms bucket");
        assert_eq!(s.buckets[DURATION_BOUNDS_NS.len()], 1, "+Inf");
        assert_eq!(s.sum, 120_003_000_000);
        assert_eq!(HistogramSnapshot::empty(COUNT_BOUNDS).count(), 0);
    }
}
