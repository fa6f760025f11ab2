//! librdkafka's mock cluster for the suite: a 3-broker cluster in this
//! process (real sockets on loopback), topics made through its API,
//! records written by librdkafka, and the checks every scenario shares.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaApiKey;
use sluice::{Consumer, ConsumerConfig, TopicPartition};
use sluice_fetch::record::ConsumerRecord;
use sluice_integration::unique_name;
use tokio::time::Instant;

/// The number of brokers every scenario's cluster has.
pub const BROKERS: i32 = 3;

/// A mock cluster and its bootstrap list.
pub struct Mock {
    /// The cluster (not `Send`: it stays on the test's own thread).
    pub cluster: MockCluster<'static, DefaultProducerContext>,
    /// Its `bootstrap.servers`.
    pub bootstrap: String,
}

impl Mock {
    /// A new cluster of [`BROKERS`] brokers.
    pub fn start() -> Mock {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
            .with_test_writer()
            .try_init();
        let cluster = MockCluster::new(BROKERS).expect("mock cluster");
        // The mock advertises versions its handlers cannot parse
        // (rdkafka_mock_handlers.c in librdkafka 2.12.1): JoinGroup v6 and
        // SyncGroup v4 are flexible, yet it reads their arrays' counts as
        // int32 (a JoinGroup v6 gets the connection closed); LeaveGroup v3+
        // carries a members array, yet it reads v0's member id. librdkafka's
        // own clients never send those versions. Advertise what it parses.
        for (api, max) in [
            (RDKafkaApiKey::JoinGroup, 5),
            (RDKafkaApiKey::SyncGroup, 3),
            (RDKafkaApiKey::LeaveGroup, 2),
        ] {
            cluster
                .apiversion(api, Some(0), Some(max))
                .expect("set the mock's API versions");
        }
        let bootstrap = cluster.bootstrap_servers();
        Mock { cluster, bootstrap }
    }

    /// A new topic with `partitions` partitions, replicated on every broker.
    pub fn topic(&self, prefix: &str, partitions: i32) -> String {
        let name = unique_name(prefix);
        self.cluster
            .create_topic(&name, partitions, BROKERS)
            .expect("create topic");
        name
    }

    /// Writes `per_partition` records to each of `partitions` partitions with
    /// librdkafka: value `p{partition}-{n}` for the n-th record of a
    /// partition, so offset n carries value n.
    pub fn produce(&self, topic: &str, partitions: i32, per_partition: usize) {
        produce_range(&self.bootstrap, topic, partitions, 0..per_partition);
    }

    /// A sluice consumer configuration for this cluster over `pairs`.
    pub fn config(&self, pairs: &[(&str, &str)]) -> ConsumerConfig {
        let mut all = vec![
            ("bootstrap.servers", self.bootstrap.as_str()),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("fetch.max.wait.ms", "100"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
            ("retry.backoff.ms", "50"),
            ("reconnect.backoff.ms", "50"),
            ("request.timeout.ms", "5000"),
        ];
        all.extend_from_slice(pairs);
        ConsumerConfig::from_pairs(all).expect("consumer config")
    }

    /// The partition's leader, per the cluster's metadata as librdkafka sees it.
    pub fn set_leader(&self, topic: &str, partition: i32, broker: i32) {
        self.cluster
            .partition_leader(topic, partition, Some(broker))
            .expect("move leader");
    }
}

/// Writes records `range` of each partition (see [`Mock::produce`]).
pub fn produce_range(bootstrap: &str, topic: &str, partitions: i32, range: std::ops::Range<usize>) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("acks", "all")
        .create()
        .expect("librdkafka producer");
    for n in range {
        for p in 0..partitions {
            let value = format!("p{p}-{n}");
            let key = format!("k{n}");
            let mut record = BaseRecord::to(topic).partition(p).payload(&value).key(&key);
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
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("librdkafka delivered every record");
}

/// Every record a scenario's consumers were handed, in the order handed.
#[derive(Debug, Default)]
pub struct Reads {
    /// Per partition, the offsets in the order they were handed out.
    pub by_partition: BTreeMap<i32, Vec<i64>>,
}

impl Reads {
    /// Takes note of `records`, checking each value is the one written at its offset.
    pub fn add(&mut self, records: &[ConsumerRecord]) {
        for r in records {
            let value = r.value.as_deref().expect("a value");
            assert_eq!(
                value,
                format!("p{}-{}", r.partition, r.offset).as_bytes(),
                "p{} offset {}: wrong value",
                r.partition,
                r.offset
            );
            self.by_partition
                .entry(r.partition)
                .or_default()
                .push(r.offset);
        }
    }

    /// How many records were handed out in all.
    pub fn total(&self) -> usize {
        self.by_partition.values().map(Vec::len).sum()
    }

    /// Whether every offset `0..per_partition` of `partitions` partitions was handed out.
    pub fn complete(&self, partitions: i32, per_partition: usize) -> bool {
        (0..partitions).all(|p| {
            let seen = self.by_partition.get(&p).map_or(&[][..], Vec::as_slice);
            let mut have = vec![false; per_partition];
            for &o in seen {
                if let Some(slot) = usize::try_from(o).ok().and_then(|o| have.get_mut(o)) {
                    *slot = true;
                }
            }
            have.iter().all(|&h| h)
        })
    }

    /// Asserts every offset of every partition was handed out, nothing else,
    /// and per partition in order: each offset is the one after the previous,
    /// except where the consumer went back (a rewind, counted and returned).
    /// `max_rewind` bounds how far back any rewind went.
    pub fn assert_all_in_order(
        &self,
        partitions: i32,
        per_partition: usize,
        max_rewind: i64,
    ) -> usize {
        assert!(
            self.complete(partitions, per_partition),
            "not every record was read: {:?}",
            self.summary()
        );
        let mut rewinds = 0;
        for (p, offsets) in &self.by_partition {
            assert!(*p < partitions, "records of a partition never written: {p}");
            let mut prev: Option<i64> = None;
            for &o in offsets {
                assert!(
                    (0..per_partition as i64).contains(&o),
                    "p{p}: offset {o} was never written"
                );
                if let Some(prev) = prev {
                    if o != prev + 1 {
                        assert!(
                            o <= prev && prev - o < max_rewind,
                            "p{p}: offset {o} after {prev} (a gap, or a rewind further than {max_rewind})"
                        );
                        rewinds += 1;
                    }
                }
                prev = Some(o);
            }
        }
        rewinds
    }

    /// Per partition: records handed out and the highest offset.
    pub fn summary(&self) -> BTreeMap<i32, (usize, i64)> {
        self.by_partition
            .iter()
            .map(|(p, o)| (*p, (o.len(), o.iter().copied().max().unwrap_or(-1))))
            .collect()
    }
}

/// Polls `consumer` into `reads` until `done` says so or `within` passes
/// (then panics with what was read).
pub async fn poll_until(
    consumer: &mut Consumer,
    reads: &mut Reads,
    within: Duration,
    mut done: impl FnMut(&Reads) -> bool,
) {
    let deadline = Instant::now() + within;
    while !done(reads) {
        assert!(
            Instant::now() < deadline,
            "gave up after {within:?}: read {:?}",
            reads.summary()
        );
        let records = consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll");
        reads.add(&records);
    }
}

/// The partitions `0..partitions` of `topic`.
pub fn partitions(topic: &str, partitions: i32) -> Vec<TopicPartition> {
    (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect()
}
