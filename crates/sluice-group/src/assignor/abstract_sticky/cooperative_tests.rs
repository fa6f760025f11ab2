//! Cases ported from the Java client's `CooperativeStickyAssignorTest`:
//! member data, and the withholding of partitions that change member.

use super::java_tests::{GENERATION, counts, resubscribe, tps, v2};
use crate::assignor::{Assignment, Assignor, CooperativeStickyAssignor, Member};

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
