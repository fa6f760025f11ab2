//! The incremental cooperative protocol (KIP-429) in the membership: which
//! protocol a member speaks, the owned/assigned difference after SyncGroup,
//! partitions lost when the member's generation is gone, and the leader's
//! check that no partition moves directly between members.

use std::collections::BTreeSet;

use sluice_fetch::TopicPartition;

use super::{Action, Membership};
use crate::assignor::{Assignment, Assignor, Member, RebalanceProtocol};
use crate::error::GroupError;

/// The newest rebalance protocol every one of `assignors` supports (the
/// Java client's `ConsumerCoordinator` rule): `[cooperative-sticky, range]`
/// is eager, `[cooperative-sticky]` cooperative. No assignor, or none in
/// common: eager.
pub fn protocol_of(assignors: &[Box<dyn Assignor>]) -> RebalanceProtocol {
    if !assignors.is_empty()
        && assignors.iter().all(|a| {
            a.supported_protocols()
                .contains(&RebalanceProtocol::Cooperative)
        })
    {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

/// The partitions the assignment gives to one member while another says it
/// owns them (revoked from one and added to another in the same round), in
/// order. Empty for a valid cooperative assignment.
pub fn moved_directly(members: &[Member], assignment: &Assignment) -> Vec<TopicPartition> {
    let empty = Vec::new();
    let mut added = BTreeSet::new();
    let mut revoked = BTreeSet::new();
    for m in members {
        let assigned = assignment.get(&m.member_id).unwrap_or(&empty);
        added.extend(
            assigned
                .iter()
                .filter(|tp| !m.owned_partitions.contains(tp))
                .cloned(),
        );
        revoked.extend(
            m.owned_partitions
                .iter()
                .filter(|tp| !assigned.contains(tp))
                .cloned(),
        );
    }
    added.intersection(&revoked).cloned().collect()
}

impl Membership {
    /// The rebalance protocol this member speaks.
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    /// Cooperative SyncGroup: owns `assigned` from now on; revokes what it
    /// owned and lost (the rejoin for the second round waits for it) and
    /// returns what is new.
    pub(super) fn cooperative_sync(
        &mut self,
        assigned: Vec<TopicPartition>,
    ) -> Vec<TopicPartition> {
        let revoked: Vec<TopicPartition> = self
            .owned
            .iter()
            .filter(|tp| !assigned.contains(tp))
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = assigned
            .iter()
            .filter(|tp| !self.owned.contains(tp))
            .cloned()
            .collect();
        self.owned = assigned;
        if !revoked.is_empty() {
            tracing::info!(group = %self.config.group_id, revoked = revoked.len(), "cooperative rebalance: revoking what moved, then rejoining");
            self.start_revoke(revoked);
            self.rejoin_needed = true;
        }
        added
    }

    /// Queues a revoke of `tps` (removed from `owned` by
    /// [`Membership::revoke_done`]); joins wait for it.
    pub(super) fn start_revoke(&mut self, tps: Vec<TopicPartition>) {
        self.revoking = tps.clone();
        self.revoke_pending = true;
        self.revoke_emitted = true;
        self.outbox.push_back(Action::Revoke(tps));
    }

    /// Cooperative only: the member's generation is gone (fenced, unknown,
    /// session or poll interval expired), so what it owns may be someone
    /// else's already: the partitions are lost, handed back with no commit.
    /// Eager members revoke before rejoining instead, as before.
    pub(super) fn lose_all(&mut self, why: &str) {
        if self.protocol != RebalanceProtocol::Cooperative || self.owned.is_empty() {
            return;
        }
        let lost = std::mem::take(&mut self.owned);
        tracing::warn!(group = %self.config.group_id, partitions = lost.len(), why, "partitions lost");
        self.outbox.push_back(Action::Lose(lost));
    }

    /// Cooperative only: before joining, revoke partitions of topics no longer
    /// subscribed (the Java client's `onJoinPrepare`); `true` when one was queued.
    pub(super) fn revoke_unsubscribed(&mut self) -> bool {
        let gone: Vec<TopicPartition> = self
            .owned
            .iter()
            .filter(|tp| !self.topics.iter().any(|t| **t == *tp.topic))
            .cloned()
            .collect();
        if gone.is_empty() {
            return false;
        }
        self.start_revoke(gone);
        true
    }

    /// FENCED_INSTANCE_ID: another consumer runs with this `group.instance.id`.
    pub(super) fn fenced_error(&self) -> GroupError {
        GroupError::FencedInstanceId {
            group: self.config.group_id.clone(),
            instance_id: self.config.group_instance_id.clone().unwrap_or_default(),
        }
    }

    /// What each assignor puts in this member's subscription: the owned
    /// partitions (cooperative) or the last assignment (eager, as the Java
    /// client's sticky assignor remembers it), with their generation.
    pub(super) fn user_data_input(&self) -> (&[TopicPartition], i32) {
        match self.protocol {
            RebalanceProtocol::Cooperative => (&self.owned, self.generation.generation_id),
            RebalanceProtocol::Eager => (&self.last_assignment.0, self.last_assignment.1),
        }
    }
}
