//! Incremental cooperative rebalancing (KIP-429) on librdkafka's mock
//! cluster: sluice members and librdkafka members
//! (`partition.assignment.strategy=cooperative-sticky`) in one group while a
//! producer thread writes, members joining and leaving. Every record is
//! read; a ledger fed by every member's rebalance listener checks that no
//! partition is owned by two members at once and that only partitions that
//! move are revoked.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice::metrics::RebalanceStatsSnapshot;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::TopicPartitionList;
use sluice::{Consumer, ConsumerConfig, ListenerFuture, RebalanceListener};
use sluice_fetch::TopicPartition;
use sluice_group::GroupConsumer;
use sluice_integration::unique_name;
use tokio::time::Instant;

use super::cluster::Mock;

/// Every member's rebalance callbacks, in the order they ran.
#[derive(Debug, Default)]
pub struct Ledger {
    /// The member owning each partition now.
    pub owner: BTreeMap<i32, String>,
    /// What went wrong, checked at the end (a panic inside librdkafka's
    /// callback would abort the process).
    pub violations: Vec<String>,
    /// Partitions revoked (or lost) per phase and member.
    pub revoked: BTreeMap<(usize, String), Vec<i32>>,
    /// Partitions assigned per phase and member.
    pub assigned: BTreeMap<(usize, String), Vec<i32>>,
    /// Partitions lost, per member, in order.
    pub lost: Vec<(String, Vec<i32>)>,
    /// The phase of the scenario (set by the test).
    pub phase: usize,
}

/// The ledger, shared by members.
pub type Shared = Arc<Mutex<Ledger>>;

impl Ledger {
    fn assigned(&mut self, who: &str, ps: &[i32]) {
        for p in ps {
            if let Some(o) = self.owner.get(p).filter(|o| *o != who) {
                let v = format!("p{p} assigned to {who} while {o} owns it");
                self.violations.push(v);
            }
            self.owner.insert(*p, who.to_string());
        }
        let key = (self.phase, who.to_string());
        self.assigned.entry(key).or_default().extend(ps);
    }

    fn revoked(&mut self, who: &str, ps: &[i32]) {
        for p in ps {
            if self.owner.get(p).map(String::as_str) == Some(who) {
                self.owner.remove(p);
            } else {
                let v = format!("p{p} revoked from {who}, which does not own it");
                self.violations.push(v);
            }
        }
        if !ps.is_empty() {
            let key = (self.phase, who.to_string());
            self.revoked.entry(key).or_default().extend(ps);
        }
    }

    /// Per member, the partitions it owns now.
    pub fn owned_by(&self) -> BTreeMap<String, Vec<i32>> {
        let mut by: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (p, o) in &self.owner {
            by.entry(o.clone()).or_default().push(*p);
        }
        by
    }

    /// Whether `members` own all `partitions` between them, balanced (counts
    /// differ by at most one), and nobody else owns any.
    pub fn settled(&self, members: &[&str], partitions: i32) -> bool {
        let by = self.owned_by();
        let counts: Vec<usize> = members
            .iter()
            .map(|m| by.get(*m).map_or(0, Vec::len))
            .collect();
        self.owner.len() == partitions as usize
            && by.keys().all(|k| members.contains(&k.as_str()))
            && counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0) <= 1
    }

    /// Partitions revoked from `who` in `phase`.
    pub fn revoked_in(&self, phase: usize, who: &str) -> &[i32] {
        self.revoked
            .get(&(phase, who.to_string()))
            .map_or(&[], Vec::as_slice)
    }
}

/// The sluice members' listener: feeds the ledger.
struct Recorder {
    name: String,
    ledger: Shared,
}

fn numbers(tps: &[TopicPartition]) -> Vec<i32> {
    tps.iter().map(|tp| tp.partition).collect()
}

impl RebalanceListener for Recorder {
    fn on_partitions_revoked<'a>(
        &'a mut self,
        _: &'a mut GroupConsumer,
        tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        self.ledger
            .lock()
            .unwrap()
            .revoked(&self.name, &numbers(tps));
        Box::pin(async {})
    }

    fn on_partitions_lost<'a>(
        &'a mut self,
        _: &'a mut GroupConsumer,
        tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        let mut ledger = self.ledger.lock().unwrap();
        ledger.lost.push((self.name.clone(), numbers(tps)));
        ledger.revoked(&self.name, &numbers(tps));
        Box::pin(async {})
    }

    fn on_partitions_assigned<'a>(
        &'a mut self,
        _: &'a mut GroupConsumer,
        tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        self.ledger
            .lock()
            .unwrap()
            .assigned(&self.name, &numbers(tps));
        Box::pin(async {})
    }
}

/// Every (partition, offset) read by any member, each value checked.
pub type ReadSet = Arc<Mutex<BTreeSet<(i32, i64)>>>;

