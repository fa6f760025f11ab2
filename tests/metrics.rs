//! `--metrics-addr`: the counters scraped from `sluice batch` and `sluice
//! consume` while they run equal what they processed, and the endpoint
//! answers 404 for other paths and survives garbage.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sluice_integration::{
    Killed, TempTopic, bootstrap, connect, produce_to, records_in, results_until, sluice_bin,
    unique_name,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Starts `cmd` (stdout piped), waits for the `sluice: metrics on
/// http://ADDR/metrics` line on its stderr and returns the process, the
/// address and its stdout lines as they come.
fn spawn_with_metrics(mut cmd: Command) -> (Killed, SocketAddr, mpsc::Receiver<String>) {
    let mut child = Killed(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sluice starts"),
    );
    let (addr_tx, addr_rx) = mpsc::channel();
    let stderr = child.0.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line
                .strip_prefix("sluice: metrics on http://")
                .and_then(|rest| rest.strip_suffix("/metrics"))
            {
                let _ = addr_tx.send(addr.parse::<SocketAddr>().expect("a socket address"));
            } else {
                eprintln!("sluice stderr: {line}");
            }
        }
    });
    let (lines_tx, lines) = mpsc::channel();
    let stdout = child.0.stdout.take().expect("stdout piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("sluice prints the metrics address");
    assert_ne!(addr.port(), 0, "the real bound port is printed");
    (child, addr, lines)
}

/// Sends `request` as is and returns the whole answer.
async fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect to metrics");
    s.write_all(request).await.expect("send request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read answer");
    String::from_utf8(out).expect("UTF-8 answer")
}

/// `GET /metrics`: the body of a 200 answer.
async fn scrape(addr: SocketAddr) -> String {
    let answer = http(addr, b"GET /metrics HTTP/1.1\r\nHost: sluice\r\n\r\n").await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    body.to_string()
}

/// The value of the sample named exactly `name` (labels included).
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}

