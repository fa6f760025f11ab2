//! One metrics snapshot for the consumer, the group member, the producer and
//! the pipeline ([`Metrics`]), its Prometheus text rendering
//! ([`render_prometheus`]), and a cheap way to hand the latest snapshot to
//! another task ([`MetricsPublisher`]).
//!
//! The counters behind it are relaxed atomics updated once per poll, fetch
//! response, commit, rebalance or batch (never per record); a snapshot
//! copies them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};
use sluice_fetch::histogram::HistogramSnapshot;
use sluice_fetch::{FetchStatsSnapshot, PartitionStats};
use sluice_group::stats::RebalanceStatsSnapshot;
use sluice_group::{ConsumerStats, GroupStatsSnapshot};
use sluice_produce::ProducerStatsSnapshot;
use tokio::sync::watch;

use crate::stats::BatchStatsSnapshot;

/// Everything measured, at one moment; a part is `None` where the
/// component is not there (no group for a plain consumer, no producer or
/// pipeline for `sluice consume`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// The fetch client: records, bytes, fetches, polls, partitions.
    pub fetch: Option<FetchStatsSnapshot>,
    /// The group member: commits, rebalances, the group's size.
    pub group: Option<GroupStatsSnapshot>,
    /// The group member's rebalances by kind, partitions moved, pauses.
    pub rebalance: Option<RebalanceStatsSnapshot>,
    /// The results producer.
    pub producer: Option<ProducerStatsSnapshot>,
    /// The batch pipeline.
    pub batch: Option<BatchStatsSnapshot>,
}

impl Metrics {
    /// The metrics of a group consumer ([`GroupConsumer::stats`](sluice_group::GroupConsumer::stats)).
    pub fn consumer(stats: ConsumerStats) -> Self {
        Metrics {
            fetch: Some(stats.fetch),
            group: Some(stats.group),
            rebalance: Some(stats.rebalance),
            ..Metrics::default()
        }
    }

    /// The metrics of a plain fetch client ([`FetchClient::stats`](sluice_fetch::FetchClient::stats)).
    pub fn fetch(stats: FetchStatsSnapshot) -> Self {
        Metrics {
            fetch: Some(stats),
            ..Metrics::default()
        }
    }
}

/// Hands the latest [`Metrics`] to readers (a metrics endpoint) through a
/// `watch` channel, at most once per interval unless forced: the snapshot is
/// taken only when it is due, so calling [`MetricsPublisher::due`] on every
/// poll costs a clock read.
#[derive(Debug)]
pub struct MetricsPublisher {
    tx: watch::Sender<Arc<Metrics>>,
    every: Duration,
    next: Instant,
}

impl MetricsPublisher {
    /// A publisher sending at most every `every`, and the receiving end
    /// (holding an empty snapshot until the first publish).
    pub fn new(every: Duration) -> (Self, watch::Receiver<Arc<Metrics>>) {
        let (tx, rx) = watch::channel(Arc::new(Metrics::default()));
        let publisher = MetricsPublisher {
            tx,
            every,
            next: Instant::now(),
        };
        (publisher, rx)
    }

    /// Whether a snapshot is due.
    pub fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Sends `metrics` (whether due or not) and starts a new interval.
    pub fn publish(&mut self, metrics: Metrics) {
        self.next = Instant::now() + self.every;
        self.tx.send_replace(Arc::new(metrics));
    }
}

/// The labels of a per-partition gauge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: i32,
}

/// A histogram whose counts are already known (a [`HistogramSnapshot`]).
#[derive(Debug)]
struct ConstHistogram {
    sum: f64,
    count: u64,
    /// Upper bound and count (not cumulative), `f64::MAX` for `+Inf`.
    buckets: Vec<(f64, u64)>,
}

impl ConstHistogram {
    /// `h` with its values divided by `unit` (1e9: nanoseconds to seconds).
    fn new(h: &HistogramSnapshot, unit: f64) -> Self {
        let bounds = h.bounds.iter().map(|&b| b as f64 / unit).chain([f64::MAX]);
        ConstHistogram {
            sum: h.sum as f64 / unit,
            count: h.count(),
            buckets: bounds.zip(h.buckets.iter().copied()).collect(),
        }
    }
}

impl EncodeMetric for ConstHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Nanoseconds per second: durations are kept in nanoseconds, shown in seconds.
const NS_PER_S: f64 = 1e9;

