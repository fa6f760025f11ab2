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

/// What a poll fills.
pub(crate) trait Sink {
    /// Records taken so far.
    fn len(&self) -> usize;
    /// Room for `n` more.
    fn reserve(&mut self, n: usize);
    /// Takes a v2 record of `tp`, borrowed from `buffer` (its batch's
    /// records section).
    fn push_ref(&mut self, tp: &TopicPartition, buffer: &Bytes, record: &RecordRef<'_>);
    /// Takes a legacy record of `tp`, decoded owned with its batch.
    fn push_owned(&mut self, tp: &TopicPartition, record: Record);
}

impl Sink for Vec<ConsumerRecord> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }

    #[inline]
    fn push_ref(&mut self, tp: &TopicPartition, buffer: &Bytes, record: &RecordRef<'_>) {
        let record = record.to_record(buffer);
        self.push(ConsumerRecord::new(tp.topic.clone(), tp.partition, record));
    }

    fn push_owned(&mut self, tp: &TopicPartition, record: Record) {
        self.push(ConsumerRecord::new(tp.topic.clone(), tp.partition, record));
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
    fn push_ref(&mut self, tp: &TopicPartition, buffer: &Bytes, record: &RecordRef<'_>) {
        PolledBatch::push_ref(self, tp, buffer, record);
    }

    fn push_owned(&mut self, tp: &TopicPartition, record: Record) {
        PolledBatch::push_owned(
            self,
            ConsumerRecord::new(tp.topic.clone(), tp.partition, record),
        );
    }
}
