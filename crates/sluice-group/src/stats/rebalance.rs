//! Per-rebalance counters: the kind (eager, cooperative, or the KIP-848
//! consumer protocol), the generation joined, partitions revoked, assigned
//! and lost, and how long records stopped, for the last rebalance and in
//! all. Relaxed atomics written by the coordinator
//! task, copied out with the consumer's stats.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::assignor::RebalanceProtocol;

/// What kind of rebalance a member went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceKind {
    /// Classic protocol, eager: everything revoked first.
    Eager,
    /// Classic protocol, cooperative (KIP-429).
    Cooperative,
    /// The consumer protocol (KIP-848): the coordinator reconciles.
    Consumer,
}

impl From<RebalanceProtocol> for RebalanceKind {
    fn from(p: RebalanceProtocol) -> Self {
        match p {
            RebalanceProtocol::Eager => RebalanceKind::Eager,
            RebalanceProtocol::Cooperative => RebalanceKind::Cooperative,
        }
    }
}

/// Not known yet.
const UNKNOWN: u64 = u64::MAX;

/// The counters (see [`RebalanceStatsSnapshot`]).
#[derive(Debug)]
pub struct RebalanceStats {
    cooperative: AtomicU64,
    eager: AtomicU64,
    consumer: AtomicU64,
    pauses: AtomicU64,
    pause_ns: AtomicU64,
    last_pause_ns: AtomicU64,
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
            consumer: AtomicU64::new(0),
            pauses: AtomicU64::new(0),
            pause_ns: AtomicU64::new(0),
            last_pause_ns: AtomicU64::new(UNKNOWN),
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

    /// A rebalance stopped this member's records for `pause` (0 when it
    /// kept fetching what it kept).
    pub fn paused(&self, pause: Duration) {
        let ns = u64::try_from(pause.as_nanos()).unwrap_or(UNKNOWN - 1);
        self.pauses.fetch_add(1, Relaxed);
        self.pause_ns.fetch_add(ns, Relaxed);
        self.last_pause_ns.store(ns, Relaxed);
        tracing::info!(
            pause_ms = pause.as_millis() as u64,
            "records flow again after the rebalance"
        );
    }

    /// A rebalance ended in `generation` (the member epoch under the consumer
    /// protocol) with `assigned` new partitions, `took` after it began; logs
    /// it (info) with what it revoked and lost.
    pub fn finished(
        &self,
        group: &str,
        kind: impl Into<RebalanceKind>,
        generation: i32,
        assigned: usize,
        took: Option<Duration>,
    ) {
        let kind = kind.into();
        match kind {
            RebalanceKind::Eager => self.eager.fetch_add(1, Relaxed),
            RebalanceKind::Cooperative => self.cooperative.fetch_add(1, Relaxed),
            RebalanceKind::Consumer => self.consumer.fetch_add(1, Relaxed),
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
            kind = kind_name(kind),
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
        let last_pause = self.last_pause_ns.load(Relaxed);
        RebalanceStatsSnapshot {
            eager,
            cooperative,
            consumer_protocol: self.consumer.load(Relaxed),
            pauses: self.pauses.load(Relaxed),
            pause_total: Duration::from_nanos(self.pause_ns.load(Relaxed)),
            last_pause: (last_pause != UNKNOWN).then(|| Duration::from_nanos(last_pause)),
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

/// `eager`, `cooperative` or `consumer` (KIP-848), as logs and metrics
/// name the kind of a rebalance.
pub fn kind_name(kind: impl Into<RebalanceKind>) -> &'static str {
    match kind.into() {
        RebalanceKind::Eager => "eager",
        RebalanceKind::Cooperative => "cooperative",
        RebalanceKind::Consumer => "consumer",
    }
}

/// Rebalances as counted by one member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebalanceStatsSnapshot {
    /// Eager rebalances (every partition revoked first).
    pub eager: u64,
    /// Cooperative rebalances (KIP-429; each round counts).
    pub cooperative: u64,
    /// Reconciliations under the consumer protocol (KIP-848) that ended in
    /// an assignment.
    pub consumer_protocol: u64,
    /// Rebalances that took partitions from a member that had some: each
    /// counts its pause (0 when it kept fetching).
    pub pauses: u64,
    /// The records-stopped time of those, in all.
    pub pause_total: Duration,
    /// How long the last of them stopped this member's records.
    pub last_pause: Option<Duration>,
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
