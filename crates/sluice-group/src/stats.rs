//! The group member's counters: commits (count, latency, failures),
//! rebalances (count and duration) and the group's members as last described.
//! Counted per commit and per rebalance with relaxed atomics in the
//! coordinator task, copied out by [`GroupConsumer::stats`](crate::GroupConsumer::stats).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

mod rebalance;

pub use rebalance::{RebalanceKind, RebalanceStats, RebalanceStatsSnapshot, kind_name};

use sluice_fetch::FetchStatsSnapshot;
use sluice_fetch::histogram::{Histogram, HistogramSnapshot};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Not known yet (members, group partitions, last rebalance).
const UNKNOWN: u64 = u64::MAX;

/// The counters of one group member.
#[derive(Debug)]
pub struct GroupStats {
    commits: AtomicU64,
    commit_failures: AtomicU64,
    commit_latency: Histogram,
    rebalances: AtomicU64,
    rebalance_duration: Histogram,
    last_rebalance_ns: AtomicU64,
    members: AtomicU64,
    /// The generation of the last assignment (for KIP-447's group metadata).
    pub(crate) generation: crate::group_metadata::GenerationSlot,
    /// Per-rebalance counters (protocol, generation, partitions moved).
    pub rebalance: RebalanceStats,
}

impl Default for GroupStats {
    fn default() -> Self {
        GroupStats {
            commits: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
            commit_latency: Histogram::durations(),
            rebalances: AtomicU64::new(0),
            rebalance_duration: Histogram::durations(),
            last_rebalance_ns: AtomicU64::new(UNKNOWN),
            members: AtomicU64::new(UNKNOWN),
            generation: Default::default(),
            rebalance: RebalanceStats::default(),
        }
    }
}

impl GroupStats {
    /// A commit was answered after `latency` (`ok`: every partition stored).
    pub fn committed(&self, latency: Duration, ok: bool) {
        self.commits.fetch_add(1, Relaxed);
        if !ok {
            self.commit_failures.fetch_add(1, Relaxed);
        }
        self.commit_latency.observe_duration(latency);
    }

    /// A rebalance ended with an assignment, `took` after it began (the
    /// first JoinGroup of the round).
    pub fn rebalanced(&self, took: Duration) {
        self.rebalances.fetch_add(1, Relaxed);
        self.rebalance_duration.observe_duration(took);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(UNKNOWN - 1);
        self.last_rebalance_ns.store(ns.min(UNKNOWN - 1), Relaxed);
    }

    /// The coordinator described the group with `members` members.
    pub fn described(&self, members: usize) {
        self.members.store(members as u64, Relaxed);
    }

    /// A copy of the counters; `assigned` is this member's partition count,
    /// `subscribed` the subscribed topics' (from metadata), once known.
    pub fn snapshot(&self, assigned: usize, subscribed: Option<usize>) -> GroupStatsSnapshot {
        let known = |v: u64| (v != UNKNOWN).then_some(v);
        GroupStatsSnapshot {
            commits: self.commits.load(Relaxed),
            commit_failures: self.commit_failures.load(Relaxed),
            commit_latency: self.commit_latency.snapshot(),
            rebalances: self.rebalances.load(Relaxed),
            rebalance_duration: self.rebalance_duration.snapshot(),
            last_rebalance: known(self.last_rebalance_ns.load(Relaxed)).map(Duration::from_nanos),
            assigned_partitions: assigned as u64,
            members: known(self.members.load(Relaxed)),
            group_partitions: subscribed.map(|n| n as u64),
        }
    }
}

/// A group member's counters at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStatsSnapshot {
    /// Offset commits answered (successes and failures).
    pub commits: u64,
    /// Commits that failed for good (after retries, or refused: a stale
    /// generation, a timeout, an authorization error).
    pub commit_failures: u64,
    /// Time from a commit being asked for to its answer, in nanoseconds.
    pub commit_latency: HistogramSnapshot,
    /// Rebalances this member went through (each ending in an assignment,
    /// the first join included).
    pub rebalances: u64,
    /// Time from a rebalance's first JoinGroup to its assignment, in
    /// nanoseconds.
    pub rebalance_duration: HistogramSnapshot,
    /// How long the last rebalance took.
    pub last_rebalance: Option<Duration>,
    /// The partitions assigned to this member.
    pub assigned_partitions: u64,
    /// The group's members, as the coordinator last described the group
    /// (after this member's last rebalance); `None` before that, or where
    /// the broker cannot describe groups.
    pub members: Option<u64>,
    /// The partitions of the subscribed topics, which the group shares out
    /// (from the consumer's metadata; brokers such as tansu leave the
    /// assignments out of DescribeGroups, so they are not counted from it).
    pub group_partitions: Option<u64>,
}

