use super::*;
use sluice_fetch::TopicPartition;
use sluice_fetch::histogram::Histogram;

fn durations(ms: &[u64]) -> HistogramSnapshot {
    let h = Histogram::durations();
    for &m in ms {
        h.observe_duration(Duration::from_millis(m));
    }
    h.snapshot()
}

fn known() -> Metrics {
    let sizes = Histogram::counts();
    for n in [500, 500, 7] {
        sizes.observe(n);
    }
    Metrics {
        fetch: Some(FetchStatsSnapshot {
            polls: 12,
            records: 1007,
            bytes: 65536,
            fetch_requests: 9,
            fetch_errors: 1,
            fetch_latency: durations(&[2, 30]),
            poll_interval: durations(&[]),
            partitions: vec![
                PartitionStats {
                    tp: TopicPartition::new("orders", 0),
                    position: Some(700),
                    high_watermark: Some(1000),
                    lag: Some(300),
                },
                PartitionStats {
                    tp: TopicPartition::new("orders", 1),
                    position: None,
                    high_watermark: None,
                    lag: None,
                },
            ],
        }),
        group: Some(GroupStatsSnapshot {
            commits: 3,
            commit_failures: 1,
            commit_latency: durations(&[4]),
            rebalances: 2,
            rebalance_duration: durations(&[3000, 1500]),
            last_rebalance: Some(Duration::from_millis(1500)),
            assigned_partitions: 2,
            members: Some(3),
            group_partitions: Some(4),
        }),
        rebalance: Some(RebalanceStatsSnapshot {
            eager: 1,
            cooperative: 2,
            consumer_protocol: 0,
            pauses: 2,
            pause_total: Duration::from_millis(4250),
            last_pause: Some(Duration::ZERO),
            generation: Some(3),
            revoked: 4,
            assigned: 6,
            lost: 1,
            last_revoked: 1,
            last_assigned: 1,
            last_lost: 0,
        }),
        producer: Some(ProducerStatsSnapshot {
            records: 3,
            bytes: 210,
            requests: 3,
            errors: 0,
        }),
        batch: Some(BatchStatsSnapshot {
            batches: 3,
            records: 1007,
            results: 3,
            retries: 0,
            failures: 0,
            size: sizes.snapshot(),
            latency: durations(&[20, 20, 60]),
        }),
    }
}

/// The rendering's lines, for exact comparisons.
fn lines(m: &Metrics) -> Vec<String> {
    render_prometheus(m).lines().map(str::to_string).collect()
}

