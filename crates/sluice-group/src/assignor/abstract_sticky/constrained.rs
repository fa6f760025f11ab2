//! The sticky algorithm when every member subscribes to the same topics
//! (Java's `ConstrainedAssignmentBuilder`, without rack awareness: sluice
//! knows no partition racks).
//!
//! With `P` partitions and `N` members each member ends with `P / N`
//! (`min`) or one more (`max`), and exactly `P % N` members get `max`.
//! 1. Each member, in Java `HashMap` order, keeps what it owned: all of it
//!    when under `min`; `max` of it while `max` slots remain; else `min`.
//!    What it gives up is revoked.
//! 2. The partitions left, in topic-partition order, go round-robin to the
//!    members under `min` (in member-id order), then one each to members at
//!    `min` while `max` slots remain.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use sluice_fetch::TopicPartition;

use super::{Claims, Group, all_partitions};

/// Per member index, its partitions; and the partitions that move from one
/// member to another, with their new member.
pub(super) fn assign(
    group: &Group<'_>,
    topics: &BTreeMap<Arc<str>, i32>,
    claims: Claims,
) -> (Vec<Vec<TopicPartition>>, Vec<(TopicPartition, usize)>) {
    let n = group.len();
    let total: usize = topics.values().map(|&c| c as usize).sum();
    let min_quota = total / n;
    let max_quota = total.div_ceil(n);
    let expected_over_min = total % n;
    let mut over_min = 0usize;

    let mut assignment: Vec<Vec<TopicPartition>> = vec![Vec::new(); n];
    let mut assigned: HashSet<TopicPartition> = HashSet::new();
    let mut revoked: HashSet<TopicPartition> = HashSet::new();
    let mut under_min: Vec<usize> = Vec::new();
    let mut at_min: Vec<usize> = Vec::new();
    let Claims {
        mut owned,
        multiply_claimed,
    } = claims;

    for &c in &group.java_order {
        let mut mine = std::mem::take(&mut owned[c]);
        mine.retain(|tp| !multiply_claimed.contains(tp));
        let keep = if mine.len() < min_quota {
            under_min.push(c);
            mine.len()
        } else if mine.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            if over_min == expected_over_min {
                at_min.clear();
            }
            max_quota
        } else {
            if over_min < expected_over_min {
                at_min.push(c);
            }
            min_quota
        };
        revoked.extend(mine.drain(keep..));
        assigned.extend(mine.iter().cloned());
        assignment[c] = mine;
    }

    let unassigned: Vec<TopicPartition> = all_partitions(topics.iter().map(|(t, &c)| (t, c)))
        .into_iter()
        .filter(|tp| !assigned.contains(tp))
        .collect();
    under_min.sort_by_key(|&c| group.rank[c]);
    at_min.sort_by_key(|&c| group.rank[c]);
    let mut at_min: std::collections::VecDeque<usize> = at_min.into();

    let mut moved: HashMap<TopicPartition, usize> = HashMap::new();
    // A cursor over `under_min`, as Java's iterator: `next` is the index of
    // the member after the last one handed out.
    let mut next = 0usize;
    for tp in unassigned {
        let (member, from_under) = if next < under_min.len() {
            next += 1;
            (under_min[next - 1], true)
        } else if !under_min.is_empty() {
            next = 1;
            (under_min[0], true)
        } else if let Some(c) = at_min.pop_front() {
            (c, false)
        } else {
            // Cannot happen: the quotas add up to the partition count.
            tracing::error!(partition = %tp, "sticky assignor: no member left under quota; giving the partition to the least loaded");
            let c = (0..n)
                .min_by_key(|&c| (assignment[c].len(), group.rank[c]))
                .unwrap_or(0);
            (c, false)
        };
        if revoked.contains(&tp) || multiply_claimed.contains(&tp) {
            moved.insert(tp.clone(), member);
        }
        assignment[member].push(tp);
        let count = assignment[member].len();
        if count == min_quota && from_under {
            next -= 1;
            under_min.remove(next);
            at_min.push_back(member);
        }
    }
    let mut moved: Vec<(TopicPartition, usize)> = moved.into_iter().collect();
    moved.sort();
    (assignment, moved)
}
