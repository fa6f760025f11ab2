//! Group membership as a sans-I/O state machine, following the Java
//! client's `AbstractCoordinator`/`ConsumerCoordinator` (eager protocol).
//!
//! Events go in (responses, request failures, the application's polls, an
//! injected clock); requests to send, partitions to revoke or assign and
//! timer deadlines come out. The machine owns no socket and no timer: a
//! driver sends what [`Membership::poll_action`] returns to the broker it
//! names and feeds the answer back.
//!
//! ```text
//!  Unjoined -> FindCoordinator -> Join -(leader: assign)-> Sync -> Stable
//!     ^             ^               |  MEMBER_ID_REQUIRED: join again
//!     |             +-- NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE / failures
//!     +-- REBALANCE_IN_PROGRESS / ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID: revoke, rejoin
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, SyncGroupRequest, SyncGroupResponse,
};
use sluice_fetch::TopicPartition;
use sluice_fetch::cluster::BrokerAddr;
use sluice_wire::{ErrorAction, KafkaCode};

use crate::assignor::{Assignor, Member};
use crate::config::GroupConfig;
use crate::error::GroupError;
use crate::protocol::{MemberAssignment, Subscription};

mod requests;

pub use requests::coordinator_answer;

/// The consumer protocol type in JoinGroup/SyncGroup.
pub const PROTOCOL_TYPE: &str = "consumer";

/// Where the member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not in the group (before the first join, after leaving or a poll timeout).
    Unjoined,
    /// Looking for the group coordinator.
    FindingCoordinator,
    /// JoinGroup in flight.
    Joining,
    /// The leader is waiting for metadata to compute the assignment.
    Assigning,
    /// SyncGroup in flight.
    Syncing,
    /// In the group with an assignment; heartbeating.
    Stable,
    /// Left for good (closed) or failed fatally.
    Closed,
}

/// The member's identity in the current generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The generation id (-1 before the first join).
    pub generation_id: i32,
    /// The broker-assigned member id ("" before the first join).
    pub member_id: String,
    /// The assignment protocol (assignor) the group chose.
    pub protocol: Option<String>,
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send FindCoordinator to any broker.
    FindCoordinator(FindCoordinatorRequest),
    /// Send JoinGroup to the coordinator; its request timeout must exceed the
    /// rebalance timeout (the broker holds it until the group forms).
    Join(JoinGroupRequest),
    /// The leader needs partition counts of these topics: call
    /// [`Membership::assign`] with them.
    NeedPartitionCounts(Vec<String>),
    /// Send SyncGroup to the coordinator.
    Sync(SyncGroupRequest),
    /// Send Heartbeat to the coordinator.
    Heartbeat(HeartbeatRequest),
    /// Send LeaveGroup to the coordinator (no answer is awaited).
    Leave(LeaveGroupRequest),
    /// Stop consuming these partitions: drop fetched-but-unreturned records,
    /// commit processed offsets, run the listener, then call
    /// [`Membership::revoke_done`]. The rejoin waits for it.
    Revoke(Vec<TopicPartition>),
    /// The group assigned these partitions: run the listener and decide
    /// positions (committed offsets, else `auto.offset.reset`).
    Assign(Vec<TopicPartition>),
}

/// Which request a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// FindCoordinator.
    FindCoordinator,
    /// JoinGroup.
    Join,
    /// SyncGroup.
    Sync,
    /// Heartbeat.
    Heartbeat,
}

