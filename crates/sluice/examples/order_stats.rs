//! The seed's use case: consume a topic of JSON order events in batches,
//! compute per-batch amount statistics and per-user sums, write one result
//! per batch to another topic, and commit only after the result is
//! acknowledged (at-least-once).
//!
//! ```text
//! cargo run -p sluice --example order_stats -- 127.0.0.1:9092 orders order-stats
//! ```

use serde_json::json;
use sluice::batch::compute::{stats, sum_by};
use sluice::batch::{Batch, BatchConfig, Output, Pipeline, sync_fn};
use sluice::produce::{Producer, ProducerConfig};
use sluice::{Consumer, ConsumerConfig, OffsetReset};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, input, output] = args.as_slice() else {
        eprintln!("usage: order_stats BOOTSTRAP INPUT_TOPIC OUTPUT_TOPIC");
        std::process::exit(2);
    };

    let config = ConsumerConfig::builder()
        .bootstrap_servers(bootstrap)
        .group_id("order-stats")
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false) // the pipeline commits after each result is acknowledged
        .build()?;
    let mut consumer = Consumer::new(config)?;
    consumer.subscribe(&[input.as_str()]).await?;
    let producer = Producer::connect(ProducerConfig::default().with_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("compression.type", "lz4"),
    ])?)
    .await?;

    let batching = BatchConfig {
        max_records: 10_000,
        ..BatchConfig::default()
    };
    let group = consumer
        .into_group_consumer()
        .expect("subscribed with a group.id");
    let mut pipeline = Pipeline::new(group, Some((producer, output.clone())), batching)?;

    // The computation: a plain function of the batch. An error here is
    // retried with backoff, then stops the run with nothing committed past it.
    let mut compute = sync_fn(|batch: &Batch| {
        let amounts = stats(batch.iter(), "amount");
        let (per_user, skipped) = sum_by(batch.iter(), "user", "amount");
        let result = json!({
            "records": batch.len(),
            "amount": amounts,
            "per_user": per_user,
            "unparsed": skipped,
        });
        Ok(vec![Output::json(&result)])
    });

    let done = pipeline
        .run(&mut compute, true, &mut |progress, _| {
            eprintln!("{} batches, {} records", progress.batches, progress.records);
        })
        .await;
    pipeline.close().await?;
    let progress = done?;
    println!(
        "{} records in {} batches",
        progress.records, progress.batches
    );
    Ok(())
}
