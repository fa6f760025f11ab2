//! The algorithm both sticky assignors share (Java's `AbstractStickyAssignor`,
//! librdkafka's `rdkafka_sticky_assignor.c`): balance first, then keep as
//! many partitions as possible with the member that owned them.
//!
//! Two paths, as in the Java client:
//! - [`constrained`]: every member subscribes to the same topics. Each
//!   member keeps up to its quota of what it owned, the rest is dealt out
//!   round-robin; linear in the number of partitions.
//! - [`general`]: subscriptions differ. Keep what is still valid, hand out the
//!   rest to the least-loaded subscriber, then move partitions from members
//!   with two or more partitions more than another subscriber of the topic.
//!
//! Owned partitions come with the generation the member owned them in; when
//! two members claim the same partition the newer generation wins, and a
//! claim by two members of the same generation is void for both.
//!
//! Tie-breaks follow the Java client, including the order a Java `HashMap`
//! of member ids iterates in (see [`java_hash_map_order`]), so for the same
//! subscriptions sluice as leader computes the assignment a Java leader
//! would.

mod constrained;
mod general;
pub(crate) mod user_data;

#[cfg(test)]
mod cooperative_tests;
#[cfg(test)]
mod java_tests;
#[cfg(test)]
mod prop_tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use sluice_fetch::TopicPartition;

use super::{Assignment, Member};

/// The generation a member reports when it has none.
pub(crate) const DEFAULT_GENERATION: i32 = -1;

/// What a member says it owned and in which generation (Java's
/// `MemberData`), taken from its subscription or its assignor user data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MemberData {
    /// The partitions it owned.
    pub partitions: Vec<TopicPartition>,
    /// The generation it owned them in, if it said.
    pub generation: Option<i32>,
}

/// The result of a sticky assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Member id to partitions.
    pub assignment: Assignment,
    /// Partitions the constrained path moved from one member to another
    /// (partition to new member); `None` after the general path, which does
    /// not track them (the cooperative assignor then computes them).
    pub transferring: Option<BTreeMap<TopicPartition, String>>,
}

/// The members as the algorithm sees them: indexes into the caller's slice,
/// with the orders the Java client breaks ties by.
pub(super) struct Group<'a> {
    /// Member ids by index.
    pub ids: Vec<&'a str>,
    /// Position of each member in member-id order (ties in sorted sets).
    pub rank: Vec<usize>,
    /// Member indexes in member-id order (the inverse of `rank`).
    pub by_rank: Vec<usize>,
    /// Member indexes in the order a Java `HashMap` keyed by member id
    /// iterates them.
    pub java_order: Vec<usize>,
    /// Each member's subscribed topics that exist.
    pub topics: Vec<BTreeSet<Arc<str>>>,
}

impl Group<'_> {
    pub fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Runs the sticky algorithm. `data[i]` is what `members[i]` owned.
pub(crate) fn assign(
    partitions_per_topic: &BTreeMap<String, i32>,
    members: &[Member],
    data: &[MemberData],
) -> Outcome {
    debug_assert_eq!(members.len(), data.len());
    let mut assignment: Assignment = members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    if members.is_empty() {
        return Outcome {
            assignment,
            transferring: Some(BTreeMap::new()),
        };
    }
    // Only topics someone subscribes to take part (Java's
    // AbstractPartitionAssignor filters the same way).
    let subscribed: HashSet<&str> = members
        .iter()
        .flat_map(|m| m.topics.iter().map(String::as_str))
        .collect();
    let topics: BTreeMap<Arc<str>, i32> = partitions_per_topic
        .iter()
        .filter(|(t, _)| subscribed.contains(t.as_str()))
        .map(|(t, &n)| (Arc::from(t.as_str()), n.max(0)))
        .collect();

    let ids: Vec<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
    let mut by_id: Vec<usize> = (0..members.len()).collect();
    by_id.sort_by(|&a, &b| ids[a].cmp(ids[b]).then(a.cmp(&b)));
    let mut rank = vec![0; members.len()];
    for (r, &i) in by_id.iter().enumerate() {
        rank[i] = r;
    }
    let member_topics: Vec<BTreeSet<Arc<str>>> = members
        .iter()
        .map(|m| {
            m.topics
                .iter()
                .filter_map(|t| topics.get_key_value(t.as_str()).map(|(k, _)| k.clone()))
                .collect()
        })
        .collect();
    let group = Group {
        java_order: java_hash_map_order(&ids),
        ids,
        rank,
        by_rank: by_id,
        topics: member_topics,
    };

    let all_equal = members
        .windows(2)
        .all(|w| same_topics(&w[0].topics, &w[1].topics));
    let claims = resolve_claims(&group, &topics, data);

    let (per_member, transferring) = if all_equal {
        let (per_member, moved) = constrained::assign(&group, &topics, claims);
        let moved = moved
            .into_iter()
            .map(|(tp, i)| (tp, group.ids[i].to_string()))
            .collect();
        (per_member, Some(moved))
    } else {
        (general::assign(&group, &topics, claims.owned, data), None)
    };
    for (i, partitions) in per_member.into_iter().enumerate() {
        if let Some(slot) = assignment.get_mut(group.ids[i]) {
            slot.extend(partitions);
        }
    }
    Outcome {
        assignment,
        transferring,
    }
}

