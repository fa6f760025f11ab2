//! The cost of exactly-once: events/s through `sluice batch` at-least-once
//! and `--exactly-once` over the same input on the same krafka fake
//! cluster, in the same run, modes alternated. Ignored by default (it is a
//! measurement, not a check); docs/benchmarks.md gives the command:
//!
//! ```sh
//! cargo build --release -p sluice-cli
//! SLUICE_BIN=target/release/sluice cargo test --release -p sluice-integration \
//!     --test fake_cluster exactly_once_bench -- --ignored --nocapture
//! ```
//!
//! `SLUICE_EOS_BENCH_RECORDS` (default 1,000,000) and
//! `SLUICE_EOS_BENCH_ROUNDS` (default 3) size it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sluice_integration::{sluice_bin, unique_name};
use sluice_produce::{Producer, ProducerConfig, ProducerRecord};

use super::harness::Cluster;

const PARTITIONS: i32 = 4;
const BATCH: usize = 20_000;

fn env(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One `sluice batch -e` over the whole input; its wall time.
async fn run(c: &Cluster, exactly_once: bool) -> Duration {
    let out = unique_name("fk-eos-bench-out");
    assert!(c.broker.create_topic(&out, 1), "create {out}");
    let mut cmd = Command::new(sluice_bin());
    cmd.args([
        "batch",
        "-b",
        &c.bootstrap(),
        "-t",
        &c.topic,
        "-G",
        &unique_name("fk-eos-bench"),
        "--to",
        &out,
        "--batch-size",
        &BATCH.to_string(),
        "--linger-ms",
        "1000",
        "--compute",
        "stats:amount",
        "-e",
        "-X",
        "session.timeout.ms=6000",
        "-X",
        "heartbeat.interval.ms=500",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if exactly_once {
        cmd.arg("--exactly-once");
    }
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run sluice");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "sluice batch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture (release build)"]
async fn exactly_once_bench() {
    let records = env("SLUICE_EOS_BENCH_RECORDS", 1_000_000);
    let rounds = env("SLUICE_EOS_BENCH_ROUNDS", 3);
    let c = Cluster::start("fk-eos-bench", PARTITIONS).await;
    let config = ProducerConfig::default()
        .with_pairs([
            ("bootstrap.servers", c.bootstrap().as_str()),
            ("linger.ms", "5"),
            ("batch.size", "262144"),
        ])
        .expect("producer config");
    let producer = Producer::connect(config).await.expect("connect");
    let mut pending = Vec::with_capacity(records as usize);
    for i in 0..records {
        let value = format!(r#"{{"user":"u{}","amount":{}}}"#, i % 97, i % 1000);
        let p = (i % PARTITIONS as u64) as i32;
        pending.push(producer.send(ProducerRecord::new(c.topic.as_str(), value).partition(p)));
    }
    for d in pending {
        d.await.expect("input delivered");
    }
    producer.close().await;

    let (mut alo, mut eos) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so a drift in the machine's load
        // falls on both.
        for exactly_once in [round % 2 == 1, round % 2 == 0] {
            let took = run(&c, exactly_once).await;
            println!(
                "round {round} {}: {took:.2?}, {:.0} events/s",
                if exactly_once {
                    "exactly-once "
                } else {
                    "at-least-once"
                },
                records as f64 / took.as_secs_f64()
            );
            if exactly_once { &mut eos } else { &mut alo }.push(took);
        }
    }
    // Each round's pair ran back to back: the median of their ratios is
    // less moved by the machine's load drifting than the ratio of medians.
    let mut ratios: Vec<f64> = alo
        .iter()
        .zip(&eos)
        .map(|(a, e)| e.as_secs_f64() / a.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let paired = ratios[ratios.len() / 2];
    let (a, e) = (median(alo), median(eos));
    println!(
        "{records} records, {BATCH}-record batches, {PARTITIONS} partitions, median of {rounds}:\n\
         at-least-once {:.0} events/s ({a:.2?})\n\
         exactly-once  {:.0} events/s ({e:.2?})\n\
         exactly-once costs {:+.1}% of wall time (median of the rounds' paired ratios: {:+.1}%)",
        records as f64 / a.as_secs_f64(),
        records as f64 / e.as_secs_f64(),
        (e.as_secs_f64() / a.as_secs_f64() - 1.0) * 100.0,
        (paired - 1.0) * 100.0
    );
}
