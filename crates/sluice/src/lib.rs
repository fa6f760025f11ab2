//! sluice: a Kafka consumer in pure Rust (no librdkafka, no JVM), async,
//! with a batch-processing layer that commits only what was processed.
//!
//! ```no_run
//! use std::time::Duration;
//! use sluice::{Consumer, ConsumerConfig, OffsetReset};
//!
//! # async fn run() -> Result<(), sluice::Error> {
//! let config = ConsumerConfig::builder()
//!     .bootstrap_servers("127.0.0.1:9092")
//!     .group_id("order-stats")
//!     .auto_offset_reset(OffsetReset::Earliest)
//!     .enable_auto_commit(false)
//!     .set("max.poll.records", "500")
//!     .build()?;
//! let mut consumer = Consumer::new(config)?;
//! consumer.subscribe(&["orders"]).await?;
//! loop {
//!     let records = consumer.poll(Duration::from_secs(1)).await?;
//!     if records.is_empty() {
//!         break;
//!     }
//!     for r in &records {
//!         println!("{}/{}@{}: {:?}", r.topic, r.partition, r.offset, r.value);
//!     }
//!     // Everything poll returned is processed: commit it.
//!     consumer.commit_sync().await?;
//! }
//! consumer.close().await?;
//! # Ok(()) }
//! ```
//!
//! Configuration takes the Java/librdkafka keys too (an unknown key or bad
//! value is an error naming it):
//!
//! ```
//! let config = sluice::ConsumerConfig::from_pairs([
//!     ("bootstrap.servers", "127.0.0.1:9092"),
//!     ("group.id", "g"),
//!     ("fetch.min.bytes", "65536"),
//! ]).unwrap();
//! assert_eq!(config.fetch.fetch_min_bytes, 65536);
//! assert!(sluice::ConsumerConfig::from_pairs([("fetch.min.byte", "1")]).is_err());
//! ```
//!
//! Batches, computations and results written back to Kafka: see
//! [`batch`] and `examples/order_stats.rs`.

mod config;
pub mod config_reference;
mod consumer;
mod error;

pub use config::{ConsumerConfig, ConsumerConfigBuilder};
pub use consumer::{Consumer, RecordStream};
pub use error::Error;
pub use sluice_fetch::offsets::OffsetSpec;
pub use sluice_fetch::polled::PolledBatch;
pub use sluice_fetch::record::{ConsumerRecord, ConsumerRecordRef};
pub use sluice_fetch::{IsolationLevel, OffsetReset, TopicPartition};
pub use sluice_group::{
    CommitHandle, GroupMetrics, ListenerFuture, OffsetAndMetadata, Offsets, RebalanceListener,
};
pub use sluice_wire::records::{Header, HeaderRef, Headers, HeadersRef};

/// The metrics snapshot of a consumer, producer and pipeline, and its
/// Prometheus text rendering (the metric names are listed there).
pub mod metrics {
    pub use sluice_batch::metrics::{Metrics, MetricsPublisher, render_prometheus};
    pub use sluice_batch::stats::BatchStatsSnapshot;
    pub use sluice_fetch::histogram::HistogramSnapshot;
    pub use sluice_fetch::stats::{FetchStatsSnapshot, PartitionStats};
    pub use sluice_group::stats::{ConsumerStats, GroupStatsSnapshot, RebalanceStatsSnapshot};
    pub use sluice_produce::stats::ProducerStatsSnapshot;
}

/// Batching, batch computations and at-least-once pipelines.
pub use sluice_batch as batch;
/// The producer used to write results.
pub use sluice_produce as produce;
