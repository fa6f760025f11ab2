//! sluice's transactional producer against krafka's fake cluster, whose
//! coordinator writes real markers and keeps aborted-transaction lists:
//! commit, abort, fencing by a newer instance, and offsets that commit only
//! with their transaction.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::FutureExt;
use krafka::error::ErrorCode;
use krafka::testing::{ApiKey, Control};
use sluice::TopicPartition;
use sluice_integration::unique_name;
use sluice_produce::{
    GroupMetadata, ProduceError, Producer, ProducerConfig, ProducerRecord, TxnState,
};
use tokio::time::Instant;

use super::harness::{Cluster, LIMIT};

/// A transactional producer for the cluster, initialized.
async fn transactional(c: &Cluster, id: &str) -> Producer {
    transactional_lingering(c, id, "1").await
}

/// As [`transactional`], with `linger.ms`.
async fn transactional_lingering(c: &Cluster, id: &str, linger: &str) -> Producer {
    let config = ProducerConfig::default()
        .with_pairs([
            ("bootstrap.servers", c.bootstrap().as_str()),
            ("transactional.id", id),
            ("linger.ms", linger),
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

/// Sends `n` records alternating over partitions 0 and 1 and waits for each.
async fn send_all(c: &Cluster, p: &Producer, prefix: &str, n: usize) {
    let futures: Vec<_> = (0..n)
        .map(|i| {
            p.send(
                ProducerRecord::new(c.topic.as_str(), format!("{prefix}-{i}"))
                    .partition((i % 2) as i32),
            )
        })
        .collect();
    for f in futures {
        f.await.expect("delivered");
    }
}

/// Every value an assign-mode consumer at `isolation` reads from both
/// partitions up to their ends, per partition.
async fn read_all(c: &Cluster, isolation: &str) -> BTreeMap<i32, Vec<String>> {
    let mut config = c.consumer_config("", 500);
    config.fetch.set("isolation.level", isolation).unwrap();
    let mut consumer = sluice::Consumer::new(config).unwrap();
    let tps: Vec<TopicPartition> = (0..2)
        .map(|p| TopicPartition::new(c.topic.as_str(), p))
        .collect();
    consumer.assign(&tps).await.unwrap();
    let ends = c.ends();
    let mut values: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + LIMIT;
    while tps
        .iter()
        .any(|tp| consumer.position(tp) != Some(ends[&tp.partition]))
    {
        assert!(Instant::now() < deadline, "read {values:?}, ends {ends:?}");
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            let v = String::from_utf8(r.value.clone().unwrap_or_default().to_vec()).unwrap();
            values.entry(r.partition).or_default().push(v);
        }
    }
    consumer.close().await.unwrap();
    values
}

fn expected(prefixes: &[(&str, usize)]) -> BTreeMap<i32, Vec<String>> {
    let mut want: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (prefix, n) in prefixes {
        for i in 0..*n {
            want.entry((i % 2) as i32)
                .or_default()
                .push(format!("{prefix}-{i}"));
        }
    }
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_what_read_committed_then_reads() {
    let c = Cluster::start("fk-txp-commit", 2).await;
    let p = transactional_lingering(&c, &unique_name("fk-txp-commit"), "60000").await;
    p.begin_transaction().unwrap();
    // Not awaited before the commit: it flushes them (linger.ms is long).
    let futures: Vec<_> = (0..10)
        .map(|i| p.send(ProducerRecord::new(c.topic.as_str(), format!("c-{i}")).partition(i % 2)))
        .collect();
    p.commit_transaction().await.expect("commit");
    for f in futures {
        f.now_or_never()
            .expect("answered by the commit")
            .expect("delivered");
    }
    assert_eq!(p.transaction_state(), Some(TxnState::Ready));
    // Five records and a commit marker per partition.
    assert_eq!(c.ends(), BTreeMap::from([(0, 6), (1, 6)]));
    assert_eq!(read_all(&c, "read_committed").await, expected(&[("c", 10)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_aborted_are_invisible_to_read_committed_only() {
    let c = Cluster::start("fk-txp-abort", 2).await;
    let p = transactional(&c, &unique_name("fk-txp-abort")).await;
    p.begin_transaction().unwrap();
    send_all(&c, &p, "a", 6).await;
    p.abort_transaction().await.expect("abort");
    p.begin_transaction().unwrap();
    send_all(&c, &p, "c", 4).await;
    p.commit_transaction().await.expect("commit");
    assert_eq!(read_all(&c, "read_committed").await, expected(&[("c", 4)]));
    assert_eq!(
        read_all(&c, "read_uncommitted").await,
        expected(&[("a", 6), ("c", 4)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_fence_an_older_instance_for_good() {
    let c = Cluster::start("fk-txp-fence", 2).await;
    let id = unique_name("fk-txp-fence");
    let old = transactional(&c, &id).await;
    old.begin_transaction().unwrap();
    send_all(&c, &old, "old", 2).await;
    let new = transactional(&c, &id).await;
    assert_eq!(
        new.producer_id().map(|(pid, _)| pid),
        old.producer_id().map(|(pid, _)| pid),
        "same id"
    );
    assert!(
        new.producer_id().unwrap().1 > old.producer_id().unwrap().1,
        "epoch bumped"
    );
    let sent = old
        .send(ProducerRecord::new(c.topic.as_str(), "late").partition(0))
        .await;
    let commit = old.commit_transaction().await;
    let fatal = |e: &ProduceError| {
        matches!(e, ProduceError::Transaction { fatal: true, .. })
            || matches!(e, ProduceError::Partition { code, .. } if sluice_produce::transaction::is_fatal_code(*code))
    };
    let e = sent
        .err()
        .or(commit.err())
        .expect("the fenced producer fails");
    assert!(fatal(&e), "{e}");
    assert!(
        matches!(old.transaction_state(), Some(TxnState::FatalError(_))),
        "{:?}",
        old.transaction_state()
    );
    // It stays failed: every later call refuses.
    let again = old.commit_transaction().await.unwrap_err();
    assert!(fatal(&again), "{again}");
    assert!(fatal(&old.abort_transaction().await.unwrap_err()));
    assert!(fatal(&old.begin_transaction().unwrap_err()));
    let e = old
        .send(ProducerRecord::new(c.topic.as_str(), "later"))
        .await
        .unwrap_err();
    assert!(fatal(&e), "{e}");
    // The new instance works.
    new.begin_transaction().unwrap();
    send_all(&c, &new, "new", 2).await;
    new.commit_transaction()
        .await
        .expect("the new instance commits");
    assert_eq!(
        read_all(&c, "read_committed").await,
        expected(&[("new", 2)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_sent_offsets_only_with_the_transaction() {
    let c = Cluster::start("fk-txp-offsets", 2).await;
    let group = unique_name("fk-txp-offsets");
    let tp0 = TopicPartition::new(c.topic.as_str(), 0);
    assert_eq!(c.broker.committed_offset(&group, &c.topic, 0), None);
    // GroupConsumer does not expose its generation and member id (they live
    // in its coordinator task), so the metadata has none (generation -1:
    // the coordinator skips KIP-447 fencing).
    let metadata = GroupMetadata::new(group.as_str());
    let p = transactional(&c, &unique_name("fk-txp-offsets")).await;

    p.begin_transaction().unwrap();
    send_all(&c, &p, "a", 2).await;
    p.send_offsets_to_transaction(&[(tp0.clone(), 7)], &metadata)
        .await
        .expect("send offsets");
    assert_eq!(
        c.broker.committed_offset(&group, &c.topic, 0),
        None,
        "staged, not committed"
    );
    p.abort_transaction().await.expect("abort");
    assert_eq!(
        c.broker.committed_offset(&group, &c.topic, 0),
        None,
        "an abort leaves the offset"
    );

    p.begin_transaction().unwrap();
    send_all(&c, &p, "c", 2).await;
    p.send_offsets_to_transaction(&[(tp0.clone(), 9)], &metadata)
        .await
        .expect("send offsets");
    p.commit_transaction().await.expect("commit");
    assert_eq!(
        c.broker.committed_offset(&group, &c.topic, 0),
        Some(9),
        "a commit commits the sent offset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_ride_out_coordinator_errors_and_stop_on_fatal_ones() {
    let c = Cluster::start("fk-txp-retry", 2).await;
    c.broker.on_once(ApiKey::InitProducerId, |_| {
        Control::Error(ErrorCode::ConcurrentTransactions)
    });
    c.broker.on_once(ApiKey::AddPartitionsToTxn, |_| {
        Control::Error(ErrorCode::NotCoordinator)
    });
    c.broker.on_once(ApiKey::EndTxn, |_| {
        Control::Error(ErrorCode::CoordinatorLoadInProgress)
    });
    let p = transactional(&c, &unique_name("fk-txp-retry")).await;
    assert_eq!(
        c.broker.request_count(ApiKey::InitProducerId),
        2,
        "retried once"
    );
    p.begin_transaction().unwrap();
    send_all(&c, &p, "r", 4).await;
    p.commit_transaction().await.expect("commit");
    // Each partition joins once, with the other one when they go in one
    // produce round (the same leader, at once), plus the retry after
    // NOT_COORDINATOR.
    let leaders = if c.leader(0) == c.leader(1) { 1 } else { 2 };
    let adds = c.broker.request_count(ApiKey::AddPartitionsToTxn);
    assert!(
        (leaders + 1..=3).contains(&adds),
        "{adds} AddPartitionsToTxn"
    );
    assert_eq!(c.broker.request_count(ApiKey::EndTxn), 2);
    assert_eq!(read_all(&c, "read_committed").await, expected(&[("r", 4)]));

    // Not authorized for the id: fatal, the producer refuses from then on.
    c.broker.on_once(ApiKey::AddPartitionsToTxn, |_| {
        Control::Error(ErrorCode::TransactionalIdAuthorizationFailed)
    });
    p.begin_transaction().unwrap();
    let e = p
        .send(ProducerRecord::new(c.topic.as_str(), "x").partition(0))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProduceError::Transaction { fatal: true, code: Some(code), .. }
            if code.0 == 53),
        "{e:?}"
    );
    assert!(matches!(
        p.transaction_state(),
        Some(TxnState::FatalError(_))
    ));
    assert!(
        p.abort_transaction().await.is_err(),
        "fatal: not even an abort"
    );
}
