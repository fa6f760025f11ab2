//! Every transition of the consumer-protocol machine, with the exact
//! heartbeat fields each one sends.

use std::time::Duration;

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    BrokerId, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    FindCoordinatorResponse, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use sluice_fetch::TopicPartition;
use sluice_wire::{KafkaCode, WireError};
use uuid::Uuid;

use super::*;

const T: Uuid = Uuid::from_u128(0x7);
const U: Uuid = Uuid::from_u128(0x8);
const ME: &str = "3f2a9c3e-0000-4000-8000-000000000001";

fn config() -> GroupConfig {
    GroupConfig {
        group_id: "g".into(),
        max_poll_interval: Duration::from_secs(300),
        group_protocol: crate::config::GroupProtocol::Consumer,
        ..GroupConfig::default()
    }
}

fn coordinator(node: i32) -> FindCoordinatorResponse {
    FindCoordinatorResponse::default().with_coordinators(vec![
        Coordinator::default()
            .with_node_id(BrokerId(node))
            .with_host(StrBytes::from_static_str("h"))
            .with_port(9092),
    ])
}

fn answer(epoch: i32, assignment: Option<&[(Uuid, &[i32])]>) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_member_id(Some(StrBytes::from_static_str(ME)))
        .with_member_epoch(epoch)
        .with_heartbeat_interval_ms(2000)
        .with_assignment(assignment.map(|topics| {
            Assignment::default().with_topic_partitions(
                topics
                    .iter()
                    .map(|(id, ps)| {
                        TopicPartitions::default()
                            .with_topic_id(*id)
                            .with_partitions(ps.to_vec())
                    })
                    .collect(),
            )
        }))
}

fn error(code: KafkaCode) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(code.0)
        .with_member_epoch(-1)
}

fn tps(topic: &str, ps: &[i32]) -> Vec<TopicPartition> {
    ps.iter().map(|p| TopicPartition::new(topic, *p)).collect()
}

fn heartbeat(action: Option<ConsumerAction>) -> ConsumerGroupHeartbeatRequest {
    match action {
        Some(ConsumerAction::Heartbeat(r)) => r,
        other => panic!("expected a heartbeat, got {other:?}"),
    }
}

fn owned(r: &ConsumerGroupHeartbeatRequest) -> Option<Vec<(Uuid, Vec<i32>)>> {
    r.topic_partitions.as_ref().map(|tps| {
        tps.iter()
            .map(|t| (t.topic_id, t.partitions.clone()))
            .collect()
    })
}

/// A member past its joining heartbeat: coordinator found, epoch 0 sent.
fn joining(
    config: GroupConfig,
    now: Instant,
) -> (ConsumerMembership, ConsumerGroupHeartbeatRequest) {
    let mut m = ConsumerMembership::with_member_id(config, ME.into(), now);
    m.subscribe(vec!["t".into(), "a".into(), "t".into()]);
    assert!(matches!(
        m.poll_action(now),
        Some(ConsumerAction::FindCoordinator(_))
    ));
    assert_eq!(m.poll_action(now), None, "one request at a time");
    m.on_find_coordinator(&coordinator(2), now);
    assert_eq!(m.coordinator().map(|c| c.id), Some(2));
    let first = heartbeat(m.poll_action(now));
    assert_eq!(m.state(), MemberState::Joining);
    (m, first)
}

/// A member that owns t-0 and t-1 at epoch 5.
fn stable(now: Instant) -> ConsumerMembership {
    let (mut m, _) = joining(config(), now);
    m.on_heartbeat(&answer(5, Some(&[(T, &[0, 1])])), now);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::ResolveTopics(Some(vec![
            "a".into(),
            "t".into()
        ])))
    );
    m.on_topic_ids([(T, "t".to_string())]);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::Assign(tps("t", &[0, 1])))
    );
    m.assign_done();
    let ack = heartbeat(m.poll_action(now));
    assert_eq!(owned(&ack), Some(vec![(T, vec![0, 1])]));
    m.on_heartbeat(&answer(5, None), now);
    m
}

