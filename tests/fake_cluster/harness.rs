//! The pieces every fake-cluster test uses: a 3-broker krafka FakeBroker with
//! a topic on it, records written with sluice's producer, sluice consumers
//! configured for it, and the checks on what was read.

use std::collections::BTreeMap;
use std::time::Duration;

use krafka::testing::FakeBroker;
use sluice::{Consumer, ConsumerConfig};
use sluice_fetch::record::ConsumerRecord;
use sluice_integration::{produce_to, unique_name};
use tokio::time::Instant;

/// How long any one wait in these tests may take before it fails.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A running 3-broker fake cluster with one topic on it.
pub struct Cluster {
    /// The cluster (dropping it stops every broker).
    pub broker: FakeBroker,
    /// The topic the test works on (unique).
    pub topic: String,
}

impl Cluster {
    /// Starts 3 brokers and creates a uniquely named topic with `partitions`
    /// partitions, their leaders spread over the brokers.
    pub async fn start(prefix: &str, partitions: i32) -> Cluster {
        // RUST_LOG=sluice_fetch=debug shows what the client did.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let broker = FakeBroker::start_cluster(3)
            .await
            .expect("start fake cluster");
        let topic = unique_name(prefix);
        assert!(broker.create_topic(&topic, partitions), "create {topic}");
        Cluster { broker, topic }
    }

    /// The bootstrap list of all three brokers.
    pub fn bootstrap(&self) -> String {
        self.broker.bootstrap_servers()
    }

    /// The broker leading `partition` of the topic now.
    pub fn leader(&self, partition: i32) -> i32 {
        self.broker.with_state(|s| {
            s.partition(&self.topic, partition)
                .expect("partition exists")
                .leader
        })
    }

    /// The high watermark of every partition of the topic.
    pub fn ends(&self) -> BTreeMap<i32, i64> {
        (0..self.partition_count())
            .map(|p| {
                (
                    p,
                    self.broker.next_offset(&self.topic, p).expect("partition"),
                )
            })
            .collect()
    }

    /// How many partitions the topic has now.
    pub fn partition_count(&self) -> i32 {
        self.broker.with_state(|s| {
            s.topics
                .get(&self.topic)
                .map_or(0, |t| i32::try_from(t.partitions.len()).unwrap_or(i32::MAX))
        })
    }

    /// Writes `per_partition` records to every partition with sluice's
    /// producer (values `p{partition}-{i}` from `first`), and checks each
    /// partition's acknowledged offsets are consecutive.
    pub async fn produce(&self, first: usize, per_partition: usize) {
        let all: Vec<i32> = (0..self.partition_count()).collect();
        produce_to(&self.bootstrap(), &self.topic, &all, first, per_partition).await;
    }

    /// As [`Cluster::produce`], to `partitions` only.
    pub async fn produce_on(&self, partitions: &[i32], first: usize, per_partition: usize) {
        produce_to(
            &self.bootstrap(),
            &self.topic,
            partitions,
            first,
            per_partition,
        )
        .await;
    }

    /// A sluice Consumer config for this cluster; `group` empty means assign
    /// mode.
    pub fn consumer_config(&self, group: &str, max_poll_records: usize) -> ConsumerConfig {
        let max = max_poll_records.to_string();
        let boot = self.bootstrap();
        let mut pairs = vec![
            ("bootstrap.servers", boot.as_str()),
            ("client.id", "sluice-fake"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
            ("fetch.max.wait.ms", "100"),
            ("retry.backoff.ms", "50"),
            ("reconnect.backoff.ms", "50"),
            ("request.timeout.ms", "5000"),
            ("max.poll.records", max.as_str()),
        ];
        if !group.is_empty() {
            pairs.push(("group.id", group));
        }
        ConsumerConfig::from_pairs(pairs).expect("consumer config")
    }

    /// A new sluice Consumer in group `group`, subscribed to the topic.
    pub async fn group_member(&self, group: &str, max_poll_records: usize) -> Consumer {
        let mut c = Consumer::new(self.consumer_config(group, max_poll_records)).expect("consumer");
        c.subscribe(&[self.topic.as_str()])
            .await
            .expect("subscribe");
        c
    }
}

/// What a consumer read, checked against the log: per partition the offsets in
/// the order they came.
#[derive(Debug, Default, Clone)]
pub struct Reads {
    /// Offsets per partition, in delivery order.
    pub by_partition: BTreeMap<i32, Vec<i64>>,
    /// Values per partition, in delivery order (UTF-8, lossy).
    pub values: BTreeMap<i32, Vec<String>>,
}

impl Reads {
    /// Adds one delivered record.
    pub fn push(&mut self, record: &ConsumerRecord) {
        self.by_partition
            .entry(record.partition)
            .or_default()
            .push(record.offset);
        let value = record
            .value
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
            .into_owned();
        self.values.entry(record.partition).or_default().push(value);
    }