fn same_topics(a: &[String], b: &[String]) -> bool {
    let a: BTreeSet<&String> = a.iter().collect();
    let b: BTreeSet<&String> = b.iter().collect();
    a == b
}

/// Each member's still-valid owned partitions after settling conflicts.
pub(super) struct Claims {
    /// Per member index, in the member's order.
    pub owned: Vec<Vec<TopicPartition>>,
    /// Partitions two members of the same generation both claimed.
    pub multiply_claimed: HashSet<TopicPartition>,
}

/// Java's `allSubscriptionsEqual` bookkeeping: keep each member's owned
/// partitions of existing topics, give a partition claimed twice to the
/// higher generation, and void it when both generations are equal.
fn resolve_claims(
    group: &Group<'_>,
    topics: &BTreeMap<Arc<str>, i32>,
    data: &[MemberData],
) -> Claims {
    let mut owned: Vec<Vec<TopicPartition>> = vec![Vec::new(); group.len()];
    let mut multiply_claimed = HashSet::new();
    let mut claimed_by: HashMap<TopicPartition, usize> = HashMap::new();
    let generation = |i: usize| data[i].generation.unwrap_or(DEFAULT_GENERATION);
    for &i in &group.java_order {
        let mut seen = HashSet::new();
        for tp in &data[i].partitions {
            let exists = topics
                .get(&tp.topic)
                .is_some_and(|&n| tp.partition >= 0 && tp.partition < n);
            if !exists || !seen.insert(tp.clone()) {
                continue;
            }
            match claimed_by.get(tp).copied() {
                None => {
                    owned[i].push(tp.clone());
                    claimed_by.insert(tp.clone(), i);
                }
                Some(other) => {
                    let (mine, theirs) = (generation(i), generation(other));
                    if mine == theirs {
                        tracing::error!(partition = %tp, a = group.ids[i], b = group.ids[other], generation = mine, "two members claim one partition in the same generation; neither keeps it");
                        multiply_claimed.insert(tp.clone());
                        owned[other].retain(|p| p != tp);
                        claimed_by.insert(tp.clone(), i);
                    } else if mine > theirs {
                        tracing::warn!(partition = %tp, kept_by = group.ids[i], generation = mine, other = group.ids[other], other_generation = theirs, "partition claimed in two generations; the newer keeps it");
                        owned[other].retain(|p| p != tp);
                        owned[i].push(tp.clone());
                        claimed_by.insert(tp.clone(), i);
                    } else {
                        tracing::warn!(partition = %tp, kept_by = group.ids[other], generation = theirs, other = group.ids[i], other_generation = mine, "partition claimed in two generations; the newer keeps it");
                    }
                }
            }
        }
    }
    Claims {
        owned,
        multiply_claimed,
    }
}

/// The order a Java `HashMap<String, _>` filled with `keys` (in this order,
/// distinct) iterates in: by bucket of the spread `String.hashCode`, then in
/// insertion order within a bucket. The table starts at 16 buckets and
/// doubles while more than 3/4 full.
pub(crate) fn java_hash_map_order(keys: &[&str]) -> Vec<usize> {
    let mut capacity: usize = 16;
    while keys.len() * 4 > capacity * 3 {
        capacity *= 2;
    }
    let bucket = |s: &str| {
        let h = s
            .encode_utf16()
            .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)));
        ((h ^ (h >> 16)) as usize) & (capacity - 1)
    };
    let mut order: Vec<(usize, usize)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (bucket(k), i))
        .collect();
    order.sort();
    order.into_iter().map(|(_, i)| i).collect()
}

/// The partitions of `topics`, sorted by topic then partition.
pub(super) fn all_partitions<'a>(
    topics: impl IntoIterator<Item = (&'a Arc<str>, i32)>,
) -> Vec<TopicPartition> {
    topics
        .into_iter()
        .flat_map(|(t, n)| (0..n).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect()
}
