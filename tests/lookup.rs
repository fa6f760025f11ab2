//! Issue 13, defect 6: the committed-offset lookup on assign. krafka's fake
//! broker holds the first OffsetFetch answers past `request.timeout.ms`: the
//! lookup times out (a `State` error), which used to drop the assignment for
//! good; polls must stay within their own timeout meanwhile, and the member
//! must read its partitions once a lookup succeeds.

use std::time::Duration;

use krafka::testing::{ApiKey, Control, FakeBroker};
use sluice_fetch::FetchConfig;
use sluice_group::{GroupConfig, GroupConsumer};
use sluice_integration::produce_to;
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_committed_offset_lookup_is_retried_within_the_polls_budget() {
    let broker = FakeBroker::start().await.unwrap();
    assert!(broker.create_topic("orders", 1));
    let bootstrap = broker.bootstrap_servers();
    produce_to(&bootstrap, "orders", &[0], 0, 20).await;
    // Two answers come after the request timeout: the lookup's whole deadline passes.
    broker.on_times(ApiKey::OffsetFetch, 2, |_| {
        Control::Delay(Duration::from_secs(3))
    });
    let fetch = FetchConfig::default()
        .with_pairs([
            ("bootstrap.servers", bootstrap.as_str()),
            ("auto.offset.reset", "earliest"),
            ("request.timeout.ms", "1000"),
        ])
        .unwrap();
    let group = GroupConfig {
        group_id: "lookup".into(),
        enable_auto_commit: false,
        session_timeout: Duration::from_secs(6),
        heartbeat_interval: Duration::from_millis(200),
        ..GroupConfig::default()
    };
    let mut c = GroupConsumer::new(fetch, group).await.unwrap();
    c.subscribe(["orders"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut read = Vec::new();
    while read.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "read {} of 20; owns {:?}",
            read.len(),
            c.assignment()
        );
        let started = Instant::now();
        let records = c
            .poll(Duration::from_millis(100))
            .await
            .expect("a timed-out lookup is retried, not an error");
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "poll(100ms) waited {:?}: held by the lookup",
            started.elapsed()
        );
        read.extend(records.into_iter().map(|r| r.offset));
    }
    assert_eq!(read, (0..20).collect::<Vec<i64>>());
    assert!(
        broker.request_count(ApiKey::OffsetFetch) >= 3,
        "looked up again"
    );
    c.close().await.unwrap();
}

/// Issue 13 (also): a group member has `seek_to`, as the assigned consumer
/// has. After reading everything it goes back to the earliest offset; a
/// commit before the next record is returned leaves the partition's
/// committed offset as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_member_seeks_to_the_earliest_offset() {
    let broker = FakeBroker::start().await.unwrap();
    assert!(broker.create_topic("events", 1));
    let bootstrap = broker.bootstrap_servers();
    produce_to(&bootstrap, "events", &[0], 0, 10).await;
    let fetch = FetchConfig::default()
        .with_pairs([
            ("bootstrap.servers", bootstrap.as_str()),
            ("auto.offset.reset", "earliest"),
        ])
        .unwrap();
    let group = GroupConfig {
        group_id: "seek-to".into(),
        enable_auto_commit: false,
        session_timeout: Duration::from_secs(6),
        ..GroupConfig::default()
    };
    let mut c = GroupConsumer::new(fetch, group).await.unwrap();
    c.subscribe(["events"]);
    let tp = sluice_fetch::TopicPartition::new("events", 0);
    let mut read = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while read.len() < 10 {
        assert!(Instant::now() < deadline, "read {read:?}");
        read.extend(
            c.poll(Duration::from_millis(100))
                .await
                .unwrap()
                .iter()
                .map(|r| r.offset),
        );
    }
    c.commit_sync().await.unwrap();
    c.seek_to(&tp, sluice_fetch::offsets::OffsetSpec::Earliest)
        .unwrap();
    c.commit_sync().await.unwrap();
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(
        committed[&tp].as_ref().map(|o| o.offset),
        Some(10),
        "unchanged by the seek"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let again = loop {
        assert!(Instant::now() < deadline, "nothing after seek_to");
        let records = c.poll(Duration::from_millis(100)).await.unwrap();
        if !records.is_empty() {
            break records;
        }
    };
    assert_eq!(again[0].offset, 0, "back at the earliest offset");
    c.close().await.unwrap();
}
