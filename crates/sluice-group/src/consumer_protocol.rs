//! The KIP-848 consumer group protocol (`group.protocol=consumer`) as a
//! sans-I/O state machine, following the Java client's
//! `ConsumerMembershipManager` and `ConsumerHeartbeatRequestManager`.
//!
//! There is no JoinGroup or SyncGroup: the member heartbeats
//! (ConsumerGroupHeartbeat) and the coordinator computes the assignment
//! (with `group.remote.assignor` when set). Each answer carries the member
//! epoch and, when it changed, the member's target assignment, by topic id.
//! The member reconciles towards it one step at a time: it revokes what it
//! owns outside the target (after committing), then assigns what is new, and
//! says so in its next heartbeat by sending the partitions it now owns
//! (`TopicPartitions`). Fields that did not change since the last heartbeat
//! are sent as null.
//!
//! ```text
//!  Unjoined --epoch 0, full fields--> Joining --answer--> Stable (reconciling as targets come)
//!     ^                                                     |
//!     +---- lose done <-- Fenced <-- FENCED_MEMBER_EPOCH / UNKNOWN_MEMBER_ID
//!  Stable --close--> Leave (epoch -1; -2 for a static member) --> Closed
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, FindCoordinatorRequest,
    FindCoordinatorResponse,
};
use sluice_fetch::TopicPartition;
use sluice_fetch::cluster::BrokerAddr;
use sluice_wire::{KafkaCode, WireError};
use uuid::Uuid;

use crate::config::GroupConfig;
use crate::error::GroupError;
use crate::membership::{Generation, coordinator_answer};

mod requests;

pub use requests::fit;

/// The member epoch a dynamic member leaves with.
pub const LEAVE_EPOCH: i32 = -1;
/// The member epoch a static member (`group.instance.id`) leaves with: the
/// coordinator keeps its partitions for it until the session times out.
pub const LEAVE_STATIC_EPOCH: i32 = -2;

/// Where the member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Not in the group: the next heartbeat joins (epoch 0, every field).
    Unjoined,
    /// The joining heartbeat is in flight.
    Joining,
    /// In the group: heartbeating and reconciling towards the target.
    Stable,
    /// Fenced: waiting for the owned partitions to be dropped, then rejoining.
    Fenced,
    /// Left for not polling within `max.poll.interval.ms`; rejoins when the
    /// application polls again.
    Stale,
    /// Left for good, or failed fatally.
    Closed,
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsumerAction {
    /// Send FindCoordinator to any broker.
    FindCoordinator(FindCoordinatorRequest),
    /// Send ConsumerGroupHeartbeat to the coordinator (cut down with [`fit`]).
    Heartbeat(ConsumerGroupHeartbeatRequest),
    /// Send the leaving ConsumerGroupHeartbeat (epoch -1 or -2) to the
    /// coordinator; no answer is awaited by the machine.
    Leave(ConsumerGroupHeartbeatRequest),
    /// The target names topics by id: look these topics up in the metadata
    /// (v10+, which has topic ids; `None`: every topic, for a pattern
    /// subscription) and call [`ConsumerMembership::on_topic_ids`].
    ResolveTopics(Option<Vec<String>>),
    /// Stop consuming these partitions: drop unreturned records, commit, run
    /// the listener, then call [`ConsumerMembership::revoke_done`].
    Revoke(Vec<TopicPartition>),
    /// Start consuming these partitions (in addition to the owned ones), then
    /// call [`ConsumerMembership::assign_done`].
    Assign(Vec<TopicPartition>),
    /// These partitions are no longer ours (fenced, or left after a poll
    /// timeout): drop them without committing, then call
    /// [`ConsumerMembership::revoke_done`].
    Lose(Vec<TopicPartition>),
}

/// Which request a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerRequest {
    /// FindCoordinator.
    FindCoordinator,
    /// ConsumerGroupHeartbeat.
    Heartbeat,
    /// Metadata for topic ids.
    Metadata,
}

