//! Transaction version 2 (KIP-890) on krafka's fake cluster with
//! `transaction.version` finalized at 2: the producer sends neither
//! AddPartitionsToTxn nor AddOffsetsToTxn (Produce v12 and TxnOffsetCommit
//! add what they write), ends with EndTxn v5 and produces the next
//! transaction at the epoch it bumped to; commits, aborts and offsets hold
//! as with version 1, and `sluice batch --exactly-once` over it still counts
//! every record once (killed at random too: exactly_once.rs).

use std::process::Command;
use std::time::Duration;

use krafka::testing::ApiKey;
use sluice::TopicPartition;
use sluice_integration::{sluice_bin, unique_name};
use sluice_produce::{GroupMetadata, Producer, ProducerConfig, ProducerRecord, TxnState};

use super::harness::{Cluster, LIMIT};

/// Finalizes `transaction.version` 2 on the cluster.
pub(super) fn finalize_tv2(c: &Cluster) {
    c.broker.with_state(|s| {
        s.finalized_features
            .insert("transaction.version".to_string(), 2);
        s.finalized_features_epoch += 1;
    });
    assert_eq!(c.broker.finalized_feature("transaction.version"), Some(2));
}

/// A cluster whose `transaction.version` is finalized at 2.
async fn tv2_cluster(prefix: &str, partitions: i32) -> Cluster {
    let c = Cluster::start(prefix, partitions).await;
    finalize_tv2(&c);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tv2_commits_and_aborts_without_add_requests_and_bumps_the_epoch() {
    let c = tv2_cluster("fk-tv2", 2).await;
    let config = ProducerConfig::default()
        .with_pairs([
            ("bootstrap.servers", c.bootstrap().as_str()),
            ("transactional.id", unique_name("fk-tv2").as_str()),
            ("linger.ms", "1"),
            ("retry.backoff.ms", "50"),
        ])
        .expect("producer config");
    let p = Producer::connect(config).await.expect("connect");
    p.init_transactions().await.expect("init_transactions");
    assert_eq!(p.transaction_v2(), Some(true));
    let (pid, first_epoch) = p.producer_id().expect("producer id");
    let group = unique_name("fk-tv2-group");
    let send = |v: String, partition: i32| {
        p.send(ProducerRecord::new(c.topic.as_str(), v).partition(partition))
    };

    let mut epochs = vec![first_epoch];
    for (round, commit) in [(0, true), (1, false), (2, true)] {
        p.begin_transaction().unwrap();
        let sends: Vec<_> = (0..4)
            .map(|i| send(format!("r{round}-{i}"), i % 2))
            .collect();
        for s in sends {
            s.await.expect("delivered");
        }
        let offsets = [(TopicPartition::new(c.topic.as_str(), 0), 10 * (round + 1))];
        p.send_offsets_to_transaction(&offsets, &GroupMetadata::new(group.as_str()))
            .await
            .expect("send offsets");
        if commit {
            p.commit_transaction().await.expect("commit");
        } else {
            p.abort_transaction().await.expect("abort");
        }
        assert_eq!(p.transaction_state(), Some(TxnState::Ready));
        let (id, epoch) = p.producer_id().expect("producer id");
        assert_eq!(id, pid, "the same producer id");
        epochs.push(epoch);
    }
    // Every EndTxn v5 bumped the epoch, and the next transaction's records
    // were accepted at it.
    assert_eq!(
        epochs,
        (0..4).map(|i| first_epoch + i).collect::<Vec<_>>(),
        "one bump per transaction"
    );
    assert_eq!(c.broker.request_count(ApiKey::AddPartitionsToTxn), 0);
    assert_eq!(c.broker.request_count(ApiKey::AddOffsetsToTxn), 0);
    let end_txn: Vec<i16> = c
        .broker
        .requests()
        .iter()
        .filter(|r| r.api_key == ApiKey::EndTxn)
        .map(|r| r.api_version)
        .collect();
    assert_eq!(end_txn, vec![5, 5, 5]);
    // The last committed transaction's offsets, not the aborted one's.
    assert_eq!(c.broker.committed_offset(&group, &c.topic, 0), Some(30));
    p.close().await;

    // read_committed: rounds 0 and 2 only.
    let mut config = c.consumer_config("", 500);
    config
        .fetch
        .set("isolation.level", "read_committed")
        .unwrap();
    let mut consumer = sluice::Consumer::new(config).unwrap();
    let tps: Vec<TopicPartition> = (0..2)
        .map(|p| TopicPartition::new(c.topic.as_str(), p))
        .collect();
    consumer.assign(&tps).await.unwrap();
    let ends = c.ends();
    let mut values = Vec::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while tps
        .iter()
        .any(|tp| consumer.position(tp) != Some(ends[&tp.partition]))
    {
        assert!(tokio::time::Instant::now() < deadline, "read {values:?}");
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            values.push(String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap());
        }
    }
    values.sort();
    let mut want: Vec<String> = [0, 2]
        .iter()
        .flat_map(|round| (0..4).map(move |i| format!("r{round}-{i}")))
        .collect();
    want.sort();
    assert_eq!(values, want);
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_batch_exactly_once_on_tv2_counts_every_record_once() {
    let c = tv2_cluster("fk-tv2-batch", 2).await;
    let out = unique_name("fk-tv2-batch-out");
    assert!(c.broker.create_topic(&out, 1), "create {out}");
    let config = ProducerConfig::default()
        .with_pairs([("bootstrap.servers", c.bootstrap().as_str())])
        .expect("producer config");
    let producer = Producer::connect(config).await.expect("connect");
    let mut pending = Vec::new();
    for i in 0..1000i64 {
        let value = format!(r#"{{"amount":{}}}"#, i % 10);
        pending.push(
            producer.send(ProducerRecord::new(c.topic.as_str(), value).partition((i % 2) as i32)),
        );
    }
    for d in pending {
        d.await.expect("input delivered");
    }
    producer.close().await;
    let group = unique_name("fk-tv2-batch");
    let args: Vec<String> = [
        "batch",
        "-b",
        &c.bootstrap(),
        "-t",
        &c.topic,
        "-G",
        &group,
        "--to",
        &out,
        "--batch-size",
        "100",
        "--compute",
        "stats:amount",
        "--exactly-once",
        "-e",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let bin = sluice_bin();
    let run = tokio::task::spawn_blocking(move || Command::new(bin).args(&args).output())
        .await
        .expect("join")
        .expect("run sluice");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for p in 0..2 {
        assert_eq!(c.broker.committed_offset(&group, &c.topic, p), Some(500));
    }
    assert_eq!(c.broker.request_count(ApiKey::AddPartitionsToTxn), 0);
    assert_eq!(c.broker.request_count(ApiKey::AddOffsetsToTxn), 0);
    // 10 results and 10 commit markers.
    assert_eq!(c.broker.next_offset(&out, 0), Some(20));
}