/// Scrapes until `done` holds for the text (60 s at most); returns the text.
async fn scrape_until(addr: SocketAddr, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = scrape(addr).await;
        if done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not reached within 60 s; last scrape:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_metrics_count_what_the_pipeline_processed() {
    const N: usize = 3000;
    let bootstrap = bootstrap();
    let conn = connect("metrics-batch").await;
    let input = TempTopic::create(&conn, "it-metrics-in", 2).await;
    let output = TempTopic::create(&conn, "it-metrics-out", 1).await;
    produce_to(&bootstrap, &input.name, &[0, 1], 0, N / 2).await;
    let group = unique_name("it-metrics-g");

    let mut cmd = Command::new(sluice_bin());
    cmd.args(["batch", "-b", &bootstrap, "-t", &input.name, "-G", &group])
        .args(["--to", &output.name, "--compute", "count"])
        // Linger long enough that only the count cuts batches.
        .args(["--batch-size", "500", "--linger-ms", "120000"])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .args([
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=500",
        ]);
    let (mut child, addr, _) = spawn_with_metrics(cmd);

    let text = scrape_until(addr, "3000 records in finished batches", |t| {
        value(t, "sluice_batch_records_total") == Some(N as f64)
    })
    .await;
    assert_eq!(
        value(&text, "sluice_consumer_records_total"),
        Some(N as f64)
    );
    assert_eq!(value(&text, "sluice_batch_batches_total"), Some(6.0));
    assert_eq!(value(&text, "sluice_batch_size_records_count"), Some(6.0));
    assert_eq!(
        value(&text, "sluice_batch_size_records_sum"),
        Some(N as f64)
    );
    assert_eq!(
        value(&text, r#"sluice_batch_size_records_bucket{le="250.0"}"#),
        Some(0.0),
        "every batch has 500 records"
    );
    assert_eq!(
        value(&text, r#"sluice_batch_size_records_bucket{le="500.0"}"#),
        Some(6.0)
    );
    assert_eq!(value(&text, "sluice_batch_results_total"), Some(6.0));
    assert_eq!(value(&text, "sluice_batch_failures_total"), Some(0.0));
    assert!(value(&text, "sluice_consumer_bytes_total").unwrap() > 0.0);
    assert!(value(&text, "sluice_consumer_fetch_requests_total").unwrap() >= 1.0);
    assert!(value(&text, "sluice_consumer_fetch_latency_seconds_count").unwrap() >= 1.0);
    assert!(value(&text, "sluice_group_commits_total").unwrap() >= 1.0);
    assert_eq!(
        value(&text, "sluice_group_commit_failures_total"),
        Some(0.0)
    );
    assert!(value(&text, "sluice_group_rebalances_total").unwrap() >= 1.0);
    assert_eq!(value(&text, "sluice_group_assigned_partitions"), Some(2.0));
    assert_eq!(value(&text, "sluice_producer_errors_total"), Some(0.0));
    for p in [0, 1] {
        let labels = format!(r#"{{topic="{}",partition="{p}"}}"#, input.name);
        assert_eq!(
            value(&text, &format!("sluice_partition_position{labels}")),
            Some((N / 2) as f64),
            "partition {p} is read to its end"
        );
        assert_eq!(
            value(&text, &format!("sluice_partition_lag{labels}")),
            Some(0.0)
        );
    }

    // Every result the producer counted is in the output topic, one per batch.
    let results = results_until(&output.name, |r| records_in(r) >= N as u64).await;
    assert_eq!(records_in(&results), N as u64);
    assert_eq!(
        value(&text, "sluice_producer_records_total"),
        Some(results.len() as f64)
    );

    // The group's size arrives with the DescribeGroups after the rebalance.
    let text = scrape_until(addr, "the group's size", |t| {
        value(t, "sluice_group_members").is_some()
    })
    .await;
    assert_eq!(value(&text, "sluice_group_members"), Some(1.0));
    assert_eq!(value(&text, "sluice_group_partitions"), Some(2.0));
    assert_eq!(
        value(&text, "sluice_group_members_per_partition"),
        Some(0.5)
    );

    let _ = child.0.kill();
    let _ = child.0.wait();
    input.delete().await;
    output.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_consume_metrics_count_the_printed_records() {
    const N: usize = 700;
    let bootstrap = bootstrap();
    let conn = connect("metrics-consume").await;
    let topic = TempTopic::create(&conn, "it-metrics-consume", 1).await;
    produce_to(&bootstrap, &topic.name, &[0], 0, N).await;
    let group = unique_name("it-metrics-cg");

    let mut cmd = Command::new(sluice_bin());
    cmd.args(["consume", "-b", &bootstrap, "-t", &topic.name, "-G", &group])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .args([
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=500",
        ]);
    let (mut child, addr, lines) = spawn_with_metrics(cmd);

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut printed = 0usize;
    while printed < N {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("only {printed} of {N} records printed in 60 s"));
        printed += 1;
    }
    let text = scrape_until(addr, "every printed record counted", |t| {
        value(t, "sluice_consumer_records_total") == Some(printed as f64)
    })
    .await;
    assert_eq!(printed, N);
    assert!(
        lines.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing more than the topic's records is printed"
    );
    assert_eq!(
        value(&text, "sluice_consumer_records_total"),
        Some(N as f64)
    );
    assert_eq!(value(&text, "sluice_group_assigned_partitions"), Some(1.0));
    assert!(value(&text, "sluice_group_rebalances_total").unwrap() >= 1.0);
    assert!(
        !text.contains("sluice_batch_") && !text.contains("sluice_producer_"),
        "consume has no pipeline or producer: {text}"
    );
    let _ = child.0.kill();
    let _ = child.0.wait();
    topic.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_answers_404_and_survives_garbage() {
    const N: usize = 50;
    let bootstrap = bootstrap();
    let conn = connect("metrics-http").await;
    let topic = TempTopic::create(&conn, "it-metrics-http", 1).await;
    produce_to(&bootstrap, &topic.name, &[0], 0, N).await;

    // Plain mode (no group): the fetch client's counters.
    let mut cmd = Command::new(sluice_bin());
    cmd.args(["consume", "-b", &bootstrap, "-t", &topic.name])
        .args(["--metrics-addr", "127.0.0.1:0"]);
    let (mut child, addr, _lines) = spawn_with_metrics(cmd);

    let nope = http(addr, b"GET /nope HTTP/1.1\r\n\r\n").await;
    assert!(nope.starts_with("HTTP/1.1 404 Not Found\r\n"), "{nope}");
    for garbage in [
        &b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"[..],
        b"GET /metrics\r\n\r\n",
        b"\r\n\r\n",
    ] {
        let answer = http(addr, garbage).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
    }
    // Clients that go away mid-request.
    drop(TcpStream::connect(addr).await.unwrap());
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /met").await.unwrap();
    drop(half);

    let text = scrape_until(addr, "the topic's records counted", |t| {
        value(t, "sluice_consumer_records_total") == Some(N as f64)
    })
    .await;
    assert!(!text.contains("sluice_group_"), "no group in plain mode");
    let labels = format!(r#"{{topic="{}",partition="0"}}"#, topic.name);
    assert_eq!(
        value(&text, &format!("sluice_partition_position{labels}")),
        Some(N as f64)
    );
    assert!(child.0.try_wait().unwrap().is_none(), "sluice still runs");
    let _ = child.0.kill();
    let _ = child.0.wait();
    topic.delete().await;
}

/// `sluice::Consumer::stats` counts what its polls returned, and renders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_consumer_counts_what_it_returned() {
    let conn = connect("metrics-lib").await;
    let topic = TempTopic::create(&conn, "metrics-lib", 2).await;
    produce_to(&bootstrap(), &topic.name, &[0, 1], 0, 150).await;
    let config = sluice::ConsumerConfig::from_pairs([
        ("bootstrap.servers", bootstrap().as_str()),
        ("auto.offset.reset", "earliest"),
        ("max.poll.records", "100"),
    ])
    .unwrap();
    let mut consumer = sluice::Consumer::new(config).unwrap();
    assert_eq!(consumer.stats(), sluice::metrics::Metrics::default());
    consumer
        .assign(&[
            sluice::TopicPartition::new(topic.name.as_str(), 0),
            sluice::TopicPartition::new(topic.name.as_str(), 1),
        ])
        .await
        .unwrap();
    let mut returned = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while returned < 300 && Instant::now() < deadline {
        returned += consumer
            .poll(Duration::from_millis(500))
            .await
            .unwrap()
            .len() as u64;
    }
    assert_eq!(returned, 300);
    let stats = consumer.stats();
    let fetch = stats.fetch.as_ref().expect("fetch counters");
    assert_eq!(fetch.records, 300);
    assert!(fetch.polls >= 3, "{} polls", fetch.polls);
    assert!(fetch.bytes > 0);
    assert!(stats.group.is_none());
    let text = sluice::metrics::render_prometheus(&stats);
    assert_eq!(
        value(&text, "sluice_consumer_records_total"),
        Some(300.0),
        "{text}"
    );
    consumer.close().await.unwrap();
    topic.delete_with(&conn).await;
}
