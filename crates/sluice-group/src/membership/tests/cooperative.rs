//! The cooperative protocol (KIP-429) with a test-only cooperative
//! assignor: which protocol a member speaks, what its subscription says,
//! rejoining without revoking, revoking only what moved and assigning only
//! what is new, the second round, lost partitions, and the leader's check.

use bytes::Bytes;

use super::*;
use crate::assignor::{Assignment, RebalanceProtocol};

/// A cooperative assignor for these tests: round-robin over members in id
/// order, except that (unless `direct`) a partition another member owns is
/// left unassigned for this round, as a cooperative assignor must.
#[derive(Debug)]
struct Coop {
    direct: bool,
}

impl Assignor for Coop {
    fn name(&self) -> &'static str {
        "coop"
    }

    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Eager, RebalanceProtocol::Cooperative]
    }

    fn subscription_user_data(&self, owned: &[TopicPartition], generation: i32) -> Option<Bytes> {
        Some(Bytes::from(format!("{}@{generation}", owned.len())))
    }

    fn assign(&self, counts: &BTreeMap<String, i32>, members: &[Member]) -> Assignment {
        let mut ids: Vec<&Member> = members.iter().collect();
        ids.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        let mut out: Assignment = ids.iter().map(|m| (m.member_id.clone(), vec![])).collect();
        let mut n = 0;
        for (topic, count) in counts {
            for p in 0..*count {
                let tp = TopicPartition::new(topic.as_str(), p);
                let to = &ids[n % ids.len()].member_id;
                n += 1;
                let owner = ids.iter().find(|m| m.owned_partitions.contains(&tp));
                match owner {
                    Some(o) if o.member_id != *to && !self.direct => {}
                    _ => out.get_mut(to).expect("member").push(tp),
                }
            }
        }
        out
    }
}

fn coop_member(t0: Instant, direct: bool) -> Membership {
    let mut m = Membership::new(config(), vec![Box::new(Coop { direct })], t0);
    m.subscribe(vec!["t".into()]);
    m
}

fn tps(ps: &[i32]) -> Vec<TopicPartition> {
    ps.iter().map(|&p| TopicPartition::new("t", p)).collect()
}

/// A JoinGroup answer for protocol `coop`; `members` are (id, owned partitions).
fn coop_join(
    generation: i32,
    me: &str,
    leader: &str,
    members: &[(&str, &[i32])],
) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_generation_id(generation)
        .with_member_id(StrBytes::from_string(me.into()))
        .with_leader(StrBytes::from_string(leader.into()))
        .with_protocol_name(Some(StrBytes::from_static_str("coop")))
        .with_members(
            members
                .iter()
                .map(|(id, owned)| {
                    let metadata = Subscription {
                        topics: vec!["t".into()],
                        owned_partitions: tps(owned),
                        generation_id: generation - 1,
                        ..Default::default()
                    }
                    .encode(3)
                    .unwrap();
                    JoinGroupResponseMember::default()
                        .with_member_id(StrBytes::from_string(id.to_string()))
                        .with_metadata(metadata)
                })
                .collect(),
        )
}

/// A cooperative follower driven to Stable with `partitions` in generation 1.
fn coop_stable(t0: Instant, partitions: &[i32]) -> Membership {
    let mut m = coop_member(t0, false);
    assert!(matches!(
        m.poll_action(t0),
        Some(Action::FindCoordinator(_))
    ));
    m.on_find_coordinator(&coordinator(1), t0);
    assert!(matches!(m.poll_action(t0), Some(Action::Join(_))));
    m.on_join(&coop_join(1, "me", "other", &[]), t0);
    assert!(matches!(m.poll_action(t0), Some(Action::Sync(_))));
    m.on_sync(&sync_ok(partitions), t0);
    assert_eq!(m.poll_action(t0), Some(Action::Assign(tps(partitions))));
    m
}

fn subscription_of(join: &JoinGroupRequest, protocol: usize) -> Subscription {
    Subscription::decode(&join.protocols[protocol].metadata).unwrap()
}

/// Drives heartbeats to REBALANCE_IN_PROGRESS and returns the next action.
fn rebalance(m: &mut Membership, at: Instant) -> Option<Action> {
    let Some(Action::Heartbeat(_)) = m.poll_action(at) else {
        panic!("heartbeat due")
    };
    m.on_heartbeat(
        &HeartbeatResponse::default().with_error_code(code(KafkaCode::REBALANCE_IN_PROGRESS)),
        at,
    );
    m.poll_action(at)
}

