//! `sluice batch --exactly-once` against krafka's fake cluster (real
//! transactions: markers, aborted-transaction lists, TxnOffsetCommit): the
//! process is SIGKILLed at random points mid-run and restarted until the
//! input is drained; librdkafka then reads the results with read_committed
//! and every input record is counted exactly once (each offset in exactly
//! one committed result, the count and the sum the truth), while the
//! killed attempts' results are in the log but invisible.
//!
//! `SLUICE_EOS_RUNS` sets how many kill-and-restart rounds (default 3);
//! `SLUICE_EOS_SEED` replays a run (the seed is printed).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sluice_integration::{sluice_bin, unique_name};
use sluice_produce::{Producer, ProducerConfig, ProducerRecord};
use tokio::time::Instant;

use super::harness::{Cluster, LIMIT};

const PARTITIONS: i32 = 3;
const BATCH: usize = 100;

/// A small deterministic generator (xorshift64*), so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The amount of record `i` of partition `p` (integers: sums are exact).
fn amount(p: i32, i: i64) -> i64 {
    (i * 7 + i64::from(p) * 13) % 101
}

/// Writes the input: JSON orders, `per_partition` per partition.
async fn write_input(c: &Cluster, per_partition: i64) -> (u64, i64) {
    let config = ProducerConfig::default()
        .with_pairs([
            ("bootstrap.servers", c.bootstrap().as_str()),
            ("linger.ms", "5"),
        ])
        .expect("producer config");
    let producer = Producer::connect(config).await.expect("connect");
    let mut pending = Vec::new();
    let (mut count, mut sum) = (0u64, 0i64);
    for p in 0..PARTITIONS {
        for i in 0..per_partition {
            let a = amount(p, i);
            count += 1;
            sum += a;
            let value = format!(r#"{{"user":"u{}","amount":{a}}}"#, i % 5);
            pending.push(producer.send(ProducerRecord::new(c.topic.as_str(), value).partition(p)));
        }
    }
    for d in pending {
        d.await.expect("input delivered");
    }
    producer.close().await;
    (count, sum)
}

/// `sluice batch --exactly-once` over the input, `stats:amount` into `out`.
fn batch(c: &Cluster, group: &str, out: &str, exit: bool, extra: &[&str]) -> Command {
    let mut cmd = Command::new(sluice_bin());
    cmd.args([
        "batch",
        "-b",
        &c.bootstrap(),
        "-t",
        &c.topic,
        "-G",
        group,
        "--to",
        out,
        "--batch-size",
        &BATCH.to_string(),
        "--linger-ms",
        "100",
        "--compute",
        "stats:amount",
        "--exactly-once",
    ])
    .args([
        "-X",
        "session.timeout.ms=6000",
        "-X",
        "heartbeat.interval.ms=500",
        "-X",
        "fetch.max.wait.ms=100",
        "-X",
        "max.poll.records=50",
        "-X",
        "producer.linger.ms=2",
        "-X",
        "producer.retry.backoff.ms=50",
    ])
    .args(extra)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if exit {
        cmd.arg("-e");
    }
    cmd
}

/// What a librdkafka consumer at `isolation` reads of `topic` partition 0:
/// every value, once it is at the partition's end.
fn read_results(bootstrap: &str, topic: &str, isolation: &str) -> Vec<serde_json::Value> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("eos-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .expect("librdkafka consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "librdkafka read {} results, no EOF",
            values.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => values
                .push(serde_json::from_slice(m.payload().expect("a value")).expect("result JSON")),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return values,
            Some(Err(e)) => panic!("librdkafka: {e}"),
            None => {}
        }
    }
}

/// Waits for a child off the runtime (the fake cluster is served by it).
async fn wait(mut child: Child) -> (std::process::ExitStatus, String) {
    tokio::task::spawn_blocking(move || {
        let status = child.wait().expect("wait");
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        (status, stderr)
    })
    .await
    .expect("join")
}

