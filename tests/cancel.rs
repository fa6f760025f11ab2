//! Issue 13: `GroupConsumer::poll` dropped at its awaits (`tokio::select!`
//! against a 1 ms timer) while a second member joins and leaves and records
//! keep arriving loses no event, record or offset; long polls stay in the
//! group; `poll(Duration::MAX)` does not panic.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_fetch::{FetchConfig, TopicPartition};
use sluice_group::{GroupConfig, GroupConsumer, ListenerFuture, RebalanceListener};
use sluice_integration::{TempTopic, bootstrap, connect, unique_name};
use sluice_produce::{Producer, ProducerConfig, ProducerRecord};
use tokio::time::Instant;

const PARTITIONS: i32 = 4;

fn fetch_config() -> FetchConfig {
    FetchConfig::default()
        .with_pairs([
            ("bootstrap.servers", bootstrap().as_str()),
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "50"),
        ])
        .unwrap()
}

fn group_config(group: &str) -> GroupConfig {
    GroupConfig {
        group_id: group.to_string(),
        enable_auto_commit: true,
        auto_commit_interval: Duration::from_millis(100),
        session_timeout: Duration::from_secs(6),
        heartbeat_interval: Duration::from_millis(500),
        max_poll_interval: Duration::from_secs(10),
        ..GroupConfig::default()
    }
}

/// Produces `per_partition` records to each partition, values `p{p}-{i}`,
/// one record per batch: tansu 0.6 answers a fetch from inside a stored
/// batch with nothing (then with the next batch, skipping the rest of it),
/// so a member starting at another's commit mid-batch would miss records
/// for the broker's sake (Apache Kafka returns the whole batch).
async fn produce(producer: &Producer, topic: &str, per_partition: usize) {
    for i in 0..per_partition {
        let deliveries: Vec<_> = (0..PARTITIONS)
            .map(|p| producer.send(ProducerRecord::new(topic, format!("p{p}-{i}")).partition(p)))
            .collect();
        for d in deliveries {
            d.await.expect("delivered");
        }
    }
}

/// Keeps the partitions a member owns, as its listener hears of them (an
/// await in each callback, so dropped polls are dropped inside them too).
#[derive(Clone, Default)]
struct Owned {
    tps: Arc<Mutex<BTreeSet<TopicPartition>>>,
    calls: Arc<AtomicUsize>,
}

impl RebalanceListener for Owned {
    fn on_partitions_revoked<'a>(
        &'a mut self,
        _consumer: &'a mut GroupConsumer,
        partitions: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            let mut tps = self.tps.lock().unwrap();
            for tp in partitions {
                tps.remove(tp);
            }
            self.calls.fetch_add(1, Ordering::SeqCst);
        })
    }

    fn on_partitions_assigned<'a>(
        &'a mut self,
        _consumer: &'a mut GroupConsumer,
        partitions: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            self.tps.lock().unwrap().extend(partitions.iter().cloned());
            self.calls.fetch_add(1, Ordering::SeqCst);
        })
    }
}

type Seen = BTreeMap<i32, BTreeSet<i64>>;

fn note(seen: &mut Seen, records: &[sluice_fetch::record::ConsumerRecord]) {
    for r in records {
        seen.entry(r.partition).or_default().insert(r.offset);
    }
}

fn complete(seen: &Seen, per_partition: i64) -> bool {
    (0..PARTITIONS).all(|p| {
        seen.get(&p)
            .is_some_and(|s| s.len() as i64 >= per_partition)
    })
}

/// The offsets below `per_partition` nobody read, as (partition, first, last) runs.
fn missing(seen: &Seen, per_partition: i64) -> Vec<(i32, i64, i64)> {
    let mut runs = Vec::new();
    for p in 0..PARTITIONS {
        let got = seen.get(&p).cloned().unwrap_or_default();
        let mut run: Option<(i64, i64)> = None;
        for o in 0..per_partition {
            if got.contains(&o) {
                if let Some((a, b)) = run.take() {
                    runs.push((p, a, b));
                }
            } else {
                run = Some(run.map_or((o, o), |(a, _)| (a, o)));
            }
        }
        if let Some((a, b)) = run {
            runs.push((p, a, b));
        }
    }
    runs
}

