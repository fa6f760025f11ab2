//! Batch processing for sluice: cut a topic's records into batches by count,
//! bytes and linger time (optionally per partition or per key), run the
//! application's function on each, write its results to a topic, and commit
//! only after the function and the writes succeeded (at-least-once). A
//! failing batch is retried with backoff, then stops the run with the error;
//! it is never skipped. With `processing.guarantee=exactly_once_v2` each
//! batch's results and offsets commit in one transaction instead
//! ([`pipeline::exactly_once`]).
//!
//! The batching itself is sans-I/O ([`Batcher`]), and the built-in
//! computations are plain functions ([`compute`]):
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use sluice_batch::{BatchConfig, Batcher, Computation};
//! use sluice_fetch::record::ConsumerRecord;
//! use sluice_wire::records::{Headers, TimestampType};
//!
//! let order = |offset: i64, user: &str, amount: f64| ConsumerRecord {
//!     topic: "orders".into(), partition: 0, offset, timestamp: 0,
//!     timestamp_type: TimestampType::CreateTime, key: None, headers: Headers::default(),
//!     value: Some(Bytes::from(format!(r#"{{"user":"{user}","amount":{amount}}}"#))),
//! };
//! let mut batcher = Batcher::new(BatchConfig { max_records: 2, ..BatchConfig::default() });
//! let now = Instant::now();
//! for (i, (user, amount)) in [("ann", 5.0), ("bob", 2.5), ("ann", 1.0)].into_iter().enumerate() {
//!     batcher.push(order(i as i64, user, amount), now);
//! }
//! let batch = batcher.take_ready().expect("two records make a batch");
//! let stats = "stats:amount".parse::<Computation>().unwrap().run(batch.iter());
//! assert_eq!(stats["sum"], 7.5);
//! // Only the finished batch may be committed: offset 2 still waits.
//! assert_eq!(batcher.committable().values().copied().collect::<Vec<_>>(), vec![2]);
//! ```
//!
//! With a broker, [`Pipeline`] drives a `GroupConsumer` and a `Producer`:
//! `Pipeline::new(consumer, Some((producer, "results".into())), config)?`
//! then `run(&mut f, until_drained, &mut on_progress).await`.

mod batch;
pub mod batcher;
pub mod compute;
pub mod config;
pub mod error;
pub mod metrics;
pub mod pipeline;
pub mod stats;

pub use batcher::{Batch, Batcher, PartitionRange};
pub use compute::Computation;
pub use config::{BatchConfig, GroupBy, Guarantee};
pub use error::{BatchError, BoxError};
pub use metrics::{Metrics, MetricsPublisher, render_prometheus};
pub use pipeline::{
    AsyncFn, BatchFn, BatchFuture, Output, Pipeline, Progress, SyncFn, async_fn, sync_fn,
};
pub use stats::{BatchStats, BatchStatsSnapshot};
