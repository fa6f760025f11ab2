//! Fault scenarios around the group coordinator: it moves to another broker
//! (the old one answers NOT_COORDINATOR), its broker goes down and comes
//! back, and commits answered with
//! REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID and
//! COORDINATOR_LOAD_IN_PROGRESS.

use std::time::Instant;

use krafka::error::ErrorCode;
use krafka::testing::{ApiKey, Control};
use sluice::TopicPartition;
use sluice_integration::unique_name;

use super::harness::{Cluster, Reader};

/// max.poll.records in these tests: a commit follows every poll, so one
/// uncommitted batch is at most this many records.
const BATCH: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_coordinator_moves() {
    let c = Cluster::start("fk-coord", 3).await;
    c.produce(0, 40).await;
    let group = unique_name("fk-coord");
    let old = c.broker.with_state(|s| s.group_coordinator(&group));
    let mut r = Reader::new(c.group_member(&group, BATCH).await, true);
    r.until_count(30).await;
    let new = (old + 1) % 3;
    c.broker.set_group_coordinator(&group, new);
    c.broker.clear_requests();
    let moved = Instant::now();
    c.produce(40, 20).await;
    let ends = c.ends();
    r.until_all(&ends).await;
    r.consumer
        .commit_sync()
        .await
        .expect("commit after the move");
    eprintln!(
        "coordinator move: everything read and committed in {:?}",
        moved.elapsed()
    );

    let dups = r.reads.assert_complete_with_rewinds(&ends, BATCH);
    eprintln!(
        "coordinator move: duplicates {dups:?}, commit errors {:?}, JoinGroups after the move {}",
        r.commit_errors,
        c.broker.request_count(ApiKey::JoinGroup)
    );
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    assert!(
        r.commit_errors.is_empty(),
        "NOT_COORDINATOR is retried: {:?}",
        r.commit_errors
    );
    let commits = c.broker.request_nodes(ApiKey::OffsetCommit);
    assert_eq!(
        commits.last(),
        Some(&new),
        "commits go to the new coordinator: {commits:?}"
    );
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
async fn the_coordinators_broker_goes_down_and_comes_back() {
    let c = Cluster::start("fk-coord-crash", 3).await;
    c.produce(0, 40).await;
    let group = unique_name("fk-coord-crash");
    let coordinator = c.broker.with_state(|s| s.group_coordinator(&group));
    let others: Vec<i32> = (0..3).filter(|&p| c.leader(p) != coordinator).collect();
    assert_eq!(
        others.len(),
        2,
        "the coordinator leads one of the three partitions"
    );
    let mut r = Reader::new(c.group_member(&group, BATCH).await, true);
    r.until_count(30).await;
    let joins = c.broker.request_count(ApiKey::JoinGroup);
    c.broker.crash(coordinator);
    let crashed = Instant::now();

    // A commit now fails with an error (it does not hang, and nothing is
    // committed).
    let before: Vec<Option<i64>> = (0..3)
        .map(|p| c.broker.committed_offset(&group, &c.topic, p))
        .collect();
    let commit = r.consumer.commit_sync().await;
    let waited = crashed.elapsed();
    let after: Vec<Option<i64>> = (0..3)
        .map(|p| c.broker.committed_offset(&group, &c.topic, p))
        .collect();
    match commit {
        Err(e) => {
            eprintln!("coordinator down: a commit failed after {waited:?}: {e}");
            assert_eq!(before, after, "a failed commit committed nothing");
        }
        // The fake aborts a crashed broker's connection tasks, and one busy
        // with our request at that moment still answers it (seen on a loaded
        // machine): then the commit did land, and says so truly.
        Ok(()) => {
            let positions: Vec<Option<i64>> = (0..3)
                .map(|p| {
                    r.consumer
                        .position(&TopicPartition::new(c.topic.as_str(), p))
                })
                .collect();
            assert_eq!(
                after, positions,
                "a commit that succeeded holds the positions"
            );
        }
    }

    // The partitions on the other brokers are still read. (No commits
    // meanwhile: each would wait its timeout.)
    r.commit = false;
    c.produce_on(&others, 40, 20).await;
    let ends_up = c.ends();
    r.until(
        &format!("partitions {others:?} while the coordinator is down"),
        |reads| {
            others
                .iter()
                .all(|p| reads.by_partition.get(p).map_or(0, Vec::len) as i64 >= ends_up[p])
        },
    )
    .await;
    c.broker.restart(coordinator);
    r.commit = true;
    eprintln!(
        "coordinator down: other partitions read {:?} after the crash",
        crashed.elapsed()
    );
    let restarted = Instant::now();
    c.produce(60, 20).await;
    let ends = c.ends();
    r.until_all(&ends).await;
    r.consumer
        .commit_sync()
        .await
        .expect("commit after the restart");
    let dups = r.reads.assert_complete_with_rewinds(&ends, BATCH);
    eprintln!(
        "coordinator back: everything read and committed {:?} after the restart; duplicates {dups:?}; rejoins {}; poll errors {:?}",
        restarted.elapsed(),
        c.broker.request_count(ApiKey::JoinGroup) - joins,
        r.poll_errors
    );
    for (p, end) in &ends {
        assert_eq!(
            c.broker.committed_offset(&group, &c.topic, *p),
            Some(*end),
            "partition {p}"
        );
    }
    r.consumer.close().await.expect("close");
}

/// One commit is answered `code`; the member goes on, and in the end every
/// record was read in order with at most one batch re-read, and the last
/// commit holds the end of every partition. Returns the reader for more
/// checks.
async fn one_commit_answered(prefix: &str, code: ErrorCode) -> (Cluster, Reader, usize) {
    let c = Cluster::start(prefix, 3).await;
    c.produce(0, 40).await;
    let group = unique_name(prefix);
    let mut r = Reader::new(c.group_member(&group, BATCH).await, true);
    r.until_count(20).await;
    let joins = c.broker.request_count(ApiKey::JoinGroup);
    let commits = c.broker.request_count(ApiKey::OffsetCommit);
    c.broker
        .on_once(ApiKey::OffsetCommit, move |_| Control::Error(code));
    let injected = Instant::now();
    // Read on until the injected answer was used and the rest is read.
    r.until("the injected commit answer to be used", |_| {
        c.broker.request_count(ApiKey::OffsetCommit) > commits
    })
    .await;
    c.produce(40, 20).await;
    let ends = c.ends();
    r.until_all(&ends).await;
    r.consumer.commit_sync().await.expect("the last commit");
    let dups = r.reads.assert_complete_with_rewinds(&ends, BATCH);
    let rejoins = c.broker.request_count(ApiKey::JoinGroup) - joins;
    eprintln!(
        "commit answered {code:?}: recovered in {:?}; duplicates {dups:?}; rejoins {rejoins}; commit errors {:?}; poll errors {:?}",
        injected.elapsed(),
        r.commit_errors,
        r.poll_errors
    );
    assert!(r.commit_errors.len() <= 1, "{:?}", r.commit_errors);
    for (p, end) in &ends {
        assert_eq!(
            c.broker.committed_offset(&group, &c.topic, *p),
            Some(*end),
            "partition {p}"
        );
    }
    (c, r, rejoins)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_answered_rebalance_in_progress() {
    let (_c, r, rejoins) = one_commit_answered("fk-c-rip", ErrorCode::RebalanceInProgress).await;
    assert!(
        rejoins >= 1,
        "REBALANCE_IN_PROGRESS makes the member rejoin"
    );
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_answered_illegal_generation() {
    let (_c, r, rejoins) = one_commit_answered("fk-c-gen", ErrorCode::IllegalGeneration).await;
    assert!(rejoins >= 1, "ILLEGAL_GENERATION makes the member rejoin");
    assert_eq!(
        r.commit_errors.len(),
        1,
        "the failed commit is surfaced, not dropped"
    );
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_answered_unknown_member_id() {
    let (_c, r, rejoins) = one_commit_answered("fk-c-mem", ErrorCode::UnknownMemberId).await;
    assert!(rejoins >= 1, "UNKNOWN_MEMBER_ID makes the member rejoin");
    assert_eq!(
        r.commit_errors.len(),
        1,
        "the failed commit is surfaced, not dropped"
    );
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_answered_coordinator_load_in_progress() {
    let (_c, r, rejoins) =
        one_commit_answered("fk-c-load", ErrorCode::CoordinatorLoadInProgress).await;
    assert_eq!(
        rejoins, 0,
        "a loading coordinator is waited for, not rejoined"
    );
    assert!(r.commit_errors.is_empty(), "retried: {:?}", r.commit_errors);
    let dups: usize = r.reads.by_partition.values().map(Vec::len).sum::<usize>() - 180;
    assert_eq!(dups, 0, "nothing re-read");
    r.consumer.close().await.expect("close");
}
