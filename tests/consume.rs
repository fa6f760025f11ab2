//! The fetcher and `sluice consume` against a real broker, with records
//! written by librdkafka (confluent-kafka) in every codec.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest};
use sluice_fetch::offsets::OffsetSpec;
use sluice_fetch::record::ConsumerRecord;
use sluice_fetch::{FetchClient, FetchConfig, FetchError, OffsetReset, TopicPartition};
use sluice_integration::{
    TempTopic, bootstrap, connect, produce_single_batches, run_peer, sluice_bin,
};

const CODECS: &str = "none,gzip,snappy,lz4,zstd";

fn config(pairs: &[(&str, &str)]) -> FetchConfig {
    let boot = bootstrap();
    let mut all = vec![
        ("bootstrap.servers", boot.as_str()),
        ("client.id", "sluice-it"),
    ];
    all.extend_from_slice(pairs);
    FetchConfig::default()
        .with_pairs(all)
        .expect("valid config")
}

fn produce(topic: &TempTopic, partitions: i32, count: usize) {
    let acked = run_peer(
        "rdkafka_produce.py",
        &[
            &bootstrap(),
            &topic.name,
            &partitions.to_string(),
            &count.to_string(),
            CODECS,
        ],
    );
    assert_eq!(
        acked.trim(),
        count.to_string(),
        "librdkafka acknowledged every record"
    );
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    let mut rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    rows.sort_by_key(|r| (r["partition"].as_i64(), r["offset"].as_i64()));
    rows
}

/// Polls until `n` records arrived (or 30 s passed).
async fn poll_n(client: &mut FetchClient, n: usize) -> Vec<ConsumerRecord> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < n && Instant::now() < deadline {
        out.extend(client.poll(Duration::from_millis(500)).await.expect("poll"));
    }
    out
}

