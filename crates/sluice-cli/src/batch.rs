//! `sluice batch`: consume a topic as a group member, compute over batches,
//! write one result record per batch to another topic, commit after each
//! result is acknowledged; with `--exactly-once`, write each batch's result
//! and commit its offsets in one transaction.

use std::io::IsTerminal;
use std::time::Instant;

use clap::Args;
use serde_json::{Map, Value, json};
use sluice_batch::{
    Batch, BatchConfig, BatchError, Computation, Guarantee, Output, Pipeline, sync_fn,
};
use sluice_fetch::FetchConfig;
use sluice_group::{GroupConfig, GroupConsumer};
use sluice_produce::{Producer, ProducerConfig};

use crate::properties::settings;

/// Arguments of `sluice batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Bootstrap broker(s), `host:port[,host:port...]`.
    #[arg(short = 'b', long = "brokers", env = "SLUICE_BROKERS")]
    brokers: Option<String>,
    /// Input topic (repeatable).
    #[arg(short = 't', long = "topic", required = true)]
    topics: Vec<String>,
    /// Consumer group.
    #[arg(short = 'G', long = "group")]
    group: String,
    /// Output topic for the results.
    #[arg(long = "to")]
    to: String,
    /// Records per batch (batch.size).
    #[arg(long = "batch-size")]
    batch_size: Option<usize>,
    /// Bytes of keys and values per batch (batch.bytes).
    #[arg(long = "batch-bytes")]
    batch_bytes: Option<usize>,
    /// Close a batch this long after its first record (linger.ms).
    #[arg(long = "linger-ms")]
    linger_ms: Option<u64>,
    /// Batch per `partition` or per `key` instead of across partitions.
    #[arg(long = "group-by")]
    group_by: Option<String>,
    /// What to compute: count, stats:FIELD, sum-by:KEYFIELD:FIELD,
    /// dedupe:FIELD, filter (repeatable: the result then has one object per
    /// spec).
    #[arg(long = "compute", required = true)]
    compute: Vec<String>,
    /// Where a group without committed offsets starts: earliest or latest.
    #[arg(short = 'o', long = "offset", default_value = "earliest")]
    offset: String,
    /// End once the input is drained (every assigned partition at the end it
    /// had when first seen), after the last result is committed.
    #[arg(short = 'e', long = "exit")]
    exit_at_end: bool,
    /// A configuration property, `key=value` (repeatable): consumer, group
    /// and batch keys (batch.size, batch.bytes, linger.ms, batch.group.by,
    /// batch.retries, ...); producer keys with a `producer.` prefix
    /// (`producer.compression.type=lz4`).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics while running
    /// (`127.0.0.1:9464`; port 0 picks a free one). The bound address is
    /// printed to stderr as `sluice: metrics on http://ADDR/metrics`; the
    /// names are listed in the docs of `sluice_batch::render_prometheus`.
    #[arg(long = "metrics-addr", value_name = "ADDR")]
    metrics_addr: Option<String>,
    /// Exactly-once (processing.guarantee=exactly_once_v2): each batch's
    /// result and its input offsets commit in one transaction; the input is
    /// read with isolation.level=read_committed. Needs a broker with
    /// transactions: fails at start, before consuming, if it has none.
    #[arg(long = "exactly-once")]
    exactly_once: bool,
    /// The results producer's transactional.id with --exactly-once (default
    /// `sluice-batch-GROUP`, or `sluice-batch-GROUP-INSTANCE` with
    /// group.instance.id). It must be the same across restarts of one
    /// instance, so the restarted instance fences the old one, and differ
    /// between instances running at once, which would fence each other.
    #[arg(
        long = "transactional-id",
        value_name = "ID",
        requires = "exactly_once"
    )]
    transactional_id: Option<String>,
}

/// The default `transactional.id` of `--exactly-once`: derived from what
/// identifies the instance across restarts (the group, and the static
/// member's `group.instance.id` when set), never from anything random, so a
/// restart fences the previous process and aborts its open transaction.
pub fn default_transactional_id(group: &str, instance: Option<&str>) -> String {
    match instance {
        Some(i) => format!("sluice-batch-{group}-{i}"),
        None => format!("sluice-batch-{group}"),
    }
}