/// A partition by topic id.
type IdPartition = (Uuid, i32);

/// The reconciliation step the consumer is carrying out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Revoking(BTreeSet<IdPartition>),
    Assigning(BTreeSet<IdPartition>),
    Losing,
}

/// What the last heartbeat sent of the fields sent only on a change
/// (`None`: not sent since the last reset, so the next heartbeat sends it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Sent {
    rebalance_timeout: Option<i32>,
    topics: Option<(Vec<String>, Option<String>)>,
    assignor: Option<String>,
    owned: Option<BTreeSet<IdPartition>>,
}

/// One consumer's membership under the consumer group protocol.
#[derive(Debug)]
pub struct ConsumerMembership {
    config: GroupConfig,
    topics: Vec<String>,
    /// A pattern subscription (`SubscribedTopicRegex`, RE2, matched by the
    /// coordinator), instead of `topics`.
    pattern: Option<String>,
    state: MemberState,
    coordinator: Option<BrokerAddr>,
    /// The member id (client-generated, KIP-1082) and the member epoch as
    /// the generation, which is what OffsetCommit v9+ carries.
    generation: Generation,
    heartbeat_interval: Duration,
    next_heartbeat: Option<Instant>,
    in_flight: Option<ConsumerRequest>,
    retry_at: Option<Instant>,
    sent: Sent,
    /// The latest target assignment from the coordinator, by topic id.
    target: Option<BTreeSet<IdPartition>>,
    names: BTreeMap<Uuid, String>,
    owned: BTreeSet<IdPartition>,
    step: Option<Step>,
    /// Revoke and Lose actions handed out and not yet done.
    outstanding: u32,
    /// A heartbeat is due now (to acknowledge a reconciliation step).
    ack_due: bool,
    /// Topic ids are being looked up.
    resolving: bool,
    outbox: VecDeque<ConsumerAction>,
    last_poll: Instant,
    in_poll: bool,
    fatal: Option<GroupError>,
}

/// A member id for KIP-1082 (the client generates it): a random version-4
/// UUID, from the standard library's per-process random hasher keys.
pub fn new_member_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut bits = 0u128;
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(bits);
        bits = (bits << 64) | u128::from(h.finish());
    }
    uuid::Builder::from_random_bytes(bits.to_be_bytes())
        .into_uuid()
        .to_string()
}

impl ConsumerMembership {
    /// A member of `config.group_id`, not yet joined, with a new member id.
    /// `now` starts the `max.poll.interval.ms` clock.
    pub fn new(config: GroupConfig, now: Instant) -> Self {
        Self::with_member_id(config, new_member_id(), now)
    }

