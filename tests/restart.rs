//! A broker restart in the middle of consuming: tansu with sqlite storage is
//! stopped and started again under a fetch client that keeps polling; every
//! record is read once, in order, with no gap.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sluice_fetch::offsets::OffsetSpec;
use sluice_fetch::{FetchClient, FetchConfig};
use sluice_integration::{TempTopic, repo_root, run_peer, unique_name};
use sluice_wire::connection::{Connection, ConnectionConfig};
use tokio::time::Instant;

/// A tansu of the test's own, on its own port and sqlite file, stopped on drop.
struct Broker {
    env: Vec<(&'static str, String)>,
    db: PathBuf,
    bootstrap: String,
}

impl Broker {
    fn start(name: &str) -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = repo_root().join("target").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let broker = Broker {
            env: vec![
                ("SLUICE_BROKER_PORT", port.to_string()),
                ("SLUICE_BROKER_DIR", dir.display().to_string()),
            ],
            db: dir.join("tansu.db"),
            bootstrap: format!("127.0.0.1:{port}"),
        };
        broker.run("start");
        broker
    }

    fn run(&self, what: &str) {
        let mut cmd = Command::new(repo_root().join("scripts/broker.sh"));
        cmd.arg(what)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd.env_remove("KAFKA_BOOTSTRAP");
        if what == "start" {
            cmd.arg("--sqlite").arg(&self.db);
        }
        let out = cmd.output().expect("broker.sh runs");
        assert!(
            out.status.success(),
            "broker.sh {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.run("stop");
        let _ = std::fs::remove_file(&self.db);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_nothing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RUST_LOG"))
        .with_test_writer()
        .try_init();
    if std::env::var("KAFKA_BOOTSTRAP").is_ok() {
        eprintln!(
            "KAFKA_BOOTSTRAP is set: this test restarts a tansu of its own; running it anyway"
        );
    }
    let broker = Broker::start(&unique_name("broker-restart"));
    let conn = Connection::connect(&broker.bootstrap, ConnectionConfig::default())
        .await
        .expect("connect");
    let topic = TempTopic::create(&conn, "it-restart", 2).await;
    let produce = |n: usize| {
        let acked = run_peer(
            "rdkafka_produce.py",
            &[
                &broker.bootstrap,
                &topic.name,
                "2",
                &n.to_string(),
                "none,zstd",
            ],
        );
        assert_eq!(acked.trim(), n.to_string());
    };
    produce(400);

    let config = FetchConfig::default()
        .with_pairs([
            ("bootstrap.servers", broker.bootstrap.as_str()),
            ("max.poll.records", "50"),
            ("fetch.max.wait.ms", "100"),
            ("reconnect.backoff.ms", "50"),
            ("request.timeout.ms", "5000"),
        ])
        .unwrap();
    let mut client = FetchClient::connect(config).await.unwrap();
    let tps = client.partitions_for(&topic.name).await.unwrap();
    client.assign(tps.clone());
    for tp in &tps {
        client.seek_to(tp, OffsetSpec::Earliest).unwrap();
    }
    let mut seen: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut total = 0;
    poll_until(&mut client, 150, &mut seen, &mut total).await;

    // The broker goes away under the client, which keeps polling.
    broker.run("stop");
    // Polls while it is down still hand out what was already fetched.
    for _ in 0..3 {
        let records = client
            .poll(Duration::from_millis(200))
            .await
            .expect("a poll while the broker is down is not an error");
        for r in records {
            seen.entry(r.partition).or_default().push(r.offset);
            total += 1;
        }
    }
    broker.run("start");
    produce(400);
    poll_until(&mut client, 800, &mut seen, &mut total).await;

    for (p, offsets) in &seen {
        let expected: Vec<i64> = (0..400).collect();
        assert_eq!(
            offsets, &expected,
            "partition {p}: every offset once, in order"
        );
    }
    assert_eq!(total, 800);
    client.close().await;
    let conn = Connection::connect(&broker.bootstrap, ConnectionConfig::default())
        .await
        .expect("reconnect after the restart");
    topic.delete_with(&conn).await;
}

/// Polls until `total` reaches `n`, recording offsets per partition; fails
/// after 60 s with what was seen and where each partition stands.
async fn poll_until(
    client: &mut FetchClient,
    n: usize,
    seen: &mut BTreeMap<i32, Vec<i64>>,
    total: &mut usize,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while *total < n {
        if Instant::now() >= deadline {
            let summary: Vec<(i32, usize, Vec<i64>)> = seen
                .iter()
                .map(|(p, o)| {
                    let gaps = o
                        .windows(2)
                        .filter(|w| w[1] != w[0] + 1)
                        .flat_map(|w| [w[0], w[1]])
                        .collect();
                    (*p, o.len(), gaps)
                })
                .collect();
            let positions: Vec<_> = client
                .assignment()
                .iter()
                .map(|tp| (tp.partition, client.position(tp)))
                .collect();
            panic!(
                "only {total} of {n} records: (partition, count, gaps) {summary:?}, (partition, position) {positions:?}"
            );
        }
        let records = client.poll(Duration::from_millis(200)).await.expect("poll");
        for r in records {
            seen.entry(r.partition).or_default().push(r.offset);
            *total += 1;
        }
    }
}
