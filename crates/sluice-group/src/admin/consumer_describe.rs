//! Describing a KIP-848 consumer-protocol group (ConsumerGroupDescribe, API
//! key 69): its group and assignment epochs, its server-side assignor and
//! per member its instance id, member epoch and assigned partitions.
//!
//! DescribeGroups shows a consumer-protocol group only as far as the
//! classic protocol has words for it, so [`super::describe_group`] asks
//! ConsumerGroupDescribe first where the coordinator offers it, and falls
//! back to DescribeGroups when the answer says the group is not a
//! consumer-protocol group (see [`Fallback`]).

use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup;
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse,
};
use sluice_fetch::TopicPartition;
use sluice_wire::connection::Connection;
use sluice_wire::{KafkaCode, WireError};

use super::group_id;
use crate::error::GroupError;
use crate::metrics::{GroupMetrics, MemberInfo};

/// A consumer-protocol group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupInfo {
    /// The group epoch: bumped by the coordinator at every change of the
    /// membership or the subscriptions.
    pub group_epoch: i32,
    /// The epoch of the target assignment the coordinator last computed.
    pub assignment_epoch: i32,
    /// The server-side assignor (`uniform`, `range`).
    pub assignor: String,
    /// Every member, in the order the coordinator listed them.
    pub members: Vec<ConsumerMemberInfo>,
}

/// One member of a consumer-protocol group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberInfo {
    /// The member id (chosen by the client from ConsumerGroupHeartbeat v1).
    pub member_id: String,
    /// The `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the broker saw it.
    pub client_host: String,
    /// The member epoch it last heartbeated with.
    pub member_epoch: i32,
    /// The partitions it owns now (its current assignment, not the target).
    pub partitions: Vec<TopicPartition>,
}

/// Why a ConsumerGroupDescribe answer sends the viewer to DescribeGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The coordinator's ApiVersions does not offer API 69 (or no version
    /// sluice speaks).
    NotOffered,
    /// UNSUPPORTED_VERSION for the group: a broker that knows the API but
    /// runs without the new group coordinator.
    UnsupportedVersion,
    /// GROUP_ID_NOT_FOUND: Kafka's answer for a group it does not know and
    /// for a classic group ("not a consumer group").
    GroupIdNotFound,
    /// An answer without error but with a negative group epoch: tansu 0.6
    /// answers API 69 for every group, classic ones included, with epochs
    /// -1 and no members.
    ClassicGroup,
}

/// What a ConsumerGroupDescribe answer says about the group.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A consumer-protocol group: the snapshot (state, assignor, members
    /// and partitions, as the classic view gives them) and the
    /// consumer-protocol details.
    Consumer(GroupMetrics, ConsumerGroupInfo),
    /// Not a consumer-protocol group (or not known as one): describe it
    /// with DescribeGroups.
    Fallback(Fallback),
}

/// The ConsumerGroupDescribe request for `group`.
pub fn describe_request(group: &str) -> ConsumerGroupDescribeRequest {
    ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(group)])
}

/// Reads `response` for `group`: a consumer-protocol group's description,
/// a fallback to DescribeGroups, or an error (an answer that leaves `group`
/// out, or any other error code, such as NOT_COORDINATOR).
pub fn decide(
    group: &str,
    response: &ConsumerGroupDescribeResponse,
) -> Result<Decision, GroupError> {
    let described = response
        .groups
        .iter()
        .find(|g| g.group_id.0.as_str() == group)
        .ok_or_else(|| {
            GroupError::State(format!("ConsumerGroupDescribe did not answer for {group}"))
        })?;
    let code = KafkaCode(described.error_code);
    if code == KafkaCode::UNSUPPORTED_VERSION {
        return Ok(Decision::Fallback(Fallback::UnsupportedVersion));
    }
    if code == KafkaCode::GROUP_ID_NOT_FOUND {
        return Ok(Decision::Fallback(Fallback::GroupIdNotFound));
    }
    if !code.is_ok() {
        return Err(GroupError::Admin {
            api: "ConsumerGroupDescribe",
            group: group.to_string(),
            code,
        });
    }
    if described.group_epoch < 0 {
        return Ok(Decision::Fallback(Fallback::ClassicGroup));
    }
    let info = info(described);
    Ok(Decision::Consumer(metrics(described, &info), info))
}

/// The consumer-protocol details of an answer known to be for a
/// consumer-protocol group.
fn info(described: &DescribedGroup) -> ConsumerGroupInfo {
    let members = described
        .members
        .iter()
        .map(|m| {
            let partitions = m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|t| {
                    // Kafka names the topic; an answer naming it by id only
                    // shows the id rather than dropping the partitions.
                    let name = if t.topic_name.0.is_empty() {
                        t.topic_id.to_string()
                    } else {
                        t.topic_name.0.to_string()
                    };
                    t.partitions
                        .iter()
                        .map(move |&p| TopicPartition::new(name.as_str(), p))
                })
                .collect();
            ConsumerMemberInfo {
                member_id: m.member_id.to_string(),
                instance_id: m.instance_id.as_ref().map(|s| s.to_string()),
                client_id: m.client_id.to_string(),
                client_host: m.client_host.to_string(),
                member_epoch: m.member_epoch,
                partitions,
            }
        })
        .collect();
    ConsumerGroupInfo {
        group_epoch: described.group_epoch,
        assignment_epoch: described.assignment_epoch,
        assignor: described.assignor_name.to_string(),
        members,
    }
}

/// The classic-shaped snapshot of a consumer-protocol group: the assignor
/// stands where a classic group's chosen protocol does.
fn metrics(described: &DescribedGroup, info: &ConsumerGroupInfo) -> GroupMetrics {
    let members: Vec<MemberInfo> = info
        .members
        .iter()
        .map(|m| MemberInfo {
            member_id: m.member_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            partitions: m.partitions.clone(),
        })
        .collect();
    let partitions = members.iter().map(|m| m.partitions.len()).sum();
    GroupMetrics {
        state: described.group_state.to_string(),
        protocol: info.assignor.clone(),
        members_per_partition: (partitions > 0).then(|| members.len() as f64 / partitions as f64),
        members,
        assignment: Vec::new(),
        partitions,
        lag: Default::default(),
    }
}

/// ConsumerGroupDescribe for `group` on its coordinator `conn`, or the
/// fallback when the coordinator does not offer the API.
pub(super) async fn describe_consumer(
    conn: &Connection,
    group: &str,
) -> Result<Decision, GroupError> {
    let version = match conn.versions().negotiate(ApiKey::ConsumerGroupDescribe) {
        Ok(version) => version,
        Err(WireError::UnsupportedApi { .. }) => {
            return Ok(Decision::Fallback(Fallback::NotOffered));
        }
        Err(e) => return Err(e.into()),
    };
    let response = conn.send_version(describe_request(group), version).await?;
    let decision = decide(group, &response)?;
    if let Decision::Fallback(why) = decision {
        tracing::debug!(
            group,
            ?why,
            "ConsumerGroupDescribe: describing with DescribeGroups"
        );
    }
    Ok(decision)
}

#[cfg(test)]
mod tests;
