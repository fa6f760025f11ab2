//! Cases ported from the Java client's `AbstractStickyAssignorTest` and
//! `StickyAssignorTest` (cooperative ones in `cooperative_tests`), each named
//! after the Java test, with the assignments and
//! `partitionsTransferringOwnership` it asserts. Member and topic names are
//! the Java tests' own: tie-breaks depend on them.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use sluice_fetch::TopicPartition;

use super::prop_tests::verify_validity_and_balance;
use super::{MemberData, Outcome, assign, user_data};
use crate::assignor::{Assignment, Assignor, Member, StickyAssignor};

pub(super) const GENERATION: i32 = 1;

pub(super) fn tp(s: &str) -> TopicPartition {
    let (t, p) = s.rsplit_once('-').expect("topic-partition");
    TopicPartition::new(t, p.parse().expect("partition"))
}

pub(super) fn tps(list: &[&str]) -> Vec<TopicPartition> {
    list.iter().map(|s| tp(s)).collect()
}

pub(super) fn counts(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
    list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

/// Java's `subscription(topics, i)`: nothing owned.
pub(super) fn sub(id: &str, topics: &[&str]) -> Member {
    Member::new(id, topics)
}

/// Java's `buildSubscriptionV2Above`: owned partitions and generation in
/// the subscription itself.
pub(super) fn v2(id: &str, topics: &[&str], owned: &[&str], generation: i32) -> Member {
    Member {
        owned_partitions: tps(owned),
        generation,
        ..Member::new(id, topics)
    }
}

/// The shared algorithm, reading members as the sticky assignor does.
fn run(topics: &[(&str, i32)], members: &[Member]) -> Outcome {
    let data: Vec<MemberData> = members.iter().map(StickyAssignor::member_data).collect();
    let outcome = assign(&counts(topics), members, &data);
    verify_validity_and_balance(&counts(topics), members, &outcome.assignment);
    outcome
}

fn got<'a>(outcome: &'a Outcome, id: &str) -> &'a [TopicPartition] {
    &outcome.assignment[id]
}

fn set(list: &[TopicPartition]) -> BTreeSet<TopicPartition> {
    list.iter().cloned().collect()
}

fn moved(pairs: &[(&str, &str)]) -> Option<BTreeMap<TopicPartition, String>> {
    Some(pairs.iter().map(|(p, m)| (tp(p), m.to_string())).collect())
}

/// Members re-subscribing with what `assignment` gave them.
pub(super) fn resubscribe(
    members: &[Member],
    assignment: &Assignment,
    generation: i32,
) -> Vec<Member> {
    members
        .iter()
        .map(|m| Member {
            owned_partitions: assignment[&m.member_id].clone(),
            generation,
            ..m.clone()
        })
        .collect()
}

#[test]
fn test_one_consumer_one_topic() {
    let out = run(&[("topic", 3)], &[sub("consumer", &["topic"])]);
    assert_eq!(
        got(&out, "consumer"),
        tps(&["topic-0", "topic-1", "topic-2"])
    );
    assert_eq!(out.transferring, moved(&[]));
}

#[test]
fn test_only_assigns_partitions_from_subscribed_topics() {
    let owned = ["topic-0", "topic-1", "other-0", "other-1"];
    let out = run(
        &[("topic", 2)],
        &[v2("consumer", &["topic"], &owned, GENERATION)],
    );
    assert_eq!(got(&out, "consumer"), tps(&["topic-0", "topic-1"]));
    assert_eq!(out.transferring, moved(&[]));
}

#[test]
fn test_one_consumer_multiple_topics() {
    let out = run(
        &[("topic1", 1), ("topic2", 2)],
        &[sub("consumer", &["topic1", "topic2"])],
    );
    assert_eq!(
        got(&out, "consumer"),
        tps(&["topic1-0", "topic2-0", "topic2-1"])
    );
}

#[test]
fn test_two_consumers_one_topic_two_partitions() {
    let members = [sub("consumer1", &["topic"]), sub("consumer2", &["topic"])];
    let out = run(&[("topic", 2)], &members);
    assert_eq!(got(&out, "consumer1"), tps(&["topic-0"]));
    assert_eq!(got(&out, "consumer2"), tps(&["topic-1"]));
    assert_eq!(out.transferring, moved(&[]));
}

