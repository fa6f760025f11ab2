//! Issue 13, defect 5: after a fatal group answer (FENCED_INSTANCE_ID here,
//! injected by krafka's fake broker into every Heartbeat) the member is no
//! zombie: it owns nothing, returns no more records, stops heartbeating,
//! and every later call returns the error.

use std::time::Duration;

use krafka::error::ErrorCode;
use krafka::testing::{ApiKey, Control, FakeBroker};
use sluice_fetch::FetchConfig;
use sluice_group::{GroupConfig, GroupConsumer};
use sluice_integration::produce_to;
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_heartbeat_answer_leaves_no_zombie() {
    let broker = FakeBroker::start().await.unwrap();
    assert!(broker.create_topic("orders", 2));
    let bootstrap = broker.bootstrap_servers();
    produce_to(&bootstrap, "orders", &[0, 1], 0, 100).await;
    let fetch = FetchConfig::default()
        .with_pairs([
            ("bootstrap.servers", bootstrap.as_str()),
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "10"),
        ])
        .unwrap();
    let group = GroupConfig {
        group_id: "fenced".into(),
        group_instance_id: Some("instance-1".into()),
        enable_auto_commit: false,
        session_timeout: Duration::from_secs(6),
        heartbeat_interval: Duration::from_millis(100),
        ..GroupConfig::default()
    };
    let mut c = GroupConsumer::new(fetch, group).await.unwrap();
    c.subscribe(["orders"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.poll(Duration::from_millis(100)).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no records");
    }
    assert_eq!(c.assignment().len(), 2);

    // Another member took the instance id over: the coordinator fences this one.
    broker.on(ApiKey::Heartbeat, |_| {
        Control::Error(ErrorCode::FencedInstanceId)
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        assert!(Instant::now() < deadline, "never fenced");
        if let Err(e) = c.poll(Duration::from_millis(100)).await {
            break e;
        }
    };
    assert!(error.to_string().contains("FENCED_INSTANCE_ID"), "{error}");
    assert!(!error.is_retriable());
    assert!(c.assignment().is_empty(), "owns {:?}", c.assignment());
    for _ in 0..5 {
        match c.poll(Duration::from_millis(100)).await {
            Err(e) => assert_eq!(e.to_string(), error.to_string()),
            Ok(records) => panic!("a fenced member returned {} records", records.len()),
        }
    }
    assert!(c.commit_sync().await.is_err(), "commits fail too");
    let heartbeats = broker.request_count(ApiKey::Heartbeat);
    // A window of ten heartbeat intervals (not a synchronisation): none is sent.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        broker.request_count(ApiKey::Heartbeat),
        heartbeats,
        "heartbeats stopped"
    );
    c.close().await.unwrap();
}
