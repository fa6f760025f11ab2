//! Forming a generation: JoinGroup's answer, the leader's assignment and
//! SyncGroup's answer (the Java client's `onJoinComplete`), for both
//! rebalance protocols.

use std::collections::BTreeMap;
use std::time::Instant;

use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use sluice_fetch::TopicPartition;
use sluice_wire::KafkaCode;

use super::{Action, Generation, Membership, RequestKind, State};
use crate::assignor::{Member, RebalanceProtocol};
use crate::error::GroupError;
use crate::protocol::{MemberAssignment, Subscription};

impl Membership {
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
                // The group no longer knows us: what we own may be someone else's.
                self.lose_all("JoinGroup answered UNKNOWN_MEMBER_ID");
                self.reset_generation();
                return;
            }
            KafkaCode::ILLEGAL_GENERATION if self.protocol == RebalanceProtocol::Cooperative => {
                self.lose_all("JoinGroup answered ILLEGAL_GENERATION");
                self.generation.generation_id = -1;
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
            KafkaCode::FENCED_INSTANCE_ID => {
                self.fail(self.fenced_error());
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
                    Ok(s) => members.push(Member {
                        member_id: m.member_id.to_string(),
                        group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                        topics: s.topics,
                        owned_partitions: s.owned_partitions,
                        generation: s.generation_id,
                        user_data: s.user_data,
                        rack_id: s.rack_id,
                    }),
                    Err(e) => {
                        tracing::error!(member = %m.member_id, error = %e, "undecodable subscription; assigning it nothing");
                        members.push(Member {
                            member_id: m.member_id.to_string(),
                            ..Member::default()
                        });
                    }
                }
            }
            let mut topics: Vec<String> = members.iter().flat_map(|m| m.topics.clone()).collect();
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
    /// Runs the group's assignor and queues SyncGroup. With the cooperative
    /// protocol the result is checked first: no partition may go straight
    /// from one member to another (it must be revoked in one round and
    /// assigned in the next), as the Java client's
    /// `validateCooperativeAssignment` checks.
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
        let assignment = assignor.assign(counts, &members);
        if self.protocol == RebalanceProtocol::Cooperative {
            let moved = super::cooperative::moved_directly(&members, &assignment);
            if !moved.is_empty() {
                self.fail(GroupError::InvalidAssignment {
                    group: self.config.group_id.clone(),
                    assignor: protocol,
                    partitions: moved,
                });
                return;
            }
        }
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

    /// SyncGroup's answer. Eager: the whole assignment is assigned (the
    /// member revoked everything before joining). Cooperative: what it owned
    /// and no longer has is revoked, and only what is new is assigned; a
    /// revocation asks for the second round at once.
    pub fn on_sync(&mut self, response: &SyncGroupResponse, now: Instant) {
        self.in_flight = None;
        let code = KafkaCode(response.error_code);
        if !code.is_ok() {
            self.handle_group_error(code, now, |group| GroupError::Sync { group, code });
            return;
        }
        let assignment = match MemberAssignment::decode(&response.assignment) {
            Ok(assignment) => assignment,
            Err(e) => {
                self.fail(GroupError::Wire(e));
                return;
            }
        };
        let mut partitions: Vec<TopicPartition> = assignment
            .partitions
            .into_iter()
            .filter(|tp| self.topics.iter().any(|t| **t == *tp.topic))
            .collect();
        partitions.sort();
        partitions.dedup();
        self.state = State::Stable;
        self.last_heartbeat_ok = Some(now);
        self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        self.last_assignment = (partitions.clone(), self.generation.generation_id);
        let added = match self.protocol {
            RebalanceProtocol::Eager => {
                self.owned = partitions.clone();
                partitions
            }
            RebalanceProtocol::Cooperative => self.cooperative_sync(partitions),
        };
        tracing::info!(group = %self.config.group_id, generation = self.generation.generation_id, partitions = self.owned.len(), added = added.len(), "joined");
        self.outbox.push_back(Action::Assign(added));
    }
}
