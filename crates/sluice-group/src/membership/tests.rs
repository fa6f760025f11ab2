//! Every error path of the membership state machine, with an injected clock
//! and hand-made responses: no sockets, no sleeps.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use sluice_wire::KafkaCode;

use super::*;
use crate::assignor::by_name;

fn config() -> GroupConfig {
    GroupConfig {
        group_id: "g".into(),
        session_timeout: Duration::from_secs(6),
        heartbeat_interval: Duration::from_secs(1),
        max_poll_interval: Duration::from_secs(30),
        ..GroupConfig::default()
    }
}

fn member(t0: Instant) -> Membership {
    let assignors = ["range", "roundrobin"]
        .iter()
        .map(|n| by_name(n).unwrap())
        .collect();
    let mut m = Membership::new(config(), assignors, t0);
    m.subscribe(vec!["t".into()]);
    m
}

fn coordinator(node: i32) -> FindCoordinatorResponse {
    FindCoordinatorResponse::default().with_coordinators(vec![
        Coordinator::default()
            .with_node_id(BrokerId(node))
            .with_host(StrBytes::from_static_str("h"))
            .with_port(9092),
    ])
}

fn join_ok(generation: i32, me: &str, leader: &str, members: &[&str]) -> JoinGroupResponse {
    let metadata = Subscription {
        topics: vec!["t".into()],
        generation_id: -1,
        ..Default::default()
    }
    .encode(0)
    .unwrap();
    JoinGroupResponse::default()
        .with_generation_id(generation)
        .with_member_id(StrBytes::from_string(me.into()))
        .with_leader(StrBytes::from_string(leader.into()))
        .with_protocol_name(Some(StrBytes::from_static_str("range")))
        .with_members(
            members
                .iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(StrBytes::from_string(m.to_string()))
                        .with_metadata(metadata.clone())
                })
                .collect(),
        )
}

fn sync_ok(partitions: &[i32]) -> SyncGroupResponse {
    let a = MemberAssignment {
        partitions: partitions
            .iter()
            .map(|&p| TopicPartition::new("t", p))
            .collect(),
        user_data: None,
    };
    SyncGroupResponse::default().with_assignment(a.encode(0).unwrap())
}

fn code(c: KafkaCode) -> i16 {
    c.0
}

/// Drives a member to Stable with `partitions` as a follower; returns it.
fn stable(t0: Instant, partitions: &[i32]) -> Membership {
    let mut m = member(t0);
    assert!(matches!(
        m.poll_action(t0),
        Some(Action::FindCoordinator(_))
    ));
    m.on_find_coordinator(&coordinator(1), t0);
    assert!(matches!(m.poll_action(t0), Some(Action::Join(_))));
    m.on_join(&join_ok(1, "me", "other", &[]), t0);
    assert!(matches!(m.poll_action(t0), Some(Action::Sync(_))));
    m.on_sync(&sync_ok(partitions), t0);
    let expected: Vec<TopicPartition> = partitions
        .iter()
        .map(|&p| TopicPartition::new("t", p))
        .collect();
    assert_eq!(m.poll_action(t0), Some(Action::Assign(expected)));
    assert_eq!(m.state(), State::Stable);
    m
}

#[test]
fn find_join_sync_as_follower_then_heartbeat_on_schedule() {
    let t0 = Instant::now();
    let mut m = stable(t0, &[0, 2]);
    assert_eq!(m.generation().generation_id, 1);
    assert_eq!(m.generation().member_id, "me");
    assert_eq!(
        m.poll_action(t0),
        None,
        "first heartbeat after heartbeat.interval.ms"
    );
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    let t1 = t0 + Duration::from_secs(1);
    let Some(Action::Heartbeat(hb)) = m.poll_action(t1) else {
        panic!("heartbeat due")
    };
    assert_eq!((hb.generation_id, hb.member_id.as_str()), (1, "me"));
    assert_eq!(m.poll_action(t1), None, "one heartbeat in flight");
    m.on_heartbeat(&HeartbeatResponse::default(), t1);
    assert_eq!(m.poll_action(t1 + Duration::from_millis(999)), None);
    assert!(matches!(
        m.poll_action(t1 + Duration::from_secs(1)),
        Some(Action::Heartbeat(_))
    ));
}

