//! Property tests over random memberships, subscriptions and previous
//! assignments, and a large case to show the algorithm is not quadratic.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use sluice_fetch::TopicPartition;

use crate::assignor::{Assignment, Assignor, CooperativeStickyAssignor, Member, StickyAssignor};

/// Every assigned partition exists and goes to one subscriber; with
/// `complete`, every subscribed partition is assigned.
pub(super) fn verify_validity(
    topics: &BTreeMap<String, i32>,
    members: &[Member],
    assignment: &Assignment,
    complete: bool,
) {
    assert_eq!(assignment.len(), members.len(), "{assignment:?}");
    let mut owner: HashMap<&TopicPartition, &str> = HashMap::new();
    for m in members {
        for tp in &assignment[&m.member_id] {
            assert!(
                m.subscribes(&tp.topic),
                "{tp} to non-subscriber {}",
                m.member_id
            );
            let count = topics.get(&*tp.topic).copied().unwrap_or(0);
            assert!((0..count).contains(&tp.partition), "{tp} does not exist");
            if let Some(other) = owner.insert(tp, &m.member_id) {
                panic!("{tp} assigned to {other} and {}", m.member_id);
            }
        }
    }
    if complete {
        for (topic, &count) in topics {
            if members.iter().any(|m| m.subscribes(topic)) {
                for p in 0..count {
                    let tp = TopicPartition::new(topic.as_str(), p);
                    assert!(owner.contains_key(&tp), "{tp} unassigned: {assignment:?}");
                }
            }
        }
    }
}

