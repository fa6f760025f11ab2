//! Fault scenarios on the fetch path: fetches answered NOT_LEADER_OR_FOLLOWER,
//! OFFSET_OUT_OF_RANGE and UNKNOWN_LEADER_EPOCH for a position that is
//! valid, and fetches throttled (KIP-219 throttle_time_ms).

use std::time::{Duration, Instant};

use krafka::error::ErrorCode;
use krafka::testing::{ApiKey, Control};
use sluice::TopicPartition;

use super::harness::{Cluster, Reader};

/// An assigned consumer (no group, so nothing may ever be read twice) of
/// every partition of the topic, starting at `reset`.
async fn assigned(c: &Cluster, reset: &str) -> Reader {
    let mut config = c.consumer_config("", 10);
    config.fetch.set("auto.offset.reset", reset).expect("reset");
    let mut consumer = sluice::Consumer::new(config).expect("consumer");
    let tps: Vec<_> = (0..c.partition_count())
        .map(|p| TopicPartition::new(c.topic.as_str(), p))
        .collect();
    consumer.assign(&tps).await.expect("assign");
    for tp in &tps {
        consumer.seek(tp, 0).expect("seek");
    }
    Reader::new(consumer, false)
}

/// The consumer has read everything; its next fetch from every broker is
/// held a second and then answered `code` for every partition, and while it
/// is held more records arrive. So the answer comes for a valid position with
/// records after it: every record must still be read exactly once, in order.
async fn fetches_answered(prefix: &str, code: ErrorCode, reset: &str) {
    let c = Cluster::start(prefix, 3).await;
    c.produce(0, 40).await;
    let mut r = assigned(&c, reset).await;
    r.until_all(&c.ends()).await;

    let fetches = c.broker.request_count(ApiKey::Fetch);
    c.broker.on_times(ApiKey::Fetch, 3, move |_| {
        Control::DelayThen(Duration::from_secs(1), Box::new(Control::Error(code)))
    });
    // The next three fetches to arrive take the hooks: one per broker, as a
    // broker whose fetch is held sends no other.
    r.until("a held fetch at every broker", |_| {
        c.broker.request_count(ApiKey::Fetch) >= fetches + 3
    })
    .await;
    let held = Instant::now();
    c.produce(40, 20).await;
    let produced = held.elapsed();
    let ends = c.ends();
    r.until_all(&ends).await;
    eprintln!(
        "fetch answered {code:?} (reset {reset}): produced {produced:?} into the hold, all read {:?} after the hold began, {} fetches in all; poll errors {:?}",
        held.elapsed(),
        c.broker.request_count(ApiKey::Fetch) - fetches,
        r.poll_errors
    );
    r.reads.assert_exactly_once(&ends);
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_answered_not_leader_or_follower() {
    fetches_answered("fk-f-nl", ErrorCode::NotLeaderForPartition, "earliest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_answered_offset_out_of_range_for_a_valid_position() {
    fetches_answered("fk-f-oor", ErrorCode::OffsetOutOfRange, "earliest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_answered_offset_out_of_range_with_reset_latest_skip_nothing() {
    fetches_answered("fk-f-oorl", ErrorCode::OffsetOutOfRange, "latest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_answered_unknown_leader_epoch() {
    fetches_answered("fk-f-ule", ErrorCode::UnknownLeaderEpoch, "earliest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_failing_for_a_while_are_retried_with_backoff() {
    let c = Cluster::start("fk-f-spin", 3).await;
    c.produce(0, 20).await;
    let mut r = assigned(&c, "earliest").await;
    r.until_all(&c.ends()).await;
    // For one second every fetch is answered NOT_LEADER_OR_FOLLOWER while
    // metadata keeps naming the same leaders (a leader election in
    // progress). retry.backoff.ms is 50, doubling with each failure in a row
    // up to retry.backoff.max.ms (1 s): waits of 50, 100, 200, 400 ms, about
    // five fetches per broker in the second, not 20 at a fixed 50 ms.
    c.broker.on(ApiKey::Fetch, |_| {
        Control::Error(ErrorCode::NotLeaderForPartition)
    });
    let fetches = c.broker.request_count(ApiKey::Fetch);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        r.step().await;
    }
    let elapsed = started.elapsed();
    let sent = c.broker.request_count(ApiKey::Fetch) - fetches;
    c.broker.clear_hooks();
    c.produce(20, 10).await;
    let ends = c.ends();
    r.until_all(&ends).await;
    r.reads.assert_exactly_once(&ends);
    let allowed =
        3 * (exponential_allowance(elapsed, Duration::from_millis(50), Duration::from_secs(1)) + 1);
    eprintln!("failing fetches: {sent} in {elapsed:?} (allowed {allowed})");
    assert!(
        sent <= allowed,
        "{sent} fetches in {elapsed:?}: no exponential backoff between failures"
    );
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_fetches_are_waited_out() {
    const THROTTLE: Duration = Duration::from_millis(400);
    let c = Cluster::start("fk-throttle", 3).await;
    c.produce(0, 30).await;
    let mut r = assigned(&c, "earliest").await;
    c.broker.set_throttle(ApiKey::Fetch, THROTTLE);
    let ends = c.ends();
    r.until_all(&ends).await;
    r.reads.assert_exactly_once(&ends);
    // Idle now: with fetch.max.wait.ms 100 an unthrottled consumer fetches
    // about 10 times a second from each broker; a throttled one at most once
    // per throttle time (KIP-219: no request to a broker before its throttle
    // has passed).
    c.broker.clear_requests();
    let window = Duration::from_secs(2);
    let started = Instant::now();
    while started.elapsed() < window {
        r.step().await;
    }
    let elapsed = started.elapsed();
    let nodes = c.broker.request_nodes(ApiKey::Fetch);
    let allowed = (elapsed.as_millis() / THROTTLE.as_millis()) as usize + 1;
    for node in 0..3 {
        let sent = nodes.iter().filter(|&&n| n == node).count();
        eprintln!("throttled: broker {node} got {sent} fetches in {elapsed:?} (allowed {allowed})");
        assert!(
            sent <= allowed,
            "broker {node}: {sent} fetches in {elapsed:?} with a {THROTTLE:?} throttle"
        );
    }
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    r.consumer.close().await.expect("close");
}

/// How many requests a client backing off from `base` doubling up to `max`
/// sends in `elapsed`: the first at once, then one after each wait.
fn exponential_allowance(elapsed: Duration, base: Duration, max: Duration) -> usize {
    let (mut at, mut wait, mut sent) = (Duration::ZERO, base, 1);
    while at + wait <= elapsed {
        at += wait;
        wait = (wait * 2).min(max);
        sent += 1;
    }
    sent
}

/// A consumer with no positions yet looks them up (auto.offset.reset
/// earliest) while every ListOffsets is answered `code` for three seconds:
/// it asks again after retry.backoff.ms (50 here), doubling up to
/// retry.backoff.max.ms (Java's default, 1 s), not in a loop; once the
/// answers are good every record is read once.
async fn offset_lookups_answered(prefix: &str, code: ErrorCode) {
    let c = Cluster::start(prefix, 3).await;
    c.produce(0, 20).await;
    c.broker
        .on(ApiKey::ListOffsets, move |_| Control::Error(code));
    c.broker.clear_requests();
    let config = c.consumer_config("", 10);
    let mut consumer = sluice::Consumer::new(config).expect("consumer");
    let tps: Vec<_> = (0..c.partition_count())
        .map(|p| TopicPartition::new(c.topic.as_str(), p))
        .collect();
    consumer.assign(&tps).await.expect("assign");
    let mut r = Reader::new(consumer, false);
    let window = Duration::from_secs(3);
    let started = Instant::now();
    while started.elapsed() < window {
        r.step().await;
    }
    let elapsed = started.elapsed();
    let nodes = c.broker.request_nodes(ApiKey::ListOffsets);
    c.broker.clear_hooks();
    assert!(
        r.reads.len() == 0,
        "read {:?} with no offsets",
        r.reads.counts()
    );
    let allowed =
        exponential_allowance(elapsed, Duration::from_millis(50), Duration::from_secs(1)) + 1;
    for node in 0..3 {
        let sent = nodes.iter().filter(|&&n| n == node).count();
        eprintln!(
            "ListOffsets answered {code:?}: broker {node} got {sent} in {elapsed:?} (allowed {allowed})"
        );
        assert!(sent >= 2, "broker {node}: {sent} lookups, never retried");
        assert!(
            sent <= allowed,
            "broker {node}: {sent} lookups in {elapsed:?}: no exponential backoff"
        );
    }
    let ends = c.ends();
    r.until_all(&ends).await;
    r.reads.assert_exactly_once(&ends);
    assert!(r.poll_errors.is_empty(), "{:?}", r.poll_errors);
    r.consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_lookups_answered_offset_not_available_back_off() {
    offset_lookups_answered("fk-lo-ona", ErrorCode::OffsetNotAvailable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_lookups_answered_not_leader_back_off() {
    offset_lookups_answered("fk-lo-nl", ErrorCode::NotLeaderForPartition).await;
}