#[test]
fn test_multiple_consumers_mixed_topic_subscriptions() {
    let members = [
        sub("consumer1", &["topic1"]),
        sub("consumer2", &["topic1", "topic2"]),
        sub("consumer3", &["topic1"]),
    ];
    let out = run(&[("topic1", 3), ("topic2", 2)], &members);
    assert_eq!(got(&out, "consumer1"), tps(&["topic1-0", "topic1-2"]));
    assert_eq!(got(&out, "consumer2"), tps(&["topic2-0", "topic2-1"]));
    assert_eq!(got(&out, "consumer3"), tps(&["topic1-1"]));
    // The general path does not track movements.
    assert_eq!(out.transferring, None);
}

#[test]
fn test_two_consumers_two_topics_six_partitions() {
    let both = ["topic1", "topic2"];
    let members = [sub("consumer1", &both), sub("consumer2", &both)];
    let out = run(&[("topic1", 3), ("topic2", 3)], &members);
    assert_eq!(
        got(&out, "consumer1"),
        tps(&["topic1-0", "topic1-2", "topic2-1"])
    );
    assert_eq!(
        got(&out, "consumer2"),
        tps(&["topic1-1", "topic2-0", "topic2-2"])
    );
}

#[test]
fn test_consumer_owning_min_quota_expected_max_quota() {
    let both = ["topic1", "topic2"];
    let members = [
        v2("consumer1", &both, &["topic1-0", "topic2-1"], GENERATION),
        v2("consumer2", &both, &["topic1-1", "topic2-2"], GENERATION),
    ];
    let out = run(&[("topic1", 2), ("topic2", 3)], &members);
    assert_eq!(
        got(&out, "consumer1"),
        tps(&["topic1-0", "topic2-1", "topic2-0"])
    );
    assert_eq!(got(&out, "consumer2"), tps(&["topic1-1", "topic2-2"]));
    assert_eq!(out.transferring, moved(&[]));
}

#[test]
fn test_max_quota_consumer_more_than_num_expected_max_capacity_members() {
    let both = ["topic1", "topic2"];
    let members = [
        v2("consumer1", &both, &["topic1-0", "topic2-0"], GENERATION),
        v2("consumer2", &both, &["topic1-1", "topic2-1"], GENERATION),
        v2("consumer3", &both, &[], GENERATION),
    ];
    let out = run(&[("topic1", 2), ("topic2", 2)], &members);
    // Java's HashMap visits consumer2 before consumer1, so consumer2 keeps
    // both of its partitions.
    assert_eq!(out.transferring, moved(&[("topic2-0", "consumer3")]));
    assert_eq!(got(&out, "consumer1"), tps(&["topic1-0"]));
    assert_eq!(got(&out, "consumer2"), tps(&["topic1-1", "topic2-1"]));
    assert_eq!(got(&out, "consumer3"), tps(&["topic2-0"]));
}

#[test]
fn test_all_consumers_are_under_min_quota() {
    let both = ["topic1", "topic2"];
    let members = [
        v2("consumer1", &both, &["topic1-0"], GENERATION),
        v2("consumer2", &both, &["topic1-1"], GENERATION),
        v2("consumer3", &both, &[], GENERATION),
    ];
    let out = run(&[("topic1", 2), ("topic2", 3)], &members);
    assert_eq!(out.transferring, moved(&[]));
    assert_eq!(got(&out, "consumer1"), tps(&["topic1-0", "topic2-1"]));
    assert_eq!(got(&out, "consumer2"), tps(&["topic1-1", "topic2-2"]));
    assert_eq!(got(&out, "consumer3"), tps(&["topic2-0"]));
}