#[test]
fn the_first_heartbeat_joins_at_epoch_0_with_every_field() {
    let now = Instant::now();
    let mut config = config();
    config.group_instance_id = Some("i-1".into());
    config.remote_assignor = Some("uniform".into());
    let (_, first) = joining(config, now);
    assert_eq!(first.group_id.0.as_str(), "g");
    assert_eq!(
        first.member_id.as_str(),
        ME,
        "the client's own id (KIP-1082)"
    );
    assert_eq!(first.member_epoch, 0);
    assert_eq!(first.instance_id.as_deref(), Some("i-1"));
    assert_eq!(first.rack_id, None);
    assert_eq!(first.rebalance_timeout_ms, 300_000, "max.poll.interval.ms");
    assert_eq!(
        first.subscribed_topic_names,
        Some(vec![
            TopicName(StrBytes::from_static_str("a")),
            TopicName(StrBytes::from_static_str("t"))
        ]),
        "sorted, deduplicated"
    );
    assert_eq!(first.subscribed_topic_regex.as_deref(), Some(""));
    assert_eq!(first.server_assignor.as_deref(), Some("uniform"));
    assert_eq!(
        owned(&first),
        Some(vec![]),
        "joining owns nothing, and says so"
    );
}

#[test]
fn later_heartbeats_send_only_what_changed_at_the_answered_interval() {
    let now = Instant::now();
    let mut config = config();
    config.group_instance_id = Some("i-1".into());
    config.remote_assignor = Some("range".into());
    let (mut m, _) = joining(config, now);
    m.on_heartbeat(&answer(3, None), now);
    assert_eq!(m.state(), MemberState::Stable);
    assert_eq!(m.member_epoch(), 3);
    assert_eq!(m.generation().generation_id, 3, "commits carry the epoch");
    assert_eq!(m.generation().member_id, ME);
    assert_eq!(m.poll_action(now), None, "not due yet");
    assert_eq!(m.poll_timeout(), Some(now + Duration::from_millis(2000)));
    assert_eq!(m.poll_action(now + Duration::from_millis(1999)), None);
    let at = now + Duration::from_millis(2000);
    let next = heartbeat(m.poll_action(at));
    assert_eq!(next.member_epoch, 3);
    assert_eq!(next.member_id.as_str(), ME);
    assert_eq!(next.instance_id.as_deref(), Some("i-1"), "always sent");
    assert_eq!(next.rebalance_timeout_ms, -1);
    assert_eq!(next.subscribed_topic_names, None);
    assert_eq!(next.subscribed_topic_regex, None);
    assert_eq!(next.server_assignor, None);
    assert_eq!(next.topic_partitions, None);
    assert_eq!(
        m.poll_action(at + Duration::from_secs(10)),
        None,
        "in flight"
    );
}

#[test]
fn an_assignment_by_topic_id_is_resolved_then_assigned_and_acknowledged() {
    let now = Instant::now();
    let (mut m, _) = joining(config(), now);
    m.on_heartbeat(&answer(1, Some(&[(T, &[2, 0]), (U, &[1])])), now);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::ResolveTopics(Some(vec![
            "a".into(),
            "t".into()
        ])))
    );
    // Only t is known so far: its partitions are assigned, u's wait.
    m.on_topic_ids([(T, "t".to_string()), (Uuid::nil(), "x".to_string())]);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::Assign(tps("t", &[0, 2])))
    );
    assert_eq!(
        m.poll_action(now),
        None,
        "acknowledged once the consumer has them"
    );
    m.assign_done();
    assert_eq!(m.assignment(), tps("t", &[0, 2]));
    let ack = heartbeat(m.poll_action(now));
    assert_eq!(ack.member_epoch, 1);
    assert_eq!(owned(&ack), Some(vec![(T, vec![0, 2])]));
    m.on_heartbeat(&answer(1, None), now);
    // u's id is still unknown: asked again; once known, its partition is added.
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::ResolveTopics(Some(vec![
            "a".into(),
            "t".into()
        ])))
    );
    m.on_topic_ids([(U, "a".to_string())]);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::Assign(tps("a", &[1])))
    );
    m.assign_done();
    let ack = heartbeat(m.poll_action(now));
    assert_eq!(owned(&ack), Some(vec![(T, vec![0, 2]), (U, vec![1])]));
}

