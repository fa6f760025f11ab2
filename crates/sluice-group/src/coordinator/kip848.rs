//! The coordinator task with either group protocol: [`Machine`] is the
//! classic [`Membership`] or KIP-848's [`ConsumerMembership`], behind the
//! calls the task makes, and the task's handling of the consumer
//! protocol's actions and answers.

use std::time::Duration;

use kafka_protocol::messages::{
    ApiKey, ConsumerGroupHeartbeatResponse, FindCoordinatorResponse, HeartbeatResponse,
    JoinGroupResponse, MetadataResponse, SyncGroupResponse,
};
use sluice_fetch::cluster::{BrokerAddr, Cluster};
use sluice_wire::KafkaCode;
use std::collections::BTreeMap;
use std::time::Instant;

use super::{Coordinator, GroupEvent, Net};
use crate::assignor::RebalanceProtocol;
use crate::consumer_protocol::{self, ConsumerAction, ConsumerMembership, ConsumerRequest};
use crate::error::GroupError;
use crate::membership::{Action, Generation, Membership, RequestKind};
use crate::stats::RebalanceKind;

type Result<T, E = GroupError> = std::result::Result<T, E>;

/// The membership state machine the task drives.
#[derive(Debug)]
pub(crate) enum Machine {
    /// `group.protocol=classic`.
    Classic(Membership),
    /// `group.protocol=consumer` (KIP-848).
    Consumer(ConsumerMembership),
}

/// An action of either machine.
pub(crate) enum MachineAction {
    Classic(Action),
    Consumer(ConsumerAction),
}

impl MachineAction {
    /// Whether the member is leaving (close waits for the answer).
    pub(crate) fn is_leave(&self) -> bool {
        matches!(
            self,
            MachineAction::Classic(Action::Leave(_))
                | MachineAction::Consumer(ConsumerAction::Leave(_))
        )
    }
}

/// The consumer protocol's answers.
pub(crate) enum Kip848Net {
    Heartbeat(Result<ConsumerGroupHeartbeatResponse>),
    TopicIds(Result<MetadataResponse>),
}

impl From<Membership> for Machine {
    fn from(m: Membership) -> Self {
        Machine::Classic(m)
    }
}

impl From<ConsumerMembership> for Machine {
    fn from(m: ConsumerMembership) -> Self {
        Machine::Consumer(m)
    }
}

/// Delegates a call both machines answer.
macro_rules! both {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            Machine::Classic($m) => $e,
            Machine::Consumer($m) => $e,
        }
    };
}

