//! The records a consumer hands to the application: owned
//! ([`ConsumerRecord`], from a poll) and borrowed ([`ConsumerRecordRef`],
//! from a [`PolledBatch`](crate::polled::PolledBatch)).

use std::sync::Arc;

use bytes::Bytes;
use sluice_wire::records::{Headers, HeadersRef, Record, RecordRef, TimestampType};

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

impl ConsumerRecord {
    /// A borrowed view of this record, the type [`PolledBatch::iter`]
    /// yields, so code written for views takes owned records too.
    ///
    /// [`PolledBatch::iter`]: crate::polled::PolledBatch::iter
    pub fn view(&self) -> ConsumerRecordRef<'_> {
        ConsumerRecordRef {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: self.headers.view(),
            origin: Origin::Owned(self),
        }
    }
}

/// A record handed out by [`PolledBatch`](crate::polled::PolledBatch),
/// borrowed from the fetched (or decompressed) buffer it lies in: reading it
/// touches no reference count and allocates nothing.
/// [`ConsumerRecordRef::to_owned`] keeps it beyond the batch.
#[derive(Clone, Copy)]
pub struct ConsumerRecordRef<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp (ms since the epoch).
    pub timestamp: i64,
    /// Whether the timestamp is the producer's or the broker's.
    pub timestamp_type: TimestampType,
    /// The key, if any.
    pub key: Option<&'a [u8]>,
    /// The value, if any (`None` is a tombstone).
    pub value: Option<&'a [u8]>,
    /// The headers, in order, duplicates kept (parsed as iterated; they
    /// were validated when the record was decoded).
    pub headers: HeadersRef<'a>,
    origin: Origin<'a>,
}

impl std::fmt::Debug for ConsumerRecordRef<'_> {
    // As `ConsumerRecord`'s, without the buffer the record lies in.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerRecordRef")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("timestamp_type", &self.timestamp_type)
            .field("key", &self.key.map(bytes::Bytes::copy_from_slice))
            .field("value", &self.value.map(bytes::Bytes::copy_from_slice))
            .field("headers", &self.headers)
            .finish()
    }
}

/// What an owned copy of a view is made from.
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// Key, value and headers lie in `buffer`; the topic is `tp`'s.
    Buffer {
        tp: &'a TopicPartition,
        buffer: &'a Bytes,
    },
    /// The view of an owned record.
    Owned(&'a ConsumerRecord),
}

impl<'a> ConsumerRecordRef<'a> {
    /// A view of a record of `tp` whose key, value and headers lie in
    /// `buffer` (anything else is copied by [`ConsumerRecordRef::to_owned`]).
    #[inline]
    pub(crate) fn in_buffer(
        tp: &'a TopicPartition,
        buffer: &'a Bytes,
        record: RecordRef<'a>,
    ) -> Self {
        ConsumerRecordRef {
            topic: &tp.topic,
            partition: tp.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: record.timestamp_type,
            key: record.key,
            value: record.value,
            headers: record.headers,
            origin: Origin::Buffer { tp, buffer },
        }
    }

    /// The record without its topic and partition.
    pub fn record(&self) -> RecordRef<'a> {
        RecordRef {
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            key: self.key,
            value: self.value,
            headers: self.headers,
        }
    }

    /// The record's topic-partition.
    pub fn topic_partition(&self) -> TopicPartition {
        match self.origin {
            Origin::Buffer { tp, .. } => tp.clone(),
            Origin::Owned(r) => r.topic_partition(),
        }
    }

    /// The owned record, sharing the fetched buffer (no copy of key, value
    /// or headers: a reference count each).
    pub fn to_owned(&self) -> ConsumerRecord {
        match self.origin {
            Origin::Buffer { tp, buffer } => ConsumerRecord::new(
                tp.topic.clone(),
                tp.partition,
                self.record().to_record(buffer),
            ),
            Origin::Owned(r) => r.clone(),
        }
    }
}
