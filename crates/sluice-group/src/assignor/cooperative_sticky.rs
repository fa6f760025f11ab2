//! The cooperative sticky assignor (KIP-429; Java's
//! `CooperativeStickyAssignor`, librdkafka's `cooperative-sticky`): the
//! sticky assignment, less every partition that changes member. Those are
//! revoked by their old member first; the rebalance that follows gives them
//! to the new one. Members keep the rest throughout.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use sluice_fetch::TopicPartition;

use super::abstract_sticky::{self, MemberData, user_data};
use super::{Assignment, Assignor, Member, RebalanceProtocol};

/// `partition.assignment.strategy=cooperative-sticky`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl CooperativeStickyAssignor {
    /// What `member` owned: the subscription's owned partitions, with its
    /// generation (v2+), else the generation in the user data.
    pub(crate) fn member_data(member: &Member) -> MemberData {
        let generation = if member.generation >= 0 {
            Some(member.generation)
        } else {
            member.user_data.as_ref().map(|data| {
                if data.len() == 4 {
                    user_data::decode_generation(data)
                        .unwrap_or(abstract_sticky::DEFAULT_GENERATION)
                } else {
                    // librdkafka's cooperative-sticky members send the
                    // sticky layout; anything else unreadable is "none".
                    user_data::decode_sticky(data)
                        .ok()
                        .and_then(|d| d.generation)
                        .unwrap_or(abstract_sticky::DEFAULT_GENERATION)
                }
            })
        };
        MemberData {
            partitions: member.owned_partitions.clone(),
            generation,
        }
    }
}

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Eager, RebalanceProtocol::Cooperative]
    }

    /// The generation, as `CooperativeStickyAssignorUserData`.
    fn subscription_user_data(&self, _owned: &[TopicPartition], generation: i32) -> Option<Bytes> {
        Some(user_data::encode_generation(generation))
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Member],
    ) -> Assignment {
        let data: Vec<MemberData> = members.iter().map(Self::member_data).collect();
        let outcome = abstract_sticky::assign(partitions_per_topic, members, &data);
        let mut assignment = outcome.assignment;
        let transferring = match outcome.transferring {
            Some(t) => t,
            None => transferring(members, &assignment),
        };
        // Withhold what moves: its old member must revoke it first.
        for (tp, member) in transferring {
            if let Some(partitions) = assignment.get_mut(&member) {
                partitions.retain(|p| *p != tp);
            }
        }
        assignment
    }
}

/// Partitions assigned to a member that did not own them while some other
/// member owned them (and now loses them).
fn transferring(members: &[Member], assignment: &Assignment) -> BTreeMap<TopicPartition, String> {
    let mut added = BTreeMap::new();
    let mut revoked = HashSet::new();
    for member in members {
        let owned: HashSet<&TopicPartition> = member.owned_partitions.iter().collect();
        let assigned = assignment
            .get(&member.member_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for tp in assigned {
            if !owned.contains(tp) {
                added.insert(tp.clone(), member.member_id.clone());
            }
        }
        let assigned: HashSet<&TopicPartition> = assigned.iter().collect();
        for tp in &member.owned_partitions {
            if !assigned.contains(tp) {
                revoked.insert(tp.clone());
            }
        }
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}