/// The snapshot in the Prometheus (OpenMetrics 1.0) text format, ending in
/// `# EOF`; serve it as `application/openmetrics-text; version=1.0.0`.
///
/// Every name starts `sluice_`; counters end `_total`, durations are in
/// seconds (`_seconds`), sizes in bytes (`_bytes`). Parts of the snapshot
/// that are `None` are left out.
///
/// Consumer (the fetch client):
/// - `sluice_consumer_polls_total`: polls that returned.
/// - `sluice_consumer_records_total`: records returned by polls.
/// - `sluice_consumer_bytes_total`: bytes of record batches fetched.
/// - `sluice_consumer_fetch_requests_total`, `sluice_consumer_fetch_errors_total`:
///   fetch requests sent, and those that failed without an answer.
/// - `sluice_consumer_fetch_latency_seconds` (histogram): a fetch's round trip.
/// - `sluice_consumer_poll_interval_seconds` (histogram): from a poll
///   returning to the next one starting, i.e. the application's time per poll.
/// - `sluice_partition_position{topic,partition}`: the next offset to return.
/// - `sluice_partition_high_watermark{topic,partition}`: from the last fetch.
/// - `sluice_partition_lag{topic,partition}`: high watermark minus position.
///
/// Group member:
/// - `sluice_group_commits_total`, `sluice_group_commit_failures_total`:
///   offset commits answered, and those that failed.
/// - `sluice_group_commit_latency_seconds` (histogram).
/// - `sluice_group_rebalances_total`: rebalances ending in an assignment.
/// - `sluice_group_rebalance_duration_seconds` (histogram) and
///   `sluice_group_last_rebalance_duration_seconds`: first JoinGroup to assignment.
/// - `sluice_group_assigned_partitions`: this member's partitions.
/// - `sluice_group_members`: the group's members as last described (after
///   this member's last rebalance); `sluice_group_partitions`: the partitions
///   of the subscribed topics, which the group shares out; and
///   `sluice_group_members_per_partition`, their ratio (below 1 every member
///   has work; above 1 some sit idle). Absent while unknown.
///
/// - `sluice_group_rebalances_by_kind_total{kind}`: rebalances ending in an
///   assignment, by kind: `eager`, `cooperative` (each round) or `consumer`
///   (KIP-848 reconciliations).
/// - `sluice_group_partitions_revoked_total`, `..._assigned_total`,
///   `..._lost_total`: partitions moved by rebalances (lost: fenced or
///   expired, nothing committed).
/// - `sluice_group_rebalance_pauses_total`,
///   `sluice_group_rebalance_pause_seconds_total` and
///   `sluice_group_last_rebalance_pause_seconds`: rebalances that took
///   partitions from this member, and how long they left it nothing to fetch
///   (0 for a cooperative member that kept fetching the rest).
///
/// Producer (the results writer):
/// - `sluice_producer_records_total`, `sluice_producer_bytes_total`: records
///   acknowledged and the bytes of their batches.
/// - `sluice_producer_requests_total`: produce requests sent.
/// - `sluice_producer_errors_total`: records that failed for good.
///
/// Pipeline:
/// - `sluice_batch_batches_total`, `sluice_batch_records_total`,
///   `sluice_batch_results_total`: batches finished, their records, results written.
/// - `sluice_batch_retries_total`, `sluice_batch_failures_total`: attempts
///   retried, batches failed for good.
/// - `sluice_batch_size_records` (histogram): records per batch.
/// - `sluice_batch_latency_seconds` (histogram): taking a batch to its commit.
pub fn render_prometheus(metrics: &Metrics) -> String {
    let mut registry = Registry::with_prefix("sluice");
    let r = &mut registry;
    if let Some(f) = &metrics.fetch {
        counter(r, "consumer_polls", "Polls that returned", f.polls);
        counter(
            r,
            "consumer_records",
            "Records returned by polls",
            f.records,
        );
        bytes(r, "consumer", "Bytes of record batches fetched", f.bytes);
        counter(
            r,
            "consumer_fetch_requests",
            "Fetch requests sent",
            f.fetch_requests,
        );
        counter(
            r,
            "consumer_fetch_errors",
            "Fetch requests that failed without an answer",
            f.fetch_errors,
        );
        seconds(
            r,
            "consumer_fetch_latency",
            "Fetch round trips",
            &f.fetch_latency,
        );
        seconds(
            r,
            "consumer_poll_interval",
            "Time from a poll returning to the next poll starting",
            &f.poll_interval,
        );
        partitions(r, &f.partitions);
    }
    if let Some(g) = &metrics.group {
        group(r, g);
    }
    if let Some(rb) = &metrics.rebalance {
        rebalances(r, rb);
    }
    if let Some(p) = &metrics.producer {
        counter(r, "producer_records", "Records acknowledged", p.records);
        bytes(r, "producer", "Bytes of the batches acknowledged", p.bytes);
        counter(r, "producer_requests", "Produce requests sent", p.requests);
        counter(
            r,
            "producer_errors",
            "Records that failed for good",
            p.errors,
        );
    }
    if let Some(b) = &metrics.batch {
        counter(r, "batch_batches", "Batches finished", b.batches);
        counter(r, "batch_records", "Records in finished batches", b.records);
        counter(r, "batch_results", "Result records written", b.results);
        counter(r, "batch_retries", "Batch attempts retried", b.retries);
        counter(
            r,
            "batch_failures",
            "Batches that failed for good",
            b.failures,
        );
        r.register_with_unit(
            "batch_size",
            "Records per batch",
            Unit::Other("records".into()),
            ConstHistogram::new(&b.size, 1.0),
        );
        seconds(
            r,
            "batch_latency",
            "Time from taking a batch to its commit",
            &b.latency,
        );
    }
    let mut out = String::new();
    // Writing into a String cannot fail; the encoder's own errors are for
    // writers that can.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

fn group(r: &mut Registry, g: &GroupStatsSnapshot) {
    counter(r, "group_commits", "Offset commits answered", g.commits);
    counter(
        r,
        "group_commit_failures",
        "Offset commits that failed",
        g.commit_failures,
    );
    seconds(
        r,
        "group_commit_latency",
        "Offset commit latency",
        &g.commit_latency,
    );
    counter(
        r,
        "group_rebalances",
        "Rebalances ending in an assignment",
        g.rebalances,
    );
    seconds(
        r,
        "group_rebalance_duration",
        "Time from a rebalance's first JoinGroup to its assignment",
        &g.rebalance_duration,
    );
    if let Some(last) = g.last_rebalance {
        r.register_with_unit(
            "group_last_rebalance_duration",
            "How long the last rebalance took",
            Unit::Seconds,
            ConstGauge::new(last.as_secs_f64()),
        );
    }
    let count = |r: &mut Registry, name: &str, help: &str, v: u64| {
        r.register(
            name,
            help,
            ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)),
        );
    };
    count(
        r,
        "group_assigned_partitions",
        "Partitions assigned to this member",
        g.assigned_partitions,
    );
    if let Some(m) = g.members {
        count(r, "group_members", "The group's members", m);
    }
    if let Some(p) = g.group_partitions {
        count(
            r,
            "group_partitions",
            "Partitions of the subscribed topics, shared out by the group",
            p,
        );
    }
    if let Some(ratio) = g.members_per_partition() {
        r.register(
            "group_members_per_partition",
            "Members per assigned partition (above 1: some members idle)",
            ConstGauge::new(ratio),
        );
    }
}

