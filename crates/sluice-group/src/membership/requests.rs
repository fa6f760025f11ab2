//! The requests a [`Membership`] sends, built from its state with every
//! version's fields (the coordinator task cuts them down to the negotiated
//! version), and the reading of FindCoordinator's two answer layouts.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;
use sluice_wire::KafkaCode;

use super::{Membership, PROTOCOL_TYPE};
use crate::protocol::{MAX_VERSION, Subscription};

impl Membership {
    pub(super) fn group_id(&self) -> GroupId {
        GroupId(StrBytes::from_string(self.config.group_id.clone()))
    }

    pub(super) fn instance_id(&self) -> Option<StrBytes> {
        self.config
            .group_instance_id
            .clone()
            .map(StrBytes::from_string)
    }

    pub(super) fn find_coordinator_request(&self) -> FindCoordinatorRequest {
        let key = StrBytes::from_string(self.config.group_id.clone());
        FindCoordinatorRequest::default()
            .with_key(key.clone())
            .with_key_type(0)
            .with_coordinator_keys(vec![key])
    }

    /// JoinGroup with one protocol per assignor, each carrying a
    /// ConsumerProtocolSubscription v3 (owned partitions, generation) with
    /// that assignor's user data, as the Java client sends.
    pub(super) fn join_request(&self) -> JoinGroupRequest {
        let (previous, previous_generation) = self.user_data_input();
        let protocols = self
            .assignors
            .iter()
            .map(|a| {
                let subscription = Subscription {
                    topics: self.topics.clone(),
                    user_data: a.subscription_user_data(previous, previous_generation),
                    owned_partitions: self.owned.clone(),
                    generation_id: self.generation.generation_id,
                    rack_id: None,
                };
                let metadata: Bytes = subscription.encode(MAX_VERSION).unwrap_or_default();
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str(a.name()))
                    .with_metadata(metadata)
            })
            .collect();
        JoinGroupRequest::default()
            .with_group_id(self.group_id())
            .with_session_timeout_ms(millis(self.config.session_timeout))
            .with_rebalance_timeout_ms(millis(self.config.max_poll_interval))
            .with_member_id(StrBytes::from_string(self.generation.member_id.clone()))
            .with_group_instance_id(self.instance_id())
            .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
            .with_protocols(protocols)
    }

    pub(super) fn sync_request(&self, assignments: Vec<(String, Bytes)>) -> SyncGroupRequest {
        SyncGroupRequest::default()
            .with_group_id(self.group_id())
            .with_generation_id(self.generation.generation_id)
            .with_member_id(StrBytes::from_string(self.generation.member_id.clone()))
            .with_group_instance_id(self.instance_id())
            .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE)))
            .with_protocol_name(self.generation.protocol.clone().map(StrBytes::from_string))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(m, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(StrBytes::from_string(m))
                            .with_assignment(a)
                    })
                    .collect(),
            )
    }

    pub(super) fn heartbeat_request(&self) -> HeartbeatRequest {
        HeartbeatRequest::default()
            .with_group_id(self.group_id())
            .with_generation_id(self.generation.generation_id)
            .with_member_id(StrBytes::from_string(self.generation.member_id.clone()))
            .with_group_instance_id(self.instance_id())
    }

    pub(super) fn leave_request(&self, reason: &str) -> LeaveGroupRequest {
        let member_id = StrBytes::from_string(self.generation.member_id.clone());
        LeaveGroupRequest::default()
            .with_group_id(self.group_id())
            .with_member_id(member_id.clone())
            .with_members(vec![
                MemberIdentity::default()
                    .with_member_id(member_id)
                    .with_group_instance_id(self.instance_id())
                    .with_reason(Some(StrBytes::from_string(reason.to_string()))),
            ])
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// FindCoordinator's answer as `(code, node id, host, port)`: v4+ answers
/// per key in `coordinators` (we ask for one key), older versions at the
/// top level.
pub fn coordinator_answer(response: &FindCoordinatorResponse) -> (KafkaCode, i32, String, i32) {
    match response.coordinators.first() {
        Some(c) => (
            KafkaCode(c.error_code),
            c.node_id.0,
            c.host.to_string(),
            c.port,
        ),
        None => (
            KafkaCode(response.error_code),
            response.node_id.0,
            response.host.to_string(),
            response.port,
        ),
    }
}
