//! Cluster metadata, offsets and the fetcher for sluice.
//!
//! The protocol logic is sans-I/O: [`cluster::Cluster`] and
//! [`session::FetchSession`] are plain state driven by responses and an
//! injected clock.

pub mod client;
pub mod cluster;
pub mod config;
pub mod error;
pub mod fetcher;
pub mod offsets;
pub mod partition;
pub mod pool;
pub mod record;
pub mod session;

pub use client::FetchClient;
pub use config::{FetchConfig, IsolationLevel, OffsetReset};
pub use error::{FetchError, Result};
pub use partition::TopicPartition;