#[test]
fn revocation_comes_first_and_is_acknowledged_only_when_done() {
    let now = Instant::now();
    let mut m = stable(now);
    // The target moves t-1 away and adds t-2.
    m.on_heartbeat(&answer(6, Some(&[(T, &[0, 2])])), now);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::Revoke(tps("t", &[1])))
    );
    assert_eq!(
        m.poll_action(now),
        None,
        "nothing assigned before the revoke is done"
    );
    // A heartbeat due meanwhile still says t-0 and t-1 are owned (unchanged: null).
    let later = now + Duration::from_secs(2);
    let hb = heartbeat(m.poll_action(later));
    assert_eq!(hb.topic_partitions, None);
    assert_eq!(hb.member_epoch, 6);
    m.on_heartbeat(&answer(6, None), later);
    m.revoke_done();
    assert_eq!(m.assignment(), tps("t", &[0]));
    assert_eq!(
        m.poll_action(later),
        Some(ConsumerAction::Assign(tps("t", &[2])))
    );
    m.assign_done();
    let ack = heartbeat(m.poll_action(later));
    assert_eq!(owned(&ack), Some(vec![(T, vec![0, 2])]));
}

#[test]
fn a_revocation_alone_is_acknowledged_at_once() {
    let now = Instant::now();
    let mut m = stable(now);
    m.on_heartbeat(&answer(5, Some(&[(T, &[0])])), now);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::Revoke(tps("t", &[1])))
    );
    m.revoke_done();
    let ack = heartbeat(m.poll_action(now));
    assert_eq!(ack.member_epoch, 5);
    assert_eq!(owned(&ack), Some(vec![(T, vec![0])]));
}

#[test]
fn fenced_member_epoch_loses_everything_and_rejoins_at_epoch_0_with_the_same_id() {
    for code in [KafkaCode::FENCED_MEMBER_EPOCH, KafkaCode::UNKNOWN_MEMBER_ID] {
        let now = Instant::now();
        let mut m = stable(now);
        let later = now + Duration::from_secs(2);
        let _ = heartbeat(m.poll_action(later));
        m.on_heartbeat(&error(code), later);
        assert_eq!(
            m.poll_action(later),
            Some(ConsumerAction::Lose(tps("t", &[0, 1])))
        );
        assert_eq!(m.state(), MemberState::Fenced);
        assert_eq!(
            m.poll_action(later),
            None,
            "{code}: no rejoin before they are dropped"
        );
        m.revoke_done();
        assert!(m.assignment().is_empty());
        let rejoin = heartbeat(m.poll_action(later));
        assert_eq!(rejoin.member_epoch, 0, "{code}");
        assert_eq!(
            rejoin.member_id.as_str(),
            ME,
            "{code}: the member id is kept"
        );
        assert_eq!(rejoin.rebalance_timeout_ms, 300_000);
        assert!(rejoin.subscribed_topic_names.is_some());
        assert_eq!(owned(&rejoin), Some(vec![]));
        assert!(m.take_error().is_none());
    }
}

#[test]
fn a_fence_during_an_assignment_loses_what_was_being_assigned_too() {
    let now = Instant::now();
    let (mut m, _) = joining(config(), now);
    m.on_topic_ids([(T, "t".to_string())]);
    m.on_heartbeat(&answer(1, Some(&[(T, &[0])])), now);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::Assign(tps("t", &[0])))
    );
    m.on_commit_error(KafkaCode::FENCED_MEMBER_EPOCH, now);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::Lose(tps("t", &[0])))
    );
    m.assign_done(); // late: ignored
    assert!(m.assignment().is_empty());
    m.revoke_done();
    assert_eq!(heartbeat(m.poll_action(now)).member_epoch, 0);
}

#[test]
fn a_fence_without_partitions_rejoins_at_once() {
    let now = Instant::now();
    let (mut m, _) = joining(config(), now);
    m.on_heartbeat(&error(KafkaCode::UNKNOWN_MEMBER_ID), now);
    let rejoin = heartbeat(m.poll_action(now));
    assert_eq!(rejoin.member_epoch, 0);
    assert!(rejoin.subscribed_topic_names.is_some());
}

#[test]
fn close_leaves_with_epoch_minus_1_and_minus_2_when_static() {
    for (instance, epoch) in [(None, LEAVE_EPOCH), (Some("i-1"), LEAVE_STATIC_EPOCH)] {
        let now = Instant::now();
        let mut config = config();
        config.group_instance_id = instance.map(String::from);
        let (mut m, _) = joining(config, now);
        m.on_heartbeat(&answer(4, None), now);
        m.close();
        let Some(ConsumerAction::Leave(leave)) = m.poll_action(now) else {
            panic!("a leave");
        };
        assert_eq!(leave.member_epoch, epoch);
        assert_eq!(leave.member_id.as_str(), ME);
        assert_eq!(leave.instance_id.as_deref(), instance);
        assert_eq!(leave.subscribed_topic_names, None);
        assert_eq!(leave.topic_partitions, None);
        assert_eq!(m.poll_action(now), None);
        assert_eq!(m.state(), MemberState::Closed);
    }
    // Never joined: nothing to leave.
    let mut m = ConsumerMembership::new(config(), Instant::now());
    m.close();
    assert_eq!(m.poll_action(Instant::now()), None);
}

