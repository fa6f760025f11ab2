//! ConsumerGroupDescribe answers, encoded and decoded at every version
//! sluice speaks, and the fallback each kind of answer leads to.

use bytes::BytesMut;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{GroupId, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use uuid::Uuid;

use super::*;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn assignment(topic: &str, partitions: &[i32]) -> Assignment {
    Assignment::default().with_topic_partitions(vec![
        TopicPartitions::default()
            .with_topic_id(Uuid::from_u128(0x7))
            .with_topic_name(TopicName(s(topic)))
            .with_partitions(partitions.to_vec()),
    ])
}

/// A Stable consumer-protocol group of two members, one static, as Kafka
/// 4.0 answers it.
fn consumer_group() -> DescribedGroup {
    DescribedGroup::default()
        .with_group_id(GroupId(s("g")))
        .with_group_state(s("Stable"))
        .with_group_epoch(7)
        .with_assignment_epoch(7)
        .with_assignor_name(s("uniform"))
        .with_members(vec![
            Member::default()
                .with_member_id(s("m-a"))
                .with_client_id(s("client-a"))
                .with_client_host(s("/10.0.0.1"))
                .with_member_epoch(7)
                .with_subscribed_topic_names(vec![TopicName(s("events"))])
                .with_assignment(assignment("events", &[0, 2]))
                .with_target_assignment(assignment("events", &[0, 2])),
            Member::default()
                .with_member_id(s("m-b"))
                .with_instance_id(Some(s("static-b")))
                .with_client_id(s("client-b"))
                .with_client_host(s("/10.0.0.2"))
                .with_member_epoch(6)
                .with_subscribed_topic_names(vec![TopicName(s("events"))])
                .with_assignment(assignment("events", &[1]))
                .with_target_assignment(assignment("events", &[1, 3])),
        ])
}

fn response(group: DescribedGroup) -> ConsumerGroupDescribeResponse {
    ConsumerGroupDescribeResponse::default().with_groups(vec![group])
}

/// `response` through the wire at `version` and back.
fn round_trip(r: &ConsumerGroupDescribeResponse, version: i16) -> ConsumerGroupDescribeResponse {
    let mut buf = BytesMut::new();
    r.encode(&mut buf, version).unwrap();
    let mut bytes = buf.freeze();
    ConsumerGroupDescribeResponse::decode(&mut bytes, version).unwrap()
}

#[test]
fn a_consumer_group_is_described_with_its_epochs_assignor_and_members() {
    for version in 0..=1 {
        let decoded = round_trip(&response(consumer_group()), version);
        let Decision::Consumer(metrics, info) = decide("g", &decoded).unwrap() else {
            panic!("v{version}: a consumer-protocol group falls back");
        };
        assert_eq!(info.group_epoch, 7);
        assert_eq!(info.assignment_epoch, 7);
        assert_eq!(info.assignor, "uniform");
        assert_eq!(
            info.members,
            vec![
                ConsumerMemberInfo {
                    member_id: "m-a".into(),
                    instance_id: None,
                    client_id: "client-a".into(),
                    client_host: "/10.0.0.1".into(),
                    member_epoch: 7,
                    partitions: vec![
                        TopicPartition::new("events", 0),
                        TopicPartition::new("events", 2)
                    ],
                },
                ConsumerMemberInfo {
                    member_id: "m-b".into(),
                    instance_id: Some("static-b".into()),
                    client_id: "client-b".into(),
                    client_host: "/10.0.0.2".into(),
                    member_epoch: 6,
                    // What it owns now, not its target.
                    partitions: vec![TopicPartition::new("events", 1)],
                },
            ],
            "v{version}"
        );
        assert_eq!(metrics.state, "Stable");
        assert_eq!(metrics.protocol, "uniform");
        assert_eq!(metrics.partitions, 3);
        assert_eq!(metrics.members_per_partition, Some(2.0 / 3.0));
        let owners = metrics.owners();
        assert_eq!(owners[&TopicPartition::new("events", 1)], "m-b");
        assert_eq!(owners[&TopicPartition::new("events", 2)], "m-a");
    }
}

#[test]
fn a_topic_named_by_id_only_keeps_its_partitions() {
    let mut group = consumer_group();
    group.members[0].assignment.topic_partitions[0].topic_name = TopicName(s(""));
    let Decision::Consumer(_, info) = decide("g", &response(group)).unwrap() else {
        panic!("falls back");
    };
    assert_eq!(
        info.members[0].partitions,
        vec![
            TopicPartition::new(Uuid::from_u128(0x7).to_string().as_str(), 0),
            TopicPartition::new(Uuid::from_u128(0x7).to_string().as_str(), 2)
        ]
    );
}

#[test]
fn an_empty_consumer_group_is_still_a_consumer_group() {
    let group = DescribedGroup::default()
        .with_group_id(GroupId(s("g")))
        .with_group_state(s("Empty"))
        .with_group_epoch(3)
        .with_assignment_epoch(3)
        .with_assignor_name(s("range"));
    let Decision::Consumer(metrics, info) = decide("g", &response(group)).unwrap() else {
        panic!("falls back");
    };
    assert_eq!((info.group_epoch, info.members.len()), (3, 0));
    assert_eq!((metrics.state.as_str(), metrics.partitions), ("Empty", 0));
    assert_eq!(metrics.members_per_partition, None);
}

#[test]
fn unsupported_version_and_group_id_not_found_fall_back() {
    for (code, why) in [
        (KafkaCode::UNSUPPORTED_VERSION, Fallback::UnsupportedVersion),
        (KafkaCode::GROUP_ID_NOT_FOUND, Fallback::GroupIdNotFound),
    ] {
        let group = DescribedGroup::default()
            .with_group_id(GroupId(s("g")))
            .with_error_code(code.0)
            .with_error_message(Some(s("Group g is not a consumer group.")));
        let decoded = round_trip(&response(group), 0);
        assert_eq!(decide("g", &decoded).unwrap(), Decision::Fallback(why));
    }
}

/// tansu 0.6's answer for a classic group (tansu-storage's
/// `From<&NamedGroupDetail> for DescribedGroup`): no error, epochs -1, the
/// leader's member id as the assignor, no members.
#[test]
fn tansus_answer_for_a_classic_group_falls_back() {
    let group = DescribedGroup::default()
        .with_group_id(GroupId(s("g")))
        .with_error_message(Some(s("NONE")))
        .with_group_state(s("Stable"))
        .with_group_epoch(-1)
        .with_assignment_epoch(-1)
        .with_assignor_name(s("sluice-1-5e0b"))
        .with_authorized_operations(-1);
    let decoded = round_trip(&response(group), 0);
    assert_eq!(
        decide("g", &decoded).unwrap(),
        Decision::Fallback(Fallback::ClassicGroup)
    );
}

#[test]
fn other_errors_and_missing_groups_are_errors() {
    let group = DescribedGroup::default()
        .with_group_id(GroupId(s("g")))
        .with_error_code(KafkaCode::NOT_COORDINATOR.0);
    match decide("g", &response(group)) {
        Err(e @ GroupError::Admin { code, .. }) => {
            assert_eq!(code, KafkaCode::NOT_COORDINATOR);
            assert!(e.is_retriable());
        }
        other => panic!("NOT_COORDINATOR: {other:?}"),
    }
    let other_group = consumer_group().with_group_id(GroupId(s("h")));
    assert!(matches!(
        decide("g", &response(other_group)),
        Err(GroupError::State(_))
    ));
}

#[test]
fn the_request_names_the_group_at_every_version() {
    let request = describe_request("g-1");
    for version in 0..=1 {
        let mut buf = BytesMut::new();
        request.encode(&mut buf, version).unwrap();
        let mut bytes = buf.freeze();
        let decoded = ConsumerGroupDescribeRequest::decode(&mut bytes, version).unwrap();
        assert_eq!(decoded.group_ids, vec![GroupId(s("g-1"))]);
        assert!(!decoded.include_authorized_operations);
    }
}
