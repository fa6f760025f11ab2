//! Cluster metadata, offsets and the fetcher for sluice.
//!
//! The protocol logic is sans-I/O: [`fetcher::Fetcher`], [`cluster::Cluster`]
//! and [`session::FetchSession`] are plain state driven by responses and an
//! injected clock; [`FetchClient`] is the tokio driver that owns the sockets.
//!
//! ```
//! use sluice_fetch::fetcher::Fetcher;
//! use sluice_fetch::{FetchConfig, OffsetReset, TopicPartition};
//!
//! let config = FetchConfig::default().with_pairs([("auto.offset.reset", "earliest"), ("max.poll.records", "100")]).unwrap();
//! assert_eq!(config.auto_offset_reset, OffsetReset::Earliest);
//!
//! let mut fetcher = Fetcher::new(config);
//! let tp = TopicPartition::new("events", 0);
//! fetcher.assign([tp.clone()]);
//! // A new partition first looks its offset up (auto.offset.reset)...
//! assert_eq!(fetcher.offset_lookups().len(), 1);
//! // ...unless the application seeks.
//! fetcher.seek(&tp, 42).unwrap();
//! assert_eq!(fetcher.position(&tp), Some(42));
//! assert!(fetcher.poll().unwrap().is_empty(), "nothing fetched yet");
//! ```
//!
//! With a broker: `FetchClient::connect(config).await?`, `assign`, then
//! `poll(timeout).await?` in a loop, or `poll_batch(timeout).await?` for
//! the same records as views of the fetched buffers ([`PolledBatch`]).

pub mod backoff;
pub mod client;
pub mod cluster;
pub mod config;
pub mod error;
pub mod fetcher;
pub mod histogram;
pub mod offsets;
pub mod partition;
pub mod polled;
pub mod pool;
pub mod record;
pub mod session;
pub mod stats;

pub use client::FetchClient;
pub use config::{FetchConfig, IsolationLevel, OffsetReset};
pub use error::{FetchError, Result};
pub use partition::TopicPartition;
pub use polled::PolledBatch;
pub use record::{ConsumerRecord, ConsumerRecordRef};
pub use stats::{FetchStats, FetchStatsSnapshot, PartitionStats};