#[test]
fn a_broker_without_the_api_is_fatal_and_says_to_use_the_classic_protocol() {
    let now = Instant::now();
    let (mut m, _) = joining(config(), now);
    let missing = GroupError::Wire(WireError::UnsupportedApi {
        api: kafka_protocol::messages::ApiKey::ConsumerGroupHeartbeat,
        ours: kafka_protocol::protocol::VersionRange { min: 0, max: 1 },
        broker: None,
    });
    m.on_heartbeat_failed(&missing, now);
    let err = m.take_error().expect("fatal").to_string();
    assert!(err.contains("group.protocol=classic"), "{err}");
    assert!(err.contains("ConsumerGroupHeartbeat"), "{err}");
    assert_eq!(m.state(), MemberState::Closed);
    assert_eq!(m.poll_action(now), None);

    let (mut m, _) = joining(config(), now);
    m.on_heartbeat(&error(KafkaCode::UNSUPPORTED_VERSION), now);
    let err = m.take_error().expect("fatal").to_string();
    assert!(err.contains("group.protocol=classic"), "{err}");
}

#[test]
fn fatal_codes_stop_the_member() {
    for code in [
        KafkaCode::UNSUPPORTED_ASSIGNOR,
        KafkaCode::FENCED_INSTANCE_ID,
        KafkaCode::UNRELEASED_INSTANCE_ID,
        KafkaCode::GROUP_MAX_SIZE_REACHED,
        KafkaCode::INVALID_REQUEST,
    ] {
        let now = Instant::now();
        let mut m = stable(now);
        let _ = heartbeat(m.poll_action(now + Duration::from_secs(2)));
        m.on_heartbeat(&error(code), now);
        let err = m.take_error().expect("fatal");
        assert!(err.to_string().contains(&code.to_string()), "{err}");
        assert!(m.assignment().is_empty());
        assert_eq!(m.poll_action(now), None);
    }
}

#[test]
fn a_lost_coordinator_is_found_again_and_failures_resend_every_field() {
    let now = Instant::now();
    let mut m = stable(now);
    let later = now + Duration::from_secs(2);
    let _ = heartbeat(m.poll_action(later));
    m.on_heartbeat(&error(KafkaCode::NOT_COORDINATOR), later);
    assert!(m.coordinator().is_none());
    assert!(matches!(
        m.poll_action(later),
        Some(ConsumerAction::FindCoordinator(_))
    ));
    m.on_find_coordinator(&coordinator(1), later);
    // At once, at the same epoch, changes only.
    let hb = heartbeat(m.poll_action(later));
    assert_eq!(hb.member_epoch, 5);
    assert_eq!(hb.subscribed_topic_names, None);
    // A heartbeat lost on the way: the next sends everything again.
    m.on_request_failed(ConsumerRequest::Heartbeat, later);
    assert!(m.coordinator().is_none());
    assert_eq!(m.poll_action(later), None, "backoff");
    let at = later + Duration::from_millis(100);
    assert!(matches!(
        m.poll_action(at),
        Some(ConsumerAction::FindCoordinator(_))
    ));
    m.on_find_coordinator(&coordinator(1), at);
    let full = heartbeat(m.poll_action(at));
    assert_eq!(full.member_epoch, 5);
    assert_eq!(full.rebalance_timeout_ms, 300_000);
    assert!(full.subscribed_topic_names.is_some());
    assert_eq!(owned(&full), Some(vec![(T, vec![0, 1])]));
}

#[test]
fn retriable_errors_back_off_and_retry() {
    let now = Instant::now();
    let (mut m, _) = joining(config(), now);
    m.on_heartbeat(&error(KafkaCode::COORDINATOR_LOAD_IN_PROGRESS), now);
    assert_eq!(m.poll_action(now), None);
    let again = heartbeat(m.poll_action(now + Duration::from_millis(100)));
    assert_eq!(again.member_epoch, 0);
    assert!(
        again.subscribed_topic_names.is_some(),
        "still joining: every field"
    );
}

