//! The `sluice` crate's Consumer against a real broker: a group member
//! subscribes, polls, commits and sees its commit; an assigned consumer
//! streams records from a seek position.

use std::time::Duration;

use futures_util::StreamExt;
use sluice::{Consumer, ConsumerConfig, TopicPartition};
use sluice_integration::{TempTopic, bootstrap, connect, run_peer, unique_name};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_consumer_polls_commits_and_an_assigned_one_streams() {
    let conn = connect("sluice-it-consumer").await;
    let topic = TempTopic::create(&conn, "it-consumer", 2).await;
    let acked = run_peer(
        "rdkafka_produce.py",
        &[&bootstrap(), &topic.name, "2", "200", "none,lz4"],
    );
    assert_eq!(acked.trim(), "200");

    let group = unique_name("it-consumer");
    let config = ConsumerConfig::from_pairs([
        ("bootstrap.servers", bootstrap().as_str()),
        ("group.id", group.as_str()),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("session.timeout.ms", "6000"),
        ("max.poll.records", "64"),
    ])
    .unwrap();
    let mut consumer = Consumer::new(config.clone()).unwrap();
    consumer.subscribe(&[topic.name.as_str()]).await.unwrap();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < 200 {
        assert!(Instant::now() < deadline, "only {seen} of 200 records");
        let records = consumer.poll(Duration::from_millis(500)).await.unwrap();
        assert!(records.len() <= 64, "max.poll.records");
        seen += records.len();
    }
    assert_eq!(seen, 200);
    consumer.commit_sync().await.unwrap();
    let tps: Vec<TopicPartition> = (0..2)
        .map(|p| TopicPartition::new(topic.name.as_str(), p))
        .collect();
    let committed = consumer.committed(&tps).await.unwrap();
    for tp in &tps {
        assert_eq!(committed[tp].as_ref().map(|o| o.offset), Some(100), "{tp}");
        assert_eq!(consumer.position(tp), Some(100));
    }
    assert_eq!(consumer.lag().values().flatten().sum::<i64>(), 0);
    consumer.close().await.unwrap();

    // Without a group: assign, seek, stream.
    let mut config = config;
    config.group.group_id.clear();
    let mut assigned = Consumer::new(config).unwrap();
    let tp = TopicPartition::new(topic.name.as_str(), 1);
    assigned.assign(std::slice::from_ref(&tp)).await.unwrap();
    // Offset 0 starts a stored batch: tansu 0.6 answers a fetch from inside its last batch with
    // nothing at all.
    assigned.seek(&tp, 0).unwrap();
    let offsets: Vec<i64> = tokio::time::timeout(
        Duration::from_secs(30),
        assigned
            .stream()
            .take(100)
            .map(|r| r.expect("record").offset)
            .collect(),
    )
    .await
    .expect("100 records within 30 s");
    assert_eq!(offsets, (0..100).collect::<Vec<_>>());
    assert!(
        assigned.commit_sync().await.is_err(),
        "no group: nothing to commit to"
    );
    assigned.close().await.unwrap();
    topic.delete().await;
}