/// The configurations `sluice batch` builds from its arguments.
struct Configs {
    fetch: FetchConfig,
    group: GroupConfig,
    batch: BatchConfig,
    producer: ProducerConfig,
}

fn configs(args: &BatchArgs) -> Result<Configs, Box<dyn std::error::Error>> {
    let mut c = Configs {
        fetch: FetchConfig::default(),
        group: GroupConfig {
            group_id: args.group.clone(),
            enable_auto_commit: false,
            ..GroupConfig::default()
        },
        batch: BatchConfig::default(),
        producer: ProducerConfig::default(),
    };
    c.fetch.client_id = "sluice-batch".into();
    c.producer.set("client.id", "sluice-batch")?;
    let reset = match args.offset.as_str() {
        "earliest" | "beginning" => "earliest",
        "latest" | "end" => "latest",
        other => return Err(format!("-o {other:?}: expected earliest or latest").into()),
    };
    c.fetch.set("auto.offset.reset", reset)?;
    let flags = [
        ("batch.size", args.batch_size.map(|v| v.to_string())),
        ("batch.bytes", args.batch_bytes.map(|v| v.to_string())),
        ("linger.ms", args.linger_ms.map(|v| v.to_string())),
        ("batch.group.by", args.group_by.clone()),
    ];
    for (key, value) in flags {
        if let Some(v) = value {
            c.batch.set(key, &v)?;
        }
    }
    // The `producer.` keys last, so that they override the shared ones for
    // the results producer whatever their order.
    let (for_producer, shared): (Vec<_>, Vec<_>) =
        settings(args.brokers.as_deref(), &args.properties)?
            .into_iter()
            .partition(|(key, _)| key.starts_with("producer."));
    // Exactly-once reads committed input unless -X says otherwise (which the
    // pipeline then refuses, naming the key).
    let eos_asked = args.exactly_once
        || shared
            .iter()
            .any(|(k, v)| *k == "processing.guarantee" && *v == "exactly_once_v2");
    if eos_asked {
        c.batch.set("processing.guarantee", "exactly_once_v2")?;
        c.fetch.set("isolation.level", "read_committed")?;
    }
    for (key, value) in shared.into_iter().chain(for_producer) {
        if let Some(key) = key.strip_prefix("producer.") {
            c.producer.set(key, value)?;
        } else if sluice_wire::security::SECURITY_KEYS.contains(&key)
            || matches!(key, "bootstrap.servers" | "metadata.broker.list")
        {
            // How to reach the cluster holds for the results producer too
            // (`producer.KEY` still overrides it for the producer alone).
            c.fetch.set(key, value)?;
            c.producer.set(key, value)?;
        } else if key == "enable.auto.commit" {
            return Err(
                "enable.auto.commit: sluice batch commits after each result is acknowledged".into(),
            );
        } else if !c.batch.set(key, value)?
            && !c.group.set(key, value)?
            && !c.fetch.set(key, value)?
        {
            return Err(sluice_fetch::config::unknown_key(key).into());
        }
    }
    if args.exactly_once && c.batch.guarantee != Guarantee::ExactlyOnceV2 {
        return Err("--exactly-once conflicts with -X processing.guarantee=at_least_once".into());
    }
    if c.batch.guarantee == Guarantee::ExactlyOnceV2 {
        let id = match (&args.transactional_id, &c.producer.transactional_id) {
            (Some(flag), _) => flag.clone(),
            (None, Some(set)) => set.clone(),
            (None, None) => {
                default_transactional_id(&args.group, c.group.group_instance_id.as_deref())
            }
        };
        c.producer.set("transactional.id", &id)?;
    }
    Ok(c)
}

/// A batch's result: the computations' fields (nested under each spec when
/// there are several), the record count and the offset ranges covered.
pub fn result(computations: &[Computation], batch: &Batch) -> Value {
    // Every record's JSON is read once for all the computations.
    let results = sluice_batch::compute::run_all(computations, batch.iter());
    let mut out: Map<String, Value> = if computations.len() == 1 {
        results.into_iter().next().unwrap_or_default()
    } else {
        computations
            .iter()
            .zip(results)
            .map(|(c, r)| (c.to_string(), Value::Object(r)))
            .collect()
    };
    out.insert("records".into(), json!(batch.len()));
    out.insert(
        "ranges".into(),
        batch
            .ranges()
            .iter()
            .map(|r| json!({"topic": &*r.topic, "partition": r.partition, "first": r.first, "last": r.last}))
            .collect(),
    );
    Value::Object(out)
}

