//! The max.poll.interval.ms clock (leaving, revoking, rejoining, time
//! inside a poll) and static members (KIP-345), with an injected clock.

use super::*;

#[test]
fn a_member_that_stops_polling_leaves_and_says_so_then_rejoins_when_it_polls() {
    let t0 = Instant::now();
    let mut m = stable(t0, &[0]);
    let mut now = t0;
    // Heartbeats keep flowing while the application is busy...
    while now < t0 + Duration::from_secs(30) {
        now += Duration::from_secs(1);
        if let Some(Action::Heartbeat(_)) = m.poll_action(now) {
            m.on_heartbeat(&HeartbeatResponse::default(), now);
        }
    }
    // ...until max.poll.interval.ms passes without a poll.
    now += Duration::from_secs(1);
    let Some(Action::Leave(leave)) = m.poll_action(now) else {
        panic!("leaves the group")
    };
    assert_eq!(leave.members[0].member_id.as_str(), "me");
    assert!(
        leave.members[0]
            .reason
            .as_ref()
            .is_some_and(|r| r.contains("poll timeout"))
    );
    assert_eq!(m.state(), State::Unjoined);
    assert!(
        matches!(m.poll_action(now), Some(Action::Revoke(_))),
        "the partitions are handed back at once"
    );
    m.revoke_done();
    assert_eq!(
        m.poll_action(now + Duration::from_secs(5)),
        None,
        "does not rejoin until the application polls"
    );
    m.on_poll(now + Duration::from_secs(5));
    let Some(Action::Join(join)) = m.poll_action(now + Duration::from_secs(5)) else {
        panic!("rejoins")
    };
    assert_eq!(
        join.member_id.as_str(),
        "",
        "a member that left joins as new"
    );
}

fn static_member(t0: Instant) -> Membership {
    let config = GroupConfig {
        group_instance_id: Some("instance-1".into()),
        ..config()
    };
    let mut m = Membership::new(config, vec![by_name("range").unwrap()], t0);
    m.subscribe(vec!["t".into()]);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    let Some(Action::Join(join)) = m.poll_action(t0) else {
        panic!("join")
    };
    assert_eq!(
        join.group_instance_id.as_ref().map(|i| i.as_str()),
        Some("instance-1")
    );
    m.on_join(&join_ok(1, "me", "other", &[]), t0);
    m.poll_action(t0);
    m.on_sync(&sync_ok(&[0]), t0);
    assert!(matches!(m.poll_action(t0), Some(Action::Assign(_))));
    m
}

/// Issue 13, defect 7 (KIP-345): a static member does not send LeaveGroup
/// when it closes; its partitions wait for it until the session times out.
#[test]
fn a_static_member_does_not_leave_on_close() {
    let t0 = Instant::now();
    let mut m = static_member(t0);
    m.close();
    assert_eq!(m.poll_action(t0), None, "no LeaveGroup");
    assert_eq!(m.state(), State::Closed);
}

/// Issue 13, defect 7 (KIP-345): nor when the application stops polling; it
/// still revokes, and rejoins with its instance id when it polls again.
#[test]
fn a_static_member_does_not_leave_on_poll_timeout() {
    let t0 = Instant::now();
    let mut m = static_member(t0);
    let mut now = t0;
    let mut actions = Vec::new();
    while now < t0 + Duration::from_secs(32) {
        now += Duration::from_secs(1);
        while let Some(action) = m.poll_action(now) {
            match action {
                Action::Heartbeat(_) => m.on_heartbeat(&HeartbeatResponse::default(), now),
                Action::Revoke(_) => {
                    m.revoke_done();
                    actions.push(action);
                }
                other => actions.push(other),
            }
        }
    }
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Leave(_))),
        "no LeaveGroup: {actions:?}"
    );
    assert_eq!(m.state(), State::Unjoined, "gave the generation up");
    m.on_poll(now);
    let mut actions = Vec::new();
    while let Some(action) = m.poll_action(now) {
        let revoke = matches!(action, Action::Revoke(_));
        actions.push(action);
        if revoke {
            m.revoke_done();
        }
    }
    assert!(
        matches!(actions.last(), Some(Action::Join(j))
        if j.group_instance_id.as_ref().map(|i| i.as_str()) == Some("instance-1")),
        "{actions:?}"
    );
}

/// Issue 13, defect 8: time inside a poll is polling. An application blocked
/// in a poll longer than max.poll.interval.ms stays in the group.
#[test]
fn a_member_inside_a_long_poll_does_not_leave() {
    let t0 = Instant::now();
    let mut m = stable(t0, &[0]);
    m.on_poll_started(t0);
    let mut now = t0;
    while now < t0 + Duration::from_secs(95) {
        now += Duration::from_secs(1);
        assert!(
            m.poll_timeout().is_some_and(|t| t <= now),
            "woken for heartbeats, not for a poll deadline"
        );
        while let Some(action) = m.poll_action(now) {
            let Action::Heartbeat(_) = action else {
                panic!("only heartbeats while the application waits in poll: {action:?}")
            };
            m.on_heartbeat(&HeartbeatResponse::default(), now);
        }
    }
    assert_eq!(m.state(), State::Stable);
    // The poll returned; the interval counts from then.
    m.on_poll(now);
    let later = now + Duration::from_secs(31);
    let mut left = false;
    let mut t = now;
    while t < later {
        t += Duration::from_secs(1);
        while let Some(action) = m.poll_action(t) {
            match action {
                Action::Heartbeat(_) => m.on_heartbeat(&HeartbeatResponse::default(), t),
                Action::Leave(_) => left = true,
                _ => {}
            }
        }
    }
    assert!(left, "max.poll.interval.ms counts from the end of the poll");
}

/// Issue 13, defect 8: a member that leaves for polling too slowly hands its
/// partitions back at once, so the next poll revokes them before returning
/// any of their records (the group has given them to someone else).
#[test]
fn leaving_on_poll_timeout_revokes_at_once() {
    let t0 = Instant::now();
    let mut m = stable(t0, &[0, 1]);
    let mut now = t0;
    let mut actions = Vec::new();
    while now < t0 + Duration::from_secs(32) {
        now += Duration::from_secs(1);
        while let Some(action) = m.poll_action(now) {
            match action {
                Action::Heartbeat(_) => m.on_heartbeat(&HeartbeatResponse::default(), now),
                other => actions.push(other),
            }
        }
    }
    assert!(matches!(actions[0], Action::Leave(_)), "{actions:?}");
    assert_eq!(
        actions.get(1),
        Some(&Action::Revoke(vec![
            TopicPartition::new("t", 0),
            TopicPartition::new("t", 1)
        ])),
        "revoked without waiting for the next poll"
    );
    m.revoke_done();
    assert_eq!(m.poll_action(now), None, "rejoins only when polled");
    m.on_poll(now);
    assert!(matches!(m.poll_action(now), Some(Action::Join(_))));
}