fn note(reads: &ReadSet, partition: i32, offset: i64, value: Option<&[u8]>) {
    assert_eq!(
        value,
        Some(format!("p{partition}-{offset}").as_bytes()),
        "p{partition} offset {offset}: wrong value"
    );
    reads.lock().unwrap().insert((partition, offset));
}

/// A member running on its own task or thread until stopped.
pub struct Running {
    stop: Arc<AtomicBool>,
    sluice: Option<tokio::task::JoinHandle<Consumer>>,
    librdkafka: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stops the member and closes it (sluice: revoke listener, LeaveGroup;
    /// librdkafka: its close, which revokes and leaves). A sluice member's
    /// rebalance counters, as they were before it left.
    pub async fn leave(self) -> Option<RebalanceStatsSnapshot> {
        self.stop.store(true, Ordering::SeqCst);
        let mut stats = None;
        if let Some(task) = self.sluice {
            let consumer = task.await.expect("member task");
            stats = consumer.stats().rebalance;
            consumer.close().await.expect("close");
        }
        if let Some(thread) = self.librdkafka {
            tokio::task::spawn_blocking(move || thread.join().expect("librdkafka member"))
                .await
                .unwrap();
        }
        stats
    }
}

/// Starts a sluice member named `name` subscribed to `topic`.
pub fn sluice_member(
    name: &str,
    config: ConsumerConfig,
    topic: &str,
    ledger: &Shared,
    reads: &ReadSet,
) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let (stop2, reads, topic) = (stop.clone(), reads.clone(), topic.to_string());
    let recorder = Recorder {
        name: name.to_string(),
        ledger: ledger.clone(),
    };
    let task = tokio::spawn(async move {
        let mut consumer = Consumer::new(config).expect("consumer");
        consumer.set_rebalance_listener(recorder);
        consumer.subscribe(&[&topic]).await.expect("subscribe");
        while !stop2.load(Ordering::SeqCst) {
            for r in consumer
                .poll(Duration::from_millis(100))
                .await
                .expect("poll")
            {
                note(&reads, r.partition, r.offset, r.value.as_deref());
            }
        }
        consumer
    });
    Running {
        stop,
        sluice: Some(task),
        librdkafka: None,
    }
}

/// librdkafka's callbacks into the ledger.
struct Ctx {
    name: String,
    ledger: Shared,
}

impl ClientContext for Ctx {}

fn tpl_partitions(tpl: &TopicPartitionList) -> Vec<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.ledger
                .lock()
                .unwrap()
                .revoked(&self.name, &tpl_partitions(tpl));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.ledger
                .lock()
                .unwrap()
                .assigned(&self.name, &tpl_partitions(tpl));
        }
    }
}

/// Starts a librdkafka member with `strategy`, on a thread of its own.
pub fn librdkafka_member(
    name: &str,
    mock: &Mock,
    group: &str,
    strategy: &str,
    topic: &str,
    ledger: &Shared,
    reads: &ReadSet,
) -> Running {
    let consumer: BaseConsumer<Ctx> = ClientConfig::new()
        .set("bootstrap.servers", &mock.bootstrap)
        .set("group.id", group)
        .set("partition.assignment.strategy", strategy)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "200")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .create_with_context(Ctx {
            name: name.to_string(),
            ledger: ledger.clone(),
        })
        .expect("librdkafka consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let stop = Arc::new(AtomicBool::new(false));
    let (stop2, reads) = (stop.clone(), reads.clone());
    let thread = std::thread::spawn(move || {
        while !stop2.load(Ordering::SeqCst) {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                let m = m.expect("librdkafka reads");
                note(&reads, m.partition(), m.offset(), m.payload());
            }
        }
        // Commits and revokes through the callbacks before leaving.
        consumer.unsubscribe();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !consumer
            .assignment()
            .map(|a| a.count() == 0)
            .unwrap_or(true)
            && std::time::Instant::now() < deadline
        {
            let _ = consumer.poll(Duration::from_millis(50));
        }
        drop(consumer);
    });
    Running {
        stop,
        sluice: None,
        librdkafka: Some(thread),
    }
}

/// A producer thread writing one record to every partition per round
/// (partition p's n-th record is `p{p}-{n}` at offset n) until stopped;
/// joining it gives the number of rounds written.
pub struct Writer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<usize>,
}