/// One dropped-poll step: poll inside `select!` against a timer of
/// `timer_ms`; the records of a poll that completes are noted.
async fn cancelled_poll(consumer: &mut GroupConsumer, seen: &mut Seen, timer_ms: u64) -> bool {
    tokio::select! {
        records = consumer.poll(Duration::from_millis(200)) => {
            note(seen, &records.expect("poll"));
            true
        }
        _ = tokio::time::sleep(Duration::from_millis(timer_ms)) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_dropped_at_every_await_lose_no_event_record_or_offset() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
        .with_test_writer()
        .try_init();
    let conn = connect("sluice-it-cancel").await;
    let topic = TempTopic::create(&conn, "it-cancel", PARTITIONS).await;
    let group = unique_name("it-cancel");
    let producer = Producer::connect(
        ProducerConfig::default()
            .with_pairs([("bootstrap.servers", bootstrap().as_str())])
            .unwrap(),
    )
    .await
    .unwrap();
    produce(&producer, &topic.name, 100).await;
    let all: BTreeSet<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic.name.as_str(), p))
        .collect();

    // A alone, every poll raced against a 1-3 ms timer.
    let mut a = GroupConsumer::new(fetch_config(), group_config(&group))
        .await
        .unwrap();
    let a_owned = Owned::default();
    a.set_rebalance_listener(a_owned.clone());
    a.subscribe([topic.name.clone()]);
    let mut a_seen = Seen::new();
    let mut round = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !complete(&a_seen, 100) {
        assert!(
            Instant::now() < deadline,
            "A alone read {:?} of 100 per partition; owns {:?}",
            a_seen.values().map(BTreeSet::len).collect::<Vec<_>>(),
            a.assignment()
        );
        round += 1;
        cancelled_poll(&mut a, &mut a_seen, 1 + round % 3).await;
    }
    assert_eq!(a.assignment().into_iter().collect::<BTreeSet<_>>(), all);

    // B joins, reads, and leaves; records keep arriving; A's polls keep being dropped.
    let b_owned = Owned::default();
    let b_task = {
        let group = group.clone();
        let topic = topic.name.clone();
        let owned = b_owned.clone();
        tokio::spawn(async move {
            let mut b = GroupConsumer::new(fetch_config(), group_config(&group))
                .await
                .unwrap();
            b.set_rebalance_listener(owned.clone());
            b.subscribe([topic]);
            let mut seen = Seen::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            // Until B owns partitions and has read from them.
            loop {
                assert!(Instant::now() < deadline, "B got no partitions");
                let records = b.poll(Duration::from_millis(200)).await.unwrap();
                note(&mut seen, &records);
                if !b.assignment().is_empty() && !records.is_empty() {
                    break;
                }
            }
            let b_had = b.assignment();
            b.close().await.unwrap();
            (seen, b_had)
        })
    };
    let more = {
        let producer = producer.clone();
        let topic = topic.name.clone();
        tokio::spawn(async move { produce(&producer, &topic, 100).await })
    };
    let mut overlaps = Vec::new();
    while !b_task.is_finished() {
        assert!(
            Instant::now() < deadline + Duration::from_secs(60),
            "B never finished"
        );
        round += 1;
        cancelled_poll(&mut a, &mut a_seen, 1 + round % 3).await;
        let a_now: BTreeSet<TopicPartition> = a.assignment().into_iter().collect();
        let b_now = b_owned.tps.lock().unwrap().clone();
        if a_now.intersection(&b_now).next().is_some() {
            overlaps.push((a_now, b_now));
        }
    }
    let (b_seen, b_had) = b_task.await.unwrap();
    assert!(!b_had.is_empty(), "B was assigned partitions");
    more.await.unwrap();

    // A takes everything back and reads every record, with B's share.
    let deadline = Instant::now() + Duration::from_secs(90);
    let union = loop {
        let mut union = a_seen.clone();
        for (p, offsets) in &b_seen {
            union.entry(*p).or_default().extend(offsets);
        }
        let owned: BTreeSet<TopicPartition> = a.assignment().into_iter().collect();
        if owned == all && complete(&union, 200) {
            break union;
        }
        assert!(
            Instant::now() < deadline,
            "after B left, A owns {owned:?} (listener says {:?}); read {:?} of 200 per partition; \
             missing {:?}; B had {b_had:?} and read {:?}; A's positions {:?}",
            a_owned.tps.lock().unwrap(),
            union.values().map(BTreeSet::len).collect::<Vec<_>>(),
            missing(&union, 200),
            b_seen
                .iter()
                .map(|(p, s)| (*p, s.first(), s.last(), s.len()))
                .collect::<Vec<_>>(),
            all.iter().map(|tp| a.position(tp)).collect::<Vec<_>>(),
        );
        round += 1;
        cancelled_poll(&mut a, &mut a_seen, 1 + round % 3).await;
    };
    assert!(
        overlaps.is_empty(),
        "A and B owned a partition at once: {overlaps:?}"
    );
    for p in 0..PARTITIONS {
        assert_eq!(
            union[&p],
            (0..200).collect::<BTreeSet<i64>>(),
            "partition {p}: every offset read"
        );
    }
    assert_eq!(
        *a_owned.tps.lock().unwrap(),
        all,
        "A's listener heard of every assignment and revocation"
    );
    // Nothing uncommitted is lost: A commits what it returned, and that is everything.
    a.commit_sync().await.unwrap();
    let committed = a
        .committed(&all.iter().cloned().collect::<Vec<_>>())
        .await
        .unwrap();
    for tp in &all {
        assert_eq!(committed[tp].as_ref().map(|o| o.offset), Some(200), "{tp}");
    }
    a.close().await.unwrap();
    producer.close().await;
    topic.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_longer_than_max_poll_interval_stays_in_the_group_and_max_does_not_panic() {
    let conn = connect("sluice-it-long-poll").await;
    let topic = TempTopic::create(&conn, "it-long-poll", 1).await;
    let group = unique_name("it-long-poll");
    let config = GroupConfig {
        max_poll_interval: Duration::from_secs(4),
        ..group_config(&group)
    };
    let mut c = GroupConsumer::new(fetch_config(), config).await.unwrap();
    c.subscribe([topic.name.clone()]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.assignment().is_empty() {
        assert!(Instant::now() < deadline, "never assigned");
        assert!(c.poll(Duration::from_millis(200)).await.unwrap().is_empty());
    }
    let before = c.metrics().await.unwrap();
    // The topic is empty: the poll waits its whole timeout, twice max.poll.interval.ms.
    let started = Instant::now();
    assert!(c.poll(Duration::from_secs(9)).await.unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_secs(9));
    let after = c.metrics().await.unwrap();
    assert_eq!(after.members.len(), 1, "still in the group: {after:?}");
    assert_eq!(
        after.members.first().map(|m| m.member_id.clone()),
        before.members.first().map(|m| m.member_id.clone()),
        "the same member: it never left"
    );
    assert_eq!(
        c.assignment(),
        vec![TopicPartition::new(topic.name.as_str(), 0)]
    );
    // No limit: waits (here, until the test's own timeout) without panicking.
    let unbounded = tokio::time::timeout(Duration::from_secs(1), c.poll(Duration::MAX)).await;
    assert!(unbounded.is_err(), "nothing to return: {unbounded:?}");
    c.close().await.unwrap();
    topic.delete().await;
}

/// Issue 13, defect 8: a member that left for not polling within
/// max.poll.interval.ms has its partitions revoked before its next poll
/// returns anything: no record fetched for them meanwhile comes out, and it
/// starts again from the group's committed offset once reassigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_poll_timeout_no_record_of_a_revoked_partition_is_returned() {
    let conn = connect("sluice-it-poll-timeout").await;
    let topic = TempTopic::create(&conn, "it-poll-timeout", 1).await;
    sluice_integration::produce_single_batches(&conn, &topic, 0, 200).await;
    let group = unique_name("it-poll-timeout");
    let config = GroupConfig {
        enable_auto_commit: false,
        max_poll_interval: Duration::from_secs(3),
        ..group_config(&group)
    };
    let mut c = GroupConsumer::new(fetch_config(), config).await.unwrap();
    c.subscribe([topic.name.clone()]);
    let tp = TopicPartition::new(topic.name.as_str(), 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut read = 0;
    while read < 100 {
        assert!(Instant::now() < deadline, "read {read} of 100");
        read += c.poll(Duration::from_millis(200)).await.unwrap().len();
    }
    c.commit_offsets_sync(
        [(tp.clone(), sluice_group::OffsetAndMetadata::new(40))]
            .into_iter()
            .collect(),
    )
    .await
    .unwrap();
    // The application stops polling until the group has let the member go.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = c.metrics().await.unwrap();
        if m.members.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the member never left: {m:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Everything its next polls return comes after the rejoin, from the committed offset.
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        assert!(Instant::now() < deadline, "nothing after the rejoin");
        let records = c.poll(Duration::from_millis(200)).await.unwrap();
        if let Some(r) = records.first() {
            break r.offset;
        }
    };
    assert_eq!(
        first, 40,
        "the first record after the poll timeout is the committed one, not the old position {read}"
    );
    c.close().await.unwrap();
    topic.delete().await;
}
