//! The transactional producer against the suite's broker (tansu 0.6, which
//! has no EndTxn): `init_transactions` fails at once with a typed error
//! naming the missing API, rather than midway through a transaction. The
//! transactional flow itself is proved against krafka's fake cluster
//! (tests/fake_cluster/producer_transactions.rs).

use std::time::{Duration, Instant};

use sluice_integration::{bootstrap, unique_name};
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