    /// Like [`ConsumerMembership::new`] with a given member id (tests).
    pub fn with_member_id(config: GroupConfig, member_id: String, now: Instant) -> Self {
        ConsumerMembership {
            heartbeat_interval: config.heartbeat_interval,
            config,
            topics: Vec::new(),
            pattern: None,
            state: MemberState::Unjoined,
            coordinator: None,
            generation: Generation {
                generation_id: 0,
                member_id,
                protocol: None,
            },
            next_heartbeat: None,
            in_flight: None,
            retry_at: None,
            sent: Sent::default(),
            target: None,
            names: BTreeMap::new(),
            owned: BTreeSet::new(),
            step: None,
            outstanding: 0,
            ack_due: false,
            resolving: false,
            outbox: VecDeque::new(),
            last_poll: now,
            in_poll: false,
            fatal: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> MemberState {
        self.state
    }

    /// The coordinator, once found.
    pub fn coordinator(&self) -> Option<&BrokerAddr> {
        self.coordinator.as_ref()
    }

    /// The member id and epoch, for OffsetCommit (`generationIdOrMemberEpoch`).
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// The member epoch.
    pub fn member_epoch(&self) -> i32 {
        self.generation.generation_id
    }

    /// The group id.
    pub fn group(&self) -> &str {
        &self.config.group_id
    }

    /// The partitions this member owns (reconciled ones).
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.to_tps(self.owned.iter())
    }

    /// Takes the fatal error, if the group failed for good.
    pub fn take_error(&mut self) -> Option<GroupError> {
        self.fatal.take()
    }

    /// Subscribes to `topics`; a change goes out in the next heartbeat, at once.
    pub fn subscribe(&mut self, mut topics: Vec<String>) {
        topics.sort();
        topics.dedup();
        if topics != self.topics || self.pattern.is_some() {
            self.topics = topics;
            self.pattern = None;
            self.ack_due = true;
        }
    }

    /// Subscribes to the topics matching `pattern` (RE2 syntax), matched by
    /// the coordinator as topics come and go (KIP-848's
    /// `SubscribedTopicRegex`); replaces a subscription by names.
    pub fn subscribe_pattern(&mut self, pattern: String) {
        if self.pattern.as_ref() != Some(&pattern) {
            self.topics.clear();
            self.pattern = Some(pattern);
            self.ack_due = true;
        }
    }

    fn subscribed(&self) -> bool {
        !self.topics.is_empty() || self.pattern.is_some()
    }

    /// The application polled (a poll returned) at `now`.
    pub fn on_poll(&mut self, now: Instant) {
        self.last_poll = now;
        self.in_poll = false;
        self.rejoin_if_stale();
    }

    /// The application entered a poll at `now`; it counts as polling until
    /// [`ConsumerMembership::on_poll`].
    pub fn on_poll_started(&mut self, now: Instant) {
        self.last_poll = now;
        self.in_poll = true;
        self.rejoin_if_stale();
    }

    fn rejoin_if_stale(&mut self) {
        if self.state == MemberState::Stale && self.step.is_none() {
            tracing::info!(group = %self.config.group_id, "the application polls again: rejoining");
            self.state = MemberState::Unjoined;
        }
    }

    /// The coordinator was lost: find it again.
    pub fn coordinator_dead(&mut self) {
        if self.coordinator.take().is_some() {
            tracing::info!(group = %self.config.group_id, "group coordinator lost; rediscovering");
        }
    }

    /// The next deadline at which [`ConsumerMembership::poll_action`] may
    /// have work without new events.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let poll_deadline = (self.state == MemberState::Stable && !self.in_poll)
            .then(|| self.last_poll + self.config.max_poll_interval);
        let heartbeat = self
            .next_heartbeat
            .filter(|_| self.state == MemberState::Stable);
        [self.retry_at, heartbeat, poll_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    fn poll_expired(&self, now: Instant) -> bool {
        !self.in_poll
            && now.saturating_duration_since(self.last_poll) > self.config.max_poll_interval
    }

    /// The next thing to do at `now`, if any.
    pub fn poll_action(&mut self, now: Instant) -> Option<ConsumerAction> {
        if let Some(action) = self.outbox.pop_front() {
            return Some(action);
        }
        if self.state == MemberState::Closed {
            return None;
        }
        if self.state == MemberState::Stable && self.poll_expired(now) {
            tracing::warn!(
                group = %self.config.group_id,
                max_poll_interval_ms = self.config.max_poll_interval.as_millis() as u64,
                "the application did not poll within max.poll.interval.ms: leaving the group; it rejoins on the next poll"
            );
            let leave = self.leave_request();
            self.lose_all();
            self.state = MemberState::Stale;
            self.in_flight = None;
            return Some(ConsumerAction::Leave(leave));
        }
        if self.in_flight.is_some() || self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        self.retry_at = None;
        if self.coordinator.is_none() {
            if matches!(self.state, MemberState::Stale | MemberState::Fenced) || !self.subscribed()
            {
                return None;
            }
            self.in_flight = Some(ConsumerRequest::FindCoordinator);
            return Some(ConsumerAction::FindCoordinator(
                self.find_coordinator_request(),
            ));
        }
        match self.state {
            MemberState::Unjoined | MemberState::Joining => {
                if !self.subscribed() {
                    return None;
                }
                self.generation.generation_id = 0;
                self.sent = Sent::default();
                self.state = MemberState::Joining;
                self.send_heartbeat(now)
            }
            MemberState::Stable if self.ack_due || self.next_heartbeat.is_none_or(|t| now >= t) => {
                self.send_heartbeat(now)
            }
            _ => None,
        }
    }

    fn send_heartbeat(&mut self, now: Instant) -> Option<ConsumerAction> {
        self.in_flight = Some(ConsumerRequest::Heartbeat);
        self.ack_due = false;
        self.next_heartbeat = Some(now + self.heartbeat_interval);
        Some(ConsumerAction::Heartbeat(self.heartbeat_request()))
    }

    /// A request failed without an answer (connection lost, timeout). The
    /// next heartbeat sends every field again, as the Java client's does.
    pub fn on_request_failed(&mut self, kind: ConsumerRequest, now: Instant) {
        if self.in_flight == Some(kind) {
            self.in_flight = None;
        }
        if kind == ConsumerRequest::Metadata {
            // Asked again with the next heartbeat's answer.
            self.resolving = false;
            return;
        }
        self.coordinator_dead();
        self.sent = Sent::default();
        self.next_heartbeat = None;
        self.retry_at = Some(now + self.config.retry_backoff);
    }

    /// A heartbeat failed before an answer: the broker lacking
    /// ConsumerGroupHeartbeat is fatal (the classic protocol is needed),
    /// anything else is retried.
    pub fn on_heartbeat_failed(&mut self, error: &GroupError, now: Instant) {
        if let GroupError::Wire(WireError::UnsupportedApi { .. }) = error {
            self.fail(GroupError::ProtocolUnsupported {
                group: self.config.group_id.clone(),
                detail: error.to_string(),
            });
            return;
        }
        self.on_request_failed(ConsumerRequest::Heartbeat, now);
    }

    /// FindCoordinator's answer.
    pub fn on_find_coordinator(&mut self, response: &FindCoordinatorResponse, now: Instant) {
        self.in_flight = None;
        let (code, node, host, port) = coordinator_answer(response);
        if code.is_ok() && node >= 0 {
            self.coordinator = Some(BrokerAddr {
                id: node,
                host,
                port,
            });
        } else if code.is_retriable() || code.is_ok() {
            self.retry_at = Some(now + self.config.retry_backoff);
        } else {
            self.fail(GroupError::Coordinator {
                group: self.config.group_id.clone(),
                code,
            });
        }
    }

    /// ConsumerGroupHeartbeat's answer.
    pub fn on_heartbeat(&mut self, response: &ConsumerGroupHeartbeatResponse, now: Instant) {
        if self.in_flight == Some(ConsumerRequest::Heartbeat) {
            self.in_flight = None;
        }
        if matches!(self.state, MemberState::Closed | MemberState::Stale) {
            return; // the answer to a heartbeat sent before leaving
        }
        let code = KafkaCode(response.error_code);
        if !code.is_ok() {
            self.on_heartbeat_error(code, response, now);
            return;
        }
        if let Some(id) = response.member_id.as_ref().filter(|id| !id.is_empty()) {
            if **id != *self.generation.member_id {
                self.generation.member_id = id.to_string();
            }
        }
        if self.state == MemberState::Joining {
            tracing::info!(group = %self.config.group_id, member = %self.generation.member_id, epoch = response.member_epoch, "joined (consumer protocol)");
        }
        self.generation.generation_id = response.member_epoch;
        self.state = MemberState::Stable;
        if let Ok(ms) = u64::try_from(response.heartbeat_interval_ms) {
            if ms > 0 {
                self.heartbeat_interval = Duration::from_millis(ms);
            }
        }
        self.next_heartbeat = Some(now + self.heartbeat_interval);
        if let Some(assignment) = &response.assignment {
            let target: BTreeSet<IdPartition> = assignment
                .topic_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, *p)))
                .collect();
            tracing::debug!(group = %self.config.group_id, epoch = response.member_epoch, partitions = target.len(), "new target assignment");
            self.target = Some(target);
        }
        self.ask_for_names();
        self.reconcile();
    }

    fn on_heartbeat_error(
        &mut self,
        code: KafkaCode,
        response: &ConsumerGroupHeartbeatResponse,
        now: Instant,
    ) {
        let message = response.error_message.as_deref().unwrap_or("");
        match code {
            KafkaCode::FENCED_MEMBER_EPOCH | KafkaCode::UNKNOWN_MEMBER_ID => {
                tracing::warn!(group = %self.config.group_id, %code, message, "fenced: dropping every partition (no commit) and rejoining at epoch 0");
                self.fence();
            }
            KafkaCode::NOT_COORDINATOR | KafkaCode::COORDINATOR_NOT_AVAILABLE => {
                // Heartbeat the new coordinator as soon as it is found.
                self.coordinator_dead();
                self.next_heartbeat = None;
            }
            KafkaCode::UNSUPPORTED_VERSION => self.fail(GroupError::ProtocolUnsupported {
                group: self.config.group_id.clone(),
                detail: format!("ConsumerGroupHeartbeat answered {code} {message}"),
            }),
            _ if code.is_retriable() => {
                self.retry_at = Some(now + self.config.retry_backoff);
            }
            _ => self.fail(GroupError::Heartbeat {
                group: self.config.group_id.clone(),
                code,
            }),
        }
    }

    /// Drops every partition without a commit and rejoins at epoch 0 with
    /// the same member id once the consumer has dropped them.
    fn fence(&mut self) {
        self.lose_all();
        self.generation.generation_id = 0;
        self.state = if self.step == Some(Step::Losing) {
            MemberState::Fenced
        } else {
            MemberState::Unjoined
        };
        self.next_heartbeat = None;
    }

    /// Puts a Lose of everything owned (or being assigned) at the head of the
    /// actions; the target is forgotten.
    fn lose_all(&mut self) {
        self.target = None;
        self.sent = Sent::default();
        let mut lost = std::mem::take(&mut self.owned);
        match self.step.take() {
            Some(Step::Assigning(adding)) => lost.extend(adding),
            // Already gone from the consumer: it is being revoked (its done counts in `outstanding`).
            Some(Step::Revoking(revoking)) => lost.retain(|p| !revoking.contains(p)),
            Some(Step::Losing) | None => {}
        }
        if lost.is_empty() && self.outstanding == 0 {
            return;
        }
        if !lost.is_empty() {
            self.outstanding += 1;
            let tps = self.to_tps(lost.iter());
            self.outbox.push_back(ConsumerAction::Lose(tps));
        }
        self.step = Some(Step::Losing);
    }

    /// Asks for the names of target topic ids not known yet.
    fn ask_for_names(&mut self) {
        let unknown = self
            .target
            .iter()
            .flatten()
            .any(|(id, _)| !self.names.contains_key(id));
        if unknown && !self.resolving {
            self.resolving = true;
            let topics = self.pattern.is_none().then(|| self.topics.clone());
            self.outbox.push_back(ConsumerAction::ResolveTopics(topics));
        }
    }

    /// The metadata's topic ids (v10+) for the topics asked about.
    pub fn on_topic_ids(&mut self, ids: impl IntoIterator<Item = (Uuid, String)>) {
        self.resolving = false;
        for (id, name) in ids {
            if !id.is_nil() {
                self.names.insert(id, name);
            }
        }
        self.reconcile();
    }

    /// The next reconciliation step towards the target, when none is under
    /// way: revoke first, then assign (KIP-848).
    fn reconcile(&mut self) {
        if self.step.is_some() || self.state != MemberState::Stable {
            return;
        }
        let Some(target) = &self.target else {
            return;
        };
        let assigned: BTreeSet<IdPartition> = target
            .iter()
            .filter(|(id, _)| self.names.contains_key(id))
            .copied()
            .collect();
        let revoked: BTreeSet<IdPartition> = self.owned.difference(&assigned).copied().collect();
        if !revoked.is_empty() {
            let tps = self.to_tps(revoked.iter());
            tracing::info!(group = %self.config.group_id, epoch = self.generation.generation_id, partitions = ?tps, "revoking");
            self.outstanding += 1;
            self.step = Some(Step::Revoking(revoked));
            self.outbox.push_back(ConsumerAction::Revoke(tps));
            return;
        }
        let added: BTreeSet<IdPartition> = assigned.difference(&self.owned).copied().collect();
        if !added.is_empty() {
            let tps = self.to_tps(added.iter());
            tracing::info!(group = %self.config.group_id, epoch = self.generation.generation_id, partitions = ?tps, "assigning");
            self.step = Some(Step::Assigning(added));
            self.outbox.push_back(ConsumerAction::Assign(tps));
        }
    }

    /// The consumer finished a Revoke or a Lose.
    pub fn revoke_done(&mut self) {
        self.outstanding = self.outstanding.saturating_sub(1);
        if self.outstanding > 0 {
            return;
        }
        match self.step.take() {
            Some(Step::Revoking(revoked)) => {
                for p in &revoked {
                    self.owned.remove(p);
                }
                self.ack_due = true;
                self.reconcile();
            }
            Some(Step::Losing) => {
                self.owned.clear();
                if self.state == MemberState::Fenced {
                    self.state = MemberState::Unjoined;
                }
            }
            other => self.step = other,
        }
    }

    /// The consumer has the assigned partitions (positions decided, listener run).
    pub fn assign_done(&mut self) {
        if let Some(Step::Assigning(added)) = &self.step {
            self.owned.extend(added.iter().copied());
            self.step = None;
            self.ack_due = true;
            self.reconcile();
        }
    }

    /// An OffsetCommit was answered with `code` for the group: a fenced
    /// member rejoins; a stale epoch only fails that commit (the epoch has
    /// moved on).
    pub fn on_commit_error(&mut self, code: KafkaCode, _now: Instant) {
        match code {
            KafkaCode::FENCED_MEMBER_EPOCH | KafkaCode::UNKNOWN_MEMBER_ID
                if self.state == MemberState::Stable =>
            {
                self.fence()
            }
            KafkaCode::NOT_COORDINATOR | KafkaCode::COORDINATOR_NOT_AVAILABLE => {
                self.coordinator_dead()
            }
            _ => {}
        }
    }

    /// Leaves the group for good: the leaving heartbeat is the next action
    /// when the member is in the group. The caller revokes first.
    pub fn close(&mut self) {
        if self.state == MemberState::Closed {
            return;
        }
        let joined = matches!(self.state, MemberState::Stable | MemberState::Joining)
            && self.coordinator.is_some();
        if joined {
            let leave = self.leave_request();
            self.outbox.push_back(ConsumerAction::Leave(leave));
        }
        self.state = MemberState::Closed;
        self.owned.clear();
        self.step = None;
        self.in_flight = None;
    }

    fn to_tps<'a>(&self, ids: impl Iterator<Item = &'a IdPartition>) -> Vec<TopicPartition> {
        let mut tps: Vec<TopicPartition> = ids
            .filter_map(|(id, p)| Some(TopicPartition::new(self.names.get(id)?.as_str(), *p)))
            .collect();
        tps.sort();
        tps
    }

    fn fail(&mut self, error: GroupError) {
        tracing::error!(group = %self.config.group_id, %error, "consumer group failed");
        self.fatal = Some(error);
        self.state = MemberState::Closed;
        self.in_flight = None;
        self.owned.clear();
        self.step = None;
        self.outstanding = 0;
        self.next_heartbeat = None;
    }
}

#[cfg(test)]
mod tests;