#[test]
fn test_add_remove_consumer_one_topic() {
    let topics = [("topic", 3)];
    let out = run(&topics, &[sub("consumer1", &["topic"])]);
    assert_eq!(
        got(&out, "consumer1"),
        tps(&["topic-0", "topic-1", "topic-2"])
    );

    let members = [
        v2(
            "consumer1",
            &["topic"],
            &["topic-0", "topic-1", "topic-2"],
            GENERATION,
        ),
        v2("consumer2", &["topic"], &[], GENERATION),
    ];
    let out = run(&topics, &members);
    assert_eq!(out.transferring, moved(&[("topic-2", "consumer2")]));
    assert_eq!(got(&out, "consumer1"), tps(&["topic-0", "topic-1"]));
    assert_eq!(got(&out, "consumer2"), tps(&["topic-2"]));

    let out = run(
        &topics,
        &[v2("consumer2", &["topic"], &["topic-2"], GENERATION)],
    );
    assert_eq!(
        set(got(&out, "consumer2")),
        set(&tps(&["topic-0", "topic-1", "topic-2"]))
    );
    assert_eq!(out.transferring, moved(&[]));
}

#[test]
fn test_add_remove_two_consumers_two_topics() {
    let all = ["topic1", "topic2"];
    let topics = [("topic1", 3), ("topic2", 4)];
    let out = run(&topics, &[sub("consumer1", &all), sub("consumer2", &all)]);
    let c1 = ["topic1-0", "topic1-2", "topic2-1", "topic2-3"];
    let c2 = ["topic1-1", "topic2-0", "topic2-2"];
    assert_eq!(got(&out, "consumer1"), tps(&c1));
    assert_eq!(got(&out, "consumer2"), tps(&c2));

    // Two consumers join.
    let members = [
        v2("consumer1", &all, &c1, GENERATION),
        v2("consumer2", &all, &c2, GENERATION),
        v2("consumer3", &all, &[], GENERATION),
        v2("consumer4", &all, &[], GENERATION),
    ];
    let out = run(&topics, &members);
    assert_eq!(
        out.transferring,
        moved(&[
            ("topic2-1", "consumer3"),
            ("topic2-3", "consumer3"),
            ("topic2-2", "consumer4")
        ])
    );
    assert_eq!(got(&out, "consumer1"), tps(&["topic1-0", "topic1-2"]));
    assert_eq!(got(&out, "consumer2"), tps(&["topic1-1", "topic2-0"]));
    assert_eq!(got(&out, "consumer3"), tps(&["topic2-1", "topic2-3"]));
    assert_eq!(got(&out, "consumer4"), tps(&["topic2-2"]));

    // The first two leave.
    let members = [
        v2("consumer3", &all, &["topic2-1", "topic2-3"], GENERATION),
        v2("consumer4", &all, &["topic2-2"], GENERATION),
    ];
    let out = run(&topics, &members);
    assert_eq!(
        got(&out, "consumer3"),
        tps(&["topic2-1", "topic2-3", "topic1-0", "topic2-0"])
    );
    assert_eq!(
        got(&out, "consumer4"),
        tps(&["topic2-2", "topic1-1", "topic1-2"])
    );
    assert_eq!(out.transferring, moved(&[]));
}

#[test]
fn test_poor_round_robin_assignment_scenario() {
    let topics: Vec<(String, i32)> = (1..=5)
        .map(|i| (format!("topic{i}"), (i % 2) + 1))
        .collect();
    let topics: Vec<(&str, i32)> = topics.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    let all = ["topic1", "topic2", "topic3", "topic4", "topic5"];
    let odd = ["topic1", "topic3", "topic5"];
    let members = [
        sub("consumer1", &all),
        sub("consumer2", &odd),
        sub("consumer3", &odd),
        sub("consumer4", &all),
    ];
    let out = run(&topics, &members);
    // Round robin leaves consumer3 empty; sticky gives everyone two.
    for m in &members {
        assert_eq!(got(&out, &m.member_id).len(), 2, "{}", m.member_id);
    }
}

