//! KIP-848 (`group.protocol=consumer`) against krafka's fake coordinator,
//! which reconciles as Apache Kafka's does: revoke first, grant a partition
//! only once its previous owner has reported it released.

use krafka::error::ErrorCode;
use krafka::testing::{ApiKey, Control};
use sluice::{Consumer, ConsumerConfig, TopicPartition};
use sluice_integration::unique_name;
use std::collections::BTreeSet;
use tokio::time::Instant;

use super::harness::{Cluster, LIMIT, Reader, Reads};

/// max.poll.records: a commit follows every poll, so a partition that moves
/// replays at most this many records.
const BATCH: usize = 10;

/// A consumer-protocol member's config: no session or heartbeat keys (the
/// consumer protocol refuses them; the coordinator owns both).
fn config(c: &Cluster, group: &str, extra: &[(&str, &str)]) -> ConsumerConfig {
    let boot = c.bootstrap();
    let mut pairs = vec![
        ("bootstrap.servers", boot.as_str()),
        ("group.id", group),
        ("group.protocol", "consumer"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("fetch.max.wait.ms", "100"),
        ("retry.backoff.ms", "50"),
        ("reconnect.backoff.ms", "50"),
        ("request.timeout.ms", "5000"),
        ("max.poll.records", "10"),
    ];
    pairs.extend_from_slice(extra);
    ConsumerConfig::from_pairs(pairs).expect("consumer config")
}

async fn member(c: &Cluster, group: &str, extra: &[(&str, &str)]) -> Reader {
    let mut consumer = Consumer::new(config(c, group, extra)).expect("consumer");
    consumer
        .subscribe(&[c.topic.as_str()])
        .await
        .expect("subscribe");
    Reader::new(consumer, true)
}

/// Polls both until `cond` holds over their assignments.
async fn until_assigned(
    a: &mut Reader,
    b: &mut Reader,
    what: &str,
    cond: impl Fn(&[TopicPartition], &[TopicPartition]) -> bool,
) {
    let deadline = Instant::now() + LIMIT;
    while !cond(&a.consumer.assignment(), &b.consumer.assignment()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?} / {:?}; errors {:?} {:?}",
            a.consumer.assignment(),
            b.consumer.assignment(),
            a.poll_errors,
            b.poll_errors
        );
        a.step().await;
        b.step().await;
    }
}

/// What two members read: `a`'s records of a partition, then `b`'s.
fn merged(a: &Reads, b: &Reads) -> Reads {
    let mut all = a.clone();
    for (p, offsets) in &b.by_partition {
        all.by_partition.entry(*p).or_default().extend(offsets);
    }
    all
}

fn disjoint_cover(a: &[TopicPartition], b: &[TopicPartition], n: i32) -> bool {
    let a: BTreeSet<i32> = a.iter().map(|tp| tp.partition).collect();
    let b: BTreeSet<i32> = b.iter().map(|tp| tp.partition).collect();
    !a.is_empty()
        && !b.is_empty()
        && a.is_disjoint(&b)
        && a.union(&b).copied().collect::<Vec<_>>() == (0..n).collect::<Vec<_>>()
}

/// Two sluice members split the partitions through ConsumerGroupHeartbeat
/// (no JoinGroup at all); when one leaves (epoch -1) the other gets its
/// partitions and every record is read, each partition in order with at most
/// one batch replayed where it moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_the_partitions_and_one_leaving_hands_them_over() {
    let c = Cluster::start("fk-848", 4).await;
    c.produce(0, 30).await;
    let group = unique_name("fk-848");
    let mut a = member(&c, &group, &[("group.remote.assignor", "uniform")]).await;
    a.until("a's first records", |r| r.len() > 0).await;
    assert_eq!(a.consumer.assignment().len(), 4, "alone, a has everything");
    let mut b = member(&c, &group, &[]).await;
    until_assigned(&mut a, &mut b, "the partitions split", |x, y| {
        disjoint_cover(x, y, 4)
    })
    .await;
    eprintln!(
        "kip848 split: a {:?}, b {:?}",
        a.consumer.assignment(),
        b.consumer.assignment()
    );
    c.produce(30, 10).await;
    let ends = c.ends();
    let deadline = Instant::now() + LIMIT;
    while !merged(&a.reads, &b.reads).covers(&ends) {
        assert!(Instant::now() < deadline, "both together read everything");
        a.step().await;
        b.step().await;
    }
    b.consumer.close().await.expect("b leaves");
    c.produce(40, 10).await;
    let ends = c.ends();
    let deadline = Instant::now() + LIMIT;
    while a.consumer.assignment().len() < 4 || !merged(&a.reads, &b.reads).covers(&ends) {
        assert!(
            Instant::now() < deadline,
            "a takes b's partitions and reads on: {:?}",
            a.consumer.assignment()
        );
        a.step().await;
    }
    let all = merged(&a.reads, &b.reads);
    assert!(all.covers(&ends), "no record missing");
    // A partition moved twice at most (a to b, b back to a); each move may
    // replay what a commit answered STALE_MEMBER_EPOCH left uncommitted.
    let dups: Vec<(i32, usize)> = all
        .counts()
        .into_iter()
        .map(|(p, n)| (p, n - usize::try_from(ends[&p]).unwrap_or(0)))
        .collect();
    eprintln!(
        "kip848 split: duplicates {dups:?}; commit errors {:?} {:?}",
        a.commit_errors, b.commit_errors
    );
    assert!(dups.iter().all(|(_, d)| *d <= 2 * BATCH), "{dups:?}");
    assert!(a.poll_errors.is_empty() && b.poll_errors.is_empty());

    let seen = c.broker.with_state(|s| {
        s.consumer_group_heartbeats
            .iter()
            .filter(|h| h.group_id == group)
            .cloned()
            .collect::<Vec<_>>()
    });
    assert_eq!(c.broker.request_count(ApiKey::JoinGroup), 0);
    let members: BTreeSet<&str> = seen.iter().map(|h| h.member_id.as_str()).collect();
    assert_eq!(members.len(), 2, "two client-generated member ids");
    for m in &members {
        let mine: Vec<_> = seen.iter().filter(|h| h.member_id == *m).collect();
        assert_eq!(mine[0].member_epoch, 0, "{m} joins at epoch 0");
        assert!(mine[0].full, "{m}: the join carries the subscription");
        assert!(
            mine[1..].iter().any(|h| h.member_epoch > 0 && !h.full),
            "{m}: later heartbeats leave the unchanged subscription out"
        );
    }
    let first_a = seen.first().expect("heartbeats");
    assert_eq!(first_a.server_assignor.as_deref(), Some("uniform"));
    assert!(
        seen.iter().any(|h| h.member_epoch == -1),
        "b left with epoch -1"
    );
    a.consumer.close().await.expect("close a");
}

