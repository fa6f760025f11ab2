//! sluice-produce against a real broker: every codec and acks setting read
//! back by librdkafka, offsets in delivery results, and keyed records on the
//! partition librdkafka's murmur2_random (the Java default) picks.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::FutureExt;
use serde_json::Value;
use sluice_integration::{TempTopic, bootstrap, connect, run_peer};
use sluice_produce::{ProduceError, Producer, ProducerConfig, ProducerRecord, RecordMetadata};

async fn producer(pairs: &[(&str, &str)]) -> Producer {
    let boot = bootstrap();
    let mut all = vec![("bootstrap.servers", boot.as_str()), ("linger.ms", "10")];
    all.extend_from_slice(pairs);
    let config = ProducerConfig::default().with_pairs(all).expect("config");
    Producer::connect(config).await.expect("connect")
}

fn read_back(topic: &str) -> Vec<Value> {
    run_peer("rdkafka_consume.py", &[&bootstrap(), topic])
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_and_acks_setting_is_read_back_by_librdkafka() {
    let conn = connect("sluice-it-produce").await;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for acks in ["0", "1", "all"] {
            let topic = TempTopic::create(&conn, &format!("it-produce-{codec}-{acks}"), 2).await;
            let p = producer(&[("compression.type", codec), ("acks", acks)]).await;
            let mut deliveries = Vec::new();
            for i in 0..60 {
                let mut r = ProducerRecord::new(topic.name.as_str(), format!("v{i}-é漢"))
                    .partition(i % 2)
                    .header("h", Some(Bytes::from_static(b"1")))
                    .header("h", None)
                    .timestamp(1_700_000_000_000 + i64::from(i));
                if i % 3 != 0 {
                    r = r.key(format!("k{i}"));
                }
                deliveries.push(p.send(r));
            }
            p.flush().await;
            let mut acked: Vec<RecordMetadata> = Vec::new();
            for d in deliveries {
                acked.push(d.await.expect("delivered"));
            }
            if acks == "0" {
                assert!(
                    acked.iter().all(|m| m.offset == -1),
                    "acks=0 has no offsets"
                );
            } else {
                // Per partition, offsets 0..30 in send order.
                for part in 0..2 {
                    let offsets: Vec<i64> = acked
                        .iter()
                        .filter(|m| m.partition == part)
                        .map(|m| m.offset)
                        .collect();
                    assert_eq!(
                        offsets,
                        (0..30).collect::<Vec<_>>(),
                        "{codec} acks={acks} p{part}"
                    );
                }
            }
            p.close().await;

            let rows = read_back(&topic.name);
            assert_eq!(rows.len(), 60, "{codec} acks={acks}");
            if acks != "0" {
                // Each delivery result names where librdkafka finds the record.
                let delivered: BTreeMap<(i64, i64), String> = acked
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        assert_eq!(m.topic, topic.name);
                        assert_eq!(m.timestamp, 1_700_000_000_000 + i as i64);
                        let at = (i64::from(m.partition), m.offset);
                        (at, format!("v{i}-é漢"))
                    })
                    .collect();
                let found: BTreeMap<(i64, i64), String> = rows
                    .iter()
                    .map(|r| {
                        let at = (
                            r["partition"].as_i64().unwrap(),
                            r["offset"].as_i64().unwrap(),
                        );
                        (at, r["value"].as_str().unwrap().to_string())
                    })
                    .collect();
                assert_eq!(delivered, found, "{codec} acks={acks}");
            }
            for row in &rows {
                let offset = row["offset"].as_i64().unwrap();
                let part = row["partition"].as_i64().unwrap();
                let i = offset * 2 + part;
                assert_eq!(row["value"], format!("v{i}-é漢"), "{codec} acks={acks}");
                assert_eq!(row["timestamp"], 1_700_000_000_000 + i);
                let key = if i % 3 != 0 {
                    Value::from(format!("k{i}"))
                } else {
                    Value::Null
                };
                assert_eq!(row["key"], key);
                assert_eq!(row["headers"], serde_json::json!([["h", "1"], ["h", null]]));
            }
            topic.delete().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_where_librdkafka_murmur2_puts_them() {
    let conn = connect("sluice-it-partitioner").await;
    let ours = TempTopic::create(&conn, "it-partitioner-sluice", 7).await;
    let theirs = TempTopic::create(&conn, "it-partitioner-rdkafka", 7).await;
    let keys: Vec<String> = (0..50).map(|i| format!("user-{i}")).collect();

    let p = producer(&[]).await;
    let mut placed = BTreeMap::new();
    for k in &keys {
        let m = p
            .send(ProducerRecord::new(ours.name.as_str(), "x").key(k.clone()))
            .await
            .expect("delivered");
        placed.insert(k.clone(), m.partition);
    }
    p.close().await;

    let mut args = vec![bootstrap(), theirs.name.clone()];
    args.extend(keys.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let expected: BTreeMap<String, i32> = run_peer("rdkafka_partition.py", &args)
        .lines()
        .map(|l| {
            let (k, p) = l.split_once(' ').expect("key partition");
            (k.to_string(), p.parse().expect("partition"))
        })
        .collect();
    assert_eq!(placed, expected);
    let spread: std::collections::BTreeSet<i32> = placed.values().copied().collect();
    assert!(spread.len() > 3, "keys spread over partitions: {spread:?}");

    // And librdkafka's consumer sees each key where the delivery said.
    for row in read_back(&ours.name) {
        let key = row["key"].as_str().unwrap();
        assert_eq!(row["partition"].as_i64().unwrap(), i64::from(placed[key]));
    }
    ours.delete().await;
    theirs.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_producer_gets_an_id_and_writes_in_order() {
    let conn = connect("sluice-it-idempotent").await;
    let topic = TempTopic::create(&conn, "it-produce-idempotent", 1).await;
    let p = producer(&[("enable.idempotence", "true"), ("batch.size", "2000")]).await;
    let (id, epoch) = p.producer_id().expect("InitProducerId answered");
    assert!(id >= 0 && epoch >= 0, "producer {id} epoch {epoch}");
    let deliveries: Vec<_> = (0..300)
        .map(|i| p.send(ProducerRecord::new(topic.name.as_str(), format!("i{i}"))))
        .collect();
    for (i, d) in deliveries.into_iter().enumerate() {
        assert_eq!(d.await.expect("delivered").offset, i as i64);
    }
    p.close().await;
    let rows = read_back(&topic.name);
    let values: Vec<String> = rows
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        values,
        (0..300).map(|i| format!("i{i}")).collect::<Vec<_>>()
    );
    topic.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_one_task_and_keyless_records_spread() {
    let conn = connect("sluice-it-produce-clones").await;
    let topic = TempTopic::create(&conn, "it-produce-clones", 3).await;
    let p = producer(&[("linger.ms", "50")]).await;
    let mut tasks = Vec::new();
    for t in 0..4 {
        let p = p.clone();
        let name = topic.name.clone();
        tasks.push(tokio::spawn(async move {
            let deliveries: Vec<_> = (0..30)
                .map(|i| p.send(ProducerRecord::new(name.as_str(), format!("t{t}-{i}"))))
                .collect();
            // flush returns only once this clone's records are answered.
            p.flush().await;
            deliveries
                .into_iter()
                .map(|d| {
                    d.now_or_never()
                        .expect("answered before flush returned")
                        .expect("delivered")
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    p.close().await;
    let mut per_partition = [0usize; 3];
    for m in &all {
        per_partition[m.partition as usize] += 1;
    }
    assert_eq!(per_partition, [40, 40, 40], "round robin over 3 partitions");
    let mut offsets: Vec<(i32, i64)> = all.iter().map(|m| (m.partition, m.offset)).collect();
    offsets.sort();
    let expected: Vec<(i32, i64)> = (0..3).flat_map(|p| (0..40).map(move |o| (p, o))).collect();
    assert_eq!(offsets, expected, "every offset once");
    assert_eq!(read_back(&topic.name).len(), 120);
    topic.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_fail_with_typed_errors() {
    let conn = connect("sluice-it-produce-errors").await;
    let topic = TempTopic::create(&conn, "it-produce-errors", 2).await;
    let missing = sluice_integration::unique_name("it-produce-missing");
    let p = producer(&[
        ("delivery.timeout.ms", "1500"),
        ("max.request.size", "10000"),
    ])
    .await;

    let out_of_range = p.send(ProducerRecord::new(topic.name.as_str(), "x").partition(2));
    let too_large = p.send(ProducerRecord::new(topic.name.as_str(), vec![b'x'; 20_000]));
    let nowhere = p.send(ProducerRecord::new(missing.as_str(), "x"));
    let fine = p.send(ProducerRecord::new(topic.name.as_str(), "ok").partition(1));

    match out_of_range.await {
        Err(ProduceError::UnknownPartition(what)) => assert!(what.contains("/2"), "{what}"),
        other => panic!("partition 2 of 2: {other:?}"),
    }
    match too_large.await {
        Err(ProduceError::RecordTooLarge { max: 10_000, size }) => assert!(size >= 20_000),
        other => panic!("20 kB record: {other:?}"),
    }
    match nowhere.await {
        Err(ProduceError::Timeout {
            tp,
            timeout_ms: 1500,
            ..
        }) => {
            assert_eq!((&*tp.topic, tp.partition), (missing.as_str(), -1))
        }
        other => panic!("missing topic: {other:?}"),
    }
    let m = fine.await.expect("the good record is still written");
    assert_eq!((m.partition, m.offset), (1, 0));
    p.close().await;
    let rows = read_back(&topic.name);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["value"], "ok");
    topic.delete().await;
}
