//! `sluice group reset-offsets`: per partition a target offset, clamped
//! into [log start, high watermark] as `kafka-consumer-groups.sh` does,
//! printed and (without --dry-run) committed as an administrator.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::json;
use sluice_fetch::offsets::OffsetSpec;
use sluice_fetch::{FetchClient, TopicPartition};
use sluice_group::admin::{alter_group_offsets, view_group};
use sluice_group::{OffsetAndMetadata, Offsets};

use super::{Result, active};
use crate::watermarks::high_watermarks;

/// Where to move each partition's committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// The log start offset.
    Earliest,
    /// The high watermark.
    Latest,
    /// The first offset at or after this time (ms since the epoch).
    Datetime(i64),
    /// This offset.
    Offset(i64),
    /// The committed offset plus this.
    ShiftBy(i64),
}

/// The partitions `-t` names: `TOPIC` (all of them) or `TOPIC:P[,P...]`.
async fn partitions(client: &mut FetchClient, specs: &[String]) -> Result<Vec<TopicPartition>> {
    let mut out = Vec::new();
    for spec in specs {
        let (topic, chosen) = match spec.split_once(':') {
            Some((t, ps)) => {
                let chosen = ps
                    .split(',')
                    .map(|p| {
                        p.trim()
                            .parse::<i32>()
                            .map_err(|_| format!("-t {spec}: {p:?} is not a partition number"))
                    })
                    .collect::<std::result::Result<Vec<i32>, String>>()?;
                (t, Some(chosen))
            }
            None => (spec.as_str(), None),
        };
        let all = client
            .partitions_for(topic)
            .await
            .map_err(|e| format!("topic {topic}: {e}"))?;
        match chosen {
            None => out.extend(all),
            Some(chosen) => {
                for p in chosen {
                    let tp = TopicPartition::new(topic, p);
                    if !all.contains(&tp) {
                        return Err(format!(
                            "topic {topic} has no partition {p} ({} partitions)",
                            all.len()
                        )
                        .into());
                    }
                    out.push(tp);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The new offset of one partition, clamped into `[start, end]`; `None`
/// old offset with --shift-by is an error (there is nothing to shift).
fn target(
    tp: &TopicPartition,
    target: Target,
    old: Option<i64>,
    start: i64,
    end: i64,
    at_time: Option<i64>,
) -> Result<i64> {
    let wanted = match target {
        Target::Earliest => start,
        Target::Latest => end,
        // No record at or after the time: the end, as the Java tool does.
        Target::Datetime(_) => at_time.unwrap_or(end),
        Target::Offset(n) => n,
        Target::ShiftBy(n) => old
            .ok_or_else(|| format!("cannot shift {tp}: the group has no committed offset for it"))?
            .saturating_add(n),
    };
    Ok(wanted.clamp(start, end.max(start)))
}

/// Runs `sluice group reset-offsets`.
pub(super) async fn run(
    mut client: FetchClient,
    group: &str,
    topics: &[String],
    how: Target,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let tps = partitions(&mut client, topics).await?;
    let view = view_group(client.pool(), group, &tps).await?;
    if let Some(why) = active(group, &view.metrics, "reset the offsets of") {
        client.close().await;
        return Err(why.into());
    }
    let starts = client.list_offsets(&tps, OffsetSpec::Earliest).await?;
    let ends = high_watermarks(&mut client, &tps).await?;
    let at_times: BTreeMap<TopicPartition, Option<i64>> = match how {
        Target::Datetime(ms) => {
            let listed = client.list_offsets(&tps, OffsetSpec::Timestamp(ms)).await?;
            tps.iter()
                .map(|tp| {
                    // Kafka answers -1 when no record is at or after the time;
                    // tansu 0.6 answers offset 0 with timestamp -1.
                    let at = listed
                        .get(tp)
                        .filter(|l| l.offset >= 0 && l.timestamp >= 0)
                        .map(|l| l.offset);
                    (tp.clone(), at)
                })
                .collect()
        }
        _ => BTreeMap::new(),
    };
    let mut rows = Vec::with_capacity(tps.len());
    let mut offsets = Offsets::new();
    for tp in &tps {
        let old = view.committed.get(tp).cloned().flatten().map(|o| o.offset);
        let start = starts.get(tp).map_or(0, |l| l.offset.max(0));
        let end = ends
            .get(tp)
            .copied()
            .ok_or_else(|| format!("no high watermark for {tp}"))?;
        let new = target(
            tp,
            how,
            old,
            start,
            end,
            at_times.get(tp).copied().flatten(),
        )?;
        offsets.insert(tp.clone(), OffsetAndMetadata::new(new));
        rows.push((tp, old, new));
    }
    if !dry_run {
        let committed = alter_group_offsets(client.pool(), group, &offsets).await;
        client.close().await;
        committed?;
    } else {
        client.close().await;
    }

    let mut out = std::io::stdout().lock();
    if json {
        let doc = json!({
            "group": group,
            "dry_run": dry_run,
            "partitions": rows.iter().map(|(tp, old, new)| json!({
                "topic": &*tp.topic, "partition": tp.partition, "old": old, "new": new,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}")?;
    } else {
        writeln!(
            out,
            "{:<32} {:<32} {:>9} {:>12} {:>12}",
            "GROUP", "TOPIC", "PARTITION", "OLD", "NEW"
        )?;
        for (tp, old, new) in &rows {
            writeln!(
                out,
                "{:<32} {:<32} {:>9} {:>12} {:>12}",
                group,
                &*tp.topic,
                tp.partition,
                old.map_or("-".to_string(), |o| o.to_string()),
                new
            )?;
        }
    }
    if dry_run {
        eprintln!("dry run: nothing committed");
    } else {
        eprintln!("committed {} offsets for group {group}", rows.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_clamped_into_the_log() {
        let tp = TopicPartition::new("t", 0);
        let t = |how, old| target(&tp, how, old, 5, 20, Some(12)).unwrap();
        assert_eq!(t(Target::Earliest, Some(10)), 5);
        assert_eq!(t(Target::Latest, Some(10)), 20);
        assert_eq!(t(Target::Offset(3), None), 5);
        assert_eq!(t(Target::Offset(30), None), 20);
        assert_eq!(t(Target::Offset(7), None), 7);
        assert_eq!(t(Target::ShiftBy(-100), Some(10)), 5);
        assert_eq!(t(Target::ShiftBy(4), Some(10)), 14);
        assert_eq!(t(Target::ShiftBy(i64::MAX), Some(10)), 20);
        assert_eq!(t(Target::Datetime(0), None), 12);
        assert_eq!(
            target(&tp, Target::Datetime(0), None, 5, 20, None).unwrap(),
            20
        );
        assert!(target(&tp, Target::ShiftBy(1), None, 5, 20, None).is_err());
    }
}
