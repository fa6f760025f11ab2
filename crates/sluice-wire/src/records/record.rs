//! The record type every format decodes into.

use bytes::Bytes;

use super::header::Headers;

/// Whose clock a timestamp is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// The producer's (CreateTime).
    #[default]
    CreateTime,
    /// The broker's, when the record was appended (LogAppendTime).
    LogAppendTime,
    /// Magic-0 messages carry none.
    NoTimestamp,
}

/// One record. Key, value and header values are slices of the fetched (or
/// decompressed) buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The offset.
    pub offset: i64,
    /// Milliseconds since the epoch (-1 when there is none).
    pub timestamp: i64,
    /// What the timestamp means.
    pub timestamp_type: TimestampType,
    /// The key.
    pub key: Option<Bytes>,
    /// The value (`None` is a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in order, duplicates kept.
    pub headers: Headers,
}