impl Machine {
    pub(crate) fn poll_action(&mut self, now: Instant) -> Option<MachineAction> {
        match self {
            Machine::Classic(m) => m.poll_action(now).map(MachineAction::Classic),
            Machine::Consumer(m) => m.poll_action(now).map(MachineAction::Consumer),
        }
    }
    pub(crate) fn take_error(&mut self) -> Option<GroupError> {
        both!(self, m => m.take_error())
    }
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        both!(self, m => m.poll_timeout())
    }
    pub(crate) fn close(&mut self) {
        both!(self, m => m.close())
    }
    pub(crate) fn on_poll_started(&mut self, now: Instant) {
        both!(self, m => m.on_poll_started(now))
    }
    pub(crate) fn on_poll(&mut self, now: Instant) {
        both!(self, m => m.on_poll(now))
    }
    pub(crate) fn subscribe(&mut self, topics: Vec<String>) {
        both!(self, m => m.subscribe(topics))
    }
    /// Consumer protocol only: the consumer refuses a pattern with classic.
    pub(crate) fn subscribe_pattern(&mut self, pattern: String) {
        if let Machine::Consumer(m) = self {
            m.subscribe_pattern(pattern)
        }
    }
    /// Classic only: the coordinator notices new partitions itself under KIP-848.
    pub(crate) fn on_partition_counts(&mut self, counts: BTreeMap<String, usize>) {
        if let Machine::Classic(m) = self {
            m.on_partition_counts(counts)
        }
    }
    pub(crate) fn revoke_done(&mut self) {
        both!(self, m => m.revoke_done())
    }
    /// The consumer finished an assignment (the consumer protocol acknowledges it).
    pub(crate) fn assign_done(&mut self) {
        if let Machine::Consumer(m) = self {
            m.assign_done()
        }
    }
    pub(crate) fn group(&self) -> &str {
        both!(self, m => m.group())
    }
    pub(crate) fn coordinator(&self) -> Option<&BrokerAddr> {
        both!(self, m => m.coordinator())
    }
    /// How partitions move in a rebalance: the classic member's protocol;
    /// the consumer protocol moves them incrementally, as cooperative does.
    pub(crate) fn rebalance_protocol(&self) -> RebalanceProtocol {
        match self {
            Machine::Classic(m) => m.rebalance_protocol(),
            Machine::Consumer(_) => RebalanceProtocol::Cooperative,
        }
    }
    /// A commit sent in generation (or epoch) `sent` was refused with `code`;
    /// the classic member ignores answers about a generation it has left.
    pub(crate) fn on_commit_error_in(&mut self, code: KafkaCode, sent: i32, now: Instant) {
        match self {
            Machine::Classic(m) => m.on_commit_error_in(code, sent, now),
            Machine::Consumer(m) => m.on_commit_error(code, now),
        }
    }
    /// The generation (classic) or member epoch (consumer) commits carry.
    pub(crate) fn generation(&self) -> &Generation {
        both!(self, m => m.generation())
    }
    pub(crate) fn coordinator_dead(&mut self) {
        both!(self, m => m.coordinator_dead())
    }
    /// Whether a commit refused with `code` is sent again: under the consumer
    /// protocol STALE_MEMBER_EPOCH means the epoch moved on while the commit
    /// was on its way (a heartbeat answer brings the new one), and the commit
    /// goes again with it, as the Java client's does.
    pub(crate) fn retries_commit(&self, code: KafkaCode) -> bool {
        matches!(self, Machine::Consumer(_)) && code == KafkaCode::STALE_MEMBER_EPOCH
    }
    pub(crate) fn on_find_coordinator(&mut self, r: &FindCoordinatorResponse, now: Instant) {
        both!(self, m => m.on_find_coordinator(r, now))
    }
    pub(crate) fn on_request_failed(&mut self, kind: RequestKind, now: Instant) {
        match self {
            Machine::Classic(m) => m.on_request_failed(kind, now),
            Machine::Consumer(m) => m.on_request_failed(ConsumerRequest::FindCoordinator, now),
        }
    }
    pub(crate) fn on_join(&mut self, r: &JoinGroupResponse, now: Instant) {
        if let Machine::Classic(m) = self {
            m.on_join(r, now)
        }
    }
    pub(crate) fn assign(&mut self, counts: &BTreeMap<String, i32>) {
        if let Machine::Classic(m) = self {
            m.assign(counts)
        }
    }
    pub(crate) fn on_assign_failed(&mut self, now: Instant) {
        if let Machine::Classic(m) = self {
            m.on_assign_failed(now)
        }
    }
    pub(crate) fn on_sync(&mut self, r: &SyncGroupResponse, now: Instant) {
        if let Machine::Classic(m) = self {
            m.on_sync(r, now)
        }
    }
    pub(crate) fn on_heartbeat(&mut self, r: &HeartbeatResponse, now: Instant) {
        if let Machine::Classic(m) = self {
            m.on_heartbeat(r, now)
        }
    }
}

impl Coordinator {
    /// Carries out an action of either machine.
    pub(super) fn run_action(&mut self, action: MachineAction) {
        match action {
            MachineAction::Classic(a) => self.execute(a),
            MachineAction::Consumer(a) => self.execute_kip848(a),
        }
    }