#[tokio::test]
async fn sluice_consume_prints_exactly_what_librdkafka_reads() {
    let conn = connect("sluice-it-interop").await;
    let topic = TempTopic::create(&conn, "sluice-it-interop", 3).await;
    produce(&topic, 3, 300);

    let ours = Command::new(sluice_bin())
        .args([
            "consume",
            "-b",
            &bootstrap(),
            "-t",
            &topic.name,
            "-o",
            "earliest",
            "-e",
            "--json",
        ])
        .output()
        .expect("run sluice");
    assert!(
        ours.status.success(),
        "sluice consume failed: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let ours = json_lines(&String::from_utf8(ours.stdout).expect("UTF-8 output"));
    let theirs = json_lines(&run_peer(
        "rdkafka_consume.py",
        &[&bootstrap(), &topic.name],
    ));
    assert_eq!(ours.len(), 300);
    assert_eq!(ours, theirs, "sluice and librdkafka read the same records");
    // The data really exercises what it should.
    assert!(ours.iter().any(|r| r["key"].is_null()));
    assert!(ours.iter().any(|r| r["value"].is_null()));
    assert!(ours.iter().any(|r| {
        r["headers"]
            .as_array()
            .is_some_and(|h| h.len() == 3 && h[0][0] == "h" && h[1][0] == "h")
    }));
    assert!(
        ours.iter()
            .any(|r| r["value"].as_str().is_some_and(|v| v.contains('😀')))
    );

    // -p, -c and -o OFFSET select what librdkafka reads from the same place. (tansu answers a
    // fetch at an offset inside a batch with the batches after it, so both may start later.)
    let some = Command::new(sluice_bin())
        .args([
            "consume",
            "-b",
            &bootstrap(),
            "-t",
            &topic.name,
            "-p",
            "1",
            "-o",
            "5",
            "-c",
            "3",
            "--json",
        ])
        .output()
        .expect("run sluice");
    assert!(
        some.status.success(),
        "{}",
        String::from_utf8_lossy(&some.stderr)
    );
    let some = json_lines(&String::from_utf8(some.stdout).unwrap());
    let theirs = json_lines(&run_peer(
        "rdkafka_consume.py",
        &[&bootstrap(), &topic.name, "1", "5", "3"],
    ));
    assert_eq!(some.len(), 3);
    assert!(
        some.iter()
            .all(|r| r["partition"] == 1 && r["offset"].as_i64() >= Some(5))
    );
    assert_eq!(
        some, theirs,
        "the same records as librdkafka from partition 1 offset 5"
    );

    // An unknown -X key is an error naming it.
    let bad = Command::new(sluice_bin())
        .args([
            "consume",
            "-b",
            &bootstrap(),
            "-t",
            &topic.name,
            "-X",
            "fetch.min.byte=1",
            "-e",
        ])
        .output()
        .expect("run sluice");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("fetch.min.byte"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    topic.delete().await;
}

/// How long the broker holds an idle Fetch for the given settings.
async fn idle_fetch_wait(
    min_bytes: i32,
    max_wait_ms: i32,
    offset: i64,
    topic: &TempTopic,
) -> Duration {
    let conn = connect("sluice-it-wait").await;
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic.topic_name())
                .with_topic_id(topic.id)
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let started = Instant::now();
    conn.send(request).await.expect("fetch");
    started.elapsed()
}

#[tokio::test]
async fn fetch_min_bytes_and_max_wait_change_how_long_an_idle_fetch_waits() {
    let conn = connect("sluice-it-wait").await;
    let topic = TempTopic::create(&conn, "sluice-it-wait", 1).await;
    produce(&topic, 1, 5);
    // Data is there and min bytes is 1: the answer comes before max wait (Apache Kafka answers
    // at once; tansu 0.6 holds it for half of max wait).
    let immediate = idle_fetch_wait(1, 3000, 0, &topic).await;
    // Nothing new at the end of the log: the broker waits max wait.
    let short = idle_fetch_wait(1, 200, 5, &topic).await;
    let long = idle_fetch_wait(1, 1500, 5, &topic).await;
    // More bytes than exist are asked for: it waits max wait even though data exists.
    let starved = idle_fetch_wait(1 << 20, 1000, 0, &topic).await;
    println!(
        "immediate {immediate:?}, idle 200ms {short:?}, idle 1500ms {long:?}, min.bytes 1MiB {starved:?}"
    );
    assert!(immediate < Duration::from_millis(2500), "{immediate:?}");
    assert!(long >= Duration::from_millis(1200), "{long:?}");
    assert!(
        long > short + Duration::from_millis(800),
        "{short:?} vs {long:?}"
    );
    assert!(starved >= Duration::from_millis(800), "{starved:?}");
    topic.delete().await;
}

#[tokio::test]
async fn max_poll_records_caps_every_poll_and_order_is_kept() {
    let conn = connect("sluice-it-maxpoll").await;
    let topic = TempTopic::create(&conn, "sluice-it-maxpoll", 1).await;
    produce(&topic, 1, 50);
    let mut client = FetchClient::connect(config(&[
        ("max.poll.records", "7"),
        ("auto.offset.reset", "earliest"),
    ]))
    .await
    .unwrap();
    let tp = TopicPartition::new(topic.name.as_str(), 0);
    client.assign([tp.clone()]);
    let mut offsets = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while offsets.len() < 50 && Instant::now() < deadline {
        let records = client.poll(Duration::from_millis(500)).await.unwrap();
        assert!(records.len() <= 7, "a poll returned {}", records.len());
        offsets.extend(records.iter().map(|r| r.offset));
    }
    assert_eq!(offsets, (0..50).collect::<Vec<i64>>());
    assert_eq!(client.position(&tp), Some(50));
    client.close().await;
    topic.delete().await;
}

#[tokio::test]
async fn reset_policies_seek_and_out_of_range() {
    let conn = connect("sluice-it-reset").await;
    let topic = TempTopic::create(&conn, "sluice-it-reset", 1).await;
    // One record per batch, so every seek lands on a batch start (see above).
    produce_single_batches(&conn, &topic, 0, 20).await;
    let tp = TopicPartition::new(topic.name.as_str(), 0);

    // earliest starts at the log start.
    let mut client = FetchClient::connect(config(&[("auto.offset.reset", "earliest")]))
        .await
        .unwrap();
    client.assign([tp.clone()]);
    assert_eq!(poll_n(&mut client, 1).await[0].offset, 0);
    // seek moves the position; the next records start there.
    client.seek(&tp, 12).unwrap();
    assert_eq!(poll_n(&mut client, 1).await[0].offset, 12);
    // An offset past the end is out of range: earliest resets to 0.
    client.seek(&tp, 1000).unwrap();
    assert_eq!(poll_n(&mut client, 1).await[0].offset, 0);
    // By timestamp: record i has timestamp 1_700_000_000_000 + i, so Apache Kafka finds 15.
    // We must land where librdkafka's offsets_for_times does on the same broker (tansu 0.6
    // answers every timestamp lookup with offset 0, and librdkafka gets that too).
    let ts = 1_700_000_000_015i64;
    let theirs: i64 = run_peer(
        "rdkafka_offsets_for_times.py",
        &[&bootstrap(), &topic.name, "0", &ts.to_string()],
    )
    .trim()
    .parse()
    .expect("an offset");
    client.seek_to(&tp, OffsetSpec::Timestamp(ts)).unwrap();
    let r = poll_n(&mut client, 1).await;
    assert_eq!(r[0].offset, theirs, "the offset librdkafka finds for {ts}");
    assert_eq!(r[0].value.as_deref(), Some(format!("v{theirs}").as_bytes()));
    client.close().await;

    // latest sees only what is produced after it starts.
    let mut client = FetchClient::connect(config(&[("auto.offset.reset", "latest")]))
        .await
        .unwrap();
    client.assign([tp.clone()]);
    assert!(
        client
            .poll(Duration::from_millis(1500))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(client.position(&tp), Some(20));
    produce_single_batches(&conn, &topic, 20, 1).await;
    assert_eq!(poll_n(&mut client, 1).await[0].offset, 20);
    client.close().await;

    // none: a typed error naming the partition, and out of range too.
    let mut client = FetchClient::connect(config(&[("auto.offset.reset", "none")]))
        .await
        .unwrap();
    client.assign([tp.clone()]);
    let err = client.poll(Duration::from_millis(500)).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::NoOffsetForPartition { tp: p, offset: None } if *p == tp),
        "{err}"
    );
    assert!(err.to_string().contains(&topic.name));
    client.seek(&tp, 1000).unwrap();
    let mut err = None;
    for _ in 0..20 {
        match client.poll(Duration::from_millis(500)).await {
            Err(e) => {
                err = Some(e);
                break;
            }
            Ok(r) => assert!(r.is_empty()),
        }
    }
    assert!(
        matches!(
            err,
            Some(FetchError::NoOffsetForPartition {
                offset: Some(1000),
                ..
            })
        ),
        "{err:?}"
    );
    client.close().await;
    let _ = OffsetReset::None;
    topic.delete().await;
}

