//! The producer's errors.

use sluice_fetch::{FetchError, TopicPartition};
use sluice_wire::{KafkaCode, WireError};

/// What producing fails with.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The broker refused the batch for good (or kept refusing it until
    /// `delivery.timeout.ms`).
    #[error("producing to {tp}: {code}{}", .message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Partition {
        /// The partition (partition -1 for a topic-level error in metadata).
        tp: TopicPartition,
        /// The broker's error code.
        code: KafkaCode,
        /// The broker's explanation, when it gave one.
        message: Option<String>,
    },
    /// The record could not be delivered within `delivery.timeout.ms`.
    #[error("producing to {tp}: not delivered within {timeout_ms} ms (last error: {last})")]
    Timeout {
        /// The partition (or the topic with partition -1 when none was known).
        tp: TopicPartition,
        /// The timeout.
        timeout_ms: u64,
        /// The last failure.
        last: String,
    },
    /// The record is larger than `max.request.size`.
    #[error("a record of {size} bytes is larger than max.request.size ({max})")]
    RecordTooLarge {
        /// Its encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The topic does not exist, or the partition is out of its range.
    #[error("unknown topic or partition {0}")]
    UnknownPartition(String),
    /// Encoding, connection or metadata failed (as text: the error is shared
    /// by every record of a batch).
    #[error("{0}")]
    Client(String),
    /// A configuration key is unknown or its value is bad.
    #[error("config {key}: {message}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The producer was closed.
    #[error("the producer is closed")]
    Closed,
    /// A transactional call failed. `fatal`: the producer refuses all
    /// further use (fenced by a newer instance, not authorized...); else the
    /// caller aborts the transaction and may retry.
    #[error("transaction{}: {message}", if *.fatal { " (fatal)" } else { " (abortable)" })]
    Transaction {
        /// Whether the producer is done for good.
        fatal: bool,
        /// The broker's error code, when one caused it.
        code: Option<KafkaCode>,
        /// What failed.
        message: String,
    },
    /// The broker lacks an API transactions need (tansu 0.6 has no EndTxn).
    #[error("the broker has no {api} (transactions unsupported): {message}")]
    TransactionsUnsupported {
        /// The missing API, e.g. `EndTxn`.
        api: String,
        /// Which broker.
        message: String,
    },
}

impl From<WireError> for ProduceError {
    fn from(e: WireError) -> Self {
        ProduceError::Client(e.to_string())
    }
}

impl From<FetchError> for ProduceError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Config { key, message } => ProduceError::Config { key, message },
            e => ProduceError::Client(e.to_string()),
        }
    }
}

impl ProduceError {
    /// Whether trying again may succeed, following Kafka's error codes.
    pub fn is_retriable(&self) -> bool {
        match self {
            ProduceError::Partition { code, .. } => code.is_retriable(),
            ProduceError::Timeout { .. } | ProduceError::Client(_) => true,
            ProduceError::Transaction { fatal, code, .. } => {
                !fatal && code.is_some_and(|c| c.is_retriable())
            }
            _ => false,
        }
    }
}
