//! Helpers for the integration suite: where the broker is, unique names, and
//! topics that are created for one test and deleted after it.
//!
//! The suite needs a running broker: `scripts/test.sh` starts tansu and sets
//! `SLUICE_BOOTSTRAP`; `KAFKA_BOOTSTRAP` points it at any other broker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde_json::Value;
use sluice_fetch::offsets::OffsetSpec;
use sluice_fetch::{FetchClient, FetchConfig};
use sluice_group::GroupConfig;
use sluice_produce::{Producer, ProducerConfig, ProducerRecord};
use sluice_wire::KafkaCode;
use sluice_wire::connection::{Connection, ConnectionConfig};
use tokio::time::Instant;

/// The broker's bootstrap address (`SLUICE_BOOTSTRAP`, else `KAFKA_BOOTSTRAP`).
///
/// Panics with instructions when neither is set: the suite must not pass
/// without having talked to a broker.
pub fn bootstrap() -> String {
    std::env::var("SLUICE_BOOTSTRAP")
        .or_else(|_| std::env::var("KAFKA_BOOTSTRAP"))
        .expect("no broker: run scripts/test.sh, or set KAFKA_BOOTSTRAP=host:port")
}

/// A name no other test (or earlier run) uses: `prefix-pid-millis-n`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{millis}-{n}", std::process::id())
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repo")
        .to_path_buf()
}

/// The `sluice` binary (scripts/test.sh builds it before the suite; set
/// `SLUICE_BIN` to use another).
pub fn sluice_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("SLUICE_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| repo_root().join("target"), PathBuf::from);
    let bin = target.join("debug").join("sluice");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p sluice-cli` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Runs a peer-client script from `tests/peers/` with python3 and returns its
/// stdout; panics with its stderr if it fails.
pub fn run_peer(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/peers").join(script))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("peer output is UTF-8")
}

/// Writes `count` JSON order events numbered from `first` with librdkafka
/// (tests/peers/rdkafka_orders.py; `one_per_batch` makes every record its
/// own batch) and returns the truth the batch computations must reproduce:
/// `{"count": N, "sum": total amount, "by_user": {user: sum}}`.
pub fn orders(topic: &str, count: usize, first: usize, one_per_batch: bool) -> Value {
    let mode = if one_per_batch {
        "one-per-batch"
    } else {
        "batched"
    };
    let truth = run_peer(
        "rdkafka_orders.py",
        &[
            &bootstrap(),
            topic,
            &count.to_string(),
            &first.to_string(),
            mode,
        ],
    );
    serde_json::from_str(truth.trim()).expect("truth JSON")
}

/// Reads JSON result records from `topic` (straight from the broker) until
/// `done` says enough (60 s at most).
pub async fn results_until(topic: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let config = FetchConfig::default()
        .with_pairs([
            ("bootstrap.servers", bootstrap().as_str()),
            ("fetch.max.wait.ms", "100"),
        ])
        .unwrap();
    let mut client = FetchClient::connect(config).await.unwrap();
    let tps = client.partitions_for(topic).await.unwrap();
    client.assign(tps.clone());
    for tp in &tps {
        client.seek_to(tp, OffsetSpec::Earliest).unwrap();
    }
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&out) {
        assert!(
            Instant::now() < deadline,
            "only {} results after 60 s",
            out.len()
        );
        for r in client.poll(Duration::from_millis(200)).await.unwrap() {
            out.push(serde_json::from_slice(r.value.as_deref().unwrap()).unwrap());
        }
    }
    client.close().await;
    out
}

/// The input records `sluice batch` results say they cover (their `records`).
pub fn records_in(results: &[Value]) -> u64 {
    results.iter().map(|r| r["records"].as_u64().unwrap()).sum()
}

/// A child process killed on drop, so a failed assertion leaves no process
/// behind.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sluice batch` reading `input` as `group` (bootstrapping from
/// `bootstrap`) in batches of `batch_size` records (linger 200 ms), computing
/// `stats:amount` and `sum-by:user:amount` into `output` with acks=all;
/// `exit` adds `-e` (end once drained).
pub fn batch_command(
    bootstrap: &str,
    batch_size: usize,
    input: &str,
    group: &str,
    output: &str,
    exit: bool,
) -> Command {
    let mut cmd = Command::new(sluice_bin());
    cmd.args([
        "batch", "-b", bootstrap, "-t", input, "-G", group, "--to", output,
    ])
    .args([
        "--batch-size",
        &batch_size.to_string(),
        "--linger-ms",
        "200",
    ])
    .args([
        "--compute",
        "stats:amount",
        "--compute",
        "sum-by:user:amount",
    ])
    .args([
        "-X",
        "session.timeout.ms=6000",
        "-X",
        "heartbeat.interval.ms=500",
    ])
    .args(["-X", "producer.acks=all"]);
    if exit {
        cmd.arg("-e");
    }
    cmd
}

/// The configuration of a group member in the suite, bootstrapping from
/// `bootstrap`: earliest, fetch.max.wait.ms 200, session.timeout.ms 6000
/// (tansu's first JoinGroup waits about half of it), heartbeats every
/// second, `strategy` as assignor, no auto-commit.
pub fn member_configs(bootstrap: &str, group: &str, strategy: &str) -> (FetchConfig, GroupConfig) {
    let fetch = FetchConfig::default()
        .with_pairs([
            ("bootstrap.servers", bootstrap),
            ("client.id", "sluice-member"),
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "200"),
        ])
        .unwrap();
    let mut g = GroupConfig::default();
    for (k, v) in [
        ("group.id", group),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "1000"),
        ("partition.assignment.strategy", strategy),
        ("enable.auto.commit", "false"),
    ] {
        assert!(g.set(k, v).unwrap());
    }
    (fetch, g)
}