    fn execute_kip848(&mut self, action: ConsumerAction) {
        match action {
            ConsumerAction::FindCoordinator(request) => {
                self.execute(Action::FindCoordinator(request))
            }
            ConsumerAction::Heartbeat(request) => self.to_coordinator(
                move |v| consumer_protocol::fit(request, v),
                None,
                |r| Net::Kip848(Kip848Net::Heartbeat(r)),
            ),
            ConsumerAction::Leave(request) => {
                let timeout = self.request_timeout.min(Duration::from_secs(5));
                self.to_coordinator(
                    move |v| consumer_protocol::fit(request, v),
                    Some(timeout),
                    |_| Net::Left,
                );
            }
            ConsumerAction::ResolveTopics(topics) => {
                let pool = self.pool.clone();
                let tx = self.net_tx.clone();
                let request = match &topics {
                    Some(topics) => Cluster::request_for(Some(topics.iter().map(String::as_str))),
                    None => Cluster::request_for(None::<[&str; 0]>),
                };
                tokio::spawn(async move {
                    let result = async {
                        let conn = pool.least_loaded().await?;
                        // Topic ids are in Metadata from v10.
                        let version = conn.versions().negotiate(ApiKey::Metadata)?;
                        Ok(conn.send_version(request, version).await?)
                    }
                    .await;
                    let _ = tx.send(Net::Kip848(Kip848Net::TopicIds(result)));
                });
            }
            ConsumerAction::Revoke(tps) => {
                // Reconciling a new target assignment begins.
                self.rebalance_started
                    .get_or_insert_with(tokio::time::Instant::now);
                self.execute(Action::Revoke(tps))
            }
            ConsumerAction::Lose(tps) => {
                self.stats.rebalance.lost(tps.len());
                // The consumer drops lost partitions at once and commits
                // nothing of them (GroupEvent::Lose has no answer): the
                // machine may rejoin at epoch 0 now. Its next assignment
                // reaches the consumer after the loss, in order.
                let _ = self.events.send(GroupEvent::Lose(tps));
                self.membership.revoke_done();
            }
            ConsumerAction::Assign(tps) => {
                let took = self.rebalance_started.take().map(|s| s.elapsed());
                self.stats.rebalanced(took.unwrap_or_default());
                self.stats.generation.set(self.membership.generation());
                let m = &self.membership;
                self.stats.rebalance.finished(
                    m.group(),
                    RebalanceKind::Consumer,
                    m.generation().generation_id,
                    tps.len(),
                    took,
                );
                let _ = self.events.send(GroupEvent::Assign(tps));
            }
        }
    }

    /// Handles an answer of the consumer protocol.
    pub(super) fn on_kip848(&mut self, net: Kip848Net) {
        let now = Instant::now();
        let Machine::Consumer(m) = &mut self.membership else {
            return;
        };
        match net {
            Kip848Net::Heartbeat(Ok(r)) => {
                m.on_heartbeat(&r, now);
                // KIP-447's group metadata under the consumer protocol: the
                // member epoch stands for the generation, and moves with
                // heartbeats, not only with assignments.
                self.stats.generation.set(m.generation());
            }
            Kip848Net::Heartbeat(Err(e)) => {
                tracing::warn!(error = %e, "ConsumerGroupHeartbeat failed");
                m.on_heartbeat_failed(&e, now)
            }
            Kip848Net::TopicIds(Ok(r)) => {
                let ids = r.topics.iter().filter_map(|t| {
                    let name = t.name.as_ref()?;
                    (t.error_code == 0).then(|| (t.topic_id, name.0.to_string()))
                });
                m.on_topic_ids(ids.collect::<Vec<_>>())
            }
            Kip848Net::TopicIds(Err(e)) => {
                tracing::warn!(error = %e, "metadata for the assignment's topic ids failed");
                m.on_request_failed(ConsumerRequest::Metadata, now)
            }
        }
    }
}
