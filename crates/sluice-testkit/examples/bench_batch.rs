//! The batch job written with a peer client, for comparison with
//! `sluice batch` (scripts/bench/batch.py runs both): join a group on
//! `--topic`, cut the records into batches of `--batch-size`, compute
//! `stats:amount` and `sum-by:user:amount` over each batch, produce the
//! result to `--to` and wait for its acknowledgement, then commit the
//! batch's offsets; stop after `--records` records. The computations are
//! sluice's own (`compute::fold_values`, each value read once for both, as
//! `sluice batch` does), and so is the result's shape, so the runner checks
//! every client's results the same way and the clients are what differs.
//!
//! - `rdkafka`: librdkafka through rust-rdkafka, `StreamConsumer` +
//!   `FutureProducer`, a synchronous commit of the batch's offsets.
//! - `krafka`: `Kafka::consumer(group)` + `poll` + `Producer::send` +
//!   `commit_offsets`.
//!
//! ```text
//! cargo run --release -p sluice-testkit --example bench_batch -- --client rdkafka \
//!     --bootstrap 127.0.0.1:9092 --topic events --to results --group g1 --records 1000000
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use serde_json::{Map, Value, json};
use sluice::batch::compute::{Computation, fold_values};

/// Which client runs the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Client {
    Rdkafka,
    Krafka,
}

/// Run the batch job over `--records` records and exit.
#[derive(Debug, Parser)]
struct Args {
    /// The client.
    #[arg(long, value_enum)]
    client: Client,
    /// host:port of the broker.
    #[arg(long)]
    bootstrap: String,
    /// The input topic.
    #[arg(long)]
    topic: String,
    /// The results topic.
    #[arg(long)]
    to: String,
    /// The consumer group.
    #[arg(long)]
    group: String,
    /// Records in the input topic (the job stops after reading them all).
    #[arg(long)]
    records: u64,
    /// Records per batch.
    #[arg(long, default_value_t = 20_000)]
    batch_size: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let job = async {
        let limit = Duration::from_secs(args.timeout_s);
        let job = async {
            match args.client {
                Client::Rdkafka => rdkafka_job(&args).await,
                Client::Krafka => krafka_job(&args).await,
            }
        };
        tokio::time::timeout(limit, job)
            .await
            .unwrap_or_else(|_| Err(format!("not done after {limit:?}")))
    };
    let result = runtime.block_on(job);
    match result {
        Ok(batches) => println!(
            "{{\"client\":\"{}\",\"records\":{},\"batches\":{batches}}}",
            format!("{:?}", args.client).to_lowercase(),
            args.records
        ),
        Err(e) => {
            eprintln!("bench_batch: {e}");
            std::process::exit(1);
        }
    }
}

/// One batch being collected: the values, and per partition the first and
/// last offsets (the result's `ranges`, and the commit).
#[derive(Default)]
struct Collecting {
    values: Vec<Option<Bytes>>,
    ranges: BTreeMap<i32, (i64, i64)>,
}

impl Collecting {
    fn push(&mut self, partition: i32, offset: i64, value: Option<Bytes>) {
        self.values.push(value);
        self.ranges
            .entry(partition)
            .and_modify(|r| r.1 = offset)
            .or_insert((offset, offset));
    }

    /// The result record: the shape `sluice batch` writes for the same two
    /// computations, computed with `sluice_batch::compute::fold_values` (each value's
    /// JSON read once for both, as `sluice batch` does), so the clients,
    /// not the computation, are what differs.
    fn result(&self, topic: &str) -> Vec<u8> {
        let computations = [
            Computation::Stats("amount".into()),
            Computation::SumBy("user".into(), "amount".into()),
        ];
        let values = self.values.iter().map(|v| v.as_deref());
        let mut out: Map<String, Value> = computations
            .iter()
            .zip(fold_values(&computations, values))
            .map(|(c, r)| (c.to_string(), Value::Object(r.unwrap_or_default())))
            .collect();
        let ranges: Vec<Value> = self
            .ranges
            .iter()
            .map(|(p, (first, last))| {
                json!({"topic": topic, "partition": p, "first": first, "last": last})
            })
            .collect();
        out.insert("records".into(), json!(self.values.len()));
        out.insert("ranges".into(), Value::Array(ranges));
        Value::Object(out).to_string().into_bytes()
    }
}