#[test]
fn test_stickiness() {
    let topics = [("topic1", 3)];
    let ids = ["consumer1", "consumer2", "consumer3", "consumer4"];
    let members: Vec<Member> = ids.iter().map(|id| sub(id, &["topic1"])).collect();
    let first = run(&topics, &members);
    assert!(first.assignment.values().all(|ps| ps.len() <= 1));
    // The potential group leader leaves.
    let rest = resubscribe(&members[1..], &first.assignment, GENERATION);
    let second = run(&topics, &rest);
    assert_eq!(second.transferring, moved(&[]));
    for m in &rest {
        let now = got(&second, &m.member_id);
        assert_eq!(now.len(), 1);
        if let Some(before) = first.assignment[&m.member_id].first() {
            assert!(now.contains(before), "{} lost {before}", m.member_id);
        }
    }
}

#[test]
fn test_all_consumers_reach_expected_quota_and_are_considered_filled() {
    let members = [
        v2("consumer1", &["topic"], &["topic-0", "topic-1"], GENERATION),
        v2("consumer2", &["topic"], &["topic-2"], GENERATION),
        v2("consumer3", &["topic"], &[], GENERATION),
    ];
    let out = run(&[("topic", 4)], &members);
    assert_eq!(got(&out, "consumer1"), tps(&["topic-0", "topic-1"]));
    assert_eq!(got(&out, "consumer2"), tps(&["topic-2"]));
    assert_eq!(got(&out, "consumer3"), tps(&["topic-3"]));
    assert_eq!(out.transferring, moved(&[]));
}

fn stale_generation_case(older: i32) {
    let both = ["topic", "topic2"];
    let claimed = ["topic-0", "topic-2", "topic2-1"];
    let members = [
        v2("consumer1", &both, &claimed, 10),
        v2("consumer2", &both, &claimed, older),
    ];
    let out = run(&[("topic", 3), ("topic2", 3)], &members);
    assert_eq!(set(got(&out, "consumer1")), set(&tps(&claimed)));
    assert_eq!(
        set(got(&out, "consumer2")),
        set(&tps(&["topic-1", "topic2-0", "topic2-2"]))
    );
    assert_eq!(out.transferring, moved(&[]));
}

#[test]
fn test_owned_partitions_are_invalidated_for_consumer_with_stale_generation() {
    stale_generation_case(9);
}

#[test]
fn test_owned_partitions_are_invalidated_for_consumer_with_no_generation() {
    stale_generation_case(-1);
}

#[test]
fn test_partitions_transferring_ownership_include_the_partition_claimed_by_multiple_consumers_in_same_generation()
 {
    let members = [
        v2("consumer1", &["topic"], &["topic-0", "topic-1"], GENERATION),
        v2("consumer2", &["topic"], &["topic-0", "topic-2"], GENERATION),
        v2("consumer3", &["topic"], &[], GENERATION),
    ];
    let out = run(&[("topic", 3)], &members);
    assert_eq!(out.transferring, moved(&[("topic-0", "consumer3")]));
    assert_eq!(got(&out, "consumer1"), tps(&["topic-1"]));
    assert_eq!(got(&out, "consumer2"), tps(&["topic-2"]));
    assert_eq!(got(&out, "consumer3"), tps(&["topic-0"]));
}

#[test]
fn test_ensure_partitions_assigned_to_highest_generation() {
    let all = ["topic", "topic2", "topic3"];
    let members = [
        v2("consumer1", &all, &["topic-0", "topic2-0", "topic3-0"], 10),
        v2("consumer2", &all, &["topic-1", "topic2-1", "topic3-1"], 9),
        v2("consumer3", &all, &["topic2-1", "topic3-0", "topic3-2"], 8),
    ];
    let out = run(&[("topic", 3), ("topic2", 3), ("topic3", 3)], &members);
    assert_eq!(
        set(got(&out, "consumer1")),
        set(&tps(&["topic-0", "topic2-0", "topic3-0"]))
    );
    assert_eq!(
        set(got(&out, "consumer2")),
        set(&tps(&["topic-1", "topic2-1", "topic3-1"]))
    );
    assert_eq!(
        set(got(&out, "consumer3")),
        set(&tps(&["topic-2", "topic2-2", "topic3-2"]))
    );
    assert_eq!(out.transferring, moved(&[]));
}

