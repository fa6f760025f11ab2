//! One benchmark consumer, four clients: reads a topic's partitions from
//! offset 0 until `--records` records have arrived with sluice, rust-rdkafka
//! (librdkafka), rskafka or krafka, touching every record (value bytes summed,
//! offsets checked to be contiguous per partition), then prints one JSON line
//! with what it measured about itself:
//!
//! ```text
//! {"client":"sluice","records":1000000,"bytes":100000000,"wall_s":0.41,"first_s":0.01,"cpu_s":0.33,"rss_kib":10240}
//! ```
//!
//! `wall_s` runs from just before connecting until the last record, `first_s`
//! until the first (connecting, metadata, offsets, the first fetch); `cpu_s`
//! is user+system time of every thread of the process (getrusage) and
//! `rss_kib` its peak resident set (VmHWM). `scripts/bench.sh` runs it.
//!
//! ```text
//! cargo run --release -p sluice-testkit --example bench_consume -- \
//!     --client rdkafka --bootstrap 127.0.0.1:9092 --topic bench --partitions 8 --records 1000000
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

/// Which client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Client {
    Sluice,
    Rdkafka,
    Rskafka,
    Krafka,
}

/// Read `--records` records of `--topic` from offset 0 and report.
#[derive(Debug, Parser)]
struct Args {
    /// The client to measure.
    #[arg(long, value_enum)]
    client: Client,
    /// host:port of the broker.
    #[arg(long)]
    bootstrap: String,
    /// The topic.
    #[arg(long, default_value = "bench")]
    topic: String,
    /// Its partition count (all are read).
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Records to read before stopping (the topic's size).
    #[arg(long)]
    records: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    /// A configuration key for the client under test (sluice and rdkafka;
    /// krafka takes the fetch sizes, `fetch.max.wait.ms` and
    /// `max.poll.records`), as `key=value` in the Java/librdkafka spelling,
    /// e.g. `check.crcs=false`. Repeatable.
    #[arg(long = "set", value_parser = parse_key_value)]
    settings: Vec<(String, String)>,
    /// A slow application (sluice, rdkafka and krafka): after the first records it
    /// stops polling for this many milliseconds (the client's own tasks and
    /// threads go on), then goes on. For `scripts/bench/slow_app.py`.
    #[arg(long, default_value_t = 0)]
    stall_ms: u64,
    /// A slow application: after each batch of records (a poll for sluice
    /// and krafka, 500 messages for rdkafka) it works this many milliseconds.
    #[arg(long, default_value_t = 0)]
    work_ms: u64,
}

impl Args {
    /// How long the application works after a batch: the one stall after
    /// the first records, then `work_ms` each time.
    fn pause(&self, tally: &Tally, stalled: &mut bool) -> Duration {
        if tally.records == 0 {
            return Duration::ZERO;
        }
        let stall = if *stalled { 0 } else { self.stall_ms };
        *stalled = true;
        Duration::from_millis(stall + self.work_ms)
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

/// What a client saw: records, value bytes, and the next offset expected
/// per partition (a gap or a repeat is an error: the run measured nothing).
#[derive(Debug, Default)]
struct Tally {
    /// When the first record arrived.
    first: Option<Instant>,
    records: u64,
    bytes: u64,
    next: HashMap<i32, i64>,
}

impl Tally {
    fn add(&mut self, partition: i32, offset: i64, value_len: usize) -> Result<(), String> {
        let next = self.next.entry(partition).or_insert(0);
        if offset != *next {
            return Err(format!(
                "partition {partition}: offset {offset} where {next} was expected"
            ));
        }
        *next += 1;
        if self.records == 0 {
            self.first = Some(Instant::now());
        }
        self.records += 1;
        self.bytes += value_len as u64;
        Ok(())
    }
}

fn main() {
    let args = Args::parse();
    let deadline = Instant::now() + Duration::from_secs(args.timeout_s);
    let start = Instant::now();
    let result = match args.client {
        Client::Sluice => runtime().block_on(sluice_read(&args, deadline)),
        Client::Rdkafka => rdkafka_read(&args, deadline),
        Client::Rskafka => runtime().block_on(rskafka_read(&args, deadline)),
        Client::Krafka => runtime().block_on(krafka_read(&args, deadline)),
    };
    let wall = start.elapsed().as_secs_f64();
    match result {
        Ok(t) if t.records == args.records => {
            let (cpu, rss) = self_usage();
            let first = t.first.map_or(wall, |f| (f - start).as_secs_f64());
            println!(
                "{{\"client\":\"{}\",\"records\":{},\"bytes\":{},\"wall_s\":{wall:.4},\"first_s\":{first:.4},\"cpu_s\":{cpu:.4},\"rss_kib\":{rss}}}",
                format!("{:?}", args.client).to_lowercase(),
                t.records,
                t.bytes
            );
        }
        Ok(t) => fail(&format!("read {} records of {}", t.records, args.records)),
        Err(e) => fail(&e),
    }
}

fn fail(why: &str) -> ! {
    eprintln!("bench_consume: {why}");
    std::process::exit(1);
}

/// One thread: the clients are compared on the same footing (librdkafka
/// runs its own threads whatever we do).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn sluice_read(args: &Args, deadline: Instant) -> Result<Tally, String> {
    use sluice::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
    let mut builder = ConsumerConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .auto_offset_reset(OffsetReset::Earliest);
    for (key, value) in &args.settings {
        builder = builder.set(key, value);
    }
    let config = builder.build().map_err(|e| e.to_string())?;
    let mut consumer = Consumer::new(config).map_err(|e| e.to_string())?;
    let partitions: Vec<TopicPartition> = (0..args.partitions)
        .map(|p| TopicPartition::new(args.topic.as_str(), p))
        .collect();
    consumer
        .assign(&partitions)
        .await
        .map_err(|e| e.to_string())?;
    let mut tally = Tally::default();
    let mut stalled = false;
    while tally.records < args.records && Instant::now() < deadline {
        let records = consumer
            .poll(Duration::from_millis(500))
            .await
            .map_err(|e| e.to_string())?;
        for r in &records {
            tally.add(
                r.partition,
                r.offset,
                r.value.as_ref().map_or(0, |v| v.len()),
            )?;
        }
        let pause = args.pause(&tally, &mut stalled);
        if !records.is_empty() && !pause.is_zero() {
            // The runtime's other tasks (fetches in flight) run meanwhile.
            tokio::time::sleep(pause).await;
        }
    }
    Ok(tally)
}

fn rdkafka_read(args: &Args, deadline: Instant) -> Result<Tally, String> {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        // assign() needs a group.id in librdkafka, though nothing is committed.
        .set("group.id", "sluice-bench")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // librdkafka sleeps fetch.queue.backoff.ms (default 1000) whenever its
        // prefetch queue is full; against a fast broker that sleep, not its
        // decoding, would be what we measure. 1 ms keeps it fetching.
        .set("fetch.queue.backoff.ms", "1");
    for (key, value) in &args.settings {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create().map_err(|e| e.to_string())?;
    let mut list = TopicPartitionList::new();
    for p in 0..args.partitions {
        list.add_partition_offset(&args.topic, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&list).map_err(|e| e.to_string())?;
    let mut tally = Tally::default();
    let mut stalled = false;
    while tally.records < args.records && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(m)) => {
                tally.add(m.partition(), m.offset(), m.payload_len())?;
                if tally.records % 500 == 1 {
                    // librdkafka's threads go on fetching meanwhile.
                    std::thread::sleep(args.pause(&tally, &mut stalled));
                }
            }
        }
    }
    Ok(tally)
}

async fn rskafka_read(args: &Args, deadline: Instant) -> Result<Tally, String> {
    use rskafka::client::ClientBuilder;
    use rskafka::client::partition::UnknownTopicHandling;
    let client = ClientBuilder::new(vec![args.bootstrap.clone()])
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let mut clients = Vec::new();
    for p in 0..args.partitions {
        clients.push(
            client
                .partition_client(args.topic.as_str(), p, UnknownTopicHandling::Error)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    // One fetch loop per partition, all on this thread; each stops at its
    // high watermark.
    let mut reads = tokio::task::JoinSet::new();
    for (p, pc) in clients.into_iter().enumerate() {
        reads.spawn(async move {
            let mut tally = Tally::default();
            let mut offset = 0i64;
            loop {
                let (records, high_watermark) = pc
                    .fetch_records(offset, 1..1_048_576, 500)
                    .await
                    .map_err(|e| e.to_string())?;
                for r in records {
                    let len = r.record.value.map_or(0, |v| v.len());
                    tally.add(p as i32, r.offset, len)?;
                    offset = r.offset + 1;
                }
                if offset >= high_watermark || Instant::now() >= deadline {
                    return Ok::<Tally, String>(tally);
                }
            }
        });
    }
    let mut total = Tally::default();
    while let Some(t) = reads.join_next().await {
        let t = t.map_err(|e| e.to_string())??;
        total.records += t.records;
        total.bytes += t.bytes;
        total.first = match (total.first, t.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(total)
}

/// krafka: a consumer without a group, every partition assigned, reset to
/// the earliest offset, default configuration otherwise (it always checks
/// CRCs; it has no `check.crcs`).
async fn krafka_read(args: &Args, deadline: Instant) -> Result<Tally, String> {
    use krafka::Kafka;
    use krafka::consumer::AutoOffsetReset;
    let kafka = Kafka::builder(args.bootstrap.as_str())
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut builder = kafka
        .consumer_without_group()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        // KIP-714 client telemetry: neither broker serves it, and no other
        // client here pushes metrics.
        .metrics_push(false);
    for (key, value) in &args.settings {
        let number = || -> Result<i32, String> {
            value
                .parse()
                .map_err(|_| format!("{key}={value}: not a number"))
        };
        builder = match key.as_str() {
            "fetch.min.bytes" => builder.fetch_min_bytes(number()?),
            "fetch.max.bytes" => builder.fetch_max_bytes(number()?),
            "max.partition.fetch.bytes" => builder.max_partition_fetch_bytes(number()?),
            "max.poll.records" => builder.max_poll_records(number()?),
            "fetch.max.wait.ms" => {
                builder.fetch_max_wait(Duration::from_millis(number()?.max(0) as u64))
            }
            _ => return Err(format!("krafka: no setting {key} here")),
        };
    }
    let consumer = builder.build().await.map_err(|e| e.to_string())?;
    consumer
        .assign(&args.topic, (0..args.partitions).collect())
        .await
        .map_err(|e| e.to_string())?;
    let mut tally = Tally::default();
    let mut stalled = false;
    while tally.records < args.records && Instant::now() < deadline {
        let records = consumer
            .poll(Duration::from_millis(500))
            .await
            .map_err(|e| e.to_string())?;
        for r in &records {
            tally.add(
                r.partition,
                r.offset,
                r.value.as_ref().map_or(0, |v| v.len()),
            )?;
        }
        let pause = args.pause(&tally, &mut stalled);
        if !records.is_empty() && !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    Ok(tally)
}

/// CPU seconds (user+system, every thread, exited ones too) of this
/// process from getrusage(RUSAGE_SELF), to the microsecond (/proc/self/stat
/// counts 10 ms ticks: 5% of a sluice run), and its peak RSS in KiB from
/// VmHWM: getrusage's ru_maxrss would include the forked parent's (Linux
/// carries it over exec), which made every client's figure the runner's.
#[allow(unsafe_code)] // one libc call; no crate we depend on wraps getrusage
fn self_usage() -> (f64, u64) {
    // SAFETY: getrusage only writes the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let cpu = if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        secs(usage.ru_utime) + secs(usage.ru_stime)
    } else {
        f64::NAN
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}
