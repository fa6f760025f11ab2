//! Where a drain puts the records it chooses: one choice of records (offset
//! filtering, skipped batches, the `max.poll.records` cut, the stop at a
//! corrupt record) and several shapes for them, an owned
//! [`ConsumerRecord`] each ([`Fetcher::poll`](super::Fetcher::poll)) or a
//! span of its batch's buffer ([`PolledBatch`], from
//! [`Fetcher::poll_batch`](super::Fetcher::poll_batch)).

use bytes::Bytes;
use sluice_wire::records::{Record, RecordRef};

use crate::TopicPartition;
use crate::polled::PolledBatch;
use crate::record::ConsumerRecord;

/// One record a drain hands out.
#[derive(Debug)]
pub(crate) enum Item<'a> {
    /// A v2 record, borrowed from `buffer` (its batch's records section).
    Ref {
        buffer: &'a Bytes,
        record: RecordRef<'a>,
    },
    /// A legacy record, decoded owned with its batch.
    Owned(Record),
}

impl Item<'_> {
    /// The record's offset.
    #[inline]
    pub fn offset(&self) -> i64 {
        match self {
            Item::Ref { record, .. } => record.offset,
            Item::Owned(r) => r.offset,
        }
    }

    /// The owned record (sharing the buffer, no copy).
    #[inline]
    pub fn into_record(self) -> Record {
        match self {
            Item::Ref { buffer, record } => record.to_record(buffer),
            Item::Owned(r) => r,
        }
    }
}

/// What a poll fills.
pub(crate) trait Sink {
    /// Records taken so far.
    fn len(&self) -> usize;
    /// Room for `n` more.
    fn reserve(&mut self, n: usize);
    /// Takes one record of `tp`.
    fn push(&mut self, tp: &TopicPartition, item: Item<'_>);
}

impl Sink for Vec<ConsumerRecord> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }

    #[inline]
    fn push(&mut self, tp: &TopicPartition, item: Item<'_>) {
        Vec::push(
            self,
            ConsumerRecord::new(tp.topic.clone(), tp.partition, item.into_record()),
        );
    }
}

impl Sink for PolledBatch {
    fn len(&self) -> usize {
        PolledBatch::len(self)
    }

    fn reserve(&mut self, n: usize) {
        self.reserve_spans(n);
    }

    #[inline]
    fn push(&mut self, tp: &TopicPartition, item: Item<'_>) {
        match item {
            Item::Ref { buffer, record } => self.push_ref(tp, buffer, record),
            Item::Owned(r) => {
                self.push_owned(ConsumerRecord::new(tp.topic.clone(), tp.partition, r))
            }
        }
    }
}
