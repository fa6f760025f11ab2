//! The bootstrap broker goes away: a client bootstrapped with ONE broker's
//! address keeps working through the brokers the metadata named (as the Java
//! client's leastLoadedNode does): it still refreshes metadata and follows a
//! leader that moved, and a group member still finds its (moved) coordinator
//! and commits; the producer follows a moved leader.

use std::time::Instant;

use krafka::testing::ApiKey;
use sluice::{Consumer, TopicPartition};
use sluice_integration::unique_name;
use sluice_produce::{Producer, ProducerConfig, ProducerRecord};

use super::harness::{Cluster, Reader};

/// max.poll.records here: one uncommitted batch is at most this many records.
const BATCH: usize = 10;

/// The broker every client here is bootstrapped with, and crashed.
const BOOTSTRAP: i32 = 0;

/// A consumer config for `c` whose bootstrap list is broker 0 only.
fn config_on_one_broker(c: &Cluster, group: &str) -> sluice::ConsumerConfig {
    let mut config = c.consumer_config(group, BATCH);
    let only = c.broker.broker_addr(BOOTSTRAP).expect("tcp cluster");
    config
        .set("bootstrap.servers", &only.to_string())
        .expect("bootstrap");
    config
}

/// Crashes the bootstrap broker and moves the partitions it led to the next
/// broker (bumping their epochs).
fn crash_the_bootstrap_broker(c: &Cluster) {
    c.broker.crash(BOOTSTRAP);
    for p in 0..c.partition_count() {
        if c.leader(p) == BOOTSTRAP {
            assert!(c.broker.set_leader(&c.topic, p, BOOTSTRAP + 1));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_bootstrap_broker_down_metadata_comes_from_the_known_brokers() {
    let c = Cluster::start("fk-boot-md", 3).await;
    c.produce(0, 20).await;
    let mut consumer = Consumer::new(config_on_one_broker(&c, "")).expect("consumer");
    let tps: Vec<_> = (0..c.partition_count())
        .map(|p| TopicPartition::new(c.topic.as_str(), p))
        .collect();
    consumer.assign(&tps).await.expect("assign");
    let mut r = Reader::new(consumer, false);
    r.until_all(&c.ends()).await;

    crash_the_bootstrap_broker(&c);
    c.broker.clear_requests();
    let crashed = Instant::now();
    c.produce(20, 20).await;
    let ends = c.ends();
    // The partition broker 0 led is only read again once a metadata refresh
    // names its new leader, and broker 0 is the only bootstrap address.
    r.until_all(&ends).await;
    let metadata = c.broker.request_nodes(ApiKey::Metadata);
    eprintln!(
        "bootstrap broker down: everything read {:?} after the crash; metadata asked of {metadata:?}; poll errors {:?}",
        crashed.elapsed(),
        r.poll_errors
    );
    r.reads.assert_exactly_once(&ends);
    assert!(
        metadata.iter().any(|&n| n != BOOTSTRAP),
        "metadata from the other brokers: {metadata:?}"
    );
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_bootstrap_broker_down_a_member_finds_its_moved_coordinator_and_commits() {
    let c = Cluster::start("fk-boot-gc", 3).await;
    c.produce(0, 20).await;
    let group = unique_name("fk-boot-gc");
    c.broker.set_group_coordinator(&group, 1);
    let mut consumer = Consumer::new(config_on_one_broker(&c, &group)).expect("consumer");
    consumer
        .subscribe(&[c.topic.as_str()])
        .await
        .expect("subscribe");
    let mut r = Reader::new(consumer, true);
    r.until_all(&c.ends()).await;

    crash_the_bootstrap_broker(&c);
    // The coordinator moves too: broker 1 answers NOT_COORDINATOR, and the
    // member must ask a broker other than its only bootstrap address where
    // the coordinator went.
    c.broker.set_group_coordinator(&group, 2);
    c.broker.clear_requests();
    let crashed = Instant::now();
    c.produce(20, 20).await;
    let ends = c.ends();
    r.until_all(&ends).await;
    r.consumer
        .commit_sync()
        .await
        .expect("commit with the bootstrap broker down");
    let finds = c.broker.request_nodes(ApiKey::FindCoordinator);
    let commits = c.broker.request_nodes(ApiKey::OffsetCommit);
    eprintln!(
        "bootstrap broker down: everything read and committed {:?} after the crash; FindCoordinator asked of {finds:?}; commit errors {:?}",
        crashed.elapsed(),
        r.commit_errors
    );
    let dups = r.reads.assert_complete_with_rewinds(&ends, BATCH);
    assert!(
        finds.iter().any(|&n| n != BOOTSTRAP),
        "FindCoordinator asked of the other brokers: {finds:?}"
    );
    assert_eq!(
        commits.last(),
        Some(&2),
        "commits go to the new coordinator: {commits:?}"
    );
    for (p, end) in &ends {
        assert_eq!(
            c.broker.committed_offset(&group, &c.topic, *p),
            Some(*end),
            "partition {p}"
        );
    }
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    eprintln!("duplicates {dups:?}");
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_bootstrap_broker_down_the_producer_follows_a_moved_leader() {
    let c = Cluster::start("fk-boot-pr", 3).await;
    let only = c.broker.broker_addr(BOOTSTRAP).expect("tcp cluster");
    let config = ProducerConfig::default()
        .with_pairs([
            ("bootstrap.servers", only.to_string().as_str()),
            ("linger.ms", "5"),
            ("retry.backoff.ms", "50"),
            ("request.timeout.ms", "5000"),
        ])
        .expect("producer config");
    let producer = Producer::connect(config).await.expect("producer");
    let send = |i: usize| {
        (0..c.partition_count())
            .map(|p| {
                producer.send(
                    ProducerRecord::new(c.topic.as_str(), format!("p{p}-{i}"))
                        .key(format!("k{i}"))
                        .partition(p),
                )
            })
            .collect::<Vec<_>>()
    };
    for delivery in send(0) {
        delivery.await.expect("delivered before the crash");
    }
    crash_the_bootstrap_broker(&c);
    let crashed = Instant::now();
    // Broker 0's partition now has another leader, which only a metadata
    // refresh from a broker other than the bootstrap one tells.
    let deliveries = send(1);
    let mut offsets = Vec::new();
    for delivery in deliveries {
        let meta = tokio::time::timeout(super::harness::LIMIT, delivery)
            .await
            .expect("delivered in time")
            .expect("delivered after the crash");
        offsets.push((meta.partition, meta.offset));
    }
    eprintln!(
        "bootstrap broker down: the producer delivered {offsets:?} {:?} after the crash",
        crashed.elapsed()
    );
    let want: Vec<(i32, i64)> = (0..c.partition_count()).map(|p| (p, 1)).collect();
    assert_eq!(offsets, want, "each partition's second record at offset 1");
    assert_eq!(c.ends(), (0..3).map(|p| (p, 2)).collect());
    producer.close().await;
}
