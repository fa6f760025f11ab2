//! Faults on librdkafka's mock cluster. Each scenario checks that every
//! record was read, in order per partition, with a rewind (records handed
//! out again) only where the protocol makes one legitimate, and never more
//! than one uncommitted poll back.

use std::time::Duration;

use rdkafka::mocking::MockCoordinator;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use sluice::Consumer;
use sluice_integration::unique_name;

use super::cluster::{BROKERS, Mock, Reads, partitions, poll_until, produce_range};

const MAX_POLL: usize = 50;

/// A consumer assigned every partition of `topic`, with `pairs` on top.
async fn assigned(mock: &Mock, topic: &str, n: i32, pairs: &[(&str, &str)]) -> Consumer {
    let mut consumer = Consumer::new(mock.config(pairs)).unwrap();
    consumer.assign(&partitions(topic, n)).await.unwrap();
    consumer
}

/// An assigned consumer of a new `n`-partition topic of `per_partition`
/// records each, polled until it has read `first` records. Partition p is
/// led by broker p + 1 (as the mock places leaders, made sure of).
async fn reading(
    mock: &Mock,
    prefix: &str,
    n: i32,
    per_partition: usize,
    first: usize,
) -> (String, Consumer, Reads) {
    let topic = mock.topic(prefix, n);
    for p in 0..n {
        mock.set_leader(&topic, p, p % BROKERS + 1);
    }
    mock.produce(&topic, n, per_partition);
    let mut consumer = assigned(mock, &topic, n, &[("max.poll.records", "100")]).await;
    let mut reads = Reads::default();
    poll_until(&mut consumer, &mut reads, Duration::from_secs(30), |r| {
        r.total() >= first
    })
    .await;
    (topic, consumer, reads)
}

/// Polls until every record of `n` partitions × `per_partition` is read,
/// then checks each was read exactly once, in order, and closes.
async fn read_the_rest_exactly_once(
    mut consumer: Consumer,
    reads: &mut Reads,
    n: i32,
    per_partition: usize,
) {
    poll_until(&mut consumer, reads, Duration::from_secs(60), |r| {
        r.complete(n, per_partition)
    })
    .await;
    assert_eq!(
        reads.assert_all_in_order(n, per_partition, 1),
        0,
        "no rewinds"
    );
    assert_eq!(reads.total(), n as usize * per_partition, "nothing twice");
    consumer.close().await.unwrap();
}

/// A group member subscribed to `topic` whose polls return at most [`MAX_POLL`] records.
async fn member(mock: &Mock, topic: &str, group: &str) -> Consumer {
    let max = MAX_POLL.to_string();
    let mut consumer =
        Consumer::new(mock.config(&[("group.id", group), ("max.poll.records", &max)])).unwrap();
    consumer.subscribe(&[topic]).await.unwrap();
    consumer
}

