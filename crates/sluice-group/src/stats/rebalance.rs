//! Per-rebalance counters: the protocol (eager or cooperative), the
//! generation joined, and partitions revoked, assigned and lost, for the
//! last rebalance and in all. Relaxed atomics written by the coordinator
//! task, copied out with the consumer's stats.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::assignor::RebalanceProtocol;

/// The counters (see [`RebalanceStatsSnapshot`]).
#[derive(Debug)]
pub struct RebalanceStats {
    cooperative: AtomicU64,
    eager: AtomicU64,
    generation: AtomicI64,
    revoked: AtomicU64,
    assigned: AtomicU64,
    lost: AtomicU64,
    round_revoked: AtomicU64,
    round_lost: AtomicU64,
    last: [AtomicU64; 3],
}

impl Default for RebalanceStats {
    fn default() -> Self {
        RebalanceStats {
            cooperative: AtomicU64::new(0),
            eager: AtomicU64::new(0),
            generation: AtomicI64::new(-1),
            revoked: AtomicU64::new(0),
            assigned: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            round_revoked: AtomicU64::new(0),
            round_lost: AtomicU64::new(0),
            last: Default::default(),
        }
    }
}

impl RebalanceStats {
    /// `n` partitions are being revoked.
    pub fn revoking(&self, n: usize) {
        self.revoked.fetch_add(n as u64, Relaxed);
        self.round_revoked.fetch_add(n as u64, Relaxed);
    }

    /// `n` partitions were lost.
    pub fn lost(&self, n: usize) {
        self.lost.fetch_add(n as u64, Relaxed);
        self.round_lost.fetch_add(n as u64, Relaxed);
    }

    /// A rebalance ended in `generation` with `assigned` new partitions,
    /// `took` after it began; logs it (info) with what it revoked and lost.
    pub fn finished(
        &self,
        group: &str,
        protocol: RebalanceProtocol,
        generation: i32,
        assigned: usize,
        took: Option<Duration>,
    ) {
        match protocol {
            RebalanceProtocol::Eager => self.eager.fetch_add(1, Relaxed),
            RebalanceProtocol::Cooperative => self.cooperative.fetch_add(1, Relaxed),
        };
        self.generation.store(generation.into(), Relaxed);
        self.assigned.fetch_add(assigned as u64, Relaxed);
        let revoked = self.round_revoked.swap(0, Relaxed);
        let lost = self.round_lost.swap(0, Relaxed);
        for (slot, v) in self.last.iter().zip([revoked, assigned as u64, lost]) {
            slot.store(v, Relaxed);
        }
        tracing::info!(
            group,
            kind = kind_name(protocol),
            generation,
            duration_ms = took.map(|t| t.as_millis() as u64),
            revoked,
            assigned,
            lost,
            "rebalance done"
        );
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> RebalanceStatsSnapshot {
        let (eager, cooperative) = (self.eager.load(Relaxed), self.cooperative.load(Relaxed));
        RebalanceStatsSnapshot {
            eager,
            cooperative,
            generation: i32::try_from(self.generation.load(Relaxed))
                .ok()
                .filter(|g| *g >= 0),
            revoked: self.revoked.load(Relaxed),
            assigned: self.assigned.load(Relaxed),
            lost: self.lost.load(Relaxed),
            last_revoked: self.last[0].load(Relaxed),
            last_assigned: self.last[1].load(Relaxed),
            last_lost: self.last[2].load(Relaxed),
        }
    }
}

/// `eager` or `cooperative`, as logs and metrics name the protocol.
pub fn kind_name(protocol: RebalanceProtocol) -> &'static str {
    match protocol {
        RebalanceProtocol::Eager => "eager",
        RebalanceProtocol::Cooperative => "cooperative",
    }
}

/// Rebalances as counted by one member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebalanceStatsSnapshot {
    /// Eager rebalances (every partition revoked first).
    pub eager: u64,
    /// Cooperative rebalances (KIP-429; each round counts).
    pub cooperative: u64,
    /// The generation last joined, once joined.
    pub generation: Option<i32>,
    /// Partitions revoked, in all.
    pub revoked: u64,
    /// Partitions assigned, in all (cooperative: only new ones count).
    pub assigned: u64,
    /// Partitions lost (cooperative: fenced, session or poll interval expired).
    pub lost: u64,
    /// Partitions the last rebalance revoked.
    pub last_revoked: u64,
    /// Partitions the last rebalance assigned.
    pub last_assigned: u64,
    /// Partitions lost before the last rebalance.
    pub last_lost: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_round_and_the_totals() {
        let s = RebalanceStats::default();
        assert_eq!(s.snapshot().generation, None);
        s.finished("g", RebalanceProtocol::Eager, 1, 3, None);
        s.revoking(1);
        s.finished("g", RebalanceProtocol::Cooperative, 2, 0, None);
        s.lost(2);
        s.finished(
            "g",
            RebalanceProtocol::Cooperative,
            3,
            2,
            Some(Duration::from_millis(5)),
        );
        let snap = s.snapshot();
        assert_eq!(
            (snap.eager, snap.cooperative, snap.generation),
            (1, 2, Some(3))
        );
        assert_eq!((snap.revoked, snap.assigned, snap.lost), (1, 5, 2));
        assert_eq!(
            (snap.last_revoked, snap.last_assigned, snap.last_lost),
            (0, 2, 2)
        );
    }
}