/// The membership of one consumer in one group.
#[derive(Debug)]
pub struct Membership {
    config: GroupConfig,
    assignors: Vec<Box<dyn Assignor>>,
    topics: Vec<String>,
    /// The subscribed topics' partition counts as last reported by the
    /// consumer's metadata: a change asks for a rebalance.
    partition_counts: Option<BTreeMap<String, usize>>,
    state: State,
    coordinator: Option<BrokerAddr>,
    generation: Generation,
    /// What the broker knows us to own (eager: revoked before each join).
    owned: Vec<TopicPartition>,
    in_flight: Option<RequestKind>,
    /// The leader's join result, kept while waiting for partition counts.
    pending_members: Option<Vec<(Member, String)>>,
    rejoin_needed: bool,
    revoke_pending: bool,
    revoke_emitted: bool,
    /// Actions produced by events, handed out first by `poll_action`.
    outbox: VecDeque<Action>,
    retry_at: Option<Instant>,
    next_heartbeat: Option<Instant>,
    last_heartbeat_ok: Option<Instant>,
    last_poll: Instant,
    /// The application is inside a poll (time there counts as polling).
    in_poll: bool,
    fatal: Option<GroupError>,
}

impl Membership {
    /// A member of `config.group_id`, not yet joined, using `assignors` in
    /// preference order. `now` starts the `max.poll.interval.ms` clock.
    pub fn new(config: GroupConfig, assignors: Vec<Box<dyn Assignor>>, now: Instant) -> Self {
        Membership {
            config,
            assignors,
            topics: Vec::new(),
            partition_counts: None,
            state: State::Unjoined,
            coordinator: None,
            generation: Generation {
                generation_id: -1,
                member_id: String::new(),
                protocol: None,
            },
            owned: Vec::new(),
            in_flight: None,
            pending_members: None,
            rejoin_needed: true,
            revoke_pending: false,
            revoke_emitted: false,
            outbox: VecDeque::new(),
            retry_at: None,
            next_heartbeat: None,
            last_heartbeat_ok: None,
            last_poll: now,
            in_poll: false,
            fatal: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The coordinator, once found.
    pub fn coordinator(&self) -> Option<&BrokerAddr> {
        self.coordinator.as_ref()
    }

    /// The current generation (for OffsetCommit).
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// The partitions the group assigned to this member.
    pub fn assignment(&self) -> &[TopicPartition] {
        &self.owned
    }

    /// The group id.
    pub fn group(&self) -> &str {
        &self.config.group_id
    }

    /// Takes the fatal error, if the group failed for good.
    pub fn take_error(&mut self) -> Option<GroupError> {
        self.fatal.take()
    }

    /// Subscribes to `topics`; a change triggers a rebalance.
    pub fn subscribe(&mut self, mut topics: Vec<String>) {
        topics.sort();
        topics.dedup();
        if topics != self.topics {
            self.topics = topics;
            self.request_rejoin();
        }
    }

    /// The consumer's metadata now says the subscribed topics have these
    /// partition counts (a topic that does not exist yet is absent). The
    /// first report is the baseline; a later one that differs (partitions
    /// added, a subscribed topic created) asks for a rebalance, so the new
    /// partitions get assigned without waiting for some other membership
    /// change, as the Java client's metadata snapshot check does.
    pub fn on_partition_counts(&mut self, counts: BTreeMap<String, usize>) {
        match &self.partition_counts {
            Some(known) if *known != counts => {
                tracing::info!(group = %self.config.group_id, before = ?known, now = ?counts, "subscribed topics changed; rebalancing");
                self.request_rejoin();
            }
            _ => {}
        }
        self.partition_counts = Some(counts);
    }

    /// Asks for a rebalance (subscription or metadata changed, a commit was
    /// rejected for a stale generation...).
    pub fn request_rejoin(&mut self) {
        if self.state != State::Closed {
            self.rejoin_needed = true;
        }
    }

    /// The application polled at `now` (a poll returned): resets the
    /// `max.poll.interval.ms` clock, and brings back a member that left for
    /// polling too slowly.
    pub fn on_poll(&mut self, now: Instant) {
        self.last_poll = now;
        self.in_poll = false;
    }

    /// The application entered a poll at `now`. Until [`Membership::on_poll`]
    /// says it returned, the application counts as polling: a poll longer
    /// than `max.poll.interval.ms` does not make the member leave (as in the
    /// Java client, whose poll loop resets the poll timer).
    pub fn on_poll_started(&mut self, now: Instant) {
        self.last_poll = now;
        self.in_poll = true;
    }

    fn poll_expired(&self, now: Instant) -> bool {
        !self.in_poll
            && now.saturating_duration_since(self.last_poll) > self.config.max_poll_interval
    }

    /// The coordinator was lost (a request to it failed, NOT_COORDINATOR):
    /// find it again.
    pub fn coordinator_dead(&mut self) {
        if self.coordinator.take().is_some() {
            tracing::info!(group = %self.config.group_id, "group coordinator lost; rediscovering");
        }
        self.next_heartbeat = None;
    }

    /// The next deadline at which [`Membership::poll_action`] may have work
    /// even without new events.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let poll_deadline = (self.state == State::Stable && !self.in_poll)
            .then(|| self.last_poll + self.config.max_poll_interval);
        let session_deadline = self
            .last_heartbeat_ok
            .map(|t| t + self.config.session_timeout);
        [
            self.retry_at,
            self.next_heartbeat,
            poll_deadline,
            session_deadline.filter(|_| self.state == State::Stable),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next thing to do at `now`, if any.
    pub fn poll_action(&mut self, now: Instant) -> Option<Action> {
        if let Some(action) = self.outbox.pop_front() {
            return Some(action);
        }
        if self.state == State::Closed {
            return None;
        }
        // max.poll.interval.ms: a member that stops polling leaves, and says so
        // (a static member only gives its generation up: KIP-345).
        if self.state == State::Stable && self.poll_expired(now) {
            tracing::warn!(
                group = %self.config.group_id,
                max_poll_interval_ms = self.config.max_poll_interval.as_millis() as u64,
                "the application did not poll within max.poll.interval.ms: leaving the group; it rejoins on the next poll"
            );
            let leave = self.leave_request("consumer poll timeout has expired");
            self.reset_generation();
            self.state = State::Unjoined;
            self.rejoin_needed = true;
            self.next_heartbeat = None;
            // The group gives the partitions to others: the consumer must stop
            // returning their records now, not at its next poll.
            self.revoke_now();
            if self.is_dynamic() {
                return Some(Action::Leave(leave));
            }
            return self.outbox.pop_front();
        }
        if self.state == State::Unjoined && self.poll_expired(now) {
            return None; // wait for the application to poll again before rejoining
        }
        if self.state == State::Stable
            && self
                .last_heartbeat_ok
                .is_some_and(|t| now.saturating_duration_since(t) > self.config.session_timeout)
        {
            tracing::warn!(group = %self.config.group_id, "no heartbeat answer within session.timeout.ms: rediscovering the coordinator");
            self.last_heartbeat_ok = Some(now);
            self.coordinator_dead();
        }
        if self.in_flight.is_some() || self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        self.retry_at = None;
        if self.coordinator.is_none() {
            self.state = if self.state == State::Stable && !self.rejoin_needed {
                State::Stable
            } else {
                State::FindingCoordinator
            };
            self.in_flight = Some(RequestKind::FindCoordinator);
            return Some(Action::FindCoordinator(self.find_coordinator_request()));
        }
        if self.rejoin_needed && self.state != State::Assigning {
            if !self.owned.is_empty() || self.revoke_pending {
                if !self.revoke_emitted {
                    self.revoke_emitted = true;
                    self.revoke_pending = true;
                    return Some(Action::Revoke(self.owned.clone()));
                }
                // Waiting for revoke_done: heartbeat meanwhile, as the Java
                // client's heartbeat thread does until JoinGroup is sent.
                return self.heartbeat_if_due(now);
            }
            if self.topics.is_empty() {
                return None;
            }
            self.state = State::Joining;
            self.in_flight = Some(RequestKind::Join);
            return Some(Action::Join(self.join_request()));
        }
        self.heartbeat_if_due(now)
    }

    /// A heartbeat when one is due (Stable, with a generation, none in flight).
    fn heartbeat_if_due(&mut self, now: Instant) -> Option<Action> {
        if self.state == State::Stable
            && self.in_flight.is_none()
            && self.generation.generation_id >= 0
            && self.next_heartbeat.is_none_or(|t| now >= t)
        {
            self.in_flight = Some(RequestKind::Heartbeat);
            self.next_heartbeat = Some(now + self.config.heartbeat_interval);
            return Some(Action::Heartbeat(self.heartbeat_request()));
        }
        None
    }

    /// Whether this member has no `group.instance.id` (KIP-345): only dynamic
    /// members send LeaveGroup.
    fn is_dynamic(&self) -> bool {
        self.config.group_instance_id.is_none()
    }

    /// The driver finished revoking (listener ran, offsets committed).
    pub fn revoke_done(&mut self) {
        self.owned.clear();
        self.revoke_pending = false;
        self.revoke_emitted = false;
    }

    /// A request failed without an answer (connection lost, timeout).
    pub fn on_request_failed(&mut self, kind: RequestKind, now: Instant) {
        if self.in_flight == Some(kind) {
            self.in_flight = None;
        }
        self.coordinator_dead();
        self.retry_at = Some(now + self.config.retry_backoff);
        if matches!(kind, RequestKind::Join | RequestKind::Sync) {
            self.rejoin_needed = true;
        }
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
            self.last_heartbeat_ok = Some(now);
            return;
        }
        if code.is_retriable() || code.is_ok() {
            self.retry_at = Some(now + self.config.retry_backoff);
        } else {
            self.fail(GroupError::Coordinator {
                group: self.config.group_id.clone(),
                code,
            });
        }
    }

    /// JoinGroup's answer.
    pub fn on_join(&mut self, response: &JoinGroupResponse, now: Instant) {
        self.in_flight = None;
        let code = KafkaCode(response.error_code);
        match code {
            KafkaCode::NONE => {}
            // KIP-394: the broker hands out the member id; join again with it at once.
            KafkaCode::MEMBER_ID_REQUIRED => {
                self.generation.member_id = response.member_id.to_string();
                return;
            }
            KafkaCode::UNKNOWN_MEMBER_ID => {
                self.reset_generation();
                return;
            }
            KafkaCode::ILLEGAL_GENERATION | KafkaCode::REBALANCE_IN_PROGRESS => return,
            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS => {
                self.retry_at = Some(now + self.config.retry_backoff);
                return;
            }
            KafkaCode::NOT_COORDINATOR | KafkaCode::COORDINATOR_NOT_AVAILABLE => {
                self.coordinator_dead();
                return;
            }
            _ if code.is_retriable() => {
                self.retry_at = Some(now + self.config.retry_backoff);
                return;
            }
            _ => {
                self.fail(GroupError::Join {
                    group: self.config.group_id.clone(),
                    code,
                });
                return;
            }
        }
        tracing::debug!(
            group = %self.config.group_id,
            generation = response.generation_id,
            leader = %response.leader,
            member = %response.member_id,
            members = response.members.len(),
            skip_assignment = response.skip_assignment,
            "JoinGroup answered"
        );
        self.generation = Generation {
            generation_id: response.generation_id,
            member_id: response.member_id.to_string(),
            protocol: response.protocol_name.as_ref().map(|p| p.to_string()),
        };
        self.rejoin_needed = false;
        if response.leader == response.member_id && !response.skip_assignment {
            let mut members = Vec::with_capacity(response.members.len());
            for m in &response.members {
                match Subscription::decode(&m.metadata) {
                    Ok(s) => members.push((
                        Member {
                            member_id: m.member_id.to_string(),
                            group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                            topics: s.topics,
                            owned_partitions: s.owned_partitions,
                            generation: s.generation_id,
                            user_data: s.user_data,
                            rack_id: s.rack_id,
                        },
                        m.member_id.to_string(),
                    )),
                    Err(e) => {
                        tracing::error!(member = %m.member_id, error = %e, "undecodable subscription; assigning it nothing");
                        members.push((
                            Member {
                                member_id: m.member_id.to_string(),
                                ..Member::default()
                            },
                            m.member_id.to_string(),
                        ));
                    }
                }
            }
            let mut topics: Vec<String> =
                members.iter().flat_map(|(m, _)| m.topics.clone()).collect();
            topics.sort();
            topics.dedup();
            self.pending_members = Some(members);
            self.state = State::Assigning;
            self.outbox.push_back(Action::NeedPartitionCounts(topics));
        } else {
            self.state = State::Syncing;
            self.in_flight = Some(RequestKind::Sync);
            let request = self.sync_request(Vec::new());
            self.outbox.push_back(Action::Sync(request));
        }
    }

    /// The leader's partition counts for the topics it asked about
    /// (topics missing from `counts` do not exist and get no partitions).
    /// Runs the group's assignor and queues SyncGroup.
    pub fn assign(&mut self, counts: &BTreeMap<String, i32>) {
        let Some(members) = self.pending_members.take() else {
            return;
        };
        let protocol = self.generation.protocol.clone().unwrap_or_default();
        let Some(assignor) = self.assignors.iter().find(|a| a.name() == protocol) else {
            self.fail(GroupError::UnknownProtocol {
                group: self.config.group_id.clone(),
                protocol,
            });
            return;
        };
        let members: Vec<Member> = members.into_iter().map(|(m, _)| m).collect();
        let assignment = assignor.assign(counts, &members);
        let mut encoded = Vec::with_capacity(assignment.len());
        for (member, partitions) in assignment {
            tracing::info!(group = %self.config.group_id, %member, partitions = partitions.len(), "assigned");
            match (MemberAssignment {
                partitions,
                user_data: None,
            })
            .encode(0)
            {
                Ok(bytes) => encoded.push((member, bytes)),
                Err(e) => {
                    self.fail(GroupError::Wire(e));
                    return;
                }
            }
        }
        self.state = State::Syncing;
        self.in_flight = Some(RequestKind::Sync);
        let request = self.sync_request(encoded);
        self.outbox.push_back(Action::Sync(request));
    }

    /// The leader could not learn partition counts (metadata failed): give
    /// the join up and rejoin after a backoff, as the Java client does when
    /// the assignment cannot be computed.
    pub fn on_assign_failed(&mut self, now: Instant) {
        if self.pending_members.take().is_some() || self.state == State::Assigning {
            self.state = State::Unjoined;
            self.rejoin_needed = true;
            self.retry_at = Some(now + self.config.retry_backoff);
        }
    }

    /// SyncGroup's answer.
    pub fn on_sync(&mut self, response: &SyncGroupResponse, now: Instant) {
        self.in_flight = None;
        let code = KafkaCode(response.error_code);
        if !code.is_ok() {
            self.handle_group_error(code, now, |group| GroupError::Sync { group, code });
            return;
        }
        match MemberAssignment::decode(&response.assignment) {
            Ok(assignment) => {
                let mut partitions: Vec<TopicPartition> = assignment
                    .partitions
                    .into_iter()
                    .filter(|tp| self.topics.iter().any(|t| **t == *tp.topic))
                    .collect();
                partitions.sort();
                self.owned = partitions.clone();
                self.state = State::Stable;
                self.last_heartbeat_ok = Some(now);
                self.next_heartbeat = Some(now + self.config.heartbeat_interval);
                tracing::info!(group = %self.config.group_id, generation = self.generation.generation_id, partitions = partitions.len(), "joined");
                self.outbox.push_back(Action::Assign(partitions));
            }
            Err(e) => self.fail(GroupError::Wire(e)),
        }
    }

    /// Heartbeat's answer.
    pub fn on_heartbeat(&mut self, response: &HeartbeatResponse, now: Instant) {
        self.in_flight = None;
        let code = KafkaCode(response.error_code);
        if code.is_ok() {
            self.last_heartbeat_ok = Some(now);
            return;
        }
        if code == KafkaCode::REBALANCE_IN_PROGRESS {
            tracing::info!(group = %self.config.group_id, "group is rebalancing; rejoining");
        }
        self.handle_group_error(code, now, |group| GroupError::Heartbeat { group, code });
    }

    /// A commit was answered with `code` for the group as a whole: stale
    /// generations rejoin, a lost coordinator is found again.
    pub fn on_commit_error(&mut self, code: KafkaCode, now: Instant) {
        match code.action() {
            ErrorAction::Rejoin => {
                self.handle_group_error(code, now, |group| GroupError::Heartbeat { group, code });
                // Revoke before the consumer's next poll returns anything, even
                // with a heartbeat in flight: records handed out now could not
                // be committed and would be read again after the rejoin.
                if self.rejoin_needed {
                    self.revoke_now();
                }
            }
            ErrorAction::FindCoordinator => self.coordinator_dead(),
            _ => {}
        }
    }

    /// Puts a revoke of every owned partition at the head of the actions,
    /// unless one is already under way.
    fn revoke_now(&mut self) {
        if !self.owned.is_empty() && !self.revoke_emitted {
            self.revoke_pending = true;
            self.revoke_emitted = true;
            self.outbox.push_back(Action::Revoke(self.owned.clone()));
        }
    }

    /// Leaves the group for good (LeaveGroup is the next action when the
    /// member was in it). Partitions are revoked first by the caller.
    pub fn close(&mut self) {
        if self.state == State::Closed {
            return;
        }
        let joined = !self.generation.member_id.is_empty() && self.coordinator.is_some();
        if joined && self.is_dynamic() {
            let request = self.leave_request("the consumer is being closed");
            self.outbox.push_back(Action::Leave(request));
        }
        self.state = State::Closed;
        self.owned.clear();
        self.in_flight = None;
    }

    /// Rejoin-class errors (the Java client's handling for SyncGroup and
    /// Heartbeat), coordinator errors, and fatal ones.
    fn handle_group_error(
        &mut self,
        code: KafkaCode,
        now: Instant,
        fatal: impl FnOnce(String) -> GroupError,
    ) {
        match code {
            KafkaCode::REBALANCE_IN_PROGRESS => self.rejoin_needed = true,
            KafkaCode::ILLEGAL_GENERATION
            | KafkaCode::UNKNOWN_MEMBER_ID
            | KafkaCode::FENCED_MEMBER_EPOCH => {
                if code == KafkaCode::UNKNOWN_MEMBER_ID {
                    self.generation.member_id.clear();
                }
                self.generation.generation_id = -1;
                self.rejoin_needed = true;
            }
            KafkaCode::NOT_COORDINATOR | KafkaCode::COORDINATOR_NOT_AVAILABLE => {
                self.coordinator_dead();
                if self.state == State::Syncing {
                    self.rejoin_needed = true;
                }
            }
            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS => {
                self.retry_at = Some(now + self.config.retry_backoff)
            }
            _ if code.is_retriable() => self.retry_at = Some(now + self.config.retry_backoff),
            _ => {
                self.fail(fatal(self.config.group_id.clone()));
                return;
            }
        }
        if self.rejoin_needed && self.state != State::Stable {
            self.state = State::Unjoined;
        }
    }

    fn reset_generation(&mut self) {
        self.generation = Generation {
            generation_id: -1,
            member_id: String::new(),
            protocol: None,
        };
        self.rejoin_needed = true;
    }

    fn fail(&mut self, error: GroupError) {
        tracing::error!(group = %self.config.group_id, %error, "consumer group failed");
        self.fatal = Some(error);
        self.state = State::Closed;
        self.in_flight = None;
        // Nothing is owned any more: the consumer drops its partitions.
        self.owned.clear();
        self.revoke_pending = false;
        self.revoke_emitted = false;
        self.next_heartbeat = None;
    }
}

#[cfg(test)]
mod tests;