/// Connects to the bootstrap broker with a client id naming the test.
pub async fn connect(client_id: &str) -> Connection {
    let config = ConnectionConfig {
        client_id: client_id.to_string(),
        ..ConnectionConfig::default()
    };
    Connection::connect(&bootstrap(), config)
        .await
        .expect("connect to the broker")
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A topic created for one test. Call [`TempTopic::delete`] at the end.
pub struct TempTopic {
    /// The topic's name.
    pub name: String,
    /// Its topic id (nil when the broker's CreateTopics version has none).
    pub id: uuid::Uuid,
    conn: Connection,
}

impl TempTopic {
    /// Creates a uniquely named topic with `partitions` partitions.
    pub async fn create(conn: &Connection, prefix: &str, partitions: i32) -> TempTopic {
        let name = unique_name(prefix);
        let topic = CreatableTopic::default()
            .with_name(topic_name(&name))
            .with_num_partitions(partitions)
            .with_replication_factor(1);
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(10_000);
        let response = conn.send(request).await.expect("CreateTopics");
        let created = response
            .topics
            .first()
            .expect("CreateTopics answers for the topic");
        assert_eq!(
            KafkaCode(created.error_code),
            KafkaCode::NONE,
            "creating {name}: {:?}",
            created.error_message
        );
        TempTopic {
            name,
            id: created.topic_id,
            conn: conn.clone(),
        }
    }

    /// The topic's name as kafka-protocol wants it.
    pub fn topic_name(&self) -> TopicName {
        topic_name(&self.name)
    }

    /// Deletes the topic over `conn` (when the first connection is gone,
    /// e.g. after a broker restart).
    pub async fn delete_with(mut self, conn: &Connection) {
        self.conn = conn.clone();
        self.delete().await
    }

    /// Deletes the topic and checks the broker agreed.
    pub async fn delete(self) {
        let request = DeleteTopicsRequest::default()
            .with_topic_names(vec![topic_name(&self.name)])
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(&self.name))),
            ])
            .with_timeout_ms(10_000);
        let response = self.conn.send(request).await.expect("DeleteTopics");
        assert!(
            !response.responses.is_empty(),
            "DeleteTopics answered nothing"
        );
        for r in &response.responses {
            assert_eq!(
                KafkaCode(r.error_code),
                KafkaCode::NONE,
                "deleting {}",
                self.name
            );
        }
    }
}

/// Produces records `first..first + n` to partition 0, one record per batch
/// (our encoder, uncompressed), value `v{i}` and timestamp
/// `1_700_000_000_000 + i`; checks each lands at offset `i`.
pub async fn produce_single_batches(conn: &Connection, topic: &TempTopic, first: i64, n: i64) {
    use kafka_protocol::messages::ProduceRequest;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use sluice_wire::records::{BatchBuilder, Compression};
    for i in first..first + n {
        let mut b = BatchBuilder::new(Compression::None);
        b.push(
            1_700_000_000_000 + i,
            None,
            Some(format!("v{i}").as_bytes()),
            &[],
        );
        let partition = PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(b.build(0).expect("encode")));
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic.topic_name())
                    .with_topic_id(topic.id)
                    .with_partition_data(vec![partition]),
            ]);
        let response = conn.send(request).await.expect("Produce");
        let p = &response.responses[0].partition_responses[0];
        assert_eq!(KafkaCode(p.error_code), KafkaCode::NONE, "produce {i}");
        assert_eq!(p.base_offset, i, "record {i} landed at its offset");
    }
}

/// Writes `per_partition` records to each of `partitions` of
/// `topic` with sluice's producer (value `p{p}-{i}`, key `k{i}`), and checks
/// each partition's acknowledged offsets are consecutive.
pub async fn produce_to(
    bootstrap: &str,
    topic: &str,
    partitions: &[i32],
    first: usize,
    per_partition: usize,
) {
    produce_to_with(bootstrap, &[], topic, partitions, first, per_partition).await
}

/// [`produce_to`] with more producer settings (security keys, say).
pub async fn produce_to_with(
    bootstrap: &str,
    settings: &[(&str, &str)],
    topic: &str,
    partitions: &[i32],
    first: usize,
    per_partition: usize,
) {
    let config = ProducerConfig::default()
        .with_pairs(
            [("bootstrap.servers", bootstrap), ("linger.ms", "5")]
                .into_iter()
                .chain(settings.iter().copied()),
        )
        .expect("producer config");
    let producer = Producer::connect(config).await.expect("producer");
    let mut pending = Vec::new();
    for i in first..first + per_partition {
        for &p in partitions {
            let record = ProducerRecord::new(topic, format!("p{p}-{i}"))
                .key(format!("k{i}"))
                .partition(p);
            pending.push((p, producer.send(record)));
        }
    }
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, delivery) in pending {
        let meta = delivery.await.expect("delivered");
        assert_eq!(meta.partition, p);
        offsets.entry(p).or_default().push(meta.offset);
    }
    for (p, o) in &offsets {
        assert!(
            o.windows(2).all(|w| w[1] == w[0] + 1),
            "partition {p}: acknowledged offsets are consecutive: {o:?}"
        );
    }
    producer.close().await;
}