#[test]
fn the_protocol_is_the_newest_every_assignor_supports() {
    let coop = || Box::new(Coop { direct: false }) as Box<dyn Assignor>;
    let range = || by_name("range").unwrap();
    assert_eq!(protocol_of(&[coop()]), RebalanceProtocol::Cooperative);
    assert_eq!(protocol_of(&[coop(), range()]), RebalanceProtocol::Eager);
    assert_eq!(protocol_of(&[range(), coop()]), RebalanceProtocol::Eager);
    assert_eq!(protocol_of(&[range()]), RebalanceProtocol::Eager);
    assert_eq!(protocol_of(&[]), RebalanceProtocol::Eager);
    let t0 = Instant::now();
    assert_eq!(
        coop_member(t0, false).rebalance_protocol(),
        RebalanceProtocol::Cooperative
    );
}

#[test]
fn the_subscription_carries_owned_partitions_generation_and_each_assignors_user_data() {
    let t0 = Instant::now();
    let mut m = Membership::new(
        config(),
        vec![Box::new(Coop { direct: false }), by_name("range").unwrap()],
        t0,
    );
    m.subscribe(vec!["t".into()]);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    let Some(Action::Join(join)) = m.poll_action(t0) else {
        panic!("join")
    };
    assert_eq!(join.protocols[0].metadata[..2], [0, 3], "version 3");
    let coop = subscription_of(&join, 0);
    assert_eq!(coop.user_data.as_deref(), Some(&b"0@-1"[..]));
    assert_eq!((coop.generation_id, coop.owned_partitions.len()), (-1, 0));
    assert_eq!(subscription_of(&join, 1).user_data, None, "range has none");

    // A cooperative member rejoins owning what it has, in its generation.
    let mut m = coop_stable(t0, &[0, 2]);
    let Some(Action::Join(join)) = rebalance(&mut m, t0 + Duration::from_secs(1)) else {
        panic!("rejoins at once")
    };
    let s = subscription_of(&join, 0);
    assert_eq!(s.owned_partitions, tps(&[0, 2]));
    assert_eq!(s.generation_id, 1);
    assert_eq!(s.user_data.as_deref(), Some(&b"2@1"[..]));
    assert_eq!(join.member_id.as_str(), "me");
}

#[test]
fn an_eager_member_with_a_cooperative_assignor_still_revokes_everything() {
    let t0 = Instant::now();
    let mut m = Membership::new(
        config(),
        vec![Box::new(Coop { direct: false }), by_name("range").unwrap()],
        t0,
    );
    m.subscribe(vec!["t".into()]);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(&coop_join(1, "me", "other", &[]), t0);
    m.poll_action(t0);
    m.on_sync(&sync_ok(&[0, 1]), t0);
    assert_eq!(m.poll_action(t0), Some(Action::Assign(tps(&[0, 1]))));
    assert_eq!(
        rebalance(&mut m, t0 + Duration::from_secs(1)),
        Some(Action::Revoke(tps(&[0, 1])))
    );
    // Its sticky user data still names the last assignment.
    m.revoke_done();
    let Some(Action::Join(join)) = m.poll_action(t0 + Duration::from_secs(1)) else {
        panic!("join after the revoke")
    };
    let s = subscription_of(&join, 0);
    assert!(
        s.owned_partitions.is_empty(),
        "eager owns nothing at the join"
    );
    assert_eq!(s.user_data.as_deref(), Some(&b"2@1"[..]));
}

#[test]
fn a_cooperative_rebalance_revokes_only_what_moved_then_rejoins_for_the_second_round() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let mut m = coop_stable(t0, &[0, 1, 2]);
    assert!(
        matches!(rebalance(&mut m, t1), Some(Action::Join(_))),
        "no revoke before the join"
    );
    assert_eq!(
        m.assignment(),
        &tps(&[0, 1, 2])[..],
        "still owned while joining"
    );
    m.on_join(&coop_join(2, "me", "other", &[]), t1);
    assert!(matches!(m.poll_action(t1), Some(Action::Sync(_))));
    // The leader moved 2 away and gave 3.
    m.on_sync(&sync_ok(&[0, 1, 3]), t1);
    assert_eq!(m.poll_action(t1), Some(Action::Revoke(tps(&[2]))));
    assert_eq!(m.poll_action(t1), Some(Action::Assign(tps(&[3]))));
    assert_eq!(
        m.poll_action(t1),
        None,
        "the second round waits for the revoke"
    );
    // Heartbeats go on while the revoke runs.
    let t2 = t1 + Duration::from_secs(1);
    assert!(matches!(m.poll_action(t2), Some(Action::Heartbeat(_))));
    m.on_heartbeat(&HeartbeatResponse::default(), t2);
    m.revoke_done();
    let Some(Action::Join(join)) = m.poll_action(t2) else {
        panic!("the second round joins at once")
    };
    let s = subscription_of(&join, 0);
    assert_eq!(s.owned_partitions, tps(&[0, 1, 3]));
    assert_eq!(s.generation_id, 2);
    m.on_join(&coop_join(3, "me", "other", &[]), t2);
    m.poll_action(t2);
    m.on_sync(&sync_ok(&[0, 1, 3]), t2);
    assert_eq!(
        m.poll_action(t2),
        Some(Action::Assign(vec![])),
        "nothing new, nothing revoked"
    );
    assert_eq!(m.state(), State::Stable);
    assert_eq!(m.poll_action(t2), None, "no third round");
}

