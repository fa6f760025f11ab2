//! sluice's transactional producer against librdkafka's mock cluster: the
//! protocol flow (FindCoordinator TRANSACTION, InitProducerId,
//! AddPartitionsToTxn, Produce, AddOffsetsToTxn, TxnOffsetCommit v3 with the
//! member identity, EndTxn commit and abort) as librdkafka's own tests'
//! broker parses and checks it (producer id and epoch, coordinator
//! routing), with retriable and fatal coordinator errors injected, and the
//! committed records read back by a librdkafka read_committed consumer.
//!
//! The mock's limits (rdkafka_mock_handlers.c, librdkafka 2.12.1): EndTxn
//! writes no markers and TxnOffsetCommit stores no offsets, so an aborted
//! transaction's records stay visible there and offsets sent to a
//! transaction are not committed: visibility and offsets are proved on
//! krafka's fake cluster (tests/fake_cluster/producer_transactions.rs,
//! exactly_once.rs).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use sluice::TopicPartition;
use sluice_integration::unique_name;
use sluice_produce::{
    GroupMetadata, ProduceError, Producer, ProducerConfig, ProducerRecord, TxnState,
};
use tokio::time::Instant;

use super::cluster::Mock;

async fn transactional(mock: &Mock, id: &str) -> Producer {
    let config = ProducerConfig::default()
        .with_pairs([
            ("bootstrap.servers", mock.bootstrap.as_str()),
            ("transactional.id", id),
            ("linger.ms", "1"),
            ("retry.backoff.ms", "50"),
            ("request.timeout.ms", "5000"),
        ])
        .expect("producer config");
    let producer = Producer::connect(config).await.expect("connect");
    producer
        .init_transactions()
        .await
        .expect("init_transactions");
    assert_eq!(producer.transaction_state(), Some(TxnState::Ready));
    producer
}

async fn send(p: &Producer, topic: &str, prefix: &str, n: usize) {
    let futures: Vec<_> = (0..n)
        .map(|i| p.send(ProducerRecord::new(topic, format!("{prefix}-{i}")).partition(0)))
        .collect();
    for f in futures {
        f.await.expect("delivered");
    }
}

/// Every value a librdkafka read_committed consumer reads of partition 0
/// until `n` have come.
fn read_committed(bootstrap: &str, topic: &str, n: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("mock-txn-reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("librdkafka consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while values.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "librdkafka read {values:?}"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("librdkafka reads");
            values.push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap());
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transactional_flow_runs_against_librdkafkas_mock() {
    let mock = Mock::start();
    let topic = mock.topic("mock-txn", 1);
    let id = unique_name("mock-txn");
    let p = transactional(&mock, &id).await;
    let (pid, epoch) = p.producer_id().expect("a producer id");
    assert!(pid >= 0 && epoch >= 0, "{pid}/{epoch}");

    // A committed transaction with offsets of a member (KIP-447 identity).
    p.begin_transaction().unwrap();
    send(&p, &topic, "c", 5).await;
    let group = GroupMetadata {
        group_id: unique_name("mock-txn-group"),
        generation_id: 1,
        member_id: "member-1".into(),
        group_instance_id: Some("instance-1".into()),
    };
    p.send_offsets_to_transaction(&[(TopicPartition::new(topic.as_str(), 0), 5)], &group)
        .await
        .expect("send_offsets_to_transaction");
    p.commit_transaction().await.expect("commit");
    assert_eq!(p.transaction_state(), Some(TxnState::Ready));

    // An abort is accepted too, and the producer goes on.
    p.begin_transaction().unwrap();
    send(&p, &topic, "a", 2).await;
    p.abort_transaction().await.expect("abort");
    assert_eq!(p.transaction_state(), Some(TxnState::Ready));

    // Retriable coordinator errors are ridden out.
    mock.cluster.request_errors(
        RDKafkaApiKey::AddOffsetsToTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS],
    );
    mock.cluster.request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS],
    );
    p.begin_transaction().unwrap();
    send(&p, &topic, "r", 3).await;
    p.send_offsets_to_transaction(&[(TopicPartition::new(topic.as_str(), 0), 10)], &group)
        .await
        .expect("offsets after COORDINATOR_LOAD_IN_PROGRESS");
    p.commit_transaction()
        .await
        .expect("commit after CONCURRENT_TRANSACTIONS");

    // Committed records, in order (the mock keeps the aborted ones too: it
    // writes no markers, see the module doc).
    let (b, t) = (mock.bootstrap.clone(), topic.clone());
    let values = tokio::task::spawn_blocking(move || read_committed(&b, &t, 10))
        .await
        .expect("join");
    let want: Vec<String> = (0..5)
        .map(|i| format!("c-{i}"))
        .chain((0..2).map(|i| format!("a-{i}")))
        .chain((0..3).map(|i| format!("r-{i}")))
        .collect();
    assert_eq!(values, want);

    // A fenced EndTxn is fatal: the producer refuses all further use.
    mock.cluster.request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
    );
    p.begin_transaction().unwrap();
    send(&p, &topic, "f", 1).await;
    let started = Instant::now();
    let e = p.commit_transaction().await.unwrap_err();
    assert!(
        matches!(e, ProduceError::Transaction { fatal: true, .. }),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "not retried");
    assert!(matches!(
        p.transaction_state(),
        Some(TxnState::FatalError(_))
    ));
    assert!(p.begin_transaction().is_err());
}
