//! `sluice group describe G`: the group's state, assignor and members, and
//! per partition its committed offset, high watermark, lag and owner.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::json;
use sluice_fetch::{FetchClient, TopicPartition};
use sluice_group::admin::view_group;

use super::{Result, exists};
use crate::lag::{Row, print_rows, ratio};
use crate::watermarks::high_watermarks;

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn names(tps: &[TopicPartition]) -> String {
    if tps.is_empty() {
        return "-".into();
    }
    tps.iter()
        .map(|tp| format!("{}:{}", tp.topic, tp.partition))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `sluice group describe`.
pub(super) async fn run(mut client: FetchClient, group: &str, json: bool) -> Result<()> {
    let view = view_group(client.pool(), group, &[]).await?;
    let m = &view.metrics;
    if !exists(&view) {
        client.close().await;
        return Err(
            format!("group {group} does not exist (no members, no committed offsets)").into(),
        );
    }
    let owners = m.owners();
    let partitions: BTreeSet<TopicPartition> = view
        .committed
        .keys()
        .chain(owners.keys())
        .cloned()
        .collect();
    let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
    let ends = high_watermarks(&mut client, &partitions).await?;
    client.close().await;
    let rows: Vec<Row> = partitions
        .into_iter()
        .map(|tp| {
            let committed = view.committed.get(&tp).cloned().flatten().map(|o| o.offset);
            let end = ends.get(&tp).copied();
            let owner = owners.get(&tp).cloned();
            Row::new(tp, committed, end, owner)
        })
        .collect();
    let total_lag: i64 = rows.iter().filter_map(|r| r.lag).sum();

    let mut out = std::io::stdout().lock();
    if json {
        let doc = json!({
            "group": group,
            "state": m.state,
            "protocol_type": view.protocol_type,
            "protocol": m.protocol,
            "members": m.members.iter().map(|member| json!({
                "member_id": member.member_id,
                "client_id": member.client_id,
                "host": member.client_host,
                "partitions": member.partitions.iter().map(|tp| json!({
                    "topic": &*tp.topic, "partition": tp.partition,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "assigned_partitions": m.partitions,
            "members_per_partition": m.members_per_partition,
            "total_lag": total_lag,
            "partitions": rows.iter().map(|r| json!({
                "topic": &*r.tp.topic, "partition": r.tp.partition, "committed": r.committed,
                "high_watermark": r.high_watermark, "lag": r.lag, "owner": r.owner,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    writeln!(
        out,
        "group {group}: state {}, protocol type {}, assignor {}, {} member{}, members/partitions {}",
        dash(&m.state),
        dash(&view.protocol_type),
        dash(&m.protocol),
        m.members.len(),
        if m.members.len() == 1 { "" } else { "s" },
        ratio(m),
    )?;
    if !m.members.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:<56} {:<20} {:<20} PARTITIONS",
            "MEMBER", "CLIENT-ID", "HOST"
        )?;
        for member in &m.members {
            writeln!(
                out,
                "{:<56} {:<20} {:<20} {}",
                member.member_id,
                dash(&member.client_id),
                dash(&member.client_host),
                names(&member.partitions),
            )?;
        }
    }
    writeln!(out)?;
    print_rows(&mut out, &rows)
}