/// A heartbeat answered FENCED_MEMBER_EPOCH: the member drops its
/// partitions (no commit), rejoins at epoch 0 with the same member id, gets
/// them back and reads on from the committed offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_member_rejoins_at_epoch_0_with_the_same_id() {
    let c = Cluster::start("fk-848-fence", 2).await;
    c.produce(0, 40).await;
    let group = unique_name("fk-848-fence");
    let mut a = member(&c, &group, &[]).await;
    a.until_count(20).await;
    c.broker.on_once(ApiKey::ConsumerGroupHeartbeat, |_| {
        Control::Error(ErrorCode::FencedMemberEpoch)
    });
    let fenced_at = c.broker.with_state(|s| s.consumer_group_heartbeats.len());
    let ends = c.ends();
    a.until_all(&ends).await;
    // The rejoin is visible to the coordinator: epoch 0 again, same id.
    let deadline = Instant::now() + LIMIT;
    loop {
        let seen = c.broker.with_state(|s| s.consumer_group_heartbeats.clone());
        let first = &seen[0];
        if seen[fenced_at..]
            .iter()
            .any(|h| h.member_epoch == 0 && h.member_id == first.member_id && h.full)
        {
            break;
        }
        assert!(Instant::now() < deadline, "a rejoin at epoch 0: {seen:?}");
        a.step().await;
    }
    let deadline = Instant::now() + LIMIT;
    while a.consumer.assignment().len() < 2 {
        assert!(Instant::now() < deadline, "partitions back after the fence");
        a.step().await;
    }
    let dups = a.reads.assert_complete_with_rewinds(&ends, BATCH);
    eprintln!("kip848 fence: duplicates {dups:?}");
    assert!(a.poll_errors.is_empty(), "{:?}", a.poll_errors);
    a.consumer.close().await.expect("close");
}

/// The classic-only keys are refused with the consumer protocol, naming the key.
#[tokio::test]
async fn classic_keys_are_refused_with_the_consumer_protocol() {
    let c = Cluster::start("fk-848-keys", 1).await;
    let group = unique_name("fk-848-keys");
    let config = config(&c, &group, &[("session.timeout.ms", "10000")]);
    let err = Consumer::new(config).map(|_| ()).expect_err("refused");
    assert!(
        err.to_string()
            .contains("config session.timeout.ms: cannot be set when group.protocol=consumer"),
        "{err}"
    );
}

/// A commit answered STALE_MEMBER_EPOCH (the epoch moved on while it was on
/// its way) is sent again with the member's epoch, and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_with_a_stale_member_epoch_is_sent_again() {
    let c = Cluster::start("fk-848-stale", 1).await;
    c.produce(0, 20).await;
    let group = unique_name("fk-848-stale");
    let mut a = member(&c, &group, &[]).await;
    a.commit = false;
    a.until_count(20).await;
    let commits = c.broker.request_count(ApiKey::OffsetCommit);
    c.broker.on_once(ApiKey::OffsetCommit, |_| {
        Control::Error(ErrorCode::StaleMemberEpoch)
    });
    a.consumer
        .commit_sync()
        .await
        .expect("retried, then committed");
    assert_eq!(c.broker.request_count(ApiKey::OffsetCommit), commits + 2);
    assert_eq!(c.broker.committed_offset(&group, &c.topic, 0), Some(20));
    a.consumer.close().await.expect("close");
}
