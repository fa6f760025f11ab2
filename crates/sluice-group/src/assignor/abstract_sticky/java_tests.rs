//! Cases ported from the Java client's `AbstractStickyAssignorTest`,
//! `StickyAssignorTest` and `CooperativeStickyAssignorTest`, each named
//! after the Java test, with the assignments and
//! `partitionsTransferringOwnership` it asserts. Member and topic names are
//! the Java tests' own: tie-breaks depend on them.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use sluice_fetch::TopicPartition;

use super::prop_tests::verify_validity_and_balance;
use super::{MemberData, Outcome, assign, user_data};
use crate::assignor::{Assignment, Assignor, CooperativeStickyAssignor, Member, StickyAssignor};

const GENERATION: i32 = 1;

fn tp(s: &str) -> TopicPartition {
    let (t, p) = s.rsplit_once('-').expect("topic-partition");
    TopicPartition::new(t, p.parse().expect("partition"))
}

fn tps(list: &[&str]) -> Vec<TopicPartition> {
    list.iter().map(|s| tp(s)).collect()
}

fn counts(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
    list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

/// Java's `subscription(topics, i)`: nothing owned.
fn sub(id: &str, topics: &[&str]) -> Member {
    Member::new(id, topics)
}

/// Java's `buildSubscriptionV2Above`: owned partitions and generation in
/// the subscription itself.
fn v2(id: &str, topics: &[&str], owned: &[&str], generation: i32) -> Member {
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
fn resubscribe(members: &[Member], assignment: &Assignment, generation: i32) -> Vec<Member> {
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

// CooperativeStickyAssignorTest.

fn cooperative(topics: &[(&str, i32)], members: &[Member]) -> Assignment {
    CooperativeStickyAssignor.assign(&counts(topics), members)
}

#[test]
fn test_encode_and_decode_generation() {
    for generation in [-1, 10] {
        let member = Member {
            user_data: CooperativeStickyAssignor.subscription_user_data(&[], generation),
            ..Member::new("c", &["topic"])
        };
        assert_eq!(
            CooperativeStickyAssignor::member_data(&member).generation,
            Some(generation)
        );
    }
}

#[test]
fn test_decode_generation() {
    let member = Member::new("c", &["topic"]);
    assert_eq!(
        CooperativeStickyAssignor::member_data(&member).generation,
        None
    );
}

#[test]
fn test_member_data_with_inconsistent_data() {
    // v1: owned partitions in the subscription, generation only in user data.
    let member = Member {
        owned_partitions: tps(&["topic-0"]),
        user_data: CooperativeStickyAssignor.subscription_user_data(&tps(&["topic-1"]), GENERATION),
        ..Member::new("c", &["topic"])
    };
    let data = CooperativeStickyAssignor::member_data(&member);
    assert_eq!(data.partitions, tps(&["topic-0"]));
    assert_eq!(data.generation, Some(GENERATION));
}

#[test]
fn test_member_data_with_empty_partitions_and_higher_generation() {
    let member = Member {
        generation: GENERATION,
        user_data: CooperativeStickyAssignor
            .subscription_user_data(&tps(&["topic1-0"]), GENERATION - 1),
        ..Member::new("c", &["topic"])
    };
    let data = CooperativeStickyAssignor::member_data(&member);
    assert_eq!(data.partitions, Vec::new());
    assert_eq!(data.generation, Some(GENERATION));
}

#[test]
fn test_all_consumers_have_owned_partition_invalidated_when_claimed_by_multiple_consumers_in_same_generation_with_equal_partitions_per_consumer()
 {
    let members = [
        v2("consumer1", &["topic"], &["topic-0", "topic-1"], GENERATION),
        v2("consumer2", &["topic"], &["topic-0", "topic-2"], GENERATION),
        v2("consumer3", &["topic"], &[], GENERATION),
    ];
    let a = cooperative(&[("topic", 3)], &members);
    assert_eq!(a["consumer1"], tps(&["topic-1"]));
    assert_eq!(a["consumer2"], tps(&["topic-2"]));
    // topic-0 must be revoked by both before anyone gets it.
    assert!(a["consumer3"].is_empty());
}

#[test]
fn test_all_consumers_have_owned_partition_invalidated_when_claimed_by_multiple_consumers_in_same_generation_with_unequal_partitions_per_consumer()
 {
    let members = [
        v2("consumer1", &["topic"], &["topic-0", "topic-1"], GENERATION),
        v2("consumer2", &["topic"], &["topic-0", "topic-2"], GENERATION),
        v2("consumer3", &["topic"], &[], GENERATION),
    ];
    let a = cooperative(&[("topic", 4)], &members);
    assert_eq!(a["consumer1"], tps(&["topic-1", "topic-3"]));
    assert_eq!(a["consumer2"], tps(&["topic-2"]));
    assert!(a["consumer3"].is_empty());
}

#[test]
fn test_assignor_with_old_version_subscriptions() {
    // consumer1 and consumer2 send v1: owned partitions, generation in user data.
    let v1 = |id: &str, owned: &[&str]| Member {
        owned_partitions: tps(owned),
        user_data: CooperativeStickyAssignor.subscription_user_data(&[], GENERATION),
        ..Member::new(id, &["topic1"])
    };
    let members = [
        v1("consumer1", &["topic1-0"]),
        v1("consumer2", &["topic1-1"]),
        v2("consumer3", &["topic1"], &[], GENERATION),
    ];
    let a = cooperative(&[("topic1", 3)], &members);
    assert_eq!(a["consumer1"], tps(&["topic1-0"]));
    assert_eq!(a["consumer2"], tps(&["topic1-1"]));
    assert_eq!(a["consumer3"], tps(&["topic1-2"]));
}

/// testAddRemoveConsumerOneTopic as the cooperative assignor runs it: the
/// moving partition is withheld in the first round and handed over in the
/// follow-up rebalance, after its old owner revoked it.
#[test]
fn test_add_remove_consumer_one_topic_cooperative() {
    let members = [
        v2(
            "consumer1",
            &["topic"],
            &["topic-0", "topic-1", "topic-2"],
            GENERATION,
        ),
        v2("consumer2", &["topic"], &[], GENERATION),
    ];
    let first = cooperative(&[("topic", 3)], &members);
    assert_eq!(first["consumer1"], tps(&["topic-0", "topic-1"]));
    assert!(first["consumer2"].is_empty());
    let second = cooperative(
        &[("topic", 3)],
        &resubscribe(&members, &first, GENERATION + 1),
    );
    assert_eq!(second["consumer1"], tps(&["topic-0", "topic-1"]));
    assert_eq!(second["consumer2"], tps(&["topic-2"]));
}

/// General path (uneven subscriptions) under cooperative-sticky: what moves
/// is computed from owned vs assigned and withheld.
#[test]
fn cooperative_general_path_withholds_moving_partitions() {
    let members = [
        v2(
            "consumer1",
            &["topic1", "topic2"],
            &["topic1-0", "topic1-1", "topic1-2", "topic2-0"],
            GENERATION,
        ),
        v2("consumer2", &["topic1"], &[], GENERATION),
    ];
    let first = cooperative(&[("topic1", 3), ("topic2", 1)], &members);
    // Balance wants consumer2 to take two of topic1; they are revoked first.
    assert_eq!(first["consumer1"].len(), 2);
    assert!(first["consumer2"].is_empty());
    let second = cooperative(
        &[("topic1", 3), ("topic2", 1)],
        &resubscribe(&members, &first, GENERATION + 1),
    );
    assert_eq!(second["consumer1"], first["consumer1"]);
    assert_eq!(second["consumer2"].len(), 2);
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
