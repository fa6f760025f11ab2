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

/// Issue 13, defect 2: `stream()` buffered a whole poll and the records not
/// yet yielded were already marked consumed, so `take(10)`, drop, commit
/// committed 500. Records not handed to the caller are never committed and
/// come back on the next poll or stream; `next()` raced against a timer
/// loses nothing either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_a_stream_did_not_yield_are_not_committed_and_come_back() {
    let conn = connect("sluice-it-stream-commit").await;
    let topic = TempTopic::create(&conn, "it-stream-commit", 1).await;
    sluice_integration::produce_single_batches(&conn, &topic, 0, 600).await;
    let group = unique_name("it-stream-commit");
    let config = ConsumerConfig::from_pairs([
        ("bootstrap.servers", bootstrap().as_str()),
        ("group.id", group.as_str()),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("session.timeout.ms", "6000"),
        ("max.poll.records", "500"),
    ])
    .unwrap();
    let tp = TopicPartition::new(topic.name.as_str(), 0);
    let mut consumer = Consumer::new(config.clone()).unwrap();
    consumer.subscribe(&[topic.name.as_str()]).await.unwrap();
    let first: Vec<i64> = tokio::time::timeout(
        Duration::from_secs(60),
        consumer
            .stream()
            .take(10)
            .map(|r| r.expect("record").offset)
            .collect(),
    )
    .await
    .expect("10 records within 60 s");
    assert_eq!(first, (0..10).collect::<Vec<_>>());
    // The next 10 through next() raced against a 1 ms timer, the stream dropped in between.
    let mut next = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while next.len() < 10 {
        assert!(Instant::now() < deadline, "only {next:?}");
        let mut stream = std::pin::pin!(consumer.stream());
        tokio::select! {
            r = stream.next() => next.push(r.expect("not ended").expect("record").offset),
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
    assert_eq!(next, (10..20).collect::<Vec<_>>());
    assert_eq!(
        consumer.position(&tp),
        Some(20),
        "the position is the next record to hand out"
    );
    consumer.commit_sync().await.unwrap();
    let committed = consumer.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(20));
    // The next poll carries on at 20.
    let deadline = Instant::now() + Duration::from_secs(30);
    let records = loop {
        assert!(Instant::now() < deadline, "nothing after the stream");
        let records = consumer.poll(Duration::from_millis(500)).await.unwrap();
        if !records.is_empty() {
            break records;
        }
    };
    assert_eq!(records[0].offset, 20);
    consumer.close().await.unwrap();

    // The group's next member starts where the stream's caller stopped, not at 500.
    let mut next_member = Consumer::new(config).unwrap();
    next_member.subscribe(&[topic.name.as_str()]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let records = loop {
        assert!(Instant::now() < deadline, "the next member read nothing");
        let records = next_member.poll(Duration::from_millis(500)).await.unwrap();
        if !records.is_empty() {
            break records;
        }
    };
    assert_eq!(records[0].offset, 20, "starts at the committed offset");
    next_member.close().await.unwrap();
    topic.delete().await;
}

/// Produces `n` records to partition 0 of `topic`: key `k{i}`, value
/// `v{i}`, two headers with the same key.
async fn produce_keyed(topic: &str, n: usize) {
    use sluice_produce::{Producer, ProducerConfig, ProducerRecord};
    let producer = Producer::connect(
        ProducerConfig::default()
            .with_pairs([("bootstrap.servers", bootstrap().as_str())])
            .unwrap(),
    )
    .await
    .unwrap();
    let deliveries: Vec<_> = (0..n)
        .map(|i| {
            producer.send(
                ProducerRecord::new(topic, format!("v{i}"))
                    .key(format!("k{i}"))
                    .partition(0)
                    .header("h", Some(format!("{i}").into()))
                    .header("h", None),
            )
        })
        .collect();
    for d in deliveries {
        d.await.expect("delivered");
    }
    producer.close().await;
}

/// Issue 18: `Consumer::poll_batch` raced against a 1 ms timer in
/// `tokio::select!` (the future dropped whenever the timer wins) loses and
/// repeats no record, assigned or in a group; the views carry what was
/// produced, and a group member's returned batches count as consumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_batch_dropped_mid_poll_loses_nothing_assigned_or_in_a_group() {
    const N: usize = 300;
    let conn = connect("sluice-it-poll-batch").await;
    let topic = TempTopic::create(&conn, "it-poll-batch", 1).await;
    produce_keyed(&topic.name, N).await;
    let tp = TopicPartition::new(topic.name.as_str(), 0);
    let group = unique_name("it-poll-batch");
    let pairs = |group: &str| {
        ConsumerConfig::from_pairs([
            ("bootstrap.servers", bootstrap().as_str()),
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "6000"),
            ("max.poll.records", "50"),
        ])
        .unwrap()
    };
    for grouped in [false, true] {
        let mut consumer = Consumer::new(pairs(if grouped { &group } else { "" })).unwrap();
        if grouped {
            consumer.subscribe(&[topic.name.as_str()]).await.unwrap();
        } else {
            consumer.assign(std::slice::from_ref(&tp)).await.unwrap();
        }
        let (mut seen, mut dropped) = (Vec::new(), 0);
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < N {
            assert!(Instant::now() < deadline, "only {} of {N}", seen.len());
            tokio::select! {
                batch = consumer.poll_batch(Duration::from_millis(500)) => {
                    let batch = batch.unwrap();
                    assert!(batch.len() <= 50, "max.poll.records");
                    for r in &batch {
                        let i = r.offset;
                        assert_eq!(r.topic, topic.name);
                        assert_eq!(r.key, Some(format!("k{i}").as_bytes()));
                        assert_eq!(r.value, Some(format!("v{i}").as_bytes()));
                        let headers: Vec<_> = r.headers.iter().map(|h| (h.key, h.value)).collect();
                        assert_eq!(headers, vec![(&b"h"[..], Some(format!("{i}").as_bytes())), (&b"h"[..], None)]);
                        seen.push(i);
                    }
                    if let Some(&(_, next)) = batch.next_offsets().first() {
                        assert_eq!(consumer.position(&tp), Some(next));
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(1)) => dropped += 1,
            }
        }
        assert_eq!(
            seen,
            (0..N as i64).collect::<Vec<_>>(),
            "grouped: {grouped}"
        );
        assert!(dropped > 0, "some polls were dropped");
        if grouped {
            consumer.commit_sync().await.unwrap();
            let committed = consumer.committed(std::slice::from_ref(&tp)).await.unwrap();
            assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(N as i64));
        }
        consumer.close().await.unwrap();
    }
}
