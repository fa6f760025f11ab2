//! Static membership (KIP-345) on the built requests: `group.instance.id`
//! on JoinGroup, SyncGroup, Heartbeat and OffsetCommit; no LeaveGroup on
//! close; FENCED_INSTANCE_ID fatal with an error naming the instance id.

use super::*;
use crate::offsets::{OffsetAndMetadata, Offsets, commit_request};

fn static_config() -> GroupConfig {
    GroupConfig {
        group_instance_id: Some("instance-7".into()),
        ..config()
    }
}

fn instance(id: &Option<StrBytes>) -> Option<&str> {
    id.as_ref().map(|i| i.as_str())
}

/// A static follower at Stable, checking each request on the way.
fn static_stable(t0: Instant) -> Membership {
    let mut m = Membership::new(static_config(), vec![by_name("range").unwrap()], t0);
    m.subscribe(vec!["t".into()]);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    let Some(Action::Join(join)) = m.poll_action(t0) else {
        panic!("join")
    };
    assert_eq!(instance(&join.group_instance_id), Some("instance-7"));
    m.on_join(&join_ok(5, "me", "other", &[]), t0);
    let Some(Action::Sync(sync)) = m.poll_action(t0) else {
        panic!("sync")
    };
    assert_eq!(instance(&sync.group_instance_id), Some("instance-7"));
    m.on_sync(&sync_ok(&[0]), t0);
    assert!(matches!(m.poll_action(t0), Some(Action::Assign(_))));
    m
}

#[test]
fn every_group_request_of_a_static_member_names_its_instance() {
    let t0 = Instant::now();
    let mut m = static_stable(t0);
    let Some(Action::Heartbeat(hb)) = m.poll_action(t0 + Duration::from_secs(1)) else {
        panic!("heartbeat")
    };
    assert_eq!(instance(&hb.group_instance_id), Some("instance-7"));
    let offsets: Offsets = [(TopicPartition::new("t", 0), OffsetAndMetadata::new(3))]
        .into_iter()
        .collect();
    let commit = commit_request("g", m.generation(), Some("instance-7"), &offsets);
    assert_eq!(instance(&commit.group_instance_id), Some("instance-7"));
    assert_eq!(commit.generation_id_or_member_epoch, 5);
    assert_eq!(commit.member_id.as_str(), "me");
    // A dynamic member's requests name none.
    let dynamic = stable(t0, &[0]);
    let commit = commit_request("g", dynamic.generation(), None, &offsets);
    assert_eq!(commit.group_instance_id, None);
}

#[test]
fn a_static_member_closes_without_leave_group_and_a_dynamic_one_leaves() {
    let t0 = Instant::now();
    let mut m = static_stable(t0);
    m.close();
    assert_eq!(
        m.poll_action(t0),
        None,
        "no LeaveGroup: the partitions wait for a restart"
    );
    let mut d = stable(t0, &[0]);
    d.close();
    assert!(matches!(d.poll_action(t0), Some(Action::Leave(_))));
}

#[test]
fn fenced_instance_id_is_fatal_and_names_the_instance() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let fenced = code(KafkaCode::FENCED_INSTANCE_ID);
    let check = |mut m: Membership| {
        assert_eq!(m.state(), State::Closed);
        assert!(m.assignment().is_empty());
        let err = m.take_error().expect("fatal");
        assert!(
            matches!(&err, GroupError::FencedInstanceId { group, instance_id }
                if group == "g" && instance_id == "instance-7"),
            "{err}"
        );
        assert!(!err.is_retriable());
        let text = err.to_string();
        assert!(
            text.contains("instance-7") && text.contains("FENCED_INSTANCE_ID"),
            "{text}"
        );
        assert_eq!(m.poll_action(t1 + Duration::from_secs(5)), None);
    };
    // On a heartbeat...
    let mut m = static_stable(t0);
    assert!(matches!(m.poll_action(t1), Some(Action::Heartbeat(_))));
    m.on_heartbeat(&HeartbeatResponse::default().with_error_code(fenced), t1);
    check(m);
    // ...a JoinGroup...
    let mut m = Membership::new(static_config(), vec![by_name("range").unwrap()], t0);
    m.subscribe(vec!["t".into()]);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(&JoinGroupResponse::default().with_error_code(fenced), t0);
    check(m);
    // ...a SyncGroup, and a commit.
    let mut m = Membership::new(static_config(), vec![by_name("range").unwrap()], t0);
    m.subscribe(vec!["t".into()]);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(&join_ok(5, "me", "other", &[]), t0);
    m.poll_action(t0);
    m.on_sync(&SyncGroupResponse::default().with_error_code(fenced), t0);
    check(m);
    let mut m = static_stable(t0);
    m.on_commit_error(KafkaCode::FENCED_INSTANCE_ID, t0);
    check(m);
}
