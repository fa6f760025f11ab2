//! `sluice consume -G GROUP`: consume as a member of a consumer group.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::time::Duration;

use sluice_batch::Metrics;
use sluice_fetch::{PolledBatch, TopicPartition};
use sluice_group::{GroupConfig, GroupConsumer, OffsetAndMetadata, Offsets};

use crate::consume::{ConsumeArgs, config, io_error};
use crate::output::{Format, write_record_ref};

/// Runs the group mode of `sluice consume`.
pub async fn run(args: ConsumeArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.partition.is_some() {
        return Err("-p cannot be used with -G: the group assigns partitions".into());
    }
    let mut group = GroupConfig {
        group_id: args.group.clone().unwrap_or_default(),
        ..GroupConfig::default()
    };
    let mut fetch = config(&args, |key, value| Ok(group.set(key, value)?))?;
    // -o sets where a partition without a committed offset starts, unless -X did.
    if !args
        .properties
        .iter()
        .any(|p| p.starts_with("auto.offset.reset="))
    {
        let reset = match args.offset.as_str() {
            "earliest" | "beginning" => "earliest",
            "latest" | "end" => "latest",
            other => {
                return Err(format!(
                    "-o {other:?} with -G: expected earliest or latest (committed offsets decide the rest)"
                )
                .into());
            }
        };
        fetch.set("auto.offset.reset", reset)?;
    }
    let format = if args.json {
        Format::Json
    } else {
        Format::Value
    };
    let mut metrics = crate::metrics_server::start(args.metrics_addr.as_deref()).await?;
    let mut consumer = GroupConsumer::new(fetch, group).await?;
    consumer.subscribe(args.topics.iter().cloned());

    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut printed: u64 = 0;
    let mut batch = PolledBatch::new();
    // The first high watermark seen for each partition: its end for -e.
    let mut ends: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    let result = async {
        loop {
            if args.count.is_some_and(|c| printed >= c) {
                break;
            }
            if args.exit_at_end && consumer.reached_ends(&mut ends) {
                break;
            }
            // poll commits (auto-commit) what earlier polls returned: it must be
            // out of our buffer first, or a crash would lose committed records.
            out.flush().map_err(io_error)?;
            // The records as views of the fetched buffers, printed straight
            // from them; the batch is handed back each poll.
            consumer
                .poll_batch_into(Duration::from_millis(500), &mut batch)
                .await?;
            if let Some(p) = metrics.as_mut().filter(|p| p.due()) {
                p.publish(Metrics::consumer(consumer.stats()));
            }
            for (i, record) in batch.iter().enumerate() {
                if args.count.is_some_and(|c| printed >= c) {
                    // Not printed: put these partitions back so nothing past them is committed.
                    let mut first_unprinted: Offsets = BTreeMap::new();
                    for r in batch.iter().skip(i) {
                        first_unprinted
                            .entry(r.topic_partition())
                            .or_insert_with(|| OffsetAndMetadata::new(r.offset));
                    }
                    for (tp, o) in first_unprinted {
                        consumer.seek(&tp, o.offset)?;
                    }
                    break;
                }
                write_record_ref(&mut out, record, format).map_err(io_error)?;
                printed += 1;
            }
        }
        out.flush().map_err(io_error)?;
        // Everything returned was printed: commit it, then leave.
        consumer.commit_sync().await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    }
    .await;
    drop(out);
    consumer.close().await?;
    result
}
