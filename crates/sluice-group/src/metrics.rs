//! Group-level metrics: who owns what, how loaded the group is, and lag.

use std::collections::BTreeMap;

use kafka_protocol::messages::DescribeGroupsResponse;
use sluice_fetch::TopicPartition;
use sluice_wire::KafkaCode;

use crate::error::GroupError;
use crate::protocol::MemberAssignment;

/// One member of the group as the coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member id.
    pub member_id: String,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the broker saw it.
    pub client_host: String,
    /// The partitions assigned to it.
    pub partitions: Vec<TopicPartition>,
}

/// A snapshot of the group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMetrics {
    /// The group's state (Stable, PreparingRebalance, Empty...).
    pub state: String,
    /// The assignor the group chose.
    pub protocol: String,
    /// Every member with its assignment.
    pub members: Vec<MemberInfo>,
    /// This member's partitions.
    pub assignment: Vec<TopicPartition>,
    /// Partitions assigned across the group.
    pub partitions: usize,
    /// Members per assigned partition: below 1 every member has work (each
    /// owns 1/ratio partitions on average); above 1 some members sit idle,
    /// since a partition is consumed by one member only. `None` with no
    /// partitions.
    pub members_per_partition: Option<f64>,
    /// This member's lag per partition (high watermark minus position).
    pub lag: BTreeMap<TopicPartition, Option<i64>>,
}

impl GroupMetrics {
    /// A group nothing is known of (state empty, no members): what a viewer
    /// gets from a broker that cannot describe groups.
    pub fn unknown() -> Self {
        GroupMetrics {
            state: String::new(),
            protocol: String::new(),
            members: Vec::new(),
            assignment: Vec::new(),
            partitions: 0,
            members_per_partition: None,
            lag: BTreeMap::new(),
        }
    }

    /// The owner of each assigned partition.
    pub fn owners(&self) -> BTreeMap<TopicPartition, String> {
        self.members
            .iter()
            .flat_map(|m| {
                m.partitions
                    .iter()
                    .map(|tp| (tp.clone(), m.member_id.clone()))
            })
            .collect()
    }
}

/// Builds the snapshot from a DescribeGroups answer for `group`.
pub fn describe_metrics(
    group: &str,
    response: &DescribeGroupsResponse,
    assignment: Vec<TopicPartition>,
    lag: BTreeMap<TopicPartition, Option<i64>>,
) -> Result<GroupMetrics, GroupError> {
    let described = response
        .groups
        .iter()
        .find(|g| g.group_id.0.as_str() == group)
        .ok_or_else(|| GroupError::State(format!("DescribeGroups did not answer for {group}")))?;
    let code = KafkaCode(described.error_code);
    if !code.is_ok() {
        return Err(GroupError::Coordinator {
            group: group.to_string(),
            code,
        });
    }
    let mut members = Vec::with_capacity(described.members.len());
    for m in &described.members {
        // An empty assignment (a member between join and sync) decodes to nothing.
        let partitions = if m.member_assignment.is_empty() {
            Vec::new()
        } else {
            MemberAssignment::decode(&m.member_assignment)?.partitions
        };
        members.push(MemberInfo {
            member_id: m.member_id.to_string(),
            client_id: m.client_id.to_string(),
            client_host: m.client_host.to_string(),
            partitions,
        });
    }
    let partitions = members.iter().map(|m| m.partitions.len()).sum();
    Ok(GroupMetrics {
        state: described.group_state.to_string(),
        protocol: described.protocol_data.to_string(),
        members_per_partition: (partitions > 0).then(|| members.len() as f64 / partitions as f64),
        members,
        assignment,
        partitions,
        lag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::GroupId;
    use kafka_protocol::messages::describe_groups_response::{
        DescribedGroup, DescribedGroupMember,
    };
    use kafka_protocol::protocol::StrBytes;

    fn member(id: &str, partitions: &[i32]) -> DescribedGroupMember {
        let a = MemberAssignment {
            partitions: partitions
                .iter()
                .map(|&p| TopicPartition::new("t", p))
                .collect(),
            user_data: None,
        };
        DescribedGroupMember::default()
            .with_member_id(StrBytes::from_string(id.into()))
            .with_member_assignment(a.encode(0).unwrap())
    }

    #[test]
    fn ratio_owners_and_errors() {
        let response = DescribeGroupsResponse::default().with_groups(vec![
            DescribedGroup::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_group_state(StrBytes::from_static_str("Stable"))
                .with_protocol_data(StrBytes::from_static_str("range"))
                .with_members(vec![
                    member("a", &[0, 1]),
                    member("b", &[2, 3]),
                    member("c", &[]),
                ]),
        ]);
        let m = describe_metrics("g", &response, vec![], BTreeMap::new()).unwrap();
        assert_eq!(m.partitions, 4);
        assert_eq!(m.members_per_partition, Some(0.75));
        assert_eq!(m.owners()[&TopicPartition::new("t", 3)], "b");
        assert_eq!(m.protocol, "range");

        let mut failed = response.clone();
        failed.groups[0].error_code = KafkaCode::NOT_COORDINATOR.0;
        assert!(matches!(
            describe_metrics("g", &failed, vec![], BTreeMap::new()),
            Err(GroupError::Coordinator {
                code: KafkaCode::NOT_COORDINATOR,
                ..
            })
        ));
        assert!(describe_metrics("other", &response, vec![], BTreeMap::new()).is_err());
    }
}
