//! `sluice lag -G GROUP`: per partition the group's committed offset, the
//! high watermark, the lag and the owning member, and the group's
//! members/partitions ratio; once as a table or JSON, or `--watch`ed live.

mod history;
mod view;
mod watch;

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;
use sluice_fetch::{FetchClient, FetchConfig, TopicPartition};
use sluice_group::GroupMetrics;
use sluice_group::admin::{ConsumerGroupInfo, group_protocol, view_group};

use crate::properties::settings;
use crate::watermarks::high_watermarks;

/// Arguments of `sluice lag`.
#[derive(Debug, Args)]
pub struct LagArgs {
    /// Bootstrap broker(s), `host:port[,host:port...]`.
    #[arg(short = 'b', long = "brokers", env = "SLUICE_BROKERS")]
    brokers: Option<String>,
    /// The consumer group.
    #[arg(short = 'G', long = "group")]
    group: String,
    /// Only these topics, every partition of each, committed or not
    /// (repeatable; default: every partition the group has committed).
    #[arg(short = 't', long = "topic")]
    topics: Vec<String>,
    /// A client configuration property, `key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// One JSON document instead of a table.
    #[arg(long, conflicts_with = "watch")]
    json: bool,
    /// A live view in the terminal, refreshed every --interval-ms, with each
    /// partition's lag over the last minute, the consumption rate and the
    /// time to catch up (q, Esc or Ctrl-C quits).
    #[arg(long)]
    watch: bool,
    /// How often --watch refreshes, in milliseconds.
    #[arg(long = "interval-ms", default_value_t = 1000, requires = "watch",
          value_parser = clap::value_parser!(u64).range(100..))]
    interval_ms: u64,
}

/// One partition as the group sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// The partition.
    pub tp: TopicPartition,
    /// The group's committed offset, if any.
    pub committed: Option<i64>,
    /// The partition's high watermark, if it could be read.
    pub high_watermark: Option<i64>,
    /// High watermark minus committed (all of it with nothing committed).
    pub lag: Option<i64>,
    /// The member that owns the partition, if any.
    pub owner: Option<String>,
}

impl Row {
    /// The row for `tp` from what was read.
    pub fn new(
        tp: TopicPartition,
        committed: Option<i64>,
        high_watermark: Option<i64>,
        owner: Option<String>,
    ) -> Self {
        let lag = match (committed, high_watermark) {
            (Some(c), Some(e)) => Some((e - c).max(0)),
            (None, Some(e)) => Some(e), // nothing committed: all of it
            _ => None,
        };
        Row {
            tp,
            committed,
            high_watermark,
            lag,
            owner,
        }
    }
}

/// The group and its partitions at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// When it was taken (when its reading finished).
    pub at: Instant,
    /// The group's state, members and members/partitions ratio.
    pub group: GroupMetrics,
    /// The KIP-848 details of a consumer-protocol group (`None` for a
    /// classic one).
    pub consumer: Option<ConsumerGroupInfo>,
    /// Every partition shown, in order.
    pub rows: Vec<Row>,
}

impl Snapshot {
    /// The lag summed over the partitions whose lag is known.
    pub fn total_lag(&self) -> i64 {
        self.rows.iter().filter_map(|r| r.lag).sum()
    }
}

/// Where snapshots come from: one client, kept open across snapshots.
pub(crate) struct Source {
    client: FetchClient,
    group: String,
    topics: Vec<String>,
}

impl Source {
    /// Connects with the arguments' brokers and `-X` properties.
    async fn connect(args: &LagArgs) -> Result<Self, Box<dyn std::error::Error>> {
        let mut config = FetchConfig {
            client_id: "sluice-cli".into(),
            ..FetchConfig::default()
        };
        for (key, value) in settings(args.brokers.as_deref(), &args.properties)? {
            if !config.set(key, value)? {
                return Err(sluice_fetch::config::unknown_key(key).into());
            }
        }
        Ok(Source {
            client: FetchClient::connect(config).await?,
            group: args.group.clone(),
            topics: args.topics.clone(),
        })
    }