#[test]
fn join_request_carries_timeouts_protocols_and_subscription() {
    let t0 = Instant::now();
    let mut m = member(t0);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(3), t0);
    assert_eq!(m.coordinator().map(|c| c.id), Some(3));
    let Some(Action::Join(join)) = m.poll_action(t0) else {
        panic!()
    };
    assert_eq!(join.session_timeout_ms, 6000);
    assert_eq!(join.rebalance_timeout_ms, 30000);
    assert_eq!(join.protocol_type.as_str(), "consumer");
    let names: Vec<&str> = join.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["range", "roundrobin"]);
    let sub = Subscription::decode(&join.protocols[0].metadata).unwrap();
    assert_eq!(sub.topics, vec!["t".to_string()]);
}

#[test]
fn member_id_required_joins_again_with_the_given_id() {
    let t0 = Instant::now();
    let mut m = member(t0);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    let Some(Action::Join(first)) = m.poll_action(t0) else {
        panic!()
    };
    assert_eq!(first.member_id.as_str(), "");
    m.on_join(
        &JoinGroupResponse::default()
            .with_error_code(code(KafkaCode::MEMBER_ID_REQUIRED))
            .with_member_id(StrBytes::from_static_str("m-1")),
        t0,
    );
    let Some(Action::Join(second)) = m.poll_action(t0) else {
        panic!("joins again at once")
    };
    assert_eq!(second.member_id.as_str(), "m-1");
}

