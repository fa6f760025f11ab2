//! Fault scenarios around partition leadership: a leader moves to another
//! broker mid-consume; the leader's broker goes down and comes back.

use std::time::Instant;

use krafka::testing::ApiKey;
use sluice_integration::unique_name;

use super::harness::{Cluster, Reader};

/// max.poll.records in these tests: a commit follows every poll, so one
/// uncommitted batch is at most this many records.
const BATCH: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_leader_moves_mid_consume() {
    let c = Cluster::start("fk-move", 3).await;
    c.produce(0, 40).await;
    let group = unique_name("fk-move");
    let mut r = Reader::new(c.group_member(&group, BATCH).await, true);
    r.until_count(30).await;

    let before: Vec<i32> = (0..3).map(|p| c.leader(p)).collect();
    for (p, old) in (0..3).zip(&before) {
        assert!(c.broker.set_leader(&c.topic, p, (old + 1) % 3));
    }
    c.broker.clear_requests();
    let moved = Instant::now();
    c.produce(40, 40).await;
    let ends = c.ends();
    r.until_all(&ends).await;
    eprintln!("leader move: recovered in {:?}", moved.elapsed());

    let dups = r.reads.assert_complete_with_rewinds(&ends, BATCH);
    assert!(
        dups.values().all(|&d| d == 0),
        "no rebalance, so no duplicates: {dups:?}"
    );
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    assert!(r.commit_errors.is_empty(), "{:?}", r.commit_errors);
    r.consumer.commit_sync().await.expect("commit");
    for p in 0..3 {
        assert_eq!(
            c.broker.committed_offset(&group, &c.topic, p),
            Some(80),
            "partition {p}"
        );
    }
    // Each new leader served fetches after the move.
    let nodes = c.broker.request_nodes(ApiKey::Fetch);
    for p in 0..3 {
        assert!(nodes.contains(&c.leader(p)), "fetches went to {nodes:?}");
    }
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaders_broker_goes_down_and_comes_back() {
    let c = Cluster::start("fk-crash", 3).await;
    c.produce(0, 40).await;
    let group = unique_name("fk-crash");
    let coordinator = c.broker.with_state(|s| s.group_coordinator(&group));
    // Crash a partition leader that is not the group's coordinator.
    let victim_partition = (0..3)
        .find(|&p| c.leader(p) != coordinator)
        .expect("3 partitions over 3 brokers");
    let victim = c.leader(victim_partition);
    let others: Vec<i32> = (0..3).filter(|&p| p != victim_partition).collect();

    let mut r = Reader::new(c.group_member(&group, BATCH).await, true);
    r.until_count(30).await;
    c.broker.crash(victim);
    let crashed = Instant::now();

    // While it is down, the partitions on the other brokers go on.
    c.produce_on(&others, 40, 20).await;
    let ends_up = c.ends();
    r.until(
        &format!("partitions {others:?} while broker {victim} is down"),
        |reads| {
            others
                .iter()
                .all(|p| reads.by_partition.get(p).map_or(0, Vec::len) as i64 >= ends_up[p])
        },
    )
    .await;
    eprintln!(
        "broker down: other partitions caught up in {:?}",
        crashed.elapsed()
    );

    c.broker.restart(victim);
    let restarted = Instant::now();
    c.produce(60, 20).await;
    let ends = c.ends();
    assert_eq!(ends[&victim_partition], 60);
    r.until_all(&ends).await;
    eprintln!(
        "broker back: everything read {:?} after the restart",
        restarted.elapsed()
    );

    let dups = r.reads.assert_complete_with_rewinds(&ends, BATCH);
    assert!(
        dups.values().all(|&d| d == 0),
        "no rebalance, so no duplicates: {dups:?}"
    );
    assert!(r.commit_errors.is_empty(), "{:?}", r.commit_errors);
    eprintln!("broker down: poll errors {:?}", r.poll_errors);
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