#[tokio::test]
async fn pause_stops_a_partition_and_resume_restarts_it() {
    let conn = connect("sluice-it-pause").await;
    let topic = TempTopic::create(&conn, "sluice-it-pause", 2).await;
    produce(&topic, 2, 40);
    let (p0, p1) = (
        TopicPartition::new(topic.name.as_str(), 0),
        TopicPartition::new(topic.name.as_str(), 1),
    );
    let mut client = FetchClient::connect(config(&[("auto.offset.reset", "earliest")]))
        .await
        .unwrap();
    client.assign([p0.clone(), p1.clone()]);
    client.pause(&p1).unwrap();
    let mut counts: HashMap<i32, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while counts.get(&0).copied().unwrap_or(0) < 20 && Instant::now() < deadline {
        for r in client.poll(Duration::from_millis(300)).await.unwrap() {
            *counts.entry(r.partition).or_default() += 1;
        }
    }
    assert_eq!(counts.get(&0), Some(&20));
    assert_eq!(counts.get(&1), None, "paused partition returned records");
    // Still nothing from the paused partition after more polls.
    assert!(
        client
            .poll(Duration::from_millis(500))
            .await
            .unwrap()
            .is_empty()
    );
    client.resume(&p1).unwrap();
    let rest = poll_n(&mut client, 20).await;
    assert_eq!(rest.len(), 20);
    assert!(rest.iter().all(|r| r.partition == 1));
    client.close().await;
    topic.delete().await;
}