    /// Reads the group (description and committed offsets) and the high
    /// watermarks of its partitions. Dropped before it finishes, nothing is
    /// lost but that snapshot: the next call starts over.
    pub async fn snapshot(&mut self) -> Result<Snapshot, Box<dyn std::error::Error>> {
        let mut named = Vec::new();
        for topic in &self.topics {
            named.extend(self.client.partitions_for(topic).await?);
        }
        let view = view_group(self.client.pool(), &self.group, &named).await?;
        let owners = view.metrics.owners();
        let partitions: BTreeSet<TopicPartition> = view
            .committed
            .keys()
            .chain(owners.keys())
            .chain(&named)
            .filter(|tp| self.topics.is_empty() || self.topics.iter().any(|t| **t == *tp.topic))
            .cloned()
            .collect();
        let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
        let ends = high_watermarks(&mut self.client, &partitions).await?;
        let rows = partitions
            .into_iter()
            .map(|tp| {
                let committed = view.committed.get(&tp).cloned().flatten().map(|o| o.offset);
                let end = ends.get(&tp).copied();
                let owner = owners.get(&tp).cloned();
                Row::new(tp, committed, end, owner)
            })
            .collect();
        Ok(Snapshot {
            at: Instant::now(),
            group: view.metrics,
            consumer: view.consumer,
            rows,
        })
    }

    /// Closes the connections.
    async fn close(self) {
        self.client.close().await;
    }
}

/// Runs `sluice lag`.
pub async fn run(args: LagArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut source = Source::connect(&args).await?;
    if args.watch {
        let interval = Duration::from_millis(args.interval_ms);
        let result = watch::run(&mut source, &args.group, interval).await;
        source.close().await;
        return result;
    }
    let snapshot = source.snapshot().await;
    source.close().await;
    let snapshot = snapshot?;
    let mut out = std::io::stdout().lock();
    if args.json {
        print_json(&mut out, &args.group, &snapshot)
    } else {
        print_table(&mut out, &args.group, &snapshot)
    }
}

/// The one-shot JSON document.
fn print_json(
    out: &mut impl Write,
    group: &str,
    snapshot: &Snapshot,
) -> Result<(), Box<dyn std::error::Error>> {
    let m = &snapshot.group;
    let doc = json!({
        "group": group,
        "state": m.state,
        "protocol": m.protocol,
        "rebalance_protocol": rebalance_kind(m, snapshot.consumer.as_ref()),
        "group_protocol": group_protocol(snapshot.consumer.as_ref()),
        "group_epoch": snapshot.consumer.as_ref().map(|c| c.group_epoch),
        "assignment_epoch": snapshot.consumer.as_ref().map(|c| c.assignment_epoch),
        "consumer_members": snapshot.consumer.as_ref().map(|c| c.members.iter().map(|member| json!({
            "member_id": member.member_id, "instance_id": member.instance_id,
            "member_epoch": member.member_epoch,
        })).collect::<Vec<_>>()),
        "members": m.members.len(),
        "assigned_partitions": m.partitions,
        "members_per_partition": m.members_per_partition,
        "total_lag": snapshot.total_lag(),
        "partitions": snapshot.rows.iter().map(|r| json!({
            "topic": &*r.tp.topic, "partition": r.tp.partition, "committed": r.committed,
            "high_watermark": r.high_watermark, "lag": r.lag, "owner": r.owner,
        })).collect::<Vec<_>>(),
    });
    writeln!(out, "{doc}")?;
    Ok(())
}