#[test]
fn a_stale_generation_loses_the_partitions_and_rejoins_owning_nothing() {
    for (error, member_after) in [
        (KafkaCode::ILLEGAL_GENERATION, "me"),
        (KafkaCode::UNKNOWN_MEMBER_ID, ""),
        (KafkaCode::FENCED_MEMBER_EPOCH, "me"),
    ] {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut m = coop_stable(t0, &[0, 1]);
        assert!(matches!(m.poll_action(t1), Some(Action::Heartbeat(_))));
        m.on_heartbeat(
            &HeartbeatResponse::default().with_error_code(code(error)),
            t1,
        );
        assert_eq!(
            m.poll_action(t1),
            Some(Action::Lose(tps(&[0, 1]))),
            "{error}"
        );
        let Some(Action::Join(join)) = m.poll_action(t1) else {
            panic!("{error}: rejoins without a revoke")
        };
        assert_eq!(join.member_id.as_str(), member_after, "{error}");
        let s = subscription_of(&join, 0);
        assert!(s.owned_partitions.is_empty(), "{error}");
        assert_eq!(s.generation_id, -1, "{error}");
    }
}

#[test]
fn sync_and_join_answers_for_a_lost_generation_lose_the_partitions() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let mut m = coop_stable(t0, &[0]);
    assert!(matches!(rebalance(&mut m, t1), Some(Action::Join(_))));
    m.on_join(&coop_join(2, "me", "other", &[]), t1);
    m.poll_action(t1);
    m.on_sync(
        &SyncGroupResponse::default().with_error_code(code(KafkaCode::ILLEGAL_GENERATION)),
        t1,
    );
    assert_eq!(m.poll_action(t1), Some(Action::Lose(tps(&[0]))));

    let mut m = coop_stable(t0, &[1]);
    assert!(matches!(rebalance(&mut m, t1), Some(Action::Join(_))));
    m.on_join(
        &JoinGroupResponse::default().with_error_code(code(KafkaCode::UNKNOWN_MEMBER_ID)),
        t1,
    );
    assert_eq!(m.poll_action(t1), Some(Action::Lose(tps(&[1]))));
    assert!(matches!(m.poll_action(t1), Some(Action::Join(j)) if j.member_id.is_empty()));
}

#[test]
fn commit_errors_rejoin_without_revoking_or_lose_for_a_stale_generation() {
    let t0 = Instant::now();
    let mut m = coop_stable(t0, &[0, 1]);
    m.on_commit_error(KafkaCode::REBALANCE_IN_PROGRESS, t0);
    assert!(
        matches!(m.poll_action(t0), Some(Action::Join(_))),
        "no revoke"
    );

    let mut m = coop_stable(t0, &[0, 1]);
    m.on_commit_error(KafkaCode::ILLEGAL_GENERATION, t0);
    assert_eq!(m.poll_action(t0), Some(Action::Lose(tps(&[0, 1]))));
}

#[test]
fn an_expired_session_loses_the_partitions() {
    let t0 = Instant::now();
    let mut m = coop_stable(t0, &[0, 1]);
    let t1 = t0 + Duration::from_secs(1);
    assert!(matches!(m.poll_action(t1), Some(Action::Heartbeat(_))));
    // No answer for longer than session.timeout.ms (6 s).
    let t7 = t0 + Duration::from_secs(7);
    m.on_request_failed(RequestKind::Heartbeat, t1);
    assert_eq!(m.poll_action(t7), Some(Action::Lose(tps(&[0, 1]))));
    assert!(matches!(
        m.poll_action(t7),
        Some(Action::FindCoordinator(_))
    ));
    m.on_find_coordinator(&coordinator(1), t7);
    let Some(Action::Join(join)) = m.poll_action(t7) else {
        panic!("rejoins")
    };
    assert!(subscription_of(&join, 0).owned_partitions.is_empty());
}

#[test]
fn a_poll_interval_that_expired_leaves_and_loses_the_partitions() {
    let t0 = Instant::now();
    let mut m = coop_stable(t0, &[0, 1]);
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
        actions[1..],
        [Action::Lose(tps(&[0, 1]))],
        "lost, not revoked"
    );
    m.on_poll(now);
    assert!(matches!(m.poll_action(now), Some(Action::Join(_))));
}

