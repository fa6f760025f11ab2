//! sluice against krafka's fake cluster with no faults: assign and group
//! consume, the producer's records as the cluster stores them, commit and
//! committed(), lag.

use sluice::TopicPartition;
use sluice_integration::unique_name;

use super::harness::{Cluster, Reader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assigned_consumer_reads_every_record() {
    let c = Cluster::start("fk-assign", 3).await;
    c.produce(0, 50).await;
    let ends = c.ends();
    assert_eq!(ends.values().sum::<i64>(), 150);
    let mut consumer = sluice::Consumer::new(c.consumer_config("", 500)).expect("consumer");
    let tps: Vec<_> = (0..3)
        .map(|p| TopicPartition::new(c.topic.as_str(), p))
        .collect();
    consumer.assign(&tps).await.expect("assign");
    let mut r = Reader::new(consumer, false);
    r.until_all(&ends).await;
    r.reads.assert_exactly_once(&ends);
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sluice_producer_writes_what_the_cluster_stores() {
    let c = Cluster::start("fk-produce", 3).await;
    c.produce(0, 20).await;
    let stored = c
        .broker
        .all_records(&c.topic)
        .expect("the fake's log decodes");
    assert_eq!(stored.len(), 60);
    for p in 0..3 {
        let values: Vec<String> = stored
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| {
                assert_eq!(r.key.as_deref(), Some(format!("k{}", r.offset).as_bytes()));
                String::from_utf8(r.value.clone().expect("value").to_vec()).expect("UTF-8")
            })
            .collect();
        let want: Vec<String> = (0..20).map(|i| format!("p{p}-{i}")).collect();
        assert_eq!(values, want, "partition {p} holds the records in order");
        assert_eq!(c.broker.next_offset(&c.topic, p), Some(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_member_reads_commits_sees_its_commit_and_lag_zero() {
    let c = Cluster::start("fk-group", 3).await;
    c.produce(0, 40).await;
    let ends = c.ends();
    let group = unique_name("fk-group");
    let mut r = Reader::new(c.group_member(&group, 25).await, false);
    r.until_all(&ends).await;
    r.reads.assert_exactly_once(&ends);
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    let mut consumer = r.consumer;
    consumer.commit_sync().await.expect("commit");
    let tps: Vec<_> = (0..3)
        .map(|p| TopicPartition::new(c.topic.as_str(), p))
        .collect();
    let committed = consumer.committed(&tps).await.expect("committed");
    for tp in &tps {
        assert_eq!(committed[tp].as_ref().map(|o| o.offset), Some(40), "{tp}");
        assert_eq!(
            c.broker.committed_offset(&group, &c.topic, tp.partition),
            Some(40)
        );
    }
    assert_eq!(
        consumer.lag().values().flatten().sum::<i64>(),
        0,
        "{:?}",
        consumer.lag()
    );
    consumer.close().await.expect("close");
}

/// Two sluice members of one group, one after the other: the first reads
/// part of the topic and commits, leaves; the second starts at the commits
/// and reads the rest. Every record exactly once over the two.
///
/// Not two members at once: krafka's fake coordinator keeps one member per
/// classic group (each JoinGroup replaces the membership), so two live
/// members would only take turns evicting each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_in_turn_read_every_record_exactly_once() {
    let c = Cluster::start("fk-handoff", 3).await;
    c.produce(0, 30).await;
    let first_ends = c.ends();
    let group = unique_name("fk-handoff");
    let mut a = Reader::new(c.group_member(&group, 10).await, true);
    a.until_all(&first_ends).await;
    a.consumer.commit_sync().await.expect("commit");
    a.consumer.close().await.expect("close a");

    c.produce(30, 30).await;
    let ends = c.ends();
    let mut b = Reader::new(c.group_member(&group, 10).await, true);
    b.reads = a.reads.clone();
    b.until_all(&ends).await;
    b.consumer.commit_sync().await.expect("commit");
    b.reads.assert_exactly_once(&ends);
    assert!(a.commit_errors.is_empty() && b.commit_errors.is_empty());
    assert!(a.poll_errors.is_empty() && b.poll_errors.is_empty());
    for p in 0..3 {
        assert_eq!(c.broker.committed_offset(&group, &c.topic, p), Some(60));
    }
    b.consumer.close().await.expect("close b");
}
