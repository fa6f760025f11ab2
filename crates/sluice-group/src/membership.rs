//! Group membership as a sans-I/O state machine, following the Java
//! client's `AbstractCoordinator`/`ConsumerCoordinator`, with both
//! rebalance protocols: eager (revoke everything, then rejoin) and
//! incremental cooperative (KIP-429: keep what stays, revoke only what
//! moves, a second round hands it on; see the `cooperative` module).
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
//!
//! Cooperative: REBALANCE_IN_PROGRESS rejoins without revoking; SyncGroup
//! revokes `owned - assigned` and assigns `assigned - owned`, then rejoins
//! if it revoked anything; ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, a session
//! or poll interval that expired lose the partitions ([`Action::Lose`]).

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};
use sluice_fetch::TopicPartition;
use sluice_fetch::cluster::BrokerAddr;
use sluice_wire::{ErrorAction, KafkaCode};

use crate::assignor::{Assignor, Member, RebalanceProtocol};
use crate::config::GroupConfig;
use crate::error::GroupError;

#[cfg(test)]
use crate::protocol::{MemberAssignment, Subscription};

mod cooperative;
mod join;
mod requests;
mod stale;

pub use cooperative::{moved_directly, protocol_of};

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
    /// [`Membership::revoke_done`]. The rejoin waits for it. Eager: every
    /// owned partition; cooperative: only those that move.
    Revoke(Vec<TopicPartition>),
    /// The group assigned these partitions: run the listener and decide
    /// positions (committed offsets, else `auto.offset.reset`). Eager: the
    /// whole assignment; cooperative: only what is new (the rest is kept).
    Assign(Vec<TopicPartition>),
    /// Cooperative only: these partitions are lost (the member was fenced,
    /// is unknown to the group, or its session or poll interval expired), so
    /// they may be someone else's already: drop them and their unreturned
    /// records and run the listener's `on_partitions_lost`, committing
    /// nothing. No answer is awaited.
    Lose(Vec<TopicPartition>),
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
    /// The protocol every assignor supports, newest first (fixed).
    protocol: RebalanceProtocol,
    topics: Vec<String>,
    /// The subscribed topics' partition counts as last reported by the
    /// consumer's metadata: a change asks for a rebalance.
    partition_counts: Option<BTreeMap<String, usize>>,
    state: State,
    coordinator: Option<BrokerAddr>,
    generation: Generation,
    /// What the broker knows us to own (eager: revoked before each join).
    owned: Vec<TopicPartition>,
    /// The partitions of the revoke under way (cooperative: a part of `owned`).
    revoking: Vec<TopicPartition>,
    /// The last assignment and its generation, kept through revokes (eager
    /// sticky assignors put it in their user data).
    last_assignment: (Vec<TopicPartition>, i32),
    in_flight: Option<RequestKind>,
    /// The generation the heartbeat in flight was sent in.
    heartbeat_generation: i32,
    /// The leader's join result, kept while waiting for partition counts.
    pending_members: Option<Vec<Member>>,
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
        let protocol = protocol_of(&assignors);
        Membership {
            config,
            assignors,
            protocol,
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
            revoking: Vec::new(),
            last_assignment: (Vec::new(), -1),
            in_flight: None,
            heartbeat_generation: -1,
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
            self.lose_all("max.poll.interval.ms expired");
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
            if self.protocol == RebalanceProtocol::Cooperative {
                // The group may have expired us and handed our partitions on.
                self.lose_all("session.timeout.ms expired");
                self.generation.generation_id = -1;
                self.rejoin_needed = true;
                if let Some(action) = self.outbox.pop_front() {
                    return Some(action);
                }
            }
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
            if self.protocol == RebalanceProtocol::Cooperative {
                // Keep what is owned through the join; only partitions of
                // topics no longer subscribed go first.
                if !self.revoke_pending && self.revoke_unsubscribed() {
                    return self.outbox.pop_front();
                }
                if self.revoke_pending {
                    return self.heartbeat_if_due(now);
                }
            } else if !self.owned.is_empty() || self.revoke_pending {
                if !self.revoke_emitted {
                    self.revoke_emitted = true;
                    self.revoke_pending = true;
                    self.revoking = self.owned.clone();
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
            self.heartbeat_generation = self.generation.generation_id;
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
        match self.protocol {
            RebalanceProtocol::Eager => self.owned.clear(),
            RebalanceProtocol::Cooperative => {
                let revoked = std::mem::take(&mut self.revoking);
                self.owned.retain(|tp| !revoked.contains(tp));
            }
        }
        self.revoking.clear();
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

    /// Heartbeat's answer.
    pub fn on_heartbeat(&mut self, response: &HeartbeatResponse, now: Instant) {
        self.in_flight = None;
        let code = KafkaCode(response.error_code);
        if code.is_ok() {
            self.last_heartbeat_ok = Some(now);
            return;
        }
        if self.stale_answer(code, self.heartbeat_generation) {
            return;
        }
        if code == KafkaCode::REBALANCE_IN_PROGRESS {
            tracing::info!(group = %self.config.group_id, protocol = ?self.protocol, "group is rebalancing; rejoining");
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
                // (Cooperative members keep their partitions through a
                // rebalance; a lost generation already lost them.)
                if self.rejoin_needed && self.protocol == RebalanceProtocol::Eager {
                    self.revoke_now();
                }
            }
            ErrorAction::FindCoordinator => self.coordinator_dead(),
            // Another process took this group.instance.id over.
            _ if code == KafkaCode::FENCED_INSTANCE_ID => self.fail(self.fenced_error()),
            _ => {}
        }
    }

    /// Puts a revoke of every owned partition at the head of the actions,
    /// unless one is already under way.
    fn revoke_now(&mut self) {
        if !self.owned.is_empty() && !self.revoke_emitted {
            self.start_revoke(self.owned.clone());
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
                self.lose_all(code.name());
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
            KafkaCode::FENCED_INSTANCE_ID => {
                self.fail(self.fenced_error());
                return;
            }
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
        self.revoking.clear();
        self.revoke_pending = false;
        self.revoke_emitted = false;
        self.next_heartbeat = None;
    }
}

#[cfg(test)]
mod tests;
