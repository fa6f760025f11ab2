//! A fetched partition's data waiting to be polled: decoded lazily, one batch
//! at a time as records go out, with transactional filtering for
//! read_committed.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;
use sluice_wire::WireError;
use sluice_wire::records::{Batch, RecordCursor, RecordDecoder, Records, whole_batch_len};

use super::sink::Sink;
use crate::TopicPartition;

/// The batch whose records are going out, and the place in it.
#[derive(Debug)]
enum Current {
    /// A v2 batch: records go out as views of its buffer, each parsed once.
    V2 { batch: Batch, cursor: RecordCursor },
    /// Legacy messages, decoded owned when the batch was.
    Legacy(Records),
}

/// One partition's share of a fetch response.
#[derive(Debug)]
pub(crate) struct CompletedFetch {
    pub tp: TopicPartition,
    /// The offset the next record handed out must be at or after; it only
    /// moves forward, past records returned and batches skipped.
    pub next_offset: i64,
    /// Bytes of record data this fetch holds (for the queued-bytes bound).
    pub bytes: usize,
    /// The batches not yet decoded. A compressed batch is decompressed only
    /// when its records are next to go out, so one batch's output is live at
    /// a time (not a whole fetch's, which for zstd text is 20x its size).
    raw: Bytes,
    /// The batch being handed out; its records are parsed as they go out.
    current: Option<Current>,
    current_end: Option<i64>,
    read_committed: bool,
    /// Aborted transactions `(producer id, first offset)` by first offset.
    aborted: VecDeque<(i64, i64)>,
    aborted_producers: HashSet<i64>,
}

impl CompletedFetch {
    pub fn new(
        tp: TopicPartition,
        fetch_offset: i64,
        records: Bytes,
        read_committed: bool,
        mut aborted: Vec<(i64, i64)>,
    ) -> Self {
        aborted.sort_by_key(|&(_, first)| first);
        CompletedFetch {
            tp,
            next_offset: fetch_offset,
            bytes: records.len(),
            raw: records,
            current: None,
            current_end: None,
            read_committed,
            aborted: aborted.into(),
            aborted_producers: HashSet::new(),
        }
    }

    /// True once every record has been handed out or skipped.
    pub fn is_drained(&self) -> bool {
        self.raw.is_empty() && self.current.is_none()
    }

    /// Moves up to `max` records into `out`. Records before `next_offset`
    /// (the start of a batch fetched from its middle), control batches and,
    /// under read_committed, aborted transactions are skipped; `next_offset`
    /// moves past them. On a decode error nothing after the error is handed
    /// out and `next_offset` stays at the first record not returned.
    ///
    /// `out` decides what a record becomes (an owned record, a span of its
    /// batch's buffer): the choice of records is made here alone.
    pub fn drain(
        &mut self,
        decoder: &mut RecordDecoder,
        max: usize,
        out: &mut impl Sink,
    ) -> Result<(), WireError> {
        let mut taken = 0;
        while taken < max {
            if let Some(current) = self.current.as_mut() {
                // Each arm hands out at most one record; `None` once the
                // batch has no more.
                let more = match current {
                    Current::V2 { batch, cursor } => match cursor.next(batch) {
                        Some(record) => {
                            let record = record?;
                            if record.offset >= self.next_offset {
                                self.next_offset = record.offset + 1;
                                out.push_ref(&self.tp, batch.buffer(), &record);
                                taken += 1;
                            }
                            Some(cursor.remaining() > 0)
                        }
                        None => None,
                    },
                    Current::Legacy(records) => match records.next() {
                        Some(record) => {
                            let record = record?;
                            if record.offset >= self.next_offset {
                                self.next_offset = record.offset + 1;
                                out.push_owned(&self.tp, record);
                                taken += 1;
                            }
                            Some(records.size_hint().1 != Some(0))
                        }
                        None => None,
                    },
                };
                if more != Some(true) {
                    self.current = None; // nothing left in this batch
                }
                if more.is_some() {
                    continue;
                }
            }
            if let Some(end) = self.current_end.take() {
                self.next_offset = self.next_offset.max(end + 1);
            }
            // A batch that does not decode ends the drain before it: the
            // records before it have gone out and `next_offset` names it.
            let Some(batch) = decoder.next_batch(&mut self.raw)? else {
                break;
            };
            let last = batch.header.last_offset();
            if last < self.next_offset {
                continue;
            }
            if self.skip(&batch) {
                self.current_end = Some(last);
                continue;
            }
            // Records are decoded as they go out, each parsed once. A record
            // that does not parse (the CRC held, so a producer wrote it wrong)
            // ends the drain there: the records before it are handed out and
            // `next_offset` names it, as the Java consumer does.
            self.current = Some(if batch.header.magic == 2 {
                let cursor = batch.cursor();
                Current::V2 { batch, cursor }
            } else {
                Current::Legacy(batch.records())
            });
            self.current_end = Some(last);
        }
        // Out of whole batches: what is left may be a torn tail (brokers cut
        // responses at the byte limit). Drop it now, so the partition counts
        // as drained and is fetched again without waiting for another poll to
        // find nothing. A framing error stays for the next drain to report.
        if self.current.is_none() && matches!(whole_batch_len(&self.raw), Ok(None)) {
            self.raw.clear();
            if let Some(end) = self.current_end.take() {
                self.next_offset = self.next_offset.max(end + 1);
            }
        }
        Ok(())
    }

    /// Whether a whole batch is skipped: control batches always (their
    /// records are markers, not data), and under read_committed the batches
    /// of aborted transactions.
    fn skip(&mut self, batch: &Batch) -> bool {
        let h = &batch.header;
        if self.read_committed {
            while let Some(&(pid, first)) = self.aborted.front() {
                if first > h.last_offset() {
                    break;
                }
                self.aborted_producers.insert(pid);
                self.aborted.pop_front();
            }
            if h.is_control() {
                // A producer has one open transaction at a time, so its next
                // marker ends the aborted transaction we were skipping.
                self.aborted_producers.remove(&h.producer_id);
                return true;
            }
            if h.is_transactional() && self.aborted_producers.contains(&h.producer_id) {
                return true;
            }
        }
        h.is_control()
    }
}