/// `-` for what is not known.
pub(crate) fn dash(v: Option<i64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

/// The group's state, or `unknown` where the broker could not describe it.
pub(crate) fn state_name(m: &GroupMetrics) -> &str {
    if m.state.is_empty() {
        "unknown"
    } else {
        &m.state
    }
}

/// What the head says of the group's protocol, one piece each: for a
/// classic group its assignor and the rebalance protocol it speaks
/// (`assignor range (eager)`; nothing when the group has none: Empty, or not
/// described); for a KIP-848 group `protocol consumer`, the server-side
/// assignor and the group epoch. A classic group whose members list
/// `[cooperative-sticky, range]` (half-way through the roll) runs
/// cooperative-sticky eagerly; DescribeGroups cannot show that, so the
/// protocol shown is the assignor's own.
pub(crate) fn protocol_parts(
    m: &GroupMetrics,
    consumer: Option<&ConsumerGroupInfo>,
) -> Vec<String> {
    if let Some(c) = consumer {
        let mut parts = vec!["protocol consumer".to_string()];
        if !c.assignor.is_empty() {
            parts.push(format!("assignor {}", c.assignor));
        }
        parts.push(format!("group epoch {}", c.group_epoch));
        return parts;
    }
    match rebalance_kind(m, None) {
        Some(kind) => vec![format!("assignor {} ({kind})", m.protocol)],
        None => Vec::new(),
    }
}

/// The protocol pieces ([`protocol_parts`]) as the table's head shows them,
/// each followed by `, `.
pub(crate) fn assignor_part(m: &GroupMetrics, consumer: Option<&ConsumerGroupInfo>) -> String {
    protocol_parts(m, consumer)
        .into_iter()
        .map(|p| format!("{p}, "))
        .collect()
}

/// `eager` or `cooperative` for a classic group's assignor, `consumer` for
/// a KIP-848 group, `None` for a classic group with no assignor.
pub(crate) fn rebalance_kind(
    m: &GroupMetrics,
    consumer: Option<&ConsumerGroupInfo>,
) -> Option<&'static str> {
    if consumer.is_some() {
        return Some("consumer");
    }
    if m.protocol.is_empty() {
        return None;
    }
    let cooperative = sluice_group::assignor::by_name(&m.protocol).is_some_and(|a| {
        a.supported_protocols()
            .contains(&sluice_group::assignor::RebalanceProtocol::Cooperative)
    });
    Some(if cooperative { "cooperative" } else { "eager" })
}

/// The members/partitions ratio with two decimals, `-` with no partitions.
pub(crate) fn ratio(m: &GroupMetrics) -> String {
    m.members_per_partition
        .map_or("-".to_string(), |r| format!("{r:.2}"))
}

/// The one-shot table.
fn print_table(
    out: &mut impl Write,
    group: &str,
    snapshot: &Snapshot,
) -> Result<(), Box<dyn std::error::Error>> {
    let m = &snapshot.group;
    writeln!(
        out,
        "group {} ({}, {}{} members, {} partitions assigned, members/partitions {})",
        group,
        state_name(m),
        assignor_part(m, snapshot.consumer.as_ref()),
        m.members.len(),
        m.partitions,
        ratio(m),
    )?;
    print_rows(out, &snapshot.rows)
}