#[test]
fn partitions_of_a_topic_no_longer_subscribed_are_revoked_before_the_join() {
    let t0 = Instant::now();
    let mut m = Membership::new(config(), vec![Box::new(Coop { direct: false })], t0);
    m.subscribe(vec!["t".into(), "u".into()]);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(&coop_join(1, "me", "other", &[]), t0);
    m.poll_action(t0);
    let both = MemberAssignment {
        partitions: vec![TopicPartition::new("t", 0), TopicPartition::new("u", 0)],
        user_data: None,
    };
    m.on_sync(
        &SyncGroupResponse::default().with_assignment(both.encode(0).unwrap()),
        t0,
    );
    assert!(matches!(m.poll_action(t0), Some(Action::Assign(_))));
    m.subscribe(vec!["t".into()]);
    assert_eq!(
        m.poll_action(t0),
        Some(Action::Revoke(vec![TopicPartition::new("u", 0)]))
    );
    assert_eq!(m.poll_action(t0), None, "waits for the revoke");
    m.revoke_done();
    let Some(Action::Join(join)) = m.poll_action(t0) else {
        panic!("join")
    };
    assert_eq!(subscription_of(&join, 0).owned_partitions, tps(&[0]));
}

/// Drives a cooperative leader to its assignment over `members`.
fn lead(direct: bool, members: &[(&str, &[i32])]) -> Membership {
    let t0 = Instant::now();
    let mut m = coop_member(t0, direct);
    m.poll_action(t0);
    m.on_find_coordinator(&coordinator(1), t0);
    m.poll_action(t0);
    m.on_join(&coop_join(2, "a", "a", members), t0);
    assert!(matches!(
        m.poll_action(t0),
        Some(Action::NeedPartitionCounts(_))
    ));
    m.assign(&BTreeMap::from([("t".to_string(), 4)]));
    m
}

#[test]
fn the_leader_refuses_an_assignment_that_moves_a_partition_directly() {
    // a owned everything; b joins. Round-robin gives b partitions 1 and 3.
    let members: &[(&str, &[i32])] = &[("a", &[0, 1, 2, 3]), ("b", &[])];
    let mut ok = lead(false, members);
    let Some(Action::Sync(sync)) = ok.poll_action(Instant::now()) else {
        panic!("a valid assignment is sent")
    };
    let b = sync
        .assignments
        .iter()
        .find(|a| a.member_id.as_str() == "b")
        .unwrap();
    assert!(
        MemberAssignment::decode(&b.assignment)
            .unwrap()
            .partitions
            .is_empty()
    );

    let mut bad = lead(true, members);
    assert_eq!(bad.state(), State::Closed);
    let err = bad.take_error().expect("fatal");
    let GroupError::InvalidAssignment { partitions, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(partitions, &tps(&[1, 3]));
    assert!(err.to_string().contains("t-1"), "{err}");
    assert_eq!(
        moved_directly(
            &[Member::new("x", &["t"])],
            &BTreeMap::from([("x".to_string(), tps(&[0]))])
        ),
        vec![],
        "a partition nobody owned may go anywhere"
    );
}

/// A commit sent in generation 1 and answered ILLEGAL_GENERATION while the
/// member syncs generation 2 says nothing about generation 2: ignored, as
/// the Java client's `generationUnchanged` check does (acting on it lost the
/// partitions just kept and rejoined with generation -1).
#[test]
fn a_stale_commit_answer_does_not_reset_a_newer_generation() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(1);
    let mut m = coop_stable(t0, &[0, 1]);
    assert!(matches!(rebalance(&mut m, t1), Some(Action::Join(_))));
    m.on_join(&coop_join(2, "me", "other", &[]), t1);
    assert!(matches!(m.poll_action(t1), Some(Action::Sync(_))));
    m.on_commit_error_in(KafkaCode::ILLEGAL_GENERATION, 1, t1);
    m.on_commit_error_in(KafkaCode::REBALANCE_IN_PROGRESS, 2, t1);
    assert_eq!(m.poll_action(t1), None, "nothing lost, no second join");
    m.on_sync(&sync_ok(&[0, 1]), t1);
    assert_eq!(m.poll_action(t1), Some(Action::Assign(vec![])));
    assert_eq!(m.generation().generation_id, 2);
    // The same answer for the current generation does count.
    m.on_commit_error_in(KafkaCode::ILLEGAL_GENERATION, 2, t1);
    assert_eq!(m.poll_action(t1), Some(Action::Lose(tps(&[0, 1]))));
}