#[test]
fn a_known_snapshot_renders_exact_lines() {
    let got = lines(&known());
    for want in [
        "# TYPE sluice_consumer_records counter",
        "sluice_consumer_records_total 1007",
        "sluice_consumer_polls_total 12",
        "# UNIT sluice_consumer_bytes bytes",
        "sluice_consumer_bytes_total 65536",
        "sluice_consumer_fetch_requests_total 9",
        "sluice_consumer_fetch_errors_total 1",
        "# TYPE sluice_consumer_fetch_latency_seconds histogram",
        "sluice_consumer_fetch_latency_seconds_sum 0.032",
        "sluice_consumer_fetch_latency_seconds_count 2",
        r#"sluice_consumer_fetch_latency_seconds_bucket{le="0.001"} 0"#,
        r#"sluice_consumer_fetch_latency_seconds_bucket{le="0.005"} 1"#,
        r#"sluice_consumer_fetch_latency_seconds_bucket{le="0.05"} 2"#,
        r#"sluice_consumer_fetch_latency_seconds_bucket{le="60.0"} 2"#,
        r#"sluice_consumer_fetch_latency_seconds_bucket{le="+Inf"} 2"#,
        "sluice_consumer_poll_interval_seconds_count 0",
        r#"sluice_partition_position{topic="orders",partition="0"} 700"#,
        r#"sluice_partition_high_watermark{topic="orders",partition="0"} 1000"#,
        r#"sluice_partition_lag{topic="orders",partition="0"} 300"#,
        "sluice_group_commits_total 3",
        "sluice_group_commit_failures_total 1",
        "sluice_group_commit_latency_seconds_sum 0.004",
        "sluice_group_rebalances_total 2",
        "sluice_group_rebalance_duration_seconds_sum 4.5",
        r#"sluice_group_rebalance_duration_seconds_bucket{le="2.5"} 1"#,
        r#"sluice_group_rebalance_duration_seconds_bucket{le="5.0"} 2"#,
        "sluice_group_last_rebalance_duration_seconds 1.5",
        "sluice_group_assigned_partitions 2",
        "sluice_group_members 3",
        "sluice_group_partitions 4",
        "sluice_group_members_per_partition 0.75",
        r#"sluice_group_rebalances_by_kind_total{kind="eager"} 1"#,
        r#"sluice_group_rebalances_by_kind_total{kind="cooperative"} 2"#,
        r#"sluice_group_rebalances_by_kind_total{kind="consumer"} 0"#,
        "sluice_group_partitions_revoked_total 4",
        "sluice_group_partitions_assigned_total 6",
        "sluice_group_partitions_lost_total 1",
        "sluice_group_rebalance_pauses_total 2",
        "# UNIT sluice_group_rebalance_pause_seconds seconds",
        "sluice_group_rebalance_pause_seconds_total 4.25",
        "sluice_group_last_rebalance_pause_seconds 0.0",
        "sluice_producer_records_total 3",
        "sluice_producer_bytes_total 210",
        "sluice_producer_requests_total 3",
        "sluice_producer_errors_total 0",
        "sluice_batch_batches_total 3",
        "sluice_batch_records_total 1007",
        "sluice_batch_results_total 3",
        "sluice_batch_retries_total 0",
        "sluice_batch_failures_total 0",
        "# UNIT sluice_batch_size_records records",
        "sluice_batch_size_records_sum 1007.0",
        "sluice_batch_size_records_count 3",
        r#"sluice_batch_size_records_bucket{le="10.0"} 1"#,
        r#"sluice_batch_size_records_bucket{le="250.0"} 1"#,
        r#"sluice_batch_size_records_bucket{le="500.0"} 3"#,
        "sluice_batch_latency_seconds_sum 0.1",
        r#"sluice_batch_latency_seconds_bucket{le="0.025"} 2"#,
        r#"sluice_batch_latency_seconds_bucket{le="0.1"} 3"#,
    ] {
        assert!(
            got.iter().any(|l| l == want),
            "missing {want:?} in:\n{}",
            got.join("\n")
        );
    }
    assert_eq!(got.last().map(String::as_str), Some("# EOF"));
    // A partition with nothing known yet has no samples (rather than made-up zeros).
    assert!(!got.iter().any(|l| l.contains(r#"partition="1""#)));
    // Every sample is named sluice_*.
    assert!(
        got.iter()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.starts_with("sluice_"))
    );
}

#[test]
fn absent_parts_and_unknown_group_sizes_are_left_out() {
    let only_fetch = render_prometheus(&Metrics::fetch(FetchStatsSnapshot::default()));
    assert!(only_fetch.contains("sluice_consumer_records_total 0\n"));
    for absent in [
        "sluice_group_",
        "sluice_producer_",
        "sluice_batch_",
        "sluice_partition_",
    ] {
        assert!(!only_fetch.contains(absent), "{absent} in {only_fetch}");
    }
    let mut m = known();
    let group = m.group.as_mut().unwrap();
    group.members = None;
    group.last_rebalance = None;
    m.rebalance.as_mut().unwrap().last_pause = None;
    let text = render_prometheus(&m);
    assert!(text.contains("sluice_group_partitions 4\n"));
    assert!(!text.contains("sluice_group_members "));
    assert!(!text.contains("sluice_group_members_per_partition"));
    assert!(!text.contains("sluice_group_last_rebalance_duration"));
    assert!(!text.contains("sluice_group_last_rebalance_pause"));
    assert!(text.contains("sluice_group_rebalance_pause_seconds_total 4.25\n"));
    assert_eq!(render_prometheus(&Metrics::default()), "# EOF\n");
}

#[test]
fn the_publisher_sends_when_due_or_forced() {
    let (mut publisher, rx) = MetricsPublisher::new(Duration::from_secs(3600));
    assert!(publisher.due(), "the first snapshot is due at once");
    assert_eq!(**rx.borrow(), Metrics::default());
    publisher.publish(known());
    assert!(!publisher.due(), "the next one waits an interval");
    assert_eq!(rx.borrow().batch.as_ref().map(|b| b.records), Some(1007));
    publisher.publish(Metrics::default());
    assert_eq!(rx.borrow().batch, None, "publish sends whether due or not");
}