/// Reads the results with librdkafka at read_committed and checks every
/// input offset is in exactly one of them, and the count and sum are the
/// truth; returns how many results were committed, how many the log holds
/// (read_uncommitted: aborted ones too) and how many records the aborted
/// ones covered.
async fn check_exactly_once(
    c: &Cluster,
    out: &str,
    count: u64,
    sum: i64,
    seed: u64,
) -> (usize, usize, u64) {
    let boot = c.bootstrap();
    let out = out.to_string();
    let (b, o) = (boot.clone(), out.clone());
    let committed = tokio::task::spawn_blocking(move || read_results(&b, &o, "read_committed"))
        .await
        .expect("join");
    let (b, o) = (boot.clone(), out.clone());
    let everything = tokio::task::spawn_blocking(move || read_results(&b, &o, "read_uncommitted"))
        .await
        .expect("join");

    // Every input offset is in exactly one committed result.
    let mut covered: BTreeMap<(i64, i64), u32> = BTreeMap::new();
    let (mut seen_count, mut seen_sum) = (0u64, 0i64);
    for r in &committed {
        seen_count += r["count"].as_u64().expect("count");
        seen_sum += r["sum"].as_f64().expect("sum") as i64;
        let mut in_ranges = 0;
        for range in r["ranges"].as_array().expect("ranges") {
            let p = range["partition"].as_i64().expect("partition");
            let (first, last) = (
                range["first"].as_i64().unwrap(),
                range["last"].as_i64().unwrap(),
            );
            for offset in first..=last {
                *covered.entry((p, offset)).or_default() += 1;
                in_ranges += 1;
            }
        }
        assert_eq!(
            r["records"].as_u64(),
            Some(in_ranges),
            "contiguous ranges: {r}"
        );
    }
    let twice: Vec<_> = covered.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "counted twice (seed {seed}): {twice:?}");
    assert_eq!(
        covered.len() as u64,
        count,
        "every record counted (seed {seed})"
    );
    assert_eq!(seen_count, count, "the total count (seed {seed})");
    assert_eq!(seen_sum, sum, "the total sum (seed {seed})");
    // What the killed attempts wrote is in the log, aborted: invisible to
    // read_committed, seen by read_uncommitted.
    let uncommitted_records: u64 = everything
        .iter()
        .map(|r| r["records"].as_u64().unwrap())
        .sum();
    assert!(uncommitted_records >= count);
    (
        committed.len(),
        everything.len(),
        uncommitted_records - count,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_batch_exactly_once_killed_at_random_counts_every_record_once() {
    killed_at_random(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_batch_exactly_once_on_tv2_killed_at_random_counts_every_record_once() {
    killed_at_random(true).await;
}

/// The kill-and-restart proof, with transaction version 2 finalized or not.
async fn killed_at_random(tv2: bool) {
    let runs: u32 = std::env::var("SLUICE_EOS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("SLUICE_EOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64
                | 1
        });
    println!("SLUICE_EOS_SEED={seed} SLUICE_EOS_RUNS={runs} tv2={tv2}");
    let mut rng = Rng(seed);

    let c = Cluster::start("fk-eos", PARTITIONS).await;
    if tv2 {
        super::exactly_once_tv2::finalize_tv2(&c);
    }
    let out = unique_name("fk-eos-out");
    assert!(c.broker.create_topic(&out, 1), "create {out}");
    // Enough input that every round can make a few batches of progress.
    let per_partition = 600 + i64::from(runs) * 120;
    let (count, sum) = write_input(&c, per_partition).await;
    let group = unique_name("fk-eos");
    let committed_offsets = || {
        (0..PARTITIONS)
            .map(|p| c.broker.committed_offset(&group, &c.topic, p))
            .collect::<Vec<_>>()
    };
    let drained = || {
        committed_offsets()
            .iter()
            .all(|o| *o == Some(per_partition))
    };

    // Kill rounds: each process is SIGKILLed at a random point: once the
    // results log has grown by a random number of entries (a result record
    // or a commit marker), plus a random few milliseconds, so the kill lands
    // with results half written, offsets sent, or a commit under way.
    let mut kills = 0;
    for round in 0..runs {
        if drained() {
            break;
        }
        let log_end = || c.broker.next_offset(&out, 0).expect("results partition");
        let target = log_end() + 1 + rng.below(12) as i64;
        let extra = Duration::from_millis(rng.below(25));
        let mut child = batch(&c, &group, &out, false, &[]).spawn().expect("spawn");
        let deadline = Instant::now() + LIMIT;
        while log_end() < target && !drained() {
            let exited = child.try_wait().expect("try_wait");
            assert!(exited.is_none(), "round {round}: sluice exited: {exited:?}");
            assert!(Instant::now() < deadline, "round {round}: no progress");
            // Watching for the fault's trigger, not synchronising on a result.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(extra).await;
        child.kill().expect("SIGKILL");
        let (status, _) = wait(child).await;
        assert!(!status.success());
        kills += 1;
        println!(
            "round {round}: killed at results log entry {} (target {target}, +{extra:?}); committed offsets {:?}",
            log_end(),
            committed_offsets()
        );
    }

    // The last process drains the input and exits.
    let started = Instant::now();
    let child = batch(&c, &group, &out, true, &[]).spawn().expect("spawn");
    let (status, stderr) = wait(child).await;
    assert!(status.success(), "the final run failed: {stderr}");
    if tv2 {
        // Version 2 really ran: no partition was added by request.
        assert_eq!(
            c.broker
                .request_count(krafka::testing::ApiKey::AddPartitionsToTxn),
            0
        );
    }
    assert!(started.elapsed() < Duration::from_secs(120));
    for p in 0..PARTITIONS {
        assert_eq!(
            c.broker.committed_offset(&group, &c.topic, p),
            Some(per_partition),
            "partition {p} committed to its end"
        );
    }

    let (committed, everything, aborted) = check_exactly_once(&c, &out, count, sum, seed).await;
    println!(
        "{kills} kills; {committed} committed results, {everything} results in the log ({aborted} records in aborted attempts)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_exactly_once_instance_joining_mid_run_takes_partitions_without_repeats() {
    let c = Cluster::start("fk-eos-join", PARTITIONS).await;
    let out = unique_name("fk-eos-join-out");
    assert!(c.broker.create_topic(&out, 1), "create {out}");
    let (count, sum) = write_input(&c, 1500).await;
    let group = unique_name("fk-eos-join");
    let a = batch(&c, &group, &out, true, &["--transactional-id", "eos-a"])
        .spawn()
        .expect("spawn a");
    // Once a has written a few results, b joins: the group rebalances, and
    // a gives partitions up between batches.
    let deadline = Instant::now() + LIMIT;
    while c.broker.next_offset(&out, 0).expect("results") < 6 {
        assert!(Instant::now() < deadline, "a made no progress");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let b = batch(&c, &group, &out, true, &["--transactional-id", "eos-b"])
        .spawn()
        .expect("spawn b");
    let ((a, a_err), (b, b_err)) = tokio::join!(wait(a), wait(b));
    assert!(a.success(), "a: {a_err}");
    assert!(b.success(), "b: {b_err}");
    let (committed, everything, aborted) = check_exactly_once(&c, &out, count, sum, 0).await;
    println!("{committed} committed results, {everything} in the log ({aborted} records aborted)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_refuses_exactly_once_without_read_committed_or_a_transactional_id() {
    use sluice_batch::{BatchConfig, BatchError, Guarantee, Pipeline};
    use sluice_group::GroupConsumer;

    let c = Cluster::start("fk-eos-refuse", 1).await;
    let eos = BatchConfig {
        guarantee: Guarantee::ExactlyOnceV2,
        ..BatchConfig::default()
    };
    let producer = |id: Option<&str>| {
        let mut pairs = vec![("bootstrap.servers", c.bootstrap())];
        if let Some(id) = id {
            pairs.push(("transactional.id", id.to_string()));
        }
        async move {
            let config = ProducerConfig::default()
                .with_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
                .expect("producer config");
            Producer::connect(config).await.expect("connect")
        }
    };
    let consumer = |isolation: &'static str| {
        let mut config = c.consumer_config(&unique_name("fk-eos-refuse"), 100);
        config.fetch.set("isolation.level", isolation).unwrap();
        async move {
            GroupConsumer::new(config.fetch, config.group)
                .await
                .expect("consumer")
        }
    };
    let refused = |r: Result<Pipeline, BatchError>| match r {
        Err(BatchError::Config { key, .. }) => key,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted"),
    };
    let key = refused(Pipeline::new(
        consumer("read_uncommitted").await,
        Some((producer(Some("t1")).await, "out".into())),
        eos.clone(),
    ));
    assert_eq!(key, "isolation.level");
    let key = refused(Pipeline::new(
        consumer("read_committed").await,
        Some((producer(None).await, "out".into())),
        eos.clone(),
    ));
    assert_eq!(key, "transactional.id");
    let key = refused(Pipeline::new(
        consumer("read_committed").await,
        None,
        eos.clone(),
    ));
    assert_eq!(key, "processing.guarantee");
    assert!(
        Pipeline::new(
            consumer("read_committed").await,
            Some((producer(Some("t2")).await, "out".into())),
            eos,
        )
        .is_ok()
    );
}

/// A transactional producer on the cluster, initialized.
async fn txn_producer(c: &Cluster, id: &str) -> Producer {
    let config = ProducerConfig::default()
        .with_pairs([
            ("bootstrap.servers", c.bootstrap().as_str()),
            ("transactional.id", id),
            ("linger.ms", "1"),
            ("retry.backoff.ms", "50"),
        ])
        .expect("producer config");
    let p = Producer::connect(config).await.expect("connect");
    p.init_transactions().await.expect("init_transactions");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_counts_only_committed_input_and_commits_past_the_markers() {
    use sluice_batch::{Batch, BatchConfig, Guarantee, Output, Pipeline, sync_fn};
    use sluice_group::GroupConsumer;

    let c = Cluster::start("fk-eos-input", 1).await;
    let out = unique_name("fk-eos-input-out");
    assert!(c.broker.create_topic(&out, 1), "create {out}");
    // Two producers' transactions interleaved in one partition: one aborts,
    // the other commits, then a third transaction commits.
    let (p1, p2) = (
        txn_producer(&c, &unique_name("fk-eos-p1")).await,
        txn_producer(&c, &unique_name("fk-eos-p2")).await,
    );
    let send = |p: &Producer, v: &str| {
        p.send(ProducerRecord::new(c.topic.as_str(), format!(r#"{{"v":"{v}"}}"#)).partition(0))
    };
    p1.begin_transaction().unwrap();
    p2.begin_transaction().unwrap();
    for v in ["a0", "b0", "a1", "b1", "a2", "b2"] {
        let p = if v.starts_with('a') { &p1 } else { &p2 };
        send(p, v).await.expect("sent");
    }
    p1.abort_transaction().await.expect("abort");
    p2.commit_transaction().await.expect("commit");
    p1.begin_transaction().unwrap();
    for v in ["c0", "c1"] {
        send(&p1, v).await.expect("sent");
    }
    p1.commit_transaction().await.expect("commit");
    let end = c.ends()[&0];
    assert_eq!(end, 11, "8 records and 3 markers");

    let group = unique_name("fk-eos-input");
    let mut config = c.consumer_config(&group, 100);
    config
        .fetch
        .set("isolation.level", "read_committed")
        .unwrap();
    let mut consumer = GroupConsumer::new(config.fetch, config.group)
        .await
        .expect("consumer");
    consumer.subscribe([c.topic.clone()]);
    let results = txn_producer(&c, &unique_name("fk-eos-results")).await;
    let batch = BatchConfig {
        guarantee: Guarantee::ExactlyOnceV2,
        max_records: 2,
        linger: Duration::from_millis(100),
        ..BatchConfig::default()
    };
    let mut pipeline = Pipeline::new(consumer, Some((results, out.clone())), batch).unwrap();
    let mut f = sync_fn(|b: &Batch| {
        let values: Vec<serde_json::Value> = b
            .iter()
            .map(|r| serde_json::from_slice(r.value.unwrap()).unwrap())
            .collect();
        Ok(vec![Output::json(
            &serde_json::json!({"records": b.len(), "values": values}),
        )])
    });
    let progress = pipeline
        .run(&mut f, true, &mut |_, _| {})
        .await
        .expect("run");
    assert_eq!((progress.records, progress.retries), (5, 0));
    // The identity the offsets went with (KIP-447): this member's.
    let member = pipeline.consumer_mut().group_metadata();
    assert_eq!(member.group_id, group);
    assert!(member.generation_id >= 1, "{member:?}");
    assert!(!member.member_id.is_empty(), "{member:?}");
    // The position past the last marker is committed, in the transaction.
    assert_eq!(c.broker.committed_offset(&group, &c.topic, 0), Some(end));
    assert_eq!(
        pipeline
            .consumer_mut()
            .lag()
            .values()
            .flatten()
            .sum::<i64>(),
        0,
        "lag reaches 0"
    );
    pipeline.close().await.expect("close");

    let (b, o) = (c.bootstrap(), out.clone());
    let read = tokio::task::spawn_blocking(move || read_results(&b, &o, "read_committed"))
        .await
        .expect("join");
    let values: Vec<String> = read
        .iter()
        .flat_map(|r| r["values"].as_array().unwrap().clone())
        .map(|v| v["v"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        values,
        ["b0", "b1", "b2", "c0", "c1"],
        "only committed input"
    );
}
