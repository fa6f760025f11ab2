//! The benchmark broker is only worth its numbers if every client reads all
//! of it correctly: librdkafka (rust-rdkafka), rskafka, krafka and sluice each read
//! every record of a two-partition topic, offsets contiguous, values the
//! right size, for each codec scripts/bench.sh uses.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sluice_testkit::bench_broker::{BenchBroker, DataSet, TOPIC};
use sluice_wire::records::Compression;

const RECORDS: u64 = 20_001;
const SIZE: usize = 100;
const PARTITIONS: i32 = 2;

fn set(compression: Compression) -> DataSet {
    DataSet {
        records: RECORDS,
        record_size: SIZE,
        partitions: PARTITIONS,
        compression,
        batch_records: 700,
    }
}

/// Next offset expected per partition; panics on a gap or repeat.
#[derive(Default)]
struct Seen {
    next: HashMap<i32, i64>,
    records: u64,
}

impl Seen {
    fn add(&mut self, client: &str, partition: i32, offset: i64, value_len: usize) {
        let next = self.next.entry(partition).or_insert(0);
        assert_eq!(offset, *next, "{client}: partition {partition}");
        assert_eq!(
            value_len, SIZE,
            "{client}: value size at {partition}/{offset}"
        );
        *next += 1;
        self.records += 1;
    }

    fn check(&self, client: &str) {
        assert_eq!(self.records, RECORDS, "{client} read every record");
        let per: Vec<i64> = (0..PARTITIONS).map(|p| self.next[&p]).collect();
        assert_eq!(
            per,
            vec![10_001, 10_000],
            "{client}: records split over partitions"
        );
    }
}

fn rdkafka_reads(bootstrap: String) -> Seen {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "bench-broker-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Seen::default();
    while seen.records < RECORDS {
        assert!(
            Instant::now() < deadline,
            "librdkafka read only {}",
            seen.records
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e)) => panic!("librdkafka: {e}"),
            Some(Ok(m)) => seen.add("librdkafka", m.partition(), m.offset(), m.payload_len()),
        }
    }
    seen
}

async fn rskafka_reads(bootstrap: String) -> Seen {
    use rskafka::client::ClientBuilder;
    use rskafka::client::partition::UnknownTopicHandling;
    let client = ClientBuilder::new(vec![bootstrap]).build().await.unwrap();
    let mut seen = Seen::default();
    for p in 0..PARTITIONS {
        let pc = client
            .partition_client(TOPIC, p, UnknownTopicHandling::Error)
            .await
            .unwrap();
        let mut offset = 0;
        loop {
            let (records, high_watermark) =
                pc.fetch_records(offset, 1..100_000, 100).await.unwrap();
            for r in records {
                let len = r.record.value.map_or(0, |v| v.len());
                seen.add("rskafka", p, r.offset, len);
                offset = r.offset + 1;
            }
            if offset >= high_watermark {
                break;
            }
        }
    }
    seen
}

async fn krafka_reads(bootstrap: String) -> Seen {
    use krafka::Kafka;
    use krafka::consumer::AutoOffsetReset;
    let kafka = Kafka::builder(bootstrap).connect().await.unwrap();
    let consumer = kafka
        .consumer_without_group()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .metrics_push(false)
        // Small fetches, so reads span many requests and batch boundaries.
        .max_partition_fetch_bytes(50_000)
        .build()
        .await
        .unwrap();
    consumer
        .assign(TOPIC, (0..PARTITIONS).collect())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Seen::default();
    while seen.records < RECORDS {
        assert!(
            Instant::now() < deadline,
            "krafka read only {}",
            seen.records
        );
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            let len = r.value.as_ref().map_or(0, |v| v.len());
            seen.add("krafka", r.partition, r.offset, len);
        }
    }
    seen
}

async fn sluice_reads(bootstrap: String) -> Seen {
    use sluice::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .auto_offset_reset(OffsetReset::Earliest)
        // Small fetches, so reads span many requests and batch boundaries.
        .set("max.partition.fetch.bytes", "50000")
        .build()
        .unwrap();
    let mut consumer = Consumer::new(config).unwrap();
    let partitions: Vec<_> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect();
    consumer.assign(&partitions).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Seen::default();
    while seen.records < RECORDS {
        assert!(
            Instant::now() < deadline,
            "sluice read only {}",
            seen.records
        );
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            let len = r.value.as_ref().map_or(0, |v| v.len());
            seen.add("sluice", r.partition, r.offset, len);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_rskafka_krafka_and_sluice_read_every_record_in_every_codec() {
    for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let broker = BenchBroker::start(set(codec), "127.0.0.1:0").await.unwrap();
        let addr = broker.addr();
        let rd = {
            let addr = addr.clone();
            tokio::task::spawn_blocking(move || rdkafka_reads(addr))
        };
        rd.await.unwrap().check(&format!("librdkafka {codec}"));
        rskafka_reads(addr.clone())
            .await
            .check(&format!("rskafka {codec}"));
        krafka_reads(addr.clone())
            .await
            .check(&format!("krafka {codec}"));
        sluice_reads(addr).await.check(&format!("sluice {codec}"));
    }
}