impl Writer {
    /// Starts writing to `partitions` partitions of `topic`.
    pub fn start(mock: &Mock, topic: &str, partitions: i32) -> Writer {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &mock.bootstrap)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .expect("librdkafka producer");
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, topic) = (stop.clone(), topic.to_string());
        let thread = std::thread::spawn(move || {
            let mut n = 0;
            while !stop2.load(Ordering::SeqCst) {
                for p in 0..partitions {
                    let value = format!("p{p}-{n}");
                    let mut record = BaseRecord::<(), _>::to(&topic).partition(p).payload(&value);
                    loop {
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((_, r)) => {
                                producer.poll(Duration::from_millis(10));
                                record = r;
                            }
                        }
                    }
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(10)); // pacing, not synchronisation
            }
            producer.flush(Duration::from_secs(30)).expect("flushed");
            n
        });
        Writer { stop, thread }
    }

    /// Stops writing; the number of records written to each partition.
    pub async fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        tokio::task::spawn_blocking(move || self.thread.join().expect("writer"))
            .await
            .unwrap()
    }
}

/// Waits until `done` holds for the ledger, or panics after `within`.
pub async fn wait_for(
    ledger: &Shared,
    within: Duration,
    what: &str,
    done: impl Fn(&Ledger) -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        {
            let l = ledger.lock().unwrap();
            if done(&l) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: gave up; ledger {l:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every offset below `rounds` of every partition was read.
pub async fn wait_all_read(reads: &ReadSet, partitions: i32, rounds: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let missing: Vec<(i32, i64)> = {
            let r = reads.lock().unwrap();
            (0..partitions)
                .flat_map(|p| (0..rounds as i64).map(move |o| (p, o)))
                .filter(|k| !r.contains(k))
                .take(10)
                .collect()
        };
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "records never read, e.g. {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A sluice member configuration on `mock` in `group` with `strategy`.
pub fn sluice_config(mock: &Mock, group: &str, strategy: &str) -> ConsumerConfig {
    mock.config(&[
        ("group.id", group),
        ("partition.assignment.strategy", strategy),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "200"),
    ])
}

/// The scenario of issue 15: sluice S1, S2 and librdkafka R1 share 6
/// partitions; librdkafka R2 joins, then S1 leaves, records flowing all the
/// while.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_and_librdkafka_share_a_cooperative_sticky_group_as_members_come_and_go() {
    const P: i32 = 6;
    let mock = Mock::start();
    let topic = mock.topic("coop-mixed", P);
    let group = unique_name("coop-mixed");
    let ledger = Shared::default();
    let reads = ReadSet::default();
    let writer = Writer::start(&mock, &topic, P);
    let config = sluice_config(&mock, &group, "cooperative-sticky");
    let s1 = sluice_member("S1", config.clone(), &topic, &ledger, &reads);
    let s2 = sluice_member("S2", config.clone(), &topic, &ledger, &reads);
    let r1 = librdkafka_member(
        "R1",
        &mock,
        &group,
        "cooperative-sticky",
        &topic,
        &ledger,
        &reads,
    );
    let within = Duration::from_secs(60);
    wait_for(&ledger, within, "three members settle", |l| {
        l.settled(&["S1", "S2", "R1"], P)
    })
    .await;

    ledger.lock().unwrap().phase = 1;
    let r2 = librdkafka_member(
        "R2",
        &mock,
        &group,
        "cooperative-sticky",
        &topic,
        &ledger,
        &reads,
    );
    wait_for(&ledger, within, "R2 joins", |l| {
        l.settled(&["S1", "S2", "R1", "R2"], P)
    })
    .await;
    {
        let l = ledger.lock().unwrap();
        let joiner = l.owned_by().get("R2").map_or(0, Vec::len);
        let revoked: usize = ["S1", "S2", "R1"]
            .iter()
            .map(|m| l.revoked_in(1, m).len())
            .sum();
        assert_eq!(
            revoked, joiner,
            "only the partitions the joiner took were revoked: {:?}",
            l.revoked
        );
        for m in ["S1", "S2", "R1"] {
            for p in l.revoked_in(1, m) {
                assert_eq!(l.owner.get(p).map(String::as_str), Some("R2"), "{m} p{p}");
            }
        }
    }

    ledger.lock().unwrap().phase = 2;
    s1.leave().await;
    wait_for(&ledger, within, "S1 leaves", |l| {
        l.settled(&["S2", "R1", "R2"], P)
    })
    .await;
    let rounds = writer.stop().await;
    wait_all_read(&reads, P, rounds, within).await;
    {
        let l = ledger.lock().unwrap();
        for m in ["S2", "R1", "R2"] {
            assert_eq!(
                l.revoked_in(2, m),
                &[] as &[i32],
                "{m} untouched when S1 left"
            );
        }
        assert!(l.violations.is_empty(), "{:?}", l.violations);
    }
    ledger.lock().unwrap().phase = 3; // the last members closing
    for m in [s2, r1, r2] {
        m.leave().await;
    }
    assert!(rounds > 0);
    let l = ledger.lock().unwrap();
    assert!(l.violations.is_empty() && l.lost.is_empty(), "{l:?}");
}