    /// How many records were delivered (duplicates counted).
    pub fn len(&self) -> usize {
        self.by_partition.values().map(Vec::len).sum()
    }

    /// Records delivered per partition (duplicates counted).
    pub fn counts(&self) -> BTreeMap<i32, usize> {
        self.by_partition
            .iter()
            .map(|(p, o)| (*p, o.len()))
            .collect()
    }

    /// Whether every offset below each partition's end has been delivered.
    pub fn covers(&self, ends: &BTreeMap<i32, i64>) -> bool {
        ends.iter().all(|(p, end)| {
            let got = self.by_partition.get(p).map_or(&[][..], Vec::as_slice);
            let distinct: std::collections::BTreeSet<i64> = got.iter().copied().collect();
            distinct.len() as i64 == *end && distinct.iter().all(|o| (0..*end).contains(o))
        })
    }

    /// Asserts every record `0..end` of each partition was read exactly once
    /// and in order.
    pub fn assert_exactly_once(&self, ends: &BTreeMap<i32, i64>) {
        for (p, end) in ends {
            let got = self.by_partition.get(p).cloned().unwrap_or_default();
            assert_eq!(
                got,
                (0..*end).collect::<Vec<_>>(),
                "partition {p}: every record once, in order"
            );
        }
        let extra: Vec<_> = self
            .by_partition
            .keys()
            .filter(|p| !ends.contains_key(p))
            .collect();
        assert!(
            extra.is_empty(),
            "records from partitions {extra:?} nobody wrote"
        );
    }

    /// Asserts every record `0..end` of each partition was read, in order,
    /// where a re-delivery may only go back to an earlier point and replay
    /// from there (a rewind), each rewind replaying at most `max_replay`
    /// records. Returns the number of duplicates per partition.
    pub fn assert_complete_with_rewinds(
        &self,
        ends: &BTreeMap<i32, i64>,
        max_replay: usize,
    ) -> BTreeMap<i32, usize> {
        let mut dups = BTreeMap::new();
        for (p, end) in ends {
            let got = self.by_partition.get(p).cloned().unwrap_or_default();
            let mut next = 0i64;
            for &o in &got {
                if o == next {
                    next += 1;
                } else if o < next {
                    let replay = usize::try_from(next - o).unwrap_or(usize::MAX);
                    assert!(
                        replay <= max_replay,
                        "partition {p}: rewound {replay} records (from {next} to {o}), more than one uncommitted batch ({max_replay}): {got:?}"
                    );
                    next = o + 1;
                } else {
                    panic!("partition {p}: skipped from {next} to {o}: {got:?}");
                }
            }
            assert_eq!(next, *end, "partition {p}: read up to the end");
            let distinct: std::collections::BTreeSet<i64> = got.iter().copied().collect();
            assert_eq!(
                distinct.len() as i64,
                *end,
                "partition {p}: no record missing"
            );
            dups.insert(*p, got.len() - distinct.len());
        }
        dups
    }
}

/// A consumer being read from, with what it delivered and what went wrong.
pub struct Reader {
    /// The consumer.
    pub consumer: Consumer,
    /// What it delivered.
    pub reads: Reads,
    /// Commit after every non-empty poll (group members).
    pub commit: bool,
    /// Errors `commit_sync` returned, in order.
    pub commit_errors: Vec<String>,
    /// Errors `poll` returned, in order.
    pub poll_errors: Vec<String>,
}

impl Reader {
    /// Reads from `consumer`; `commit` commits after each non-empty poll.
    pub fn new(consumer: Consumer, commit: bool) -> Reader {
        Reader {
            consumer,
            reads: Reads::default(),
            commit,
            commit_errors: Vec::new(),
            poll_errors: Vec::new(),
        }
    }

    /// One poll (and commit): records go to `reads`, errors to the lists.
    pub async fn step(&mut self) {
        match self.consumer.poll(Duration::from_millis(100)).await {
            Ok(records) => {
                for r in &records {
                    self.reads.push(r);
                }
                if self.commit && !records.is_empty() {
                    if let Err(e) = self.consumer.commit_sync().await {
                        self.commit_errors.push(e.to_string());
                    }
                }
            }
            Err(e) => self.poll_errors.push(e.to_string()),
        }
    }

    /// Polls until `cond` holds over what was read, failing after `LIMIT`.
    pub async fn until(&mut self, what: &str, cond: impl Fn(&Reads) -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !cond(&self.reads) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: read {:?}; poll errors {:?}; commit errors {:?}",
                self.reads.counts(),
                self.poll_errors,
                self.commit_errors
            );
            self.step().await;
        }
    }

    /// Polls until every record below `ends` was delivered.
    pub async fn until_all(&mut self, ends: &BTreeMap<i32, i64>) {
        self.until(&format!("every record below {ends:?}"), |r| r.covers(ends))
            .await;
    }

    /// Polls until at least `n` records were delivered.
    pub async fn until_count(&mut self, n: usize) {
        self.until(&format!("{n} records"), |r| r.len() >= n).await;
    }
}
