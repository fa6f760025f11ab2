//! Fault scenarios that change the topic under a subscribed group member:
//! partitions added, and the topic deleted and created again.

use std::collections::BTreeMap;
use std::time::Instant;

use sluice_integration::unique_name;

use super::harness::{Cluster, Reader};

/// max.poll.records in these tests: a commit follows every poll, so one
/// uncommitted batch is at most this many records.
const BATCH: usize = 10;

/// A group member that refreshes metadata every 500 ms, so it can notice a
/// topic change without waiting the default five minutes.
async fn member(c: &Cluster, group: &str) -> Reader {
    let mut config = c.consumer_config(group, BATCH);
    config
        .fetch
        .set("metadata.max.age.ms", "500")
        .expect("metadata.max.age.ms");
    let mut consumer = sluice::Consumer::new(config).expect("consumer");
    consumer
        .subscribe(&[c.topic.as_str()])
        .await
        .expect("subscribe");
    Reader::new(consumer, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn partitions_added_to_a_subscribed_topic_are_consumed() {
    let c = Cluster::start("fk-grow", 2).await;
    c.produce(0, 20).await;
    let group = unique_name("fk-grow");
    let mut r = member(&c, &group).await;
    r.until_all(&c.ends()).await;

    assert_eq!(c.broker.add_partitions(&c.topic, 4), 2);
    let grown = Instant::now();
    c.produce(20, 20).await;
    let ends = c.ends();
    assert_eq!(ends.len(), 4);
    r.until_all(&ends).await;
    eprintln!(
        "partitions added: all four read {:?} after",
        grown.elapsed()
    );
    let dups = r.reads.assert_complete_with_rewinds(&ends, BATCH);
    eprintln!("partitions added: duplicates {dups:?}");
    r.consumer.commit_sync().await.expect("commit");
    for (p, end) in &ends {
        assert_eq!(
            c.broker.committed_offset(&group, &c.topic, *p),
            Some(*end),
            "partition {p}"
        );
    }
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_deleted_and_recreated_is_read_from_its_new_start() {
    let c = Cluster::start("fk-recreate", 2).await;
    // The old topic's leaders have moved once (epoch 1); the new one starts at epoch 0.
    for p in 0..2 {
        assert!(c.broker.bump_leader_epoch(&c.topic, p));
    }
    c.produce(0, 20).await;
    let group = unique_name("fk-recreate");
    let mut r = member(&c, &group).await;
    r.until_all(&c.ends()).await;
    r.reads.assert_exactly_once(&c.ends());

    assert!(c.broker.delete_topic(&c.topic));
    assert!(c.broker.create_topic(&c.topic, 2));
    let recreated = Instant::now();
    // Fewer records than the old topic had: the member's positions (20) are past the new end.
    c.produce(100, 10).await;
    let want: BTreeMap<i32, Vec<String>> = (0..2)
        .map(|p| {
            let old = (0..20).map(|i| format!("p{p}-{i}"));
            let new = (100..110).map(|i| format!("p{p}-{i}"));
            (p, old.chain(new).collect())
        })
        .collect();
    r.until("the new topic's records", |reads| {
        want.iter()
            .all(|(p, w)| reads.values.get(p).map_or(0, Vec::len) >= w.len())
    })
    .await;
    eprintln!(
        "topic recreated: new records read {:?} after",
        recreated.elapsed()
    );
    assert_eq!(
        r.reads.values, want,
        "the old topic's records, then the new one's from its start"
    );
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    r.consumer.close().await.expect("close");
}
