//! `sluice topic list` and `sluice topic describe`: what Metadata says of
//! the topics, and each partition's log start offset and exact high
//! watermark.

use std::io::Write;

use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
use serde_json::json;
use sluice_fetch::cluster::Cluster;
use sluice_fetch::offsets::OffsetSpec;
use sluice_fetch::{FetchClient, TopicPartition};
use sluice_wire::KafkaCode;

use crate::watermarks::high_watermarks;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

async fn metadata(client: &FetchClient, request: MetadataRequest) -> Result<MetadataResponse> {
    let conn = client.pool().least_loaded().await?;
    Ok(conn.send(request).await?)
}

fn topic_name(t: &kafka_protocol::messages::metadata_response::MetadataResponseTopic) -> String {
    t.name
        .as_ref()
        .map_or_else(String::new, |n| n.0.to_string())
}

/// Prints every topic of the cluster with its partition count, sorted.
pub(super) async fn list(client: FetchClient, json: bool) -> Result<()> {
    let none: Option<std::iter::Empty<&str>> = None;
    let response = metadata(&client, Cluster::request_for(none)).await?;
    client.close().await;
    let mut topics: Vec<(String, usize, bool)> = Vec::new();
    for t in &response.topics {
        let code = KafkaCode(t.error_code);
        if !code.is_ok() {
            return Err(format!("listing topics: {} answered {code}", topic_name(t)).into());
        }
        topics.push((topic_name(t), t.partitions.len(), t.is_internal));
    }
    topics.sort();
    let mut out = std::io::stdout().lock();
    if json {
        let doc = json!({
            "topics": topics.iter().map(|(name, partitions, internal)| json!({
                "topic": name, "partitions": partitions, "internal": internal,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    writeln!(out, "{:<48} {:>10}", "TOPIC", "PARTITIONS")?;
    for (name, partitions, internal) in &topics {
        let mark = if *internal { "  (internal)" } else { "" };
        writeln!(out, "{name:<48} {partitions:>10}{mark}")?;
    }
    Ok(())
}

/// One partition as `describe` shows it.
struct Row {
    partition: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    log_start: Option<i64>,
    high_watermark: Option<i64>,
}

/// Prints, per partition of each of `topics`, the leader, replicas, ISR,
/// log start offset and high watermark. An unknown topic is an error.
pub(super) async fn describe(mut client: FetchClient, topics: &[String], json: bool) -> Result<()> {
    let response = metadata(
        &client,
        Cluster::request_for(Some(topics.iter().map(String::as_str))),
    )
    .await?;
    let mut described = Vec::new();
    for name in topics {
        let Some(t) = response.topics.iter().find(|t| topic_name(t) == *name) else {
            return Err(format!("unknown topic {name}: Metadata did not answer for it").into());
        };
        match KafkaCode(t.error_code) {
            KafkaCode::NONE => {}
            KafkaCode::UNKNOWN_TOPIC_OR_PARTITION => {
                return Err(format!("unknown topic {name} (UNKNOWN_TOPIC_OR_PARTITION)").into());
            }
            code => return Err(format!("describing topic {name}: {code}").into()),
        }
        let mut partitions: Vec<_> = t.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition_index);
        let tps: Vec<TopicPartition> = partitions
            .iter()
            .map(|p| TopicPartition::new(name.as_str(), p.partition_index))
            .collect();
        let starts = client.list_offsets(&tps, OffsetSpec::Earliest).await?;
        let ends = high_watermarks(&mut client, &tps).await?;
        let rows: Vec<Row> = partitions
            .iter()
            .zip(&tps)
            .map(|(p, tp)| Row {
                partition: p.partition_index,
                leader: p.leader_id.0,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                log_start: starts.get(tp).map(|l| l.offset),
                high_watermark: ends.get(tp).copied(),
            })
            .collect();
        described.push((name.clone(), t.topic_id, t.is_internal, rows));
    }
    client.close().await;

    let mut out = std::io::stdout().lock();
    if json {
        let doc = json!({
            "topics": described.iter().map(|(name, id, internal, rows)| json!({
                "topic": name,
                "id": id.to_string(),
                "internal": internal,
                "partitions": rows.iter().map(|r| json!({
                    "partition": r.partition, "leader": r.leader, "replicas": r.replicas,
                    "isr": r.isr, "log_start": r.log_start, "high_watermark": r.high_watermark,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let ids = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let dash = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    for (name, id, _, rows) in &described {
        writeln!(out, "topic {name} (id {id}, {} partitions)", rows.len())?;
        writeln!(
            out,
            "{:>9} {:>7} {:<16} {:<16} {:>12} {:>14}",
            "PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START", "HIGH-WATERMARK"
        )?;
        for r in rows {
            writeln!(
                out,
                "{:>9} {:>7} {:<16} {:<16} {:>12} {:>14}",
                r.partition,
                r.leader,
                ids(&r.replicas),
                ids(&r.isr),
                dash(r.log_start),
                dash(r.high_watermark),
            )?;
        }
    }
    Ok(())
}