#[test]
fn a_new_subscription_goes_out_at_once() {
    let now = Instant::now();
    let mut m = stable(now);
    m.subscribe(vec!["t".into(), "a".into()]);
    assert_eq!(m.poll_action(now), None, "unchanged");
    m.subscribe(vec!["t".into(), "b".into()]);
    let hb = heartbeat(m.poll_action(now));
    assert_eq!(
        hb.subscribed_topic_names,
        Some(vec![
            TopicName(StrBytes::from_static_str("b")),
            TopicName(StrBytes::from_static_str("t"))
        ])
    );
    assert_eq!(hb.rebalance_timeout_ms, -1);
    assert_eq!(hb.topic_partitions, None);
}

#[test]
fn a_member_that_stops_polling_leaves_loses_its_partitions_and_rejoins_on_poll() {
    let now = Instant::now();
    let mut m = stable(now);
    let late = now + Duration::from_secs(301);
    let Some(ConsumerAction::Leave(leave)) = m.poll_action(late) else {
        panic!("a leave");
    };
    assert_eq!(leave.member_epoch, LEAVE_EPOCH);
    assert_eq!(
        m.poll_action(late),
        Some(ConsumerAction::Lose(tps("t", &[0, 1])))
    );
    assert_eq!(m.state(), MemberState::Stale);
    m.revoke_done();
    assert_eq!(m.poll_action(late), None, "waits for the application");
    m.on_poll_started(late);
    let rejoin = heartbeat(m.poll_action(late));
    assert_eq!(rejoin.member_epoch, 0);
    assert_eq!(owned(&rejoin), Some(vec![]));
}

#[test]
fn a_poll_in_progress_is_not_a_poll_timeout() {
    let now = Instant::now();
    let mut m = stable(now);
    m.on_poll_started(now);
    let hb = heartbeat(m.poll_action(now + Duration::from_secs(400)));
    assert_eq!(hb.member_epoch, 5);
}

#[test]
fn nothing_is_sent_without_a_subscription() {
    let now = Instant::now();
    let mut m = ConsumerMembership::new(config(), now);
    assert_eq!(m.poll_action(now), None);
    assert_eq!(m.generation().member_id.len(), 36, "a UUID");
    assert_ne!(
        m.generation().member_id,
        ConsumerMembership::new(config(), now)
            .generation()
            .member_id
    );
}

#[test]
fn heartbeats_encode_at_both_versions() {
    let now = Instant::now();
    let (_, first) = joining(config(), now);
    assert!(
        first.encode(&mut bytes::BytesMut::new(), 0).is_err(),
        "v0 has no regex"
    );
    for v in 0..=1 {
        let fitted = fit(first.clone(), v);
        fitted
            .encode(&mut bytes::BytesMut::new(), v)
            .unwrap_or_else(|e| panic!("v{v}: {e}"));
    }
    assert_eq!(fit(first.clone(), 1), first);
}

#[test]
fn a_pattern_subscription_sends_the_regex_and_resolves_every_topic() {
    let now = Instant::now();
    let (mut m, _) = joining(config(), now);
    m.on_heartbeat(&answer(1, None), now);
    m.subscribe_pattern("^orders-.*".into());
    let hb = heartbeat(m.poll_action(now));
    assert_eq!(hb.subscribed_topic_names, Some(vec![]));
    assert_eq!(hb.subscribed_topic_regex.as_deref(), Some("^orders-.*"));
    m.on_heartbeat(&answer(2, Some(&[(U, &[0])])), now);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::ResolveTopics(None))
    );
    m.on_topic_ids([(U, "orders-eu".to_string())]);
    assert_eq!(
        m.poll_action(now),
        Some(ConsumerAction::Assign(tps("orders-eu", &[0])))
    );
    // Unchanged: null; back to names: the names and an empty pattern.
    m.assign_done();
    let ack = heartbeat(m.poll_action(now));
    assert_eq!(ack.subscribed_topic_regex, None);
    m.on_heartbeat(&answer(2, None), now);
    m.subscribe(vec!["t".into()]);
    let hb = heartbeat(m.poll_action(now));
    assert_eq!(
        hb.subscribed_topic_names,
        Some(vec![TopicName(StrBytes::from_static_str("t"))])
    );
    assert_eq!(hb.subscribed_topic_regex.as_deref(), Some(""));
}
