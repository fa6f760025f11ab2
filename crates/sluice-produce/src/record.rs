//! What the application sends, and what it hears back.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::error::ProduceError;

/// A record to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// The partition; `None` lets the partitioner choose (murmur2 of the
    /// key, as the Java client; round robin without a key).
    pub partition: Option<i32>,
    /// The key.
    pub key: Option<Bytes>,
    /// The value (`None` is a tombstone).
    pub value: Option<Bytes>,
    /// Headers, in order, duplicates kept.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The timestamp (ms since the epoch); `None` means now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value and nothing else.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            value: Some(value.into()),
            ..ProducerRecord::default()
        }
    }

    /// A tombstone: a key and no value (deletes the key in compacted topics).
    pub fn tombstone(topic: impl Into<String>, key: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            key: Some(key.into()),
            ..ProducerRecord::default()
        }
    }

    /// With a key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// To a given partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// With one more header.
    pub fn header(mut self, key: impl Into<String>, value: Option<Bytes>) -> Self {
        self.headers.push((key.into(), value));
        self
    }

    /// With a timestamp.
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset (-1 with `acks=0`).
    pub offset: i64,
    /// The record's timestamp (the broker's with LogAppendTime topics).
    pub timestamp: i64,
}

/// The outcome of [`crate::Producer::send`]: resolves once the broker
/// acknowledged the record (per `acks`) or it failed for good. Dropping it
/// does not cancel the write.
#[derive(Debug)]
pub struct DeliveryFuture(pub(crate) oneshot::Receiver<Result<RecordMetadata, ProduceError>>);

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ProduceError::Closed)))
    }
}
