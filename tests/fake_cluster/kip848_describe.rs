//! Describing a KIP-848 consumer-protocol group from outside it (what
//! `sluice lag` and `sluice group describe` show): ConsumerGroupDescribe (API
//! 69) where the coordinator offers it, DescribeGroups otherwise.
//!
//! krafka 0.28.1's fake cluster has no ConsumerGroupDescribe (its
//! `supported_versions` in src/testing/handlers.rs does not list API 69 and
//! `dispatch` has no handler for it), so on it the viewer takes the
//! not-offered path. The API 69 path and the answer-driven fallbacks run
//! against sluice-testkit's replay broker, serving scripted answers shaped
//! as Apache Kafka 4.0 and tansu 0.6 give them.

use bytes::Bytes;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup as CgDescribed, Member, TopicPartitions,
};
use kafka_protocol::messages::describe_groups_response::{
    DescribedGroup as ClassicDescribed, DescribedGroupMember,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ConsumerGroupDescribeResponse, DescribeGroupsResponse,
    FindCoordinatorResponse, GroupId, OffsetFetchResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use krafka::testing::ApiKey as FakeApi;
use sluice_fetch::TopicPartition;
use sluice_fetch::pool::BrokerPool;
use sluice_group::admin::{ConsumerMemberInfo, GroupView, describe_group, view_group};
use sluice_group::protocol::MemberAssignment;
use sluice_integration::unique_name;
use sluice_testkit::fixture::{Exchange, FORMAT, Fixture};
use sluice_testkit::replay::ReplayBroker;
use sluice_wire::connection::ConnectionConfig;
use sluice_wire::protocol::{encode_response_body, encode_response_frame};
use uuid::Uuid;

use super::harness::{Cluster, Reader};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A pool bootstrapping from `bootstrap` (`host:port[,host:port...]`).
fn pool(bootstrap: String) -> std::sync::Arc<BrokerPool> {
    let servers = bootstrap.split(',').map(str::to_string).collect();
    BrokerPool::new(servers, ConnectionConfig::default())
}

/// A sluice consumer-protocol member reads and commits on the fake cluster;
/// the viewer finds no API 69 in the coordinator's ApiVersions and describes
/// the group with DescribeGroups (which, on the fake, knows no members of a
/// consumer-protocol group), and reads the committed offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_api_69_the_viewer_falls_back_to_describe_groups() {
    let c = Cluster::start("fk-848-describe", 2).await;
    c.produce(0, 10).await;
    let group = unique_name("fk-848-describe");
    let config = sluice::ConsumerConfig::from_pairs([
        ("bootstrap.servers", c.bootstrap().as_str()),
        ("group.id", group.as_str()),
        ("group.protocol", "consumer"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("fetch.max.wait.ms", "100"),
        ("request.timeout.ms", "5000"),
    ])
    .expect("config");
    let mut consumer = sluice::Consumer::new(config).expect("consumer");
    consumer
        .subscribe(&[c.topic.as_str()])
        .await
        .expect("subscribe");
    let mut a = Reader::new(consumer, true);
    let ends = c.ends();
    a.until_all(&ends).await;
    assert!(a.commit_errors.is_empty(), "{:?}", a.commit_errors);

    let before = c.broker.request_count(FakeApi::DescribeGroups);
    let view = view_group(&pool(c.bootstrap()), &group, &[])
        .await
        .expect("view");
    assert_eq!(c.broker.request_count(FakeApi::ConsumerGroupDescribe), 0);
    assert_eq!(c.broker.request_count(FakeApi::DescribeGroups), before + 1);
    assert_eq!(view.consumer, None);
    assert_eq!(view.group_protocol(), "classic");
    assert!(view.metrics.members.is_empty(), "{:?}", view.metrics);
    let committed: Vec<(i32, Option<i64>)> = view
        .committed
        .iter()
        .map(|(tp, o)| (tp.partition, o.as_ref().map(|o| o.offset)))
        .collect();
    assert_eq!(committed, vec![(0, Some(10)), (1, Some(10))]);
    a.consumer.close().await.expect("close");
}

/// One scripted exchange: `response` as the broker answers it at `version`.
fn exchange(api: ApiKey, version: i16, response: ResponseKind) -> Exchange {
    let body = encode_response_body(&response, api, version).expect("encode");
    let frame = encode_response_frame(0, api, version, &body).freeze();
    Exchange {
        api_key: api as i16,
        api_name: format!("{api:?}"),
        api_version: version,
        correlation_id: 0,
        connection: 0,
        request: Bytes::new(),
        response: Some(frame),
    }
}

/// A broker that coordinates every group itself (the replay broker rewrites
/// the address to its own).
fn find_coordinator() -> Exchange {
    let response = FindCoordinatorResponse::default().with_coordinators(vec![
        Coordinator::default()
            .with_key(s("any"))
            .with_node_id(BrokerId(1))
            .with_host(s("localhost"))
            .with_port(9092),
    ]);
    exchange(
        ApiKey::FindCoordinator,
        4,
        ResponseKind::FindCoordinator(response),
    )
}

/// `group` has committed 42 on `events`/0 and 7 on `events`/1.
fn offset_fetch(group: &str) -> Exchange {
    let partition = |p: i32, offset: i64| {
        OffsetFetchResponsePartitions::default()
            .with_partition_index(p)
            .with_committed_offset(offset)
            .with_committed_leader_epoch(-1)
    };
    let response = OffsetFetchResponse::default().with_groups(vec![
        OffsetFetchResponseGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(vec![
                OffsetFetchResponseTopics::default()
                    .with_name(TopicName(s("events")))
                    .with_partitions(vec![partition(0, 42), partition(1, 7)]),
            ]),
    ]);
    exchange(ApiKey::OffsetFetch, 8, ResponseKind::OffsetFetch(response))
}

fn consumer_describe(group: CgDescribed) -> Exchange {
    let response = ConsumerGroupDescribeResponse::default().with_groups(vec![group]);
    exchange(
        ApiKey::ConsumerGroupDescribe,
        1,
        ResponseKind::ConsumerGroupDescribe(response),
    )
}

fn assignment(partitions: &[i32]) -> Assignment {
    Assignment::default().with_topic_partitions(vec![
        TopicPartitions::default()
            .with_topic_id(Uuid::from_u128(0x848))
            .with_topic_name(TopicName(s("events")))
            .with_partitions(partitions.to_vec()),
    ])
}

/// A classic `range` group of one member owning `events`/0 and 1, as
/// DescribeGroups v4 gives it.
fn classic_describe(group: &str) -> Exchange {
    let owned = MemberAssignment {
        partitions: vec![
            TopicPartition::new("events", 0),
            TopicPartition::new("events", 1),
        ],
        user_data: None,
    };
    let response = DescribeGroupsResponse::default().with_groups(vec![
        ClassicDescribed::default()
            .with_group_id(GroupId(s(group)))
            .with_group_state(s("Stable"))
            .with_protocol_type(s("consumer"))
            .with_protocol_data(s("range"))
            .with_members(vec![
                DescribedGroupMember::default()
                    .with_member_id(s("classic-1"))
                    .with_client_id(s("old-client"))
                    .with_client_host(s("/10.0.0.9"))
                    .with_member_assignment(owned.encode(0).expect("assignment")),
            ]),
    ]);
    exchange(
        ApiKey::DescribeGroups,
        4,
        ResponseKind::DescribeGroups(response),
    )
}

/// Serves `exchanges` and views `group` through them, checking every
/// request found its answer and every answer was asked for.
async fn view_through(group: &str, exchanges: Vec<Exchange>) -> GroupView {
    let expected = exchanges.len();
    let broker = ReplayBroker::start(Fixture {
        format: FORMAT,
        client: "scripted".into(),
        broker: "scripted".into(),
        description: "describing a group".into(),
        exchanges,
    })
    .await
    .expect("replay broker");
    let view = view_group(&pool(broker.addr()), group, &[])
        .await
        .expect("view");
    assert_eq!(broker.mismatches(), Vec::<String>::new());
    assert_eq!(broker.served(), expected, "every scripted answer was used");
    view
}

fn committed(view: &GroupView) -> Vec<(i32, i64)> {
    view.committed
        .iter()
        .filter_map(|(tp, o)| o.as_ref().map(|o| (tp.partition, o.offset)))
        .collect()
}

/// A coordinator offering API 69 (Apache Kafka 4.0's answer shape): the view
/// shows the consumer protocol, the server-side assignor, both epochs and
/// each member's instance id, epoch and owned partitions.
#[tokio::test]
async fn with_api_69_a_consumer_group_shows_its_epochs_and_members() {
    let group = unique_name("cgd-848");
    let described = CgDescribed::default()
        .with_group_id(GroupId(s(&group)))
        .with_group_state(s("Reconciling"))
        .with_group_epoch(9)
        .with_assignment_epoch(9)
        .with_assignor_name(s("range"))
        .with_members(vec![
            Member::default()
                .with_member_id(s("dyn-1"))
                .with_client_id(s("sluice"))
                .with_client_host(s("/10.0.0.1"))
                .with_member_epoch(9)
                .with_assignment(assignment(&[0]))
                .with_target_assignment(assignment(&[0])),
            Member::default()
                .with_member_id(s("static-2"))
                .with_instance_id(Some(s("pod-2")))
                .with_client_id(s("rdkafka"))
                .with_client_host(s("/10.0.0.2"))
                .with_member_epoch(8)
                .with_assignment(assignment(&[1]))
                .with_target_assignment(assignment(&[1, 2])),
        ]);
    let view = view_through(
        &group,
        vec![
            find_coordinator(),
            consumer_describe(described),
            offset_fetch(&group),
        ],
    )
    .await;
    assert_eq!(view.group_protocol(), "consumer");
    assert_eq!(view.protocol_type, "consumer");
    assert_eq!(view.metrics.state, "Reconciling");
    assert_eq!(view.metrics.protocol, "range");
    let info = view.consumer.clone().expect("consumer-protocol details");
    assert_eq!(
        (
            info.group_epoch,
            info.assignment_epoch,
            info.assignor.as_str()
        ),
        (9, 9, "range")
    );
    assert_eq!(
        info.members,
        vec![
            ConsumerMemberInfo {
                member_id: "dyn-1".into(),
                instance_id: None,
                client_id: "sluice".into(),
                client_host: "/10.0.0.1".into(),
                member_epoch: 9,
                partitions: vec![TopicPartition::new("events", 0)],
            },
            ConsumerMemberInfo {
                member_id: "static-2".into(),
                instance_id: Some("pod-2".into()),
                client_id: "rdkafka".into(),
                client_host: "/10.0.0.2".into(),
                member_epoch: 8,
                partitions: vec![TopicPartition::new("events", 1)],
            },
        ]
    );
    let owners: Vec<(i32, String)> = view
        .metrics
        .owners()
        .into_iter()
        .map(|(tp, m)| (tp.partition, m))
        .collect();
    assert_eq!(
        owners,
        vec![(0, "dyn-1".to_string()), (1, "static-2".to_string())]
    );
    assert_eq!(committed(&view), vec![(0, 42), (1, 7)]);
}

/// GROUP_ID_NOT_FOUND (Kafka's answer for a classic group), UNSUPPORTED_VERSION
/// (a broker without the new coordinator) and tansu 0.6's error-free answer
/// with epoch -1 all send the viewer to DescribeGroups, whose classic view
/// it shows.
#[tokio::test]
async fn answers_for_classic_groups_fall_back_to_describe_groups() {
    let answers = [
        (
            "GROUP_ID_NOT_FOUND",
            CgDescribed::default()
                .with_error_code(69)
                .with_error_message(Some(s("Group is not a consumer group."))),
        ),
        (
            "UNSUPPORTED_VERSION",
            CgDescribed::default().with_error_code(35),
        ),
        (
            "tansu 0.6",
            CgDescribed::default()
                .with_error_message(Some(s("NONE")))
                .with_group_state(s("Stable"))
                .with_group_epoch(-1)
                .with_assignment_epoch(-1)
                .with_assignor_name(s("classic-1"))
                .with_authorized_operations(-1),
        ),
    ];
    for (what, answer) in answers {
        let group = unique_name("cgd-classic");
        let answer = answer.with_group_id(GroupId(s(&group)));
        let view = view_through(
            &group,
            vec![
                find_coordinator(),
                consumer_describe(answer),
                classic_describe(&group),
                offset_fetch(&group),
            ],
        )
        .await;
        assert_eq!(view.consumer, None, "{what}");
        assert_eq!(view.group_protocol(), "classic", "{what}");
        assert_eq!(view.metrics.state, "Stable", "{what}");
        assert_eq!(view.metrics.protocol, "range", "{what}");
        let members: Vec<(&str, usize)> = view
            .metrics
            .members
            .iter()
            .map(|m| (m.member_id.as_str(), m.partitions.len()))
            .collect();
        assert_eq!(members, vec![("classic-1", 2)], "{what}");
        assert_eq!(committed(&view), vec![(0, 42), (1, 7)], "{what}");
    }
}

/// A coordinator without API 69 in its ApiVersions is asked DescribeGroups
/// only (the replay broker offers exactly the APIs it has answers for).
#[tokio::test]
async fn a_coordinator_without_api_69_is_not_asked_it() {
    let group = unique_name("cgd-none");
    let broker = ReplayBroker::start(Fixture {
        format: FORMAT,
        client: "scripted".into(),
        broker: "scripted".into(),
        description: "describing a group on a broker without API 69".into(),
        exchanges: vec![find_coordinator(), classic_describe(&group)],
    })
    .await
    .expect("replay broker");
    let described = describe_group(&pool(broker.addr()), &group)
        .await
        .expect("describe");
    assert_eq!(broker.mismatches(), Vec::<String>::new());
    assert_eq!(broker.served(), 2);
    assert_eq!(described.group_protocol(), "classic");
    assert_eq!(described.metrics.members.len(), 1);
}
