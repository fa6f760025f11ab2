//! The everyday paths against librdkafka's mock cluster: assign and group
//! consume, produce, commit, lag and the CLI.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sluice::Consumer;
use sluice_integration::{sluice_bin, unique_name};
use sluice_produce::{Producer, ProducerConfig, ProducerRecord};
use tokio::time::Instant;

use super::cluster::{Mock, Reads, partitions, poll_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assigned_consumer_reads_every_record_from_three_brokers() {
    let mock = Mock::start();
    let topic = mock.topic("mock-assign", 3);
    mock.produce(&topic, 3, 400);
    let mut consumer = Consumer::new(mock.config(&[])).unwrap();
    consumer.assign(&partitions(&topic, 3)).await.unwrap();
    let mut reads = Reads::default();
    poll_until(&mut consumer, &mut reads, Duration::from_secs(30), |r| {
        r.complete(3, 400)
    })
    .await;
    assert_eq!(reads.assert_all_in_order(3, 400, 1), 0, "no rewinds");
    assert_eq!(reads.total(), 1200, "nothing twice");
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_group_members_share_the_topic_and_commit_where_they_stopped() {
    let mock = Mock::start();
    let topic = mock.topic("mock-group", 4);
    mock.produce(&topic, 4, 300);
    let group = unique_name("mock-group");
    let config = mock.config(&[("group.id", &group), ("max.poll.records", "50")]);
    let mut a = Consumer::new(config.clone()).unwrap();
    let mut b = Consumer::new(config).unwrap();
    a.subscribe(&[&topic]).await.unwrap();
    b.subscribe(&[&topic]).await.unwrap();
    let mut reads = Reads::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut both_owned = false;
    while !reads.complete(4, 300) || !both_owned {
        assert!(Instant::now() < deadline, "read {:?}", reads.summary());
        for member in [&mut a, &mut b] {
            let records = member.poll(Duration::from_millis(100)).await.unwrap();
            reads.add(&records);
            if !records.is_empty() {
                // Refused while the group rebalances (REBALANCE_IN_PROGRESS,
                // as Java's commitSync throws); the next commit covers it.
                let _ = member.commit_sync().await;
            }
        }
        both_owned = !a.assignment().is_empty() && !b.assignment().is_empty();
    }
    // Both commit what they were handed, once the group is stable.
    for member in [&mut a, &mut b] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = member.commit_sync().await {
            assert!(Instant::now() < deadline, "the last commit: {e}");
            reads.add(&member.poll(Duration::from_millis(100)).await.unwrap());
        }
    }
    // Rewinds only where a partition moved between members, each less than
    // one uncommitted poll (max.poll.records) back.
    reads.assert_all_in_order(4, 300, 51);
    let (mut owned_a, owned_b) = (a.assignment(), b.assignment());
    owned_a.extend(owned_b);
    owned_a.sort();
    assert_eq!(owned_a, partitions(&topic, 4), "each partition owned once");
    let committed = a.committed(&partitions(&topic, 4)).await.unwrap();
    for tp in partitions(&topic, 4) {
        assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(300), "{tp}");
    }
    for member in [&a, &b] {
        assert_eq!(member.lag().values().flatten().sum::<i64>(), 0);
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_sluice_produces_librdkafka_reads_back() {
    let mock = Mock::start();
    let topic = mock.topic("mock-produce", 2);
    let config = ProducerConfig::default()
        .with_pairs([
            ("bootstrap.servers", mock.bootstrap.as_str()),
            ("linger.ms", "5"),
            ("compression.type", "lz4"),
            ("acks", "all"),
        ])
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let deliveries: Vec<_> = (0..200)
        .map(|i| {
            producer.send(
                ProducerRecord::new(topic.as_str(), format!("v{i}"))
                    .key(format!("k{i}"))
                    .partition(i % 2),
            )
        })
        .collect();
    producer.flush().await;
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for d in deliveries {
        let m = d.await.expect("delivered");
        offsets.entry(m.partition).or_default().push(m.offset);
    }
    for p in 0..2 {
        assert_eq!(offsets[&p], (0..100).collect::<Vec<_>>(), "p{p}");
    }
    producer.close().await;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &mock.bootstrap)
        .set("group.id", unique_name("mock-produce-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(&topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut values: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while values.values().map(Vec::len).sum::<usize>() < 200 {
        assert!(Instant::now() < deadline, "librdkafka read {values:?}");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("librdkafka reads");
            let v = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            assert_eq!(m.key(), Some(format!("k{}", &v[1..]).as_bytes()));
            values.entry(m.partition()).or_default().push(v);
        }
    }
    for p in 0..2 {
        let want: Vec<String> = (0..200)
            .filter(|i| i % 2 == p)
            .map(|i| format!("v{i}"))
            .collect();
        assert_eq!(values[&p], want, "p{p}");
    }
}

fn sluice(args: &[&str]) -> String {
    let out = Command::new(sluice_bin())
        .args(args)
        .output()
        .expect("sluice runs");
    assert!(
        out.status.success(),
        "sluice {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn the_cli_consumes_assigned_and_as_a_group_and_shows_no_lag() {
    let mock = Mock::start();
    let topic = mock.topic("mock-cli", 3);
    mock.produce(&topic, 3, 200);
    let b = mock.bootstrap.as_str();

    let lines = sluice(&["consume", "-b", b, "-t", &topic, "-o", "earliest", "-e"]);
    let mut got: Vec<&str> = lines.lines().collect();
    got.sort_unstable();
    let mut want: Vec<String> = (0..3)
        .flat_map(|p| (0..200).map(move |n| format!("p{p}-{n}")))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want, "assign: every record once");

    let group = unique_name("mock-cli");
    let lines = sluice(&[
        "consume",
        "-b",
        b,
        "-t",
        &topic,
        "-G",
        &group,
        "-e",
        "-X",
        "auto.offset.reset=earliest",
        "-X",
        "session.timeout.ms=6000",
    ]);
    let mut got: Vec<&str> = lines.lines().collect();
    got.sort_unstable();
    assert_eq!(got, want, "group: every record once");

    // The mock has no DescribeGroups and lists no offsets for a null topic
    // list: `-t` names the topic.
    let lag: serde_json::Value = serde_json::from_str(&sluice(&[
        "lag", "-b", b, "-G", &group, "-t", &topic, "--json",
    ]))
    .expect("JSON");
    assert_eq!(lag["total_lag"], 0, "{lag}");
    let rows = lag["partitions"].as_array().expect("partitions");
    assert_eq!(rows.len(), 3, "{lag}");
    for row in rows {
        assert_eq!(row["committed"], 200, "{lag}");
        assert_eq!(row["high_watermark"], 200, "{lag}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_client_polled_without_a_limit_waits_instead_of_panicking() {
    let mock = Mock::start();
    let topic = mock.topic("mock-poll-max", 1);
    let mut client = sluice_fetch::FetchClient::connect(mock.config(&[]).fetch)
        .await
        .unwrap();
    client.assign(partitions(&topic, 1));
    tokio::select! {
        r = client.poll(Duration::MAX) => panic!("nothing was written, yet: {r:?}"),
        () = tokio::time::sleep(Duration::from_millis(300)) => {}
    }
    mock.produce(&topic, 1, 3);
    let records = client.poll(Duration::MAX).await.unwrap();
    assert_eq!(records[0].offset, 0);
    client.close().await;
}
