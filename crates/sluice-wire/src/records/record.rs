//! The record type every format decodes into.

use bytes::Bytes;

use super::header::{Headers, HeadersRef};

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

impl Record {
    /// A borrowed view of this record.
    pub fn view(&self) -> RecordRef<'_> {
        RecordRef {
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: self.headers.view(),
        }
    }
}

/// One record borrowed from its batch's buffer: reading it touches no
/// reference count and allocates nothing. [`RecordRef::to_record`] makes
/// the owned [`Record`].
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// The offset.
    pub offset: i64,
    /// Milliseconds since the epoch (-1 when there is none).
    pub timestamp: i64,
    /// What the timestamp means.
    pub timestamp_type: TimestampType,
    /// The key.
    pub key: Option<&'a [u8]>,
    /// The value (`None` is a tombstone).
    pub value: Option<&'a [u8]>,
    /// The headers, in order, duplicates kept.
    pub headers: HeadersRef<'a>,
}

impl RecordRef<'_> {
    /// The owned record. Key, value and headers that lie in `buffer` (the
    /// batch's [`Batch::buffer`](super::Batch::buffer)) become slices of
    /// it, without copying; anything else is copied.
    #[inline]
    pub fn to_record(&self, buffer: &Bytes) -> Record {
        Record {
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            key: self.key.map(|k| share(buffer, k)),
            value: self.value.map(|v| share(buffer, v)),
            headers: self.headers.to_headers(buffer),
        }
    }
}

/// `part` as a slice of `buffer` when it lies inside it, a copy otherwise.
#[inline]
pub(crate) fn share(buffer: &Bytes, part: &[u8]) -> Bytes {
    if part.is_empty() {
        return Bytes::new();
    }
    let at = (part.as_ptr() as usize).wrapping_sub(buffer.as_ptr() as usize);
    if at <= buffer.len() && part.len() <= buffer.len() - at {
        buffer.slice(at..at + part.len())
    } else {
        Bytes::copy_from_slice(part)
    }
}
