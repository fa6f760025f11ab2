//! The `sluice` binary against krafka's fake cluster: `consume` assigned and
//! as a group member, then `lag` for that group.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use sluice_integration::{sluice_bin, unique_name};

use super::harness::Cluster;

/// Runs `sluice` with `args` off the runtime (the fake cluster is served by
/// this process's runtime, so it must keep running meanwhile).
async fn sluice(args: Vec<String>) -> Output {
    let bin = sluice_bin();
    let out = tokio::task::spawn_blocking(move || Command::new(bin).args(&args).output())
        .await
        .expect("join")
        .expect("run sluice");
    assert!(
        out.status.success(),
        "sluice {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The (partition, offset) of every JSON line, in printed order per partition.
fn printed(out: &Output) -> BTreeMap<i64, Vec<i64>> {
    let mut by_partition: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let row: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        by_partition
            .entry(row["partition"].as_i64().expect("partition"))
            .or_default()
            .push(row["offset"].as_i64().expect("offset"));
    }
    by_partition
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_consume_assigned_and_in_a_group_then_lag_is_zero() {
    let c = Cluster::start("fk-cli", 3).await;
    c.produce(0, 25).await;
    let boot = c.bootstrap();
    let want: BTreeMap<i64, Vec<i64>> = (0..3).map(|p| (p, (0..25).collect())).collect();

    let out = sluice(args(&[
        "consume", "-b", &boot, "-t", &c.topic, "-o", "earliest", "-e", "--json",
    ]))
    .await;
    assert_eq!(printed(&out), want, "assigned: every record once, in order");

    let group = unique_name("fk-cli");
    let out = sluice(args(&[
        "consume",
        "-b",
        &boot,
        "-t",
        &c.topic,
        "-G",
        &group,
        "-e",
        "--json",
        "-X",
        "auto.offset.reset=earliest",
        "-X",
        "session.timeout.ms=6000",
    ]))
    .await;
    assert_eq!(
        printed(&out),
        want,
        "group member: every record once, in order"
    );
    for p in 0..3 {
        assert_eq!(
            c.broker.committed_offset(&group, &c.topic, p),
            Some(25),
            "committed on exit"
        );
    }

    let out = sluice(args(&["lag", "-b", &boot, "-G", &group, "--json"])).await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("lag JSON");
    assert_eq!(doc["total_lag"], 0, "{doc}");
    let rows = doc["partitions"].as_array().expect("partitions");
    assert_eq!(rows.len(), 3, "{doc}");
    for row in rows {
        assert_eq!(row["committed"], 25, "{doc}");
        assert_eq!(row["high_watermark"], 25, "{doc}");
        assert_eq!(row["lag"], 0, "{doc}");
    }
}