/// Runs `sluice batch`.
pub async fn run(args: BatchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let computations = args
        .compute
        .iter()
        .map(|s| s.parse::<Computation>())
        .collect::<Result<Vec<_>, BatchError>>()?;
    let c = configs(&args)?;
    let metrics = crate::metrics_server::start(args.metrics_addr.as_deref()).await?;
    let exactly_once = c.batch.guarantee == Guarantee::ExactlyOnceV2;
    let producer = Producer::connect(c.producer).await?;
    if exactly_once {
        // Before joining the group: a broker without transactions (tansu has
        // no EndTxn) fails here, naming the API, before anything is consumed;
        // an older instance with the same transactional.id is fenced.
        producer.init_transactions().await?;
    }
    let mut consumer = GroupConsumer::new(c.fetch, c.group).await?;
    consumer.subscribe(args.topics.iter().cloned());
    let mut pipeline = Pipeline::new(consumer, Some((producer, args.to.clone())), c.batch)?;
    if let Some(publisher) = metrics {
        pipeline.publish_metrics(publisher);
    }

    let mut f = sync_fn(move |batch: &Batch| Ok(vec![Output::json(&result(&computations, batch))]));

    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut report = move |p: &sluice_batch::Progress, consumer: &GroupConsumer| {
        if !terminal || last_report.elapsed().as_millis() < 1000 {
            return;
        }
        last_report = Instant::now();
        let lag: i64 = consumer.lag().values().flatten().sum();
        let rate = p.records as f64 / started.elapsed().as_secs_f64().max(1e-3);
        eprint!(
            "\r{} records in {} batches, {:.0} records/s, lag {lag}   ",
            p.records, p.batches, rate
        );
    };
    let outcome = pipeline.run(&mut f, args.exit_at_end, &mut report).await;
    let closed = pipeline.close().await;
    let progress = outcome?;
    closed?;
    if terminal {
        eprintln!(
            "\r{} records in {} batches, {} results written, {} retries, {:.1} s",
            progress.records,
            progress.batches,
            progress.results,
            progress.retries,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use sluice_fetch::IsolationLevel;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BatchArgs,
    }

    fn parse(extra: &[&str]) -> Result<Configs, Box<dyn std::error::Error>> {
        let base = [
            "sluice",
            "-b",
            "h:1",
            "-t",
            "in",
            "-G",
            "g",
            "--to",
            "out",
            "--compute",
            "count",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(extra))?;
        configs(&cli.args)
    }

    #[test]
    fn exactly_once_reads_committed_with_a_stable_transactional_id() {
        let c = parse(&["--exactly-once"]).unwrap();
        assert_eq!(c.batch.guarantee, Guarantee::ExactlyOnceV2);
        assert_eq!(c.fetch.isolation_level, IsolationLevel::ReadCommitted);
        assert_eq!(
            c.producer.transactional_id.as_deref(),
            Some("sluice-batch-g")
        );
        let c = parse(&["--exactly-once", "-X", "group.instance.id=a"]).unwrap();
        assert_eq!(
            c.producer.transactional_id.as_deref(),
            Some("sluice-batch-g-a")
        );
        let c = parse(&["--exactly-once", "--transactional-id", "mine"]).unwrap();
        assert_eq!(c.producer.transactional_id.as_deref(), Some("mine"));
        let c = parse(&["-X", "processing.guarantee=exactly_once_v2"]).unwrap();
        assert_eq!(
            c.producer.transactional_id.as_deref(),
            Some("sluice-batch-g")
        );
        assert_eq!(c.fetch.isolation_level, IsolationLevel::ReadCommitted);
    }

    #[test]
    fn at_least_once_stays_the_default_and_conflicts_are_refused() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.batch.guarantee, Guarantee::AtLeastOnce);
        assert_eq!(c.producer.transactional_id, None);
        assert!(parse(&["--exactly-once", "-X", "processing.guarantee=at_least_once"]).is_err());
        assert!(parse(&["--transactional-id", "x"]).is_err());
    }
}