#[test]
fn the_leader_assigns_with_the_chosen_assignor() {
    let t0 = Instant::now();
    let mut m = member(t0);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(&join_ok(4, "a", "a", &["a", "b"]), t0);
    assert_eq!(
        m.poll_action(t0),
        Some(Action::NeedPartitionCounts(vec!["t".into()]))
    );
    assert_eq!(m.poll_action(t0), None, "asked once");
    m.assign(&BTreeMap::from([("t".to_string(), 3)]));
    let Some(Action::Sync(sync)) = m.poll_action(t0) else {
        panic!()
    };
    assert_eq!(sync.generation_id, 4);
    let got: BTreeMap<String, Vec<i32>> = sync
        .assignments
        .iter()
        .map(|a| {
            (
                a.member_id.to_string(),
                MemberAssignment::decode(&a.assignment)
                    .unwrap()
                    .partitions
                    .iter()
                    .map(|tp| tp.partition)
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        BTreeMap::from([("a".to_string(), vec![0, 1]), ("b".to_string(), vec![2])])
    );
}

#[test]
fn rebalance_in_progress_revokes_then_rejoins_with_the_same_member_id() {
    let t0 = Instant::now();
    let mut m = stable(t0, &[0, 1]);
    let t1 = t0 + Duration::from_secs(1);
    m.poll_action(t1);
    m.on_heartbeat(
        &HeartbeatResponse::default().with_error_code(code(KafkaCode::REBALANCE_IN_PROGRESS)),
        t1,
    );
    assert_eq!(
        m.poll_action(t1),
        Some(Action::Revoke(vec![
            TopicPartition::new("t", 0),
            TopicPartition::new("t", 1)
        ]))
    );
    assert_eq!(m.poll_action(t1), None, "the join waits for the revocation");
    m.revoke_done();
    assert!(m.assignment().is_empty());
    let Some(Action::Join(join)) = m.poll_action(t1) else {
        panic!("rejoin")
    };
    assert_eq!(join.member_id.as_str(), "me");
}

#[test]
fn illegal_generation_and_unknown_member_rejoin_as_java_does() {
    for (error, keeps_member_id) in [
        (KafkaCode::ILLEGAL_GENERATION, true),
        (KafkaCode::UNKNOWN_MEMBER_ID, false),
    ] {
        let t0 = Instant::now();
        let mut m = stable(t0, &[0]);
        let t1 = t0 + Duration::from_secs(1);
        m.poll_action(t1);
        m.on_heartbeat(
            &HeartbeatResponse::default().with_error_code(code(error)),
            t1,
        );
        assert!(
            matches!(m.poll_action(t1), Some(Action::Revoke(_))),
            "{error}"
        );
        m.revoke_done();
        let Some(Action::Join(join)) = m.poll_action(t1) else {
            panic!("{error}: rejoin")
        };
        assert_eq!(join.member_id.as_str() == "me", keeps_member_id, "{error}");
        assert_eq!(m.generation().generation_id, -1, "{error}");
    }
}

#[test]
fn sync_errors_rejoin() {
    for error in [
        KafkaCode::REBALANCE_IN_PROGRESS,
        KafkaCode::ILLEGAL_GENERATION,
        KafkaCode::UNKNOWN_MEMBER_ID,
    ] {
        let t0 = Instant::now();
        let mut m = member(t0);
        m.poll_action(t0);
        m.on_find_coordinator(&coordinator(1), t0);
        m.poll_action(t0);
        m.on_join(&join_ok(1, "me", "x", &[]), t0);
        m.poll_action(t0);
        m.on_sync(
            &SyncGroupResponse::default().with_error_code(code(error)),
            t0,
        );
        assert!(
            matches!(m.poll_action(t0), Some(Action::Join(_))),
            "{error}: rejoin, nothing to revoke"
        );
    }
}

#[test]
fn not_coordinator_and_coordinator_not_available_rediscover() {
    for error in [
        KafkaCode::NOT_COORDINATOR,
        KafkaCode::COORDINATOR_NOT_AVAILABLE,
    ] {
        let t0 = Instant::now();
        let mut m = stable(t0, &[0]);
        let t1 = t0 + Duration::from_secs(1);
        m.poll_action(t1);
        m.on_heartbeat(
            &HeartbeatResponse::default().with_error_code(code(error)),
            t1,
        );
        assert!(
            matches!(m.poll_action(t1), Some(Action::FindCoordinator(_))),
            "{error}"
        );
        assert_eq!(
            m.state(),
            State::Stable,
            "{error}: keeps consuming meanwhile"
        );
        m.on_find_coordinator(&coordinator(2), t1);
        assert!(
            matches!(m.poll_action(t1), Some(Action::Heartbeat(_))),
            "{error}: heartbeats the new coordinator"
        );
        assert_eq!(m.coordinator().map(|c| c.id), Some(2));
    }
    // During a join too.
    let t0 = Instant::now();
    let mut m = member(t0);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(
        &JoinGroupResponse::default().with_error_code(code(KafkaCode::NOT_COORDINATOR)),
        t0,
    );
    assert!(matches!(
        m.poll_action(t0),
        Some(Action::FindCoordinator(_))
    ));
}

#[test]
fn coordinator_loading_and_unavailable_retry_with_backoff() {
    let t0 = Instant::now();
    let mut m = member(t0);
    m.poll_action(t0);
    m.on_find_coordinator(
        &FindCoordinatorResponse::default()
            .with_error_code(code(KafkaCode::COORDINATOR_NOT_AVAILABLE))
            .with_node_id(BrokerId(-1)),
        t0,
    );
    assert_eq!(m.poll_action(t0), None, "backoff");
    assert!(matches!(
        m.poll_action(t0 + Duration::from_millis(100)),
        Some(Action::FindCoordinator(_))
    ));
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(
        &JoinGroupResponse::default()
            .with_error_code(code(KafkaCode::COORDINATOR_LOAD_IN_PROGRESS)),
        t0,
    );
    assert_eq!(m.poll_action(t0 + Duration::from_millis(50)), None);
    assert!(matches!(
        m.poll_action(t0 + Duration::from_millis(100)),
        Some(Action::Join(_))
    ));
}

#[test]
fn request_failures_rediscover_after_backoff() {
    let t0 = Instant::now();
    let mut m = stable(t0, &[0]);
    let t1 = t0 + Duration::from_secs(1);
    assert!(matches!(m.poll_action(t1), Some(Action::Heartbeat(_))));
    m.on_request_failed(RequestKind::Heartbeat, t1);
    assert_eq!(m.poll_action(t1), None);
    assert!(matches!(
        m.poll_action(t1 + Duration::from_millis(100)),
        Some(Action::FindCoordinator(_))
    ));
}

#[test]
fn no_heartbeat_answer_within_the_session_timeout_rediscovers() {
    let t0 = Instant::now();
    let mut m = stable(t0, &[0]);
    let t1 = t0 + Duration::from_secs(1);
    m.poll_action(t1); // heartbeat sent, never answered
    m.on_request_failed(RequestKind::Heartbeat, t1);
    m.on_find_coordinator(&coordinator(1), t1);
    // Heartbeats go out but get no answer; after the session timeout the coordinator is presumed dead.
    let late = t0 + Duration::from_secs(7);
    m.in_flight = None;
    m.last_heartbeat_ok = Some(t0);
    assert!(matches!(
        m.poll_action(late),
        Some(Action::FindCoordinator(_))
    ));
}

#[test]
fn close_sends_leave_group_once() {
    let t0 = Instant::now();
    let mut m = stable(t0, &[0]);
    m.close();
    let Some(Action::Leave(leave)) = m.poll_action(t0) else {
        panic!()
    };
    assert_eq!(leave.member_id.as_str(), "me");
    assert_eq!(m.poll_action(t0), None);
    assert_eq!(m.state(), State::Closed);
    // A member that never joined has nothing to leave.
    let mut fresh = member(t0);
    fresh.close();
    assert_eq!(fresh.poll_action(t0), None);
}

#[test]
fn fatal_errors_stop_the_member_with_a_typed_error() {
    let t0 = Instant::now();
    let mut m = member(t0);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(
        &JoinGroupResponse::default().with_error_code(code(KafkaCode::INCONSISTENT_GROUP_PROTOCOL)),
        t0,
    );
    assert_eq!(m.state(), State::Closed);
    let err = m.take_error().expect("error kept");
    assert!(
        matches!(
            err,
            GroupError::Join {
                code: KafkaCode::INCONSISTENT_GROUP_PROTOCOL,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retriable());
}

#[test]
fn assignment_of_unsubscribed_topics_is_ignored() {
    let t0 = Instant::now();
    let mut m = member(t0);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(&join_ok(1, "me", "x", &[]), t0);
    m.poll_action(t0);
    let a = MemberAssignment {
        partitions: vec![TopicPartition::new("t", 0), TopicPartition::new("other", 0)],
        user_data: None,
    };
    m.on_sync(
        &SyncGroupResponse::default().with_assignment(a.encode(0).unwrap()),
        t0,
    );
    assert_eq!(
        m.poll_action(t0),
        Some(Action::Assign(vec![TopicPartition::new("t", 0)]))
    );
}

#[test]
fn a_leader_without_partition_counts_rejoins_after_a_backoff() {
    let t0 = Instant::now();
    let mut m = member(t0);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(&join_ok(4, "a", "a", &["a", "b"]), t0);
    assert!(matches!(
        m.poll_action(t0),
        Some(Action::NeedPartitionCounts(_))
    ));
    m.on_assign_failed(t0);
    assert_eq!(m.state(), State::Unjoined);
    assert_eq!(m.poll_action(t0), None, "backoff first");
    let t1 = t0 + Duration::from_millis(100);
    let Some(Action::Join(join)) = m.poll_action(t1) else {
        panic!("expected a rejoin")
    };
    assert_eq!(join.member_id.as_str(), "a", "keeps its member id");
    m.assign(&BTreeMap::from([("t".to_string(), 3)]));
    assert_eq!(m.poll_action(t1), None, "a stale assign does nothing");
}

/// Issue 13, defect 3: the Java client heartbeats through the whole rebalance
/// (its heartbeat thread runs until JoinGroup is sent); a member whose
/// application takes its time revoking must not go silent, or the broker
/// expires its session mid-rebalance.
#[test]
fn heartbeats_go_on_between_rebalance_in_progress_and_the_join() {
    let t0 = Instant::now();
    let mut m = stable(t0, &[0, 1]);
    let t1 = t0 + Duration::from_secs(1);
    assert!(matches!(m.poll_action(t1), Some(Action::Heartbeat(_))));
    m.on_heartbeat(
        &HeartbeatResponse::default().with_error_code(code(KafkaCode::REBALANCE_IN_PROGRESS)),
        t1,
    );
    assert!(matches!(m.poll_action(t1), Some(Action::Revoke(_))));
    assert_eq!(m.poll_action(t1), None, "the next heartbeat is not due yet");
    // The application revokes slowly: heartbeats keep going, once per interval.
    let mut now = t1;
    for _ in 0..5 {
        assert!(
            m.poll_timeout()
                .is_some_and(|t| t <= now + Duration::from_secs(1)),
            "the driver is woken for the next heartbeat"
        );
        now += Duration::from_secs(1);
        let Some(Action::Heartbeat(hb)) = m.poll_action(now) else {
            panic!("a heartbeat while the revocation is pending")
        };
        assert_eq!((hb.generation_id, hb.member_id.as_str()), (1, "me"));
        m.on_heartbeat(
            &HeartbeatResponse::default().with_error_code(code(KafkaCode::REBALANCE_IN_PROGRESS)),
            now,
        );
        assert_eq!(m.poll_action(now), None, "revoked once, no join yet");
    }
    m.revoke_done();
    let Some(Action::Join(join)) = m.poll_action(now) else {
        panic!("rejoin once revoked")
    };
    assert_eq!(join.member_id.as_str(), "me");
}

/// Issue 13, defect 5: a fatal answer (FENCED_INSTANCE_ID, authorization)
/// leaves the member with nothing: no assignment, no more heartbeats.
#[test]
fn a_fatal_answer_clears_the_assignment_and_stops_heartbeats() {
    for error in [
        KafkaCode::FENCED_INSTANCE_ID,
        KafkaCode::GROUP_AUTHORIZATION_FAILED,
    ] {
        let t0 = Instant::now();
        let mut m = stable(t0, &[0, 1]);
        let t1 = t0 + Duration::from_secs(1);
        assert!(matches!(m.poll_action(t1), Some(Action::Heartbeat(_))));
        m.on_heartbeat(
            &HeartbeatResponse::default().with_error_code(code(error)),
            t1,
        );
        assert_eq!(m.state(), State::Closed, "{error}");
        assert_eq!(m.assignment(), &[] as &[TopicPartition], "{error}");
        let err = m.take_error().expect("the error is kept");
        // FENCED_INSTANCE_ID has its own variant naming the instance id
        // (issue 15); the rest are the request's error with its code.
        assert!(
            matches!(err, GroupError::Heartbeat { code, .. } if code == error)
                || (error == KafkaCode::FENCED_INSTANCE_ID
                    && matches!(err, GroupError::FencedInstanceId { .. })),
            "{err}"
        );
        for s in 2..10 {
            assert_eq!(
                m.poll_action(t0 + Duration::from_secs(s)),
                None,
                "{error}: nothing more is sent"
            );
        }
    }
}

mod cooperative;
mod poll_interval;
mod roll;
mod static_membership;

#[test]
fn partitions_added_to_a_subscribed_topic_rebalance() {
    let t0 = Instant::now();
    let mut m = stable(t0, &[0, 1]);
    let counts = |n: usize| [("t".to_string(), n)].into_iter().collect();
    // The first report is the baseline, and the same counts again change nothing.
    m.on_partition_counts(counts(2));
    m.on_partition_counts(counts(2));
    let t1 = t0 + Duration::from_millis(10);
    assert!(
        !matches!(m.poll_action(t1), Some(Action::Revoke(_))),
        "no rebalance without a change"
    );
    // Two partitions more: revoke (eager), then join again.
    m.on_partition_counts(counts(4));
    assert_eq!(
        m.poll_action(t1),
        Some(Action::Revoke(vec![
            TopicPartition::new("t", 0),
            TopicPartition::new("t", 1)
        ]))
    );
    m.revoke_done();
    assert!(matches!(m.poll_action(t1), Some(Action::Join(_))));
}

#[test]
fn a_commit_answered_with_a_stale_generation_revokes_at_once_even_with_a_heartbeat_in_flight() {
    // Java's next poll gives the partitions up before returning any record:
    // records handed out after the failed commit could not be committed and
    // would be read again, more than one batch's worth.
    for error in [
        KafkaCode::ILLEGAL_GENERATION,
        KafkaCode::UNKNOWN_MEMBER_ID,
        KafkaCode::REBALANCE_IN_PROGRESS,
    ] {
        let t0 = Instant::now();
        let mut m = stable(t0, &[0, 1]);
        let t1 = t0 + Duration::from_secs(1);
        assert!(
            matches!(m.poll_action(t1), Some(Action::Heartbeat(_))),
            "a heartbeat goes out and stays in flight"
        );
        m.on_commit_error(error, t1);
        assert_eq!(
            m.poll_action(t1),
            Some(Action::Revoke(vec![
                TopicPartition::new("t", 0),
                TopicPartition::new("t", 1)
            ])),
            "{error}"
        );
    }
}