impl GroupStatsSnapshot {
    /// Members per partition of the subscribed topics (as
    /// [`GroupMetrics::members_per_partition`](crate::GroupMetrics)): below 1
    /// every member has work, above 1 some sit idle. `None` while unknown or
    /// with no partitions.
    pub fn members_per_partition(&self) -> Option<f64> {
        let (members, partitions) = (self.members?, self.group_partitions?);
        (partitions > 0).then(|| members as f64 / partitions as f64)
    }
}

impl Default for GroupStatsSnapshot {
    fn default() -> Self {
        GroupStats::default().snapshot(0, None)
    }
}

/// What [`GroupConsumer::stats`](crate::GroupConsumer::stats) returns: the
/// fetch client's counters and partitions, and the group's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerStats {
    /// Records, bytes, fetches, polls, per-partition position and lag.
    pub fetch: FetchStatsSnapshot,
    /// Commits, rebalances, the group's size.
    pub group: GroupStatsSnapshot,
    /// Rebalances by protocol, the generation, partitions revoked, assigned, lost.
    pub rebalance: RebalanceStatsSnapshot,
}

/// The reply to a commit, counted in [`GroupStats`] when it is sent.
pub(crate) struct CommitReply {
    tx: oneshot::Sender<Result<(), crate::GroupError>>,
    asked: Instant,
    stats: Arc<GroupStats>,
}

impl CommitReply {
    /// A reply for a commit asked for now.
    pub(crate) fn new(
        tx: oneshot::Sender<Result<(), crate::GroupError>>,
        stats: Arc<GroupStats>,
    ) -> Self {
        CommitReply {
            tx,
            asked: Instant::now(),
            stats,
        }
    }

    /// Counts the commit and answers it (the `Err` of a receiver gone, as
    /// `oneshot::Sender::send`).
    pub(crate) fn send(
        self,
        result: Result<(), crate::GroupError>,
    ) -> Result<(), Result<(), crate::GroupError>> {
        self.stats.committed(self.asked.elapsed(), result.is_ok());
        self.tx.send(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_commits_rebalances_and_the_ratio() {
        let stats = GroupStats::default();
        let s = stats.snapshot(0, Some(4));
        assert_eq!((s.members, s.last_rebalance), (None, None));
        assert_eq!(s.members_per_partition(), None);
        stats.committed(Duration::from_millis(4), true);
        stats.committed(Duration::from_millis(40), false);
        stats.rebalanced(Duration::from_millis(3100));
        stats.described(3);
        let s = stats.snapshot(2, Some(4));
        assert_eq!((s.commits, s.commit_failures), (2, 1));
        assert_eq!(s.commit_latency.count(), 2);
        assert_eq!(s.commit_latency.sum, 44_000_000);
        assert_eq!(s.rebalances, 1);
        assert_eq!(s.last_rebalance, Some(Duration::from_millis(3100)));
        assert_eq!((s.assigned_partitions, s.members), (2, Some(3)));
        assert_eq!(s.members_per_partition(), Some(0.75));
        assert_eq!(stats.snapshot(0, Some(0)).members_per_partition(), None);
        assert_eq!(stats.snapshot(0, None).members_per_partition(), None);
    }

    #[tokio::test]
    async fn a_commit_reply_counts_when_sent() {
        let stats = Arc::new(GroupStats::default());
        let (tx, rx) = oneshot::channel();
        let _ = CommitReply::new(tx, stats.clone()).send(Err(crate::GroupError::State("x".into())));
        assert!(rx.await.unwrap().is_err());
        let s = stats.snapshot(0, None);
        assert_eq!((s.commits, s.commit_failures), (1, 1));
    }
}
