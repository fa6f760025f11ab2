//! The consumer crate's error.

use sluice_batch::BatchError;
use sluice_fetch::FetchError;
use sluice_group::GroupError;
use sluice_produce::ProduceError;

/// What a [`crate::Consumer`] fails with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fetching or metadata.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The consumer group.
    #[error(transparent)]
    Group(#[from] GroupError),
    /// Producing.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// The batch layer.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A configuration key is unknown or its value is bad.
    #[error("config {key}: {message}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The call does not fit how the consumer was set up (commit without a
    /// group, subscribe without group.id...).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Whether retrying may succeed, following Kafka's error codes.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Fetch(e) => e.is_retriable(),
            Error::Group(e) => e.is_retriable(),
            Error::Produce(e) => e.is_retriable(),
            Error::Batch(e) => e.is_retriable(),
            _ => false,
        }
    }
}
