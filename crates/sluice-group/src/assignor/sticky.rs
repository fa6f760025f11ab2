//! The sticky assignor (KIP-54; Java's `StickyAssignor`, librdkafka's
//! `sticky`): as balanced as the subscriptions allow, and otherwise leaving
//! partitions where they were. Eager: members still revoke everything
//! before they rejoin, and say in their user data what they had.

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_fetch::TopicPartition;

use super::abstract_sticky::{self, DEFAULT_GENERATION, MemberData, user_data};
use super::{Assignment, Assignor, Member};

/// `partition.assignment.strategy=sticky`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

impl StickyAssignor {
    /// What `member` owned: from its `StickyAssignorUserData` (as the Java
    /// client always reads it; unreadable data counts as nothing owned),
    /// else from its subscription's owned partitions and generation.
    pub(crate) fn member_data(member: &Member) -> MemberData {
        match member.user_data.as_ref().filter(|d| !d.is_empty()) {
            Some(data) => user_data::decode_sticky(data).unwrap_or_else(|e| {
                tracing::warn!(member = %member.member_id, error = %e, "unreadable sticky assignor user data; treating it as owning nothing");
                MemberData {
                    partitions: Vec::new(),
                    generation: Some(DEFAULT_GENERATION),
                }
            }),
            None => MemberData {
                partitions: member.owned_partitions.clone(),
                generation: (member.generation >= 0).then_some(member.generation),
            },
        }
    }
}

impl Assignor for StickyAssignor {
    fn name(&self) -> &'static str {
        "sticky"
    }

    /// `StickyAssignorUserData` v1 with what it owned, or none before its
    /// first assignment (as the Java client and librdkafka send).
    fn subscription_user_data(&self, owned: &[TopicPartition], generation: i32) -> Option<Bytes> {
        if owned.is_empty() && generation < 0 {
            return None;
        }
        Some(user_data::encode_sticky(owned, generation))
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> Assignment {
        let data: Vec<MemberData> = members.iter().map(Self::member_data).collect();
        abstract_sticky::assign(partitions_per_topic, members, &data).assignment
    }
}