/// The partition table (topic, partition, committed, high watermark, lag,
/// owner) and the total lag line, as `sluice lag` and `sluice group
/// describe` print them.
pub(crate) fn print_rows(
    out: &mut impl Write,
    rows: &[Row],
) -> Result<(), Box<dyn std::error::Error>> {
    writeln!(
        out,
        "{:<32} {:>9} {:>12} {:>14} {:>10}  OWNER",
        "TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<32} {:>9} {:>12} {:>14} {:>10}  {}",
            &*r.tp.topic,
            r.tp.partition,
            dash(r.committed),
            dash(r.high_watermark),
            dash(r.lag),
            r.owner.as_deref().unwrap_or("-"),
        )?;
    }
    let total: i64 = rows.iter().filter_map(|r| r.lag).sum();
    writeln!(out, "total lag {total}")?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A partition of `topic`.
    pub fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    /// A Stable group of `members` members over `partitions` partitions.
    pub fn group(members: usize, partitions: usize) -> GroupMetrics {
        let mut m = GroupMetrics::unknown();
        m.state = "Stable".into();
        m.protocol = "range".into();
        m.members = (0..members)
            .map(|i| sluice_group::MemberInfo {
                member_id: format!("member-{i}"),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                partitions: Vec::new(),
            })
            .collect();
        m.partitions = partitions;
        m.members_per_partition = (partitions > 0).then(|| members as f64 / partitions as f64);
        m
    }

    #[test]
    fn a_row_lags_by_the_distance_to_the_end_and_by_all_of_it_with_nothing_committed() {
        assert_eq!(
            Row::new(tp("t", 0), Some(300), Some(500), None).lag,
            Some(200)
        );
        assert_eq!(Row::new(tp("t", 0), None, Some(500), None).lag, Some(500));
        assert_eq!(
            Row::new(tp("t", 0), Some(600), Some(500), None).lag,
            Some(0)
        );
        assert_eq!(Row::new(tp("t", 0), Some(300), None, None).lag, None);
    }

    #[test]
    fn the_table_keeps_its_columns() {
        let snapshot = Snapshot {
            at: Instant::now(),
            group: group(2, 3),
            consumer: None,
            rows: vec![
                Row::new(
                    tp("events", 0),
                    Some(300),
                    Some(500),
                    Some("member-0".into()),
                ),
                Row::new(tp("events", 1), None, None, None),
            ],
        };
        let mut out = Vec::new();
        print_table(&mut out, "g", &snapshot).unwrap();
        let expected = "\
group g (Stable, assignor range (eager), 2 members, 3 partitions assigned, members/partitions 0.67)
TOPIC                            PARTITION    COMMITTED HIGH-WATERMARK        LAG  OWNER
events                                   0          300            500        200  member-0
events                                   1            -              -          -  -
total lag 200
";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        let mut out = Vec::new();
        print_json(&mut out, "g", &snapshot).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["total_lag"], 200);
        assert_eq!(doc["rebalance_protocol"], "eager");
        assert_eq!(doc["partitions"][0]["committed"], 300);
        assert_eq!(doc["partitions"][1]["lag"], serde_json::Value::Null);
    }

    #[test]
    fn the_head_names_the_assignor_and_its_rebalance_protocol() {
        let mut m = group(1, 1);
        assert_eq!(assignor_part(&m, None), "assignor range (eager), ");
        m.protocol = "cooperative-sticky".into();
        assert_eq!(
            assignor_part(&m, None),
            "assignor cooperative-sticky (cooperative), "
        );
        m.protocol = String::new();
        assert_eq!(
            assignor_part(&m, None),
            "",
            "an Empty group has no assignor"
        );
    }

    /// A consumer-protocol group of one static member at epoch 4.
    pub fn consumer_info() -> ConsumerGroupInfo {
        ConsumerGroupInfo {
            group_epoch: 5,
            assignment_epoch: 5,
            assignor: "uniform".into(),
            members: vec![sluice_group::admin::ConsumerMemberInfo {
                member_id: "member-0".into(),
                instance_id: Some("i-0".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                member_epoch: 4,
                partitions: vec![tp("events", 0)],
            }],
        }
    }

    #[test]
    fn a_consumer_protocol_group_shows_its_protocol_assignor_and_epochs() {
        let mut m = group(1, 1);
        m.protocol = "uniform".into();
        let info = consumer_info();
        assert_eq!(
            assignor_part(&m, Some(&info)),
            "protocol consumer, assignor uniform, group epoch 5, "
        );
        assert_eq!(rebalance_kind(&m, Some(&info)), Some("consumer"));
        let snapshot = Snapshot {
            at: Instant::now(),
            group: m,
            consumer: Some(info),
            rows: vec![Row::new(
                tp("events", 0),
                Some(1),
                Some(3),
                Some("member-0".into()),
            )],
        };
        let mut out = Vec::new();
        print_table(&mut out, "g", &snapshot).unwrap();
        let head = String::from_utf8(out).unwrap();
        assert_eq!(
            head.lines().next().unwrap(),
            "group g (Stable, protocol consumer, assignor uniform, group epoch 5, 1 members, \
             1 partitions assigned, members/partitions 1.00)"
        );
        let mut out = Vec::new();
        print_json(&mut out, "g", &snapshot).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["group_protocol"], "consumer");
        assert_eq!(doc["rebalance_protocol"], "consumer");
        assert_eq!(doc["protocol"], "uniform");
        assert_eq!(doc["group_epoch"], 5);
        assert_eq!(doc["assignment_epoch"], 5);
        assert_eq!(doc["consumer_members"][0]["member_id"], "member-0");
        assert_eq!(doc["consumer_members"][0]["instance_id"], "i-0");
        assert_eq!(doc["consumer_members"][0]["member_epoch"], 4);
    }

    #[test]
    fn a_classic_group_says_so_in_json() {
        let snapshot = Snapshot {
            at: Instant::now(),
            group: group(1, 1),
            consumer: None,
            rows: Vec::new(),
        };
        let mut out = Vec::new();
        print_json(&mut out, "g", &snapshot).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["group_protocol"], "classic");
        assert_eq!(doc["group_epoch"], serde_json::Value::Null);
        assert_eq!(doc["consumer_members"], serde_json::Value::Null);
    }
}
