//! Exponential retry backoff (KIP-580), sans-I/O: per key (a broker, a
//! partition) how many attempts in a row failed and until when the next one
//! waits. The wait starts at a base (`retry.backoff.ms`) and doubles with
//! each further failure up to a cap (`retry.backoff.max.ms`), as the Java
//! client's `ExponentialBackoff` does (without its jitter, so a driver's
//! schedule can be checked); a success starts the key over.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    until: Instant,
}

/// Retry waits per key.
#[derive(Debug, Clone)]
pub struct Backoff<K> {
    max: Duration,
    entries: HashMap<K, Entry>,
}

impl<K: Eq + Hash + Clone> Backoff<K> {
    /// No key waiting; no wait ever longer than `max`.
    pub fn new(max: Duration) -> Self {
        Backoff {
            max,
            entries: HashMap::new(),
        }
    }

    /// An attempt for `key` failed at `now`: it waits `base` after its first
    /// failure in a row, twice that after the second, and so on up to the
    /// cap. Returns the wait.
    pub fn failed(&mut self, key: K, base: Duration, now: Instant) -> Duration {
        let entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            until: now,
        });
        let factor = 1u32.checked_shl(entry.failures).unwrap_or(u32::MAX);
        let wait = base.saturating_mul(factor).min(self.max.max(base));
        entry.failures = entry.failures.saturating_add(1);
        entry.until = entry.until.max(now + wait);
        wait
    }

    /// Holds `key` until `until` without counting a failure (a broker's
    /// throttle time).
    pub fn hold(&mut self, key: K, until: Instant) {
        let entry = self
            .entries
            .entry(key)
            .or_insert(Entry { failures: 0, until });
        entry.until = entry.until.max(until);
    }

    /// An attempt for `key` succeeded: the next failure waits `base` again.
    /// A hold still running (a throttle) is kept.
    pub fn succeeded(&mut self, key: &K, now: Instant) {
        match self.entries.get_mut(key) {
            Some(entry) if entry.until > now => entry.failures = 0,
            Some(_) => {
                self.entries.remove(key);
            }
            None => {}
        }
    }

    /// Whether `key` must still wait at `now`.
    pub fn waiting(&self, key: &K, now: Instant) -> bool {
        self.entries.get(key).is_some_and(|e| e.until > now)
    }

    /// Failures in a row for `key`.
    pub fn failures(&self, key: &K) -> u32 {
        self.entries.get(key).map_or(0, |e| e.failures)
    }

    /// The earliest time after `now` a waiting key may go again.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        self.entries
            .values()
            .map(|e| e.until)
            .filter(|until| *until > now)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(100);

    #[test]
    fn waits_double_up_to_the_cap_and_start_over_after_a_success() {
        let mut b = Backoff::new(Duration::from_millis(1000));
        let t0 = Instant::now();
        let waits: Vec<u128> = (0..7)
            .map(|i| b.failed(1, BASE, t0 + Duration::from_secs(i)).as_millis())
            .collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(b.failures(&1), 7);
        let t = t0 + Duration::from_secs(10);
        assert!(!b.waiting(&1, t));
        b.succeeded(&1, t);
        assert_eq!(b.failures(&1), 0);
        assert_eq!(b.failed(1, BASE, t), BASE);
    }

    #[test]
    fn a_key_waits_until_its_time_and_others_do_not() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let t0 = Instant::now();
        b.failed("a", BASE, t0);
        assert!(b.waiting(&"a", t0 + Duration::from_millis(99)));
        assert!(!b.waiting(&"a", t0 + BASE));
        assert!(!b.waiting(&"b", t0));
        assert_eq!(b.next_wake(t0), Some(t0 + BASE));
        assert_eq!(b.next_wake(t0 + BASE), None);
    }

    #[test]
    fn a_hold_neither_counts_a_failure_nor_ends_with_a_success() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let t0 = Instant::now();
        b.hold(7, t0 + Duration::from_millis(400));
        assert_eq!(b.failures(&7), 0);
        b.succeeded(&7, t0);
        assert!(b.waiting(&7, t0 + Duration::from_millis(399)));
        assert!(!b.waiting(&7, t0 + Duration::from_millis(400)));
    }

    #[test]
    fn a_cap_below_the_base_leaves_the_base() {
        let mut b = Backoff::new(Duration::from_millis(10));
        let t0 = Instant::now();
        assert_eq!(b.failed(1, BASE, t0), BASE);
        assert_eq!(b.failed(1, BASE, t0 + BASE), BASE);
    }
}