/// Polls, committing after every poll that returned records, until every
/// record is read and the commit reached the end, or panics after `within`.
async fn read_and_commit_all(
    consumer: &mut Consumer,
    reads: &mut Reads,
    topic: &str,
    n: i32,
    per_partition: usize,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if reads.complete(n, per_partition) {
            consumer.commit_sync().await.expect("final commit");
            let committed = consumer.committed(&partitions(topic, n)).await.unwrap();
            if committed
                .values()
                .all(|c| c.as_ref().map(|o| o.offset) == Some(per_partition as i64))
            {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "read {:?}",
            reads.summary()
        );
        let records = consumer.poll(Duration::from_millis(200)).await.unwrap();
        reads.add(&records);
        if !records.is_empty() {
            // A commit refused mid-rebalance is fine here: the next one covers it.
            let _ = consumer.commit_sync().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_leader_that_moves_mid_consume_loses_and_repeats_nothing() {
    let mock = Mock::start();
    let (topic, consumer, mut reads) = reading(&mock, "mock-leader-moves", 3, 300, 300).await;
    // Every leader moves to the next broker (its leader epoch goes up).
    for p in 0..3 {
        mock.set_leader(&topic, p, (p + 1) % BROKERS + 1);
    }
    produce_range(&mock.bootstrap, &topic, 3, 300..600);
    read_the_rest_exactly_once(consumer, &mut reads, 3, 600).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_broker_down_and_back_stalls_only_its_partitions() {
    let mock = Mock::start();
    let (_, mut consumer, mut reads) = reading(&mock, "mock-broker-down", 3, 300, 100).await;
    // Broker 1 (partition 0's leader) goes down: the other partitions must
    // still be read to their end while it is.
    mock.cluster.broker_down(1).unwrap();
    poll_until(&mut consumer, &mut reads, Duration::from_secs(60), |r| {
        [1, 2]
            .iter()
            .all(|p| r.by_partition.get(p).is_some_and(|o| o.len() >= 300))
    })
    .await;
    mock.cluster.broker_up(1).unwrap();
    read_the_rest_exactly_once(consumer, &mut reads, 3, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_that_moves_keeps_the_group_reading_and_committing() {
    let mock = Mock::start();
    let topic = mock.topic("mock-coordinator-moves", 3);
    mock.produce(&topic, 3, 300);
    let group = unique_name("mock-coordinator-moves");
    mock.cluster
        .coordinator(MockCoordinator::Group(group.clone()), 1)
        .unwrap();
    let mut consumer = member(&mock, &topic, &group).await;
    let mut reads = Reads::default();
    poll_until(&mut consumer, &mut reads, Duration::from_secs(30), |r| {
        r.total() >= 200
    })
    .await;
    consumer.commit_sync().await.unwrap();
    // The group moves to broker 2; broker 1 answers NOT_COORDINATOR.
    mock.cluster
        .coordinator(MockCoordinator::Group(group.clone()), 2)
        .unwrap();
    mock.cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR],
    );
    mock.cluster.request_errors(
        RDKafkaApiKey::Heartbeat,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR],
    );
    read_and_commit_all(&mut consumer, &mut reads, &topic, 3, 300).await;
    reads.assert_all_in_order(3, 300, MAX_POLL as i64 + 1);
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_answered_with_group_errors_are_retried_or_surfaced_and_nothing_is_lost() {
    use RDKafkaRespErr::*;
    for (error, retriable) in [
        (RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, true),
        (RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, false),
        (RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, false),
        (RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, false),
    ] {
        let mock = Mock::start();
        let topic = mock.topic("mock-commit-errors", 2);
        mock.produce(&topic, 2, 200);
        let group = unique_name("mock-commit-errors");
        let mut consumer = member(&mock, &topic, &group).await;
        let mut reads = Reads::default();
        poll_until(&mut consumer, &mut reads, Duration::from_secs(30), |r| {
            r.total() >= 100
        })
        .await;
        // A commit that works, then exactly one poll's records uncommitted.
        consumer.commit_sync().await.unwrap();
        let mut more = Vec::new();
        while more.is_empty() {
            more = consumer.poll(Duration::from_millis(200)).await.unwrap();
        }
        reads.add(&more);
        mock.cluster
            .request_errors(RDKafkaApiKey::OffsetCommit, &[error]);
        let result = consumer.commit_sync().await;
        if retriable {
            result.unwrap_or_else(|e| panic!("{error:?} is retried: {e}"));
        } else {
            let err = result.expect_err("the commit is refused");
            let name = format!("{error:?}");
            let name = name.trim_start_matches("RD_KAFKA_RESP_ERR_");
            assert!(format!("{err:?}").contains(name), "{err:?} names {name}");
        }
        read_and_commit_all(&mut consumer, &mut reads, &topic, 2, 200).await;
        let rewinds = reads.assert_all_in_order(2, 200, MAX_POLL as i64 + 1);
        if retriable {
            assert_eq!(rewinds, 0, "{error:?}: nothing read twice");
        }
        consumer.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_answered_with_errors_at_the_top_level_are_retried_without_loss() {
    use RDKafkaRespErr::*;
    let mock = Mock::start();
    let (_, consumer, mut reads) = reading(&mock, "mock-fetch-errors", 3, 300, 100).await;
    mock.cluster.request_errors(
        RDKafkaApiKey::Fetch,
        &[
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH,
            RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE,
        ],
    );
    read_the_rest_exactly_once(consumer, &mut reads, 3, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_the_broker_answers_out_of_range_resets_to_earliest_once() {
    let mock = Mock::start();
    let (topic, mut consumer, mut reads) = reading(&mock, "mock-out-of-range", 1, 300, 100).await;
    let before = reads.total();
    // A position the log does not have: the broker answers the partition
    // OFFSET_OUT_OF_RANGE (the mock puts an injected error at the top level
    // too, which the fetcher drops as Java does, so it is made for real).
    consumer.seek(&partitions(&topic, 1)[0], 1_000_000).unwrap();
    poll_until(&mut consumer, &mut reads, Duration::from_secs(60), |r| {
        r.total() >= 300 + before
    })
    .await;
    // auto.offset.reset=earliest applies, as in the Java client: one
    // rewind, to offset 0, then everything in order.
    let offsets = &reads.by_partition[&0];
    let rewind = offsets
        .windows(2)
        .position(|w| w[1] != w[0] + 1)
        .expect("a rewind");
    assert_eq!(offsets[rewind + 1], 0, "reset to the earliest offset");
    assert_eq!(reads.assert_all_in_order(1, 300, 301), 1, "one rewind");
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_broker_slows_only_its_partitions() {
    let mock = Mock::start();
    let topic = mock.topic("mock-slow-broker", 3);
    for p in 0..3 {
        mock.set_leader(&topic, p, p + 1);
    }
    mock.produce(&topic, 3, 300);
    mock.cluster
        .broker_round_trip_time(2, Duration::from_millis(300))
        .unwrap();
    let mut consumer = assigned(&mock, &topic, 3, &[]).await;
    let mut reads = Reads::default();
    poll_until(&mut consumer, &mut reads, Duration::from_secs(60), |r| {
        r.complete(3, 300)
    })
    .await;
    assert_eq!(reads.assert_all_in_order(3, 300, 1), 0, "no rewinds");
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_commit_that_fails_is_sent_again() {
    let mock = Mock::start();
    let topic = mock.topic("mock-auto-commit", 1);
    mock.produce(&topic, 1, 300);
    let group = unique_name("mock-auto-commit");
    let mut consumer = Consumer::new(mock.config(&[
        ("group.id", &group),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "1500"),
    ]))
    .unwrap();
    consumer.subscribe(&[topic.as_str()]).await.unwrap();
    let mut reads = Reads::default();
    poll_until(&mut consumer, &mut reads, Duration::from_secs(30), |r| {
        r.complete(1, 300)
    })
    .await;
    // The next auto-commit (with every offset) is refused; nothing is read
    // after it, so only sending it again can commit the end.
    mock.cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE],
    );
    let tp = partitions(&topic, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            consumer
                .poll(Duration::from_millis(100))
                .await
                .unwrap()
                .is_empty()
        );
        let committed = consumer.committed(&tp).await.unwrap();
        if committed[&tp[0]].as_ref().map(|o| o.offset) == Some(300) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused auto-commit was never sent again: {committed:?}"
        );
    }
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_does_not_wait_behind_a_parked_join_group() {
    let mock = Mock::start();
    let topic = mock.topic("mock-parked-join", 2);
    mock.produce(&topic, 2, 50);
    let group = unique_name("mock-parked-join");
    let pairs = [
        ("group.id", group.as_str()),
        ("session.timeout.ms", "10000"),
        ("max.poll.interval.ms", "60000"),
        ("request.timeout.ms", "2000"),
    ];
    let mut a = Consumer::new(mock.config(&pairs)).unwrap();
    a.subscribe(&[topic.as_str()]).await.unwrap();
    let mut reads = Reads::default();
    poll_until(&mut a, &mut reads, Duration::from_secs(30), |r| {
        r.total() > 0
    })
    .await;
    // B joins; the coordinator holds B's JoinGroup until A rejoins, which A
    // does only in its next poll (A is busy: it does not poll meanwhile).
    let mut b = Consumer::new(mock.config(&pairs)).unwrap();
    b.subscribe(&[topic.as_str()]).await.unwrap();
    assert!(
        b.poll(Duration::from_millis(500)).await.unwrap().is_empty(),
        "B has no partitions while its join is held"
    );
    // A lookup of B's meanwhile is answered at once, not after the join (or
    // request.timeout.ms, which used to poison the connection, join and all).
    let started = tokio::time::Instant::now();
    let committed = b.committed(&partitions(&topic, 2)).await;
    let took = started.elapsed();
    assert!(committed.is_ok(), "{committed:?} after {took:?}");
    assert!(took < Duration::from_secs(1), "the lookup waited {took:?}");
    // And the group still forms once A polls.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while a.assignment().len() + b.assignment().len() != 2 || b.assignment().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the group never formed"
        );
        reads.add(&a.poll(Duration::from_millis(100)).await.unwrap());
        reads.add(&b.poll(Duration::from_millis(100)).await.unwrap());
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}
