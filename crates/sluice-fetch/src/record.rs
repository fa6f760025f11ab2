//! The records a consumer hands to the application.

use std::sync::Arc;

use bytes::Bytes;
use sluice_wire::records::{Headers, Record, TimestampType};

use crate::TopicPartition;

/// A record with the topic and partition it came from. Key, value and
/// headers share the fetched (or decompressed) buffer: no copies.
#[derive(Debug, Clone)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp (ms since the epoch).
    pub timestamp: i64,
    /// Whether the timestamp is the producer's or the broker's.
    pub timestamp_type: TimestampType,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value, if any (`None` is a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in order, duplicates kept.
    pub headers: Headers,
}

impl ConsumerRecord {
    /// Wraps a decoded record.
    pub fn new(topic: Arc<str>, partition: i32, record: Record) -> Self {
        ConsumerRecord {
            topic,
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: record.timestamp_type,
            key: record.key,
            value: record.value,
            headers: record.headers,
        }
    }

    /// The record's topic-partition.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }
}
