//! The crate's one error type.

use sluice_wire::{KafkaCode, WireError};

use crate::TopicPartition;

/// Everything the fetcher, metadata and offset lookups can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The connection or codec layer failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A broker answered with an error code for a partition.
    #[error("{code} for {tp} in {api}")]
    Partition {
        /// The API that failed.
        api: &'static str,
        /// The partition.
        tp: TopicPartition,
        /// The error code.
        code: KafkaCode,
    },
    /// A broker answered with a request-level error code.
    #[error("{code} in {api} from broker {broker}")]
    Broker {
        /// The API that failed.
        api: &'static str,
        /// The broker's node id.
        broker: i32,
        /// The error code.
        code: KafkaCode,
    },
    /// `auto.offset.reset=none` and the partition has no valid position.
    #[error("no offset for {tp} and auto.offset.reset is none{}", offset.map(|o| format!(" (offset {o} is out of range)")).unwrap_or_default())]
    NoOffsetForPartition {
        /// The partition.
        tp: TopicPartition,
        /// The out-of-range offset, when a fetch found one.
        offset: Option<i64>,
    },
    /// A record batch fetched from a partition does not decode.
    #[error("corrupt data in {tp} at offset {offset}: {source}")]
    Corrupt {
        /// The partition.
        tp: TopicPartition,
        /// The fetch position (or batch offset) where decoding failed.
        offset: i64,
        /// What was wrong.
        #[source]
        source: WireError,
    },
    /// The topic does not exist (or is not authorized).
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// The partition is not part of the current assignment.
    #[error("{0} is not assigned to this consumer")]
    NotAssigned(TopicPartition),
    /// A configuration key is unknown or its value is bad.
    #[error("config {key}: {message}")]
    Config {
        /// The key, as given.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// No bootstrap broker could be reached.
    #[error("no broker reachable (tried {tried}): {last}")]
    NoBrokerReachable {
        /// The addresses tried.
        tried: String,
        /// The last error.
        last: String,
    },
    /// The operation did not finish in time.
    #[error("{0} timed out")]
    Timeout(&'static str),
}

impl FetchError {
    /// Whether retrying may succeed, following Kafka's classification of error codes.
    pub fn is_retriable(&self) -> bool {
        match self {
            FetchError::Wire(e) => e.is_retriable(),
            FetchError::Partition { code, .. } | FetchError::Broker { code, .. } => {
                code.is_retriable()
            }
            FetchError::NoBrokerReachable { .. } | FetchError::Timeout(_) => true,
            _ => false,
        }
    }

    /// Whether the error says the security settings are wrong (credentials,
    /// certificates, `security.protocol`): reconnecting with them fails the
    /// same way, so it is surfaced instead of retried.
    pub fn is_security(&self) -> bool {
        match self {
            FetchError::Wire(e) => e.is_security(),
            _ => false,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = FetchError> = std::result::Result<T, E>;
