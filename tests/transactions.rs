//! The transactional producer against the suite's broker (tansu 0.6, which
//! has no EndTxn): `init_transactions` fails at once with a typed error
//! naming the missing API, rather than midway through a transaction. The
//! transactional flow itself is proved against krafka's fake cluster
//! (tests/fake_cluster/producer_transactions.rs). `sluice batch
//! --exactly-once` fails the same way at start, before it consumes.

use std::time::{Duration, Instant};

use sluice_fetch::offsets::OffsetSpec;
use sluice_fetch::{FetchClient, FetchConfig};
use sluice_integration::{TempTopic, batch_command, bootstrap, connect, produce_to, unique_name};
use sluice_produce::{ProduceError, Producer, ProducerConfig, ProducerRecord, TxnState};

#[tokio::test]
async fn init_transactions_on_a_broker_without_end_txn_names_it_at_once() {
    let boot = bootstrap();
    let id = unique_name("txn-unsupported");
    let config = ProducerConfig::default()
        .with_pairs([
            ("bootstrap.servers", boot.as_str()),
            ("transactional.id", id.as_str()),
        ])
        .expect("config");
    let producer = Producer::connect(config).await.expect("connect");
    let started = Instant::now();
    let e = producer.init_transactions().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "at once, not after retries: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&e, ProduceError::TransactionsUnsupported { api, .. } if api == "EndTxn"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("the broker has no EndTxn (transactions unsupported)"),
        "{e}"
    );
    assert!(!e.is_retriable());
    // The producer refuses transactional use from then on.
    assert!(matches!(
        producer.transaction_state(),
        Some(TxnState::FatalError(_))
    ));
    assert!(producer.begin_transaction().is_err());
    let sent = producer
        .send(ProducerRecord::new(unique_name("txn-never").as_str(), "x"))
        .await;
    assert!(sent.unwrap_err().to_string().contains("EndTxn"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_batch_exactly_once_on_tansu_fails_at_start_naming_end_txn() {
    let conn = connect("sluice-it-eos-tansu").await;
    let input = TempTopic::create(&conn, "it-eos-in", 1).await;
    let output = TempTopic::create(&conn, "it-eos-out", 1).await;
    produce_to(&bootstrap(), &input.name, &[0], 0, 10).await;
    let started = Instant::now();
    let out = batch_command(
        &bootstrap(),
        5,
        &input.name,
        &unique_name("it-eos"),
        &output.name,
        true,
    )
    .arg("--exactly-once")
    .output()
    .expect("sluice batch runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it must fail: {stderr}");
    assert!(
        stderr.contains("the broker has no EndTxn (transactions unsupported)"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "at start, not midway: {:?}",
        started.elapsed()
    );
    // Nothing was consumed, so nothing was written.
    let config = FetchConfig::default()
        .with_pairs([("bootstrap.servers", bootstrap().as_str())])
        .unwrap();
    let mut client = FetchClient::connect(config).await.unwrap();
    let tps = client.partitions_for(&output.name).await.unwrap();
    let ends = client.list_offsets(&tps, OffsetSpec::Latest).await.unwrap();
    client.close().await;
    assert!(ends.values().all(|e| e.offset == 0), "{ends:?}");
    input.delete().await;
    output.delete().await;
}
