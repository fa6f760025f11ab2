//! `sluice lag -G GROUP`: per partition the group's committed offset, the
//! high watermark, the lag and the owning member, and the group's
//! members/partitions ratio.

use std::collections::BTreeSet;
use std::io::Write;

use clap::Args;
use serde_json::json;
use sluice_fetch::{FetchClient, FetchConfig, TopicPartition};
use sluice_group::admin::view_group;

use crate::properties::split_properties;
use crate::watermarks::high_watermarks;

/// Arguments of `sluice lag`.
#[derive(Debug, Args)]
pub struct LagArgs {
    /// Bootstrap broker(s), `host:port[,host:port...]`.
    #[arg(short = 'b', long = "brokers")]
    brokers: String,
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
    #[arg(long)]
    json: bool,
}

/// Runs `sluice lag`.
pub async fn run(args: LagArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = FetchConfig::default();
    config.set("bootstrap.servers", &args.brokers)?;
    config.client_id = "sluice-cli".into();
    for (key, value) in split_properties(&args.properties)? {
        if !config.set(key, value)? {
            return Err(sluice_fetch::config::unknown_key(key).into());
        }
    }
    let mut client = FetchClient::connect(config).await?;
    let mut named = Vec::new();
    for topic in &args.topics {
        named.extend(client.partitions_for(topic).await?);
    }
    let view = view_group(client.pool(), &args.group, &named).await?;
    let owners = view.metrics.owners();
    let partitions: BTreeSet<TopicPartition> = view
        .committed
        .keys()
        .chain(owners.keys())
        .chain(&named)
        .filter(|tp| args.topics.is_empty() || args.topics.iter().any(|t| **t == *tp.topic))
        .cloned()
        .collect();
    let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
    let ends = high_watermarks(&mut client, &partitions).await?;
    let mut rows = Vec::new();
    for tp in &partitions {
        let committed = view.committed.get(tp).cloned().flatten().map(|o| o.offset);
        let end = ends.get(tp).copied();
        let lag = match (committed, end) {
            (Some(c), Some(e)) => Some((e - c).max(0)),
            (None, Some(e)) => Some(e), // nothing committed: all of it
            _ => None,
        };
        rows.push((tp, committed, end, lag, owners.get(tp).cloned()));
    }
    client.close().await;

    let m = &view.metrics;
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = json!({
            "group": args.group,
            "state": m.state,
            "protocol": m.protocol,
            "members": m.members.len(),
            "assigned_partitions": m.partitions,
            "members_per_partition": m.members_per_partition,
            "total_lag": rows.iter().filter_map(|r| r.3).sum::<i64>(),
            "partitions": rows.iter().map(|(tp, c, e, l, o)| json!({
                "topic": &*tp.topic, "partition": tp.partition, "committed": c,
                "high_watermark": e, "lag": l, "owner": o,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let dash = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    writeln!(
        out,
        "group {} ({}, {} members, {} partitions assigned, members/partitions {})",
        args.group,
        if m.state.is_empty() {
            "unknown"
        } else {
            &m.state
        },
        m.members.len(),
        m.partitions,
        m.members_per_partition
            .map_or("-".to_string(), |r| format!("{r:.2}")),
    )?;
    writeln!(
        out,
        "{:<32} {:>9} {:>12} {:>14} {:>10}  OWNER",
        "TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG"
    )?;
    for (tp, committed, end, lag, owner) in &rows {
        writeln!(
            out,
            "{:<32} {:>9} {:>12} {:>14} {:>10}  {}",
            &*tp.topic,
            tp.partition,
            dash(*committed),
            dash(*end),
            dash(*lag),
            owner.as_deref().unwrap_or("-"),
        )?;
    }
    writeln!(
        out,
        "total lag {}",
        rows.iter().filter_map(|r| r.3).sum::<i64>()
    )?;
    Ok(())
}