#[test]
fn test_no_reassignment_on_current_members() {
    let all = ["topic", "topic2", "topic3", "topic1"];
    let members = [
        v2("consumer1", &all, &[], -1),
        v2("consumer2", &all, &["topic-0", "topic2-0", "topic1-0"], 9),
        v2("consumer3", &all, &["topic3-2", "topic2-2", "topic1-1"], 8),
        v2("consumer4", &all, &["topic3-1", "topic-1", "topic-2"], 7),
    ];
    let topics = [("topic", 3), ("topic1", 3), ("topic2", 3), ("topic3", 3)];
    let out = run(&topics, &members);
    assert_eq!(
        set(got(&out, "consumer1")),
        set(&tps(&["topic1-2", "topic2-1", "topic3-0"]))
    );
    assert_eq!(out.transferring, moved(&[]));
}

#[test]
fn test_owned_partitions_are_invalidated_for_consumer_with_multiple_generation() {
    let both = ["topic", "topic2"];
    let members = [
        v2("consumer1", &both, &["topic-0", "topic2-1", "topic-1"], 10),
        v2("consumer2", &both, &["topic-0", "topic2-1", "topic2-2"], 8),
    ];
    let out = run(&[("topic", 3), ("topic2", 3)], &members);
    assert_eq!(
        set(got(&out, "consumer1")),
        set(&tps(&["topic-0", "topic2-1", "topic-1"]))
    );
    assert_eq!(
        set(got(&out, "consumer2")),
        set(&tps(&["topic-2", "topic2-2", "topic2-0"]))
    );
    assert_eq!(out.transferring, moved(&[]));
}

/// The general-path example in the Java `StickyAssignor` Javadoc (its
/// "Example 2"): uneven subscriptions, then C0 leaves and only t0p0 moves.
#[test]
fn sticky_assignor_javadoc_example_2() {
    let topics = [("t0", 1), ("t1", 2), ("t2", 3)];
    let members = [
        sub("C0", &["t0"]),
        sub("C1", &["t0", "t1"]),
        sub("C2", &["t0", "t1", "t2"]),
    ];
    let out = run(&topics, &members);
    assert_eq!(got(&out, "C0"), tps(&["t0-0"]));
    assert_eq!(got(&out, "C1"), tps(&["t1-0", "t1-1"]));
    assert_eq!(got(&out, "C2"), tps(&["t2-0", "t2-1", "t2-2"]));
    let rest = resubscribe(&members[1..], &out.assignment, GENERATION);
    let out = run(&topics, &rest);
    assert_eq!(got(&out, "C1"), tps(&["t1-0", "t1-1", "t0-0"]));
    assert_eq!(got(&out, "C2"), tps(&["t2-0", "t2-1", "t2-2"]));
}