/// The labels of the rebalances-by-kind counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

fn rebalances(r: &mut Registry, rb: &RebalanceStatsSnapshot) {
    let kinds = Family::<KindLabels, Counter>::default();
    for (kind, n) in [
        ("eager", rb.eager),
        ("cooperative", rb.cooperative),
        ("consumer", rb.consumer_protocol),
    ] {
        kinds.get_or_create(&KindLabels { kind }).inc_by(n);
    }
    r.register(
        "group_rebalances_by_kind",
        "Rebalances ending in an assignment, by kind",
        kinds,
    );
    counter(
        r,
        "group_partitions_revoked",
        "Partitions revoked by rebalances",
        rb.revoked,
    );
    counter(
        r,
        "group_partitions_assigned",
        "Partitions newly assigned by rebalances",
        rb.assigned,
    );
    counter(
        r,
        "group_partitions_lost",
        "Partitions lost (fenced or expired; nothing committed)",
        rb.lost,
    );
    counter(
        r,
        "group_rebalance_pauses",
        "Rebalances that took partitions from this member",
        rb.pauses,
    );
    r.register_with_unit(
        "group_rebalance_pause",
        "Time rebalances left this member nothing to fetch",
        Unit::Seconds,
        ConstCounter::new(rb.pause_total.as_secs_f64()),
    );
    if let Some(last) = rb.last_pause {
        r.register_with_unit(
            "group_last_rebalance_pause",
            "How long the last rebalance left this member nothing to fetch",
            Unit::Seconds,
            ConstGauge::new(last.as_secs_f64()),
        );
    }
}

fn counter(r: &mut Registry, name: &str, help: &str, value: u64) {
    r.register(name, help, ConstCounter::new(value));
}

fn bytes(r: &mut Registry, name: &str, help: &str, value: u64) {
    r.register_with_unit(name, help, Unit::Bytes, ConstCounter::new(value));
}

fn seconds(r: &mut Registry, name: &str, help: &str, h: &HistogramSnapshot) {
    r.register_with_unit(name, help, Unit::Seconds, ConstHistogram::new(h, NS_PER_S));
}

fn partitions(r: &mut Registry, partitions: &[PartitionStats]) {
    let mut family = |name: &str, help: &str, value: fn(&PartitionStats) -> Option<i64>| {
        let f = Family::<PartitionLabels, Gauge>::default();
        for p in partitions {
            if let Some(v) = value(p) {
                let labels = PartitionLabels {
                    topic: p.tp.topic.to_string(),
                    partition: p.tp.partition,
                };
                f.get_or_create(&labels).set(v);
            }
        }
        r.register(name, help, f);
    };
    family(
        "partition_position",
        "The next offset a poll returns",
        |p| p.position,
    );
    family(
        "partition_high_watermark",
        "The high watermark of the last fetch response",
        |p| p.high_watermark,
    );
    family("partition_lag", "High watermark minus position", |p| p.lag);
}

#[cfg(test)]
mod tests;