/// Valid, complete, and no partition could move to a subscriber of its
/// topic with two or more fewer partitions than its member.
pub(super) fn verify_validity_and_balance(
    topics: &BTreeMap<String, i32>,
    members: &[Member],
    assignment: &Assignment,
) {
    verify_validity(topics, members, assignment, true);
    for heavy in members {
        let heavy_count = assignment[&heavy.member_id].len();
        for light in members {
            if assignment[&light.member_id].len() + 2 > heavy_count {
                continue;
            }
            for tp in &assignment[&heavy.member_id] {
                assert!(
                    !light.subscribes(&tp.topic),
                    "{tp} could move from {} ({heavy_count}) to {} ({}): {assignment:?}",
                    heavy.member_id,
                    light.member_id,
                    assignment[&light.member_id].len()
                );
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    topics: BTreeMap<String, i32>,
    members: Vec<Member>,
}

/// Members "consumer{i}" with random subscriptions (all topics when
/// `uniform`), each previously owned partition with a random member (or a
/// departed one), all in `generation` or, when `None`, a random one each.
fn case(uniform: bool, generation: Option<i32>) -> impl Strategy<Value = Case> {
    (prop::collection::vec(0..=8i32, 1..=4), 1..=6usize)
        .prop_flat_map(move |(counts, n)| {
            let n_topics = counts.len();
            let total: usize = counts.iter().map(|&c| c as usize).sum();
            (
                Just(counts),
                prop::collection::vec(1u32..(1 << n_topics), n),
                prop::collection::vec(prop::option::of(0..n + 2), total),
                prop::collection::vec(prop::sample::select(vec![-1, 3, 4, 5]), n),
            )
        })
        .prop_map(move |(counts, masks, owners, generations)| {
            let topics: BTreeMap<String, i32> = counts
                .iter()
                .enumerate()
                .map(|(i, &c)| (format!("topic{i}"), c))
                .collect();
            let names: Vec<&String> = topics.keys().collect();
            let mut members: Vec<Member> = masks
                .iter()
                .enumerate()
                .map(|(i, &mask)| {
                    let subscribed: Vec<&str> = names
                        .iter()
                        .enumerate()
                        .filter(|(t, _)| uniform || mask & (1 << t) != 0)
                        .map(|(_, name)| name.as_str())
                        .collect();
                    Member {
                        generation: generation.unwrap_or(generations[i]),
                        ..Member::new(&format!("consumer{i}"), &subscribed)
                    }
                })
                .collect();
            let all = topics
                .iter()
                .flat_map(|(t, &c)| (0..c).map(move |p| TopicPartition::new(t.as_str(), p)));
            for (tp, owner) in all.zip(owners) {
                if let Some(m) = owner.and_then(|o| members.get_mut(o)) {
                    m.owned_partitions.push(tp);
                }
            }
            Case { topics, members }
        })
}

fn owners(members: &[Member]) -> HashMap<TopicPartition, String> {
    members
        .iter()
        .flat_map(|m| {
            m.owned_partitions
                .iter()
                .map(move |tp| (tp.clone(), m.member_id.clone()))
        })
        .collect()
}

/// The fewest partitions that must leave their owners for balance when all
/// subscribe to everything: the `P % N` members owning most keep `max`, the
/// others `min`.
fn minimal_moves(case: &Case) -> usize {
    let total: usize = case.topics.values().map(|&c| c as usize).sum();
    let n = case.members.len();
    let mut owned: Vec<usize> = case
        .members
        .iter()
        .map(|m| m.owned_partitions.len())
        .collect();
    owned.sort_unstable_by(|a, b| b.cmp(a));
    owned
        .iter()
        .enumerate()
        .map(|(i, &o)| {
            let quota = total / n + usize::from(i < total % n);
            o.saturating_sub(quota)
        })
        .sum()
}

fn resubscribe(members: &[Member], assignment: &Assignment) -> Vec<Member> {
    members
        .iter()
        .map(|m| Member {
            owned_partitions: assignment[&m.member_id].clone(),
            generation: m.generation.max(0) + 1,
            ..m.clone()
        })
        .collect()
}

/// A case where members also claim random extra partitions, so claims
/// overlap, in random generations.
fn conflicting_case() -> impl Strategy<Value = Case> {
    case(false, None)
        .prop_flat_map(|case| {
            let total: usize = case.topics.values().map(|&c| c as usize).sum();
            let n = case.members.len();
            (
                Just(case),
                prop::collection::vec(prop::collection::vec(0..total.max(1), 0..4), n),
            )
        })
        .prop_map(|(mut case, extra)| {
            let all: Vec<TopicPartition> = case
                .topics
                .iter()
                .flat_map(|(t, &c)| (0..c).map(move |p| TopicPartition::new(t.as_str(), p)))
                .collect();
            for (member, picks) in case.members.iter_mut().zip(extra) {
                member
                    .owned_partitions
                    .extend(picks.into_iter().filter_map(|i| all.get(i).cloned()));
            }
            case
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn overlapping_claims_still_give_a_valid_balanced_assignment(case in conflicting_case()) {
        let a = StickyAssignor.assign(&case.topics, &case.members);
        verify_validity_and_balance(&case.topics, &case.members, &a);
        let c = CooperativeStickyAssignor.assign(&case.topics, &case.members);
        verify_validity(&case.topics, &case.members, &c, false);
    }

    #[test]
    fn sticky_is_valid_and_balanced(case in case(false, None)) {
        let a = StickyAssignor.assign(&case.topics, &case.members);
        verify_validity_and_balance(&case.topics, &case.members, &a);
        // And stays so when the same members rejoin with it.
        let again = resubscribe(&case.members, &a);
        let b = StickyAssignor.assign(&case.topics, &again);
        verify_validity_and_balance(&case.topics, &again, &b);
    }

    #[test]
    fn uniform_subscriptions_differ_by_at_most_one(case in case(true, None)) {
        let a = StickyAssignor.assign(&case.topics, &case.members);
        verify_validity_and_balance(&case.topics, &case.members, &a);
        let sizes: Vec<usize> = a.values().map(Vec::len).collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        prop_assert!(max - min <= 1, "{a:?}");
    }

    #[test]
    fn uniform_subscriptions_move_only_what_balance_requires(case in case(true, Some(5))) {
        let a = StickyAssignor.assign(&case.topics, &case.members);
        let before = owners(&case.members);
        let moved = before
            .iter()
            .filter(|(tp, owner)| !a[*owner].contains(tp))
            .count();
        prop_assert_eq!(moved, minimal_moves(&case), "{:?} -> {:?}", case.members, a);
    }

    #[test]
    fn a_rejoining_group_keeps_its_assignment(case in case(false, None)) {
        // Balanced and sticky: the same members again change nothing.
        let a = StickyAssignor.assign(&case.topics, &case.members);
        let again = resubscribe(&case.members, &a);
        let b = StickyAssignor.assign(&case.topics, &again);
        for (member, partitions) in &a {
            let mut x = partitions.clone();
            let mut y = b[member].clone();
            x.sort();
            y.sort();
            prop_assert_eq!(x, y, "{}", member);
        }
    }

    #[test]
    fn cooperative_never_hands_over_a_partition_still_owned(
        case in prop_oneof![case(true, Some(5)), case(false, Some(5))]
    ) {
        let mut members = case.members.clone();
        for round in 0..5 {
            let a = CooperativeStickyAssignor.assign(&case.topics, &members);
            verify_validity(&case.topics, &members, &a, false);
            let before = owners(&members);
            let mut withheld = false;
            for (member, partitions) in &a {
                for tp in partitions {
                    if let Some(owner) = before.get(tp) {
                        prop_assert_eq!(owner, member, "round {}: {} handed over while owned", round, tp);
                    }
                }
            }
            for (tp, owner) in &before {
                if !a[owner].contains(tp) {
                    withheld = true;
                }
            }
            let complete = case.topics.iter().all(|(t, &c)| {
                !members.iter().any(|m| m.subscribes(t))
                    || (0..c).all(|p| a.values().any(|ps| ps.contains(&TopicPartition::new(t.as_str(), p))))
            });
            if !withheld && complete {
                verify_validity_and_balance(&case.topics, &members, &a);
                return Ok(());
            }
            members = resubscribe(&members, &a);
        }
        prop_assert!(false, "no stable assignment after 5 rounds");
    }
}

fn large(uniform: bool) {
    let topics: BTreeMap<String, i32> = (0..20).map(|t| (format!("t{t:02}"), 100)).collect();
    let all: Vec<&str> = topics.keys().map(String::as_str).collect();
    let members: Vec<Member> = (0..100)
        .map(|i| {
            let subscribed = if uniform || i != 99 {
                &all[..]
            } else {
                &all[..1]
            };
            Member::new(&format!("c{i:03}"), subscribed)
        })
        .collect();
    let start = std::time::Instant::now();
    let a = CooperativeStickyAssignor.assign(&topics, &members);
    let fresh = start.elapsed();
    verify_validity_and_balance(&topics, &members, &a);
    // One member leaves, one joins, the rest report what they own.
    let mut next = resubscribe(&members[1..], &a);
    next.push(Member::new("c100", &all));
    let start = std::time::Instant::now();
    let b = StickyAssignor.assign(&topics, &next);
    let rebalance = start.elapsed();
    verify_validity_and_balance(&topics, &next, &b);
    eprintln!(
        "100 members x 2000 partitions (uniform: {uniform}): fresh {fresh:?}, rebalance {rebalance:?}"
    );
}

#[test]
fn large_group_uniform_subscriptions() {
    large(true);
}

#[test]
fn large_group_uneven_subscriptions() {
    large(false);
}

/// Java's testAssignmentAndGroupWithNonEqualSubscriptionNotTimeout, scaled:
/// a quarter of the members subscribe to half the topics, the rest to the
/// other half; and a worst case for the general path, where one member
/// owned everything and most of it has to move.
#[test]
fn large_group_split_subscriptions_and_one_owner_of_everything() {
    let topics: BTreeMap<String, i32> = (0..20).map(|t| (format!("t{t:02}"), 100)).collect();
    let all: Vec<&str> = topics.keys().map(String::as_str).collect();
    let members: Vec<Member> = (0..100)
        .map(|i| {
            let subscribed = if i % 4 == 0 { &all[..10] } else { &all[10..] };
            Member::new(&format!("c{i:03}"), subscribed)
        })
        .collect();
    let start = std::time::Instant::now();
    let a = StickyAssignor.assign(&topics, &members);
    let split = start.elapsed();
    verify_validity_and_balance(&topics, &members, &a);

    let mut members: Vec<Member> = (0..100)
        .map(|i| {
            let subscribed = if i == 99 { &all[..1] } else { &all[..] };
            Member::new(&format!("c{i:03}"), subscribed)
        })
        .collect();
    members[0].owned_partitions = topics
        .iter()
        .flat_map(|(t, &c)| (0..c).map(move |p| TopicPartition::new(t.as_str(), p)))
        .collect();
    members[0].generation = 3;
    let start = std::time::Instant::now();
    let b = StickyAssignor.assign(&topics, &members);
    let one_owner = start.elapsed();
    verify_validity_and_balance(&topics, &members, &b);
    eprintln!(
        "100 members x 2000 partitions: split subscriptions {split:?}, one owner of everything {one_owner:?}"
    );
}