/// The Java `StickyAssignor` Javadoc's "Example 1": three members on four
/// two-partition topics, then C1 leaves and no partition of C0 or C2 moves.
/// (The Javadoc's second assignment predates the constrained path, which
/// hands C1's partitions out in topic order; what stays put is the same.)
#[test]
fn sticky_assignor_javadoc_example_1() {
    let all = ["t0", "t1", "t2", "t3"];
    let topics = [("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)];
    let members = [sub("C0", &all), sub("C1", &all), sub("C2", &all)];
    let out = run(&topics, &members);
    assert_eq!(got(&out, "C0"), tps(&["t0-0", "t1-1", "t3-0"]));
    assert_eq!(got(&out, "C1"), tps(&["t0-1", "t2-0", "t3-1"]));
    assert_eq!(got(&out, "C2"), tps(&["t1-0", "t2-1"]));
    let rest = resubscribe(
        &[members[0].clone(), members[2].clone()],
        &out.assignment,
        GENERATION,
    );
    let out = run(&topics, &rest);
    assert_eq!(got(&out, "C0"), tps(&["t0-0", "t1-1", "t3-0", "t0-1"]));
    assert_eq!(got(&out, "C2"), tps(&["t1-0", "t2-1", "t2-0", "t3-1"]));
    assert_eq!(out.transferring, moved(&[]));
}

/// Not a Java port: a member sending a v0 subscription (as librdkafka and
/// old Java clients do for `sticky`) says what it owned only in its user
/// data; decoded as membership decodes it, the sticky assignor reads it.
#[test]
fn v0_subscription_with_sticky_user_data() {
    use crate::protocol::Subscription;
    let owned = tps(&["topic-1", "topic-2"]);
    let wire = Subscription {
        topics: vec!["topic".into()],
        user_data: StickyAssignor.subscription_user_data(&owned, 4),
        generation_id: -1,
        ..Default::default()
    }
    .encode(0)
    .unwrap();
    let s = Subscription::decode(&wire).unwrap();
    let member = Member {
        owned_partitions: s.owned_partitions,
        generation: s.generation_id,
        user_data: s.user_data,
        ..Member::new("consumer2", &["topic"])
    };
    assert_eq!(member.generation, -1);
    assert_eq!(
        StickyAssignor::member_data(&member),
        MemberData {
            partitions: owned.clone(),
            generation: Some(4)
        }
    );
    let a = StickyAssignor.assign(
        &counts(&[("topic", 4)]),
        &[sub("consumer1", &["topic"]), member],
    );
    assert_eq!(a["consumer2"], owned);
    assert_eq!(a["consumer1"], tps(&["topic-0", "topic-3"]));
}

/// StickyAssignorTest.testMemberData: v0 subscriptions carry owned
/// partitions and generation only in the user data; v1 and v2 as well.
#[test]
fn test_member_data_sticky() {
    let owned = tps(&["topic1-0", "topic2-1"]);
    let user_data = user_data::encode_sticky(&owned, GENERATION);
    let v0 = Member {
        user_data: Some(user_data.clone()),
        ..Member::new("c", &["topic"])
    };
    let v1 = Member {
        owned_partitions: owned.clone(),
        ..v0.clone()
    };
    let v2 = Member {
        generation: GENERATION,
        ..v1.clone()
    };
    for member in [v0, v1, v2] {
        let data = StickyAssignor::member_data(&member);
        assert_eq!(data.partitions, owned);
        assert_eq!(data.generation, Some(GENERATION));
    }
    // Unreadable user data: nothing owned, default generation (Java's fallback).
    let bad = Member {
        user_data: Some(Bytes::from_static(&[0, 0, 0, 9])),
        owned_partitions: owned,
        ..Member::new("c", &["topic"])
    };
    assert_eq!(
        StickyAssignor::member_data(&bad),
        MemberData {
            partitions: Vec::new(),
            generation: Some(-1)
        }
    );
    assert_eq!(StickyAssignor.subscription_user_data(&[], -1), None);
    assert_eq!(
        StickyAssignor
            .subscription_user_data(&tps(&["t-0"]), 3)
            .unwrap(),
        user_data::encode_sticky(&tps(&["t-0"]), 3)
    );
}

/// Not a Java port: a static member restarting gets a new member id but
/// reports what it owned, and keeps it (ownership follows the subscription,
/// not the id); the newcomer's share comes from the others' surplus.
#[test]
fn static_member_restart_keeps_its_partitions() {
    let static_member = |id: &str, owned: &[&str]| Member {
        group_instance_id: Some("instance-a".into()),
        ..v2(id, &["topic"], owned, 5)
    };
    let members = [
        static_member("a-restarted", &["topic-0", "topic-1"]),
        v2("b", &["topic"], &["topic-2", "topic-3"], 5),
    ];
    let out = run(&[("topic", 4)], &members);
    assert_eq!(got(&out, "a-restarted"), tps(&["topic-0", "topic-1"]));
    assert_eq!(got(&out, "b"), tps(&["topic-2", "topic-3"]));
    assert_eq!(out.transferring, moved(&[]));
}

fn contains_all(haystack: &[TopicPartition], needles: &[TopicPartition]) -> bool {
    needles.iter().all(|tp| haystack.contains(tp))
}

/// StickyAssignorTest.testAssignmentWithMultipleGenerations1, both with
/// equal subscriptions (constrained path) and without (general path).
#[test]
fn test_assignment_with_multiple_generations1() {
    for all_equal in [true, false] {
        let all = ["topic", "topic2"];
        let c2_topics: &[&str] = if all_equal { &all } else { &["topic"] };
        let topics = [("topic", 6), ("topic2", 6)];
        let out = run(
            &topics,
            &[
                sub("consumer1", &all),
                sub("consumer2", c2_topics),
                sub("consumer3", &all),
            ],
        );
        let r1: Vec<Vec<TopicPartition>> = ["consumer1", "consumer2", "consumer3"]
            .iter()
            .map(|c| got(&out, c).to_vec())
            .collect();
        assert!(r1.iter().all(|p| p.len() == 4), "{all_equal}: {r1:?}");

        let out = run(
            &topics,
            &[
                Member {
                    owned_partitions: r1[0].clone(),
                    generation: GENERATION,
                    ..sub("consumer1", &all)
                },
                Member {
                    owned_partitions: r1[1].clone(),
                    generation: GENERATION,
                    ..sub("consumer2", c2_topics)
                },
            ],
        );
        let (r2p1, r2p2) = (
            got(&out, "consumer1").to_vec(),
            got(&out, "consumer2").to_vec(),
        );
        assert!(r2p1.len() == 6 && r2p2.len() == 6, "{all_equal}");
        if all_equal {
            assert!(contains_all(&r2p1, &r1[0]));
        }
        assert!(contains_all(&r2p2, &r1[1]), "{all_equal}");
        assert!(r2p2.iter().any(|tp| r1[2].contains(tp)), "{all_equal}");

        // consumer1 leaves; consumer3 comes back claiming its generation-1
        // partitions, some of which consumer2 holds in generation 2.
        let out = run(
            &topics,
            &[
                Member {
                    owned_partitions: r2p2.clone(),
                    generation: 2,
                    ..sub("consumer2", c2_topics)
                },
                Member {
                    owned_partitions: r1[2].clone(),
                    generation: 1,
                    ..sub("consumer3", &all)
                },
            ],
        );
        let (r3p2, r3p3) = (got(&out, "consumer2"), got(&out, "consumer3"));
        assert!(r3p2.len() == 6 && r3p3.len() == 6, "{all_equal}");
        assert!(!r3p2.iter().any(|tp| r3p3.contains(tp)));
    }
}

/// StickyAssignorTest.testAssignmentWithConflictingPreviousGenerations.
#[test]
fn test_assignment_with_conflicting_previous_generations() {
    for all_equal in [true, false] {
        let all = ["topic", "topic2", "topic3"];
        let c1_topics: &[&str] = if all_equal { &all } else { &["topic"] };
        let c2_topics: &[&str] = if all_equal {
            &all
        } else {
            &["topic", "topic2"]
        };
        let c1_owned: &[&str] = if all_equal {
            &[
                "topic-0", "topic-1", "topic-2", "topic2-2", "topic2-3", "topic3-0",
            ]
        } else {
            &["topic-0", "topic-1", "topic-2", "topic-3"]
        };
        let c2_owned = [
            "topic-0", "topic-1", "topic2-0", "topic2-1", "topic2-2", "topic2-3",
        ];
        let c3_owned = [
            "topic-2", "topic-3", "topic3-0", "topic3-1", "topic3-2", "topic3-3",
        ];
        let members = [
            v2("consumer1", c1_topics, c1_owned, 1),
            v2("consumer2", c2_topics, &c2_owned, 2),
            v2("consumer3", &all, &c3_owned, 2),
        ];
        let out = run(&[("topic", 4), ("topic2", 4), ("topic3", 4)], &members);
        for c in ["consumer1", "consumer2", "consumer3"] {
            assert_eq!(
                got(&out, c).len(),
                4,
                "{all_equal} {c}: {:?}",
                out.assignment
            );
        }
        assert!(
            contains_all(&tps(&c2_owned), got(&out, "consumer2")),
            "{all_equal}"
        );
        assert!(
            contains_all(&tps(&c3_owned), got(&out, "consumer3")),
            "{all_equal}"
        );
    }
}