async fn rdkafka_job(args: &Args) -> Result<u64, String> {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        // As in the consume benchmark: librdkafka's default (1000 ms) sleeps
        // whenever its prefetch queue fills.
        .set("fetch.queue.backoff.ms", "1")
        .create()
        .map_err(|e| e.to_string())?;
    consumer
        .subscribe(&[args.topic.as_str()])
        .map_err(|e| e.to_string())?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("linger.ms", "5")
        .create()
        .map_err(|e| e.to_string())?;
    let (mut seen, mut batches) = (0u64, 0u64);
    let mut batch = Collecting::default();
    while seen < args.records {
        let m = consumer.recv().await.map_err(|e| e.to_string())?;
        batch.push(
            m.partition(),
            m.offset(),
            m.payload().map(Bytes::copy_from_slice),
        );
        seen += 1;
        if batch.values.len() == args.batch_size || seen == args.records {
            let result = batch.result(&args.topic);
            producer
                .send(
                    FutureRecord::<(), _>::to(&args.to).payload(&result),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| e.to_string())?;
            let mut offsets = TopicPartitionList::new();
            for (p, (_, last)) in &batch.ranges {
                offsets
                    .add_partition_offset(&args.topic, *p, Offset::Offset(last + 1))
                    .map_err(|e| e.to_string())?;
            }
            consumer
                .commit(&offsets, CommitMode::Sync)
                .map_err(|e| e.to_string())?;
            batches += 1;
            batch = Collecting::default();
        }
    }
    Ok(batches)
}

async fn krafka_job(args: &Args) -> Result<u64, String> {
    use krafka::Kafka;
    use krafka::consumer::{AutoOffsetReset, OffsetAndMetadata, TopicPartition};
    use krafka::producer::Record;
    let kafka = Kafka::builder(args.bootstrap.as_str())
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let consumer = kafka
        .consumer(args.group.as_str())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .session_timeout(Duration::from_secs(6))
        .metrics_push(false)
        // tansu 0.6 answers a fetch from inside a batch with the batch after
        // it, and krafka fetches from where it cut a response (after
        // max.poll.records plus its free buffer): with no record limit it
        // never cuts one, so it skips nothing (as in scripts/bench/run.py).
        .max_poll_records(1_000_000_000)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    consumer
        .subscribe([args.topic.as_str()])
        .await
        .map_err(|e| e.to_string())?;
    let producer = kafka
        .producer()
        .linger(Duration::from_millis(5))
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let (mut seen, mut batches) = (0u64, 0u64);
    let mut batch = Collecting::default();
    while seen < args.records {
        let records = consumer
            .poll(Duration::from_millis(500))
            .await
            .map_err(|e| e.to_string())?;
        for r in records {
            batch.push(r.partition, r.offset, r.value);
            seen += 1;
            if batch.values.len() == args.batch_size || seen == args.records {
                let result = batch.result(&args.topic);
                let _acknowledged = producer
                    .send(Record::new(args.to.as_str(), result))
                    .await
                    .map_err(|e| e.to_string())?;
                let offsets: HashMap<TopicPartition, OffsetAndMetadata> = batch
                    .ranges
                    .iter()
                    .map(|(p, (_, last))| {
                        (
                            TopicPartition::new(args.topic.as_str(), *p),
                            OffsetAndMetadata::new(last + 1),
                        )
                    })
                    .collect();
                consumer
                    .commit_offsets(&offsets)
                    .await
                    .map_err(|e| e.to_string())?;
                batches += 1;
                batch = Collecting::default();
            }
        }
    }
    consumer.close().await.map_err(|e| e.to_string())?;
    Ok(batches)
}
