//! `sluice group describe G`: the group's state, protocol, assignor and
//! members (for a KIP-848 consumer-protocol group also its epochs and each
//! member's instance id and epoch), and per partition its committed offset,
//! high watermark, lag and owner.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::json;
use sluice_fetch::{FetchClient, TopicPartition};
use sluice_group::admin::{ConsumerGroupInfo, GroupView, view_group};

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
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", to_json(group, &view, &rows))?;
        return Ok(());
    }
    print_text(&mut out, group, &view, &rows)
}

/// The consumer-protocol details (instance id, member epoch) of `member_id`.
fn consumer_member<'a>(
    consumer: Option<&'a ConsumerGroupInfo>,
    member_id: &str,
) -> Option<&'a sluice_group::admin::ConsumerMemberInfo> {
    consumer.and_then(|c| c.members.iter().find(|m| m.member_id == member_id))
}

/// The JSON document of `sluice group describe --json`.
fn to_json(group: &str, view: &GroupView, rows: &[Row]) -> serde_json::Value {
    let m = &view.metrics;
    let consumer = view.consumer.as_ref();
    let total_lag: i64 = rows.iter().filter_map(|r| r.lag).sum();
    json!({
            "group": group,
            "state": m.state,
            "group_protocol": view.group_protocol(),
            "protocol_type": view.protocol_type,
            "protocol": m.protocol,
            "group_epoch": consumer.map(|c| c.group_epoch),
            "assignment_epoch": consumer.map(|c| c.assignment_epoch),
            "members": m.members.iter().map(|member| {
                let kip848 = consumer_member(consumer, &member.member_id);
                json!({
                "member_id": member.member_id,
                "instance_id": kip848.and_then(|c| c.instance_id.clone()),
                "member_epoch": kip848.map(|c| c.member_epoch),
                "client_id": member.client_id,
                "host": member.client_host,
                "partitions": member.partitions.iter().map(|tp| json!({
                    "topic": &*tp.topic, "partition": tp.partition,
                })).collect::<Vec<_>>(),
            })}).collect::<Vec<_>>(),
            "assigned_partitions": m.partitions,
            "members_per_partition": m.members_per_partition,
            "total_lag": total_lag,
            "partitions": rows.iter().map(|r| json!({
                "topic": &*r.tp.topic, "partition": r.tp.partition, "committed": r.committed,
                "high_watermark": r.high_watermark, "lag": r.lag, "owner": r.owner,
            })).collect::<Vec<_>>(),
    })
}

/// The text of `sluice group describe`: the head, the members, the
/// partitions.
fn print_text(out: &mut impl Write, group: &str, view: &GroupView, rows: &[Row]) -> Result<()> {
    let m = &view.metrics;
    let consumer = view.consumer.as_ref();
    let epochs = consumer.map_or(String::new(), |c| {
        format!(
            ", group epoch {}, assignment epoch {}",
            c.group_epoch, c.assignment_epoch
        )
    });
    let protocol = if consumer.is_some() {
        "protocol consumer, "
    } else {
        ""
    };
    writeln!(
        out,
        "group {group}: state {}, {protocol}protocol type {}, assignor {}{epochs}, {} member{}, members/partitions {}",
        dash(&m.state),
        dash(&view.protocol_type),
        dash(&m.protocol),
        m.members.len(),
        if m.members.len() == 1 { "" } else { "s" },
        ratio(m),
    )?;
    if !m.members.is_empty() {
        writeln!(out)?;
        if consumer.is_some() {
            writeln!(
                out,
                "{:<56} {:<20} {:>6} {:<20} {:<20} PARTITIONS",
                "MEMBER", "INSTANCE-ID", "EPOCH", "CLIENT-ID", "HOST"
            )?;
        } else {
            writeln!(
                out,
                "{:<56} {:<20} {:<20} PARTITIONS",
                "MEMBER", "CLIENT-ID", "HOST"
            )?;
        }
        for member in &m.members {
            let kip848 = consumer_member(consumer, &member.member_id);
            if consumer.is_some() {
                write!(
                    out,
                    "{:<56} {:<20} {:>6} ",
                    member.member_id,
                    dash(kip848.and_then(|c| c.instance_id.as_deref()).unwrap_or("")),
                    kip848.map_or("-".to_string(), |c| c.member_epoch.to_string()),
                )?;
            } else {
                write!(out, "{:<56} ", member.member_id)?;
            }
            writeln!(
                out,
                "{:<20} {:<20} {}",
                dash(&member.client_id),
                dash(&member.client_host),
                names(&member.partitions),
            )?;
        }
    }
    writeln!(out)?;
    print_rows(out, rows)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sluice_group::GroupMetrics;

    use super::*;
    use crate::lag::tests::{consumer_info, group, tp};

    fn consumer_view() -> GroupView {
        let mut metrics: GroupMetrics = group(1, 1);
        metrics.protocol = "uniform".into();
        metrics.members[0].partitions = vec![tp("events", 0)];
        GroupView {
            metrics,
            protocol_type: "consumer".into(),
            consumer: Some(consumer_info()),
            committed: BTreeMap::new(),
        }
    }

    #[test]
    fn a_consumer_protocol_group_shows_its_epochs_and_its_members_instance_ids() {
        let view = consumer_view();
        let rows = vec![Row::new(
            tp("events", 0),
            Some(1),
            Some(3),
            Some("member-0".into()),
        )];
        let mut out = Vec::new();
        print_text(&mut out, "g", &view, &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "group g: state Stable, protocol consumer, protocol type consumer, assignor uniform, \
             group epoch 5, assignment epoch 5, 1 member, members/partitions 1.00"
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            [
                "MEMBER",
                "INSTANCE-ID",
                "EPOCH",
                "CLIENT-ID",
                "HOST",
                "PARTITIONS"
            ]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["member-0", "i-0", "4", "c", "/127.0.0.1", "events:0"]
        );

        let doc = to_json("g", &view, &rows);
        assert_eq!(doc["group_protocol"], "consumer");
        assert_eq!(doc["protocol"], "uniform");
        assert_eq!(doc["group_epoch"], 5);
        assert_eq!(doc["assignment_epoch"], 5);
        assert_eq!(doc["members"][0]["instance_id"], "i-0");
        assert_eq!(doc["members"][0]["member_epoch"], 4);
        assert_eq!(doc["members"][0]["partitions"][0]["partition"], 0);
        assert_eq!(doc["total_lag"], 2);
    }

    #[test]
    fn a_classic_group_keeps_its_columns() {
        let mut view = consumer_view();
        view.consumer = None;
        view.metrics.protocol = "range".into();
        let mut out = Vec::new();
        print_text(&mut out, "g", &view, &[]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "group g: state Stable, protocol type consumer, assignor range, 1 member, members/partitions 1.00"
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["member-0", "c", "/127.0.0.1", "events:0"]
        );
        let doc = to_json("g", &view, &[]);
        assert_eq!(doc["group_protocol"], "classic");
        assert_eq!(doc["group_epoch"], serde_json::Value::Null);
        assert_eq!(doc["members"][0]["member_epoch"], serde_json::Value::Null);
    }
}
