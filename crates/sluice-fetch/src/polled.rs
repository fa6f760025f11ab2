//! [`PolledBatch`]: a poll's records as views of the fetched buffers, the
//! zero-copy alternative to the `Vec<ConsumerRecord>` a poll returns.
//!
//! # Design
//!
//! An owned [`ConsumerRecord`] costs, per record, a reference-count
//! increment for its topic and for each of key, value and headers that it
//! holds (and as many decrements when it is dropped), and a move of about
//! 150 bytes. A batch view costs none of that per record:
//!
//! - **Buffers, once per batch.** A [`PolledBatch`] holds one segment per
//!   run of records from the same fetched batch: the batch's records section
//!   (a [`Bytes`] slice of the fetch response, or the batch's decompressed
//!   output) and its topic-partition, each cloned once per batch.
//! - **Spans, once per record.** Each record is a 48-byte `Span`: offset,
//!   timestamp, and the places of key, value and headers in the segment's
//!   buffer as `u32` start and length. Spans are filled by the same single
//!   parse that decodes a record for [`Fetcher::poll`]; iterating builds a
//!   [`ConsumerRecordRef`] from a span with three slice operations and never
//!   parses the record again (headers stay the raw bytes validated at that
//!   parse, read as they are iterated, as [`HeadersRef`] always does).
//! - **One choice of records.** [`Fetcher::poll_batch`] and [`Fetcher::poll`]
//!   run the same code to choose records (`max.poll.records`, offsets before
//!   the position, control batches, aborted transactions, the stop at a
//!   corrupt record, the position after) and differ only in what a chosen
//!   record becomes (the fetcher's private `Sink`).
//! - **Owned when it has to be.** A legacy (magic 0/1) record is decoded
//!   owned with its batch, and a buffer too large for `u32` places is not
//!   spanned; such records sit in an owned segment, and a batch made from
//!   owned records ([`PolledBatch::from_records`], e.g. what a group
//!   member's poll returned) is all owned segments. The views are the same.
//! - **Valid as long as the batch.** The batch owns its buffers, so its
//!   records stay valid while it lives, across later polls too; holding it
//!   holds the buffers' memory (at most what one poll handed out, which is
//!   outside `queued.max.bytes` as owned records are). Dropping it is one
//!   reference-count decrement per segment. A decompressed batch's buffer
//!   goes back to the decoder for reuse once no batch (or owned record)
//!   holds it, so drop or hand back the last batch before the next poll.
//! - **Reuse.** [`Fetcher::poll_batch_into`] refills a batch the caller
//!   hands back, keeping its allocations, so a poll loop allocates nothing
//!   once warm.
//!
//! [`Fetcher::poll`]: crate::fetcher::Fetcher::poll
//! [`Fetcher::poll_batch`]: crate::fetcher::Fetcher::poll_batch
//! [`Fetcher::poll_batch_into`]: crate::fetcher::Fetcher::poll_batch_into
//!
//! ```
//! use sluice_fetch::polled::PolledBatch;
//! use sluice_fetch::record::ConsumerRecord;
//! use sluice_wire::records::{BatchBuilder, Compression, DecodeOptions, RecordDecoder};
//!
//! let mut b = BatchBuilder::new(Compression::None);
//! b.push(1_700_000_000_000, Some(b"k"), Some(b"v"), &[(b"h", Some(b"1"))]);
//! let batch = RecordDecoder::new(DecodeOptions::default())
//!     .decode_batches(b.build(7).unwrap())
//!     .unwrap()
//!     .remove(0);
//! let record = ConsumerRecord::new("t".into(), 0, batch.records().next().unwrap().unwrap());
//!
//! let polled = PolledBatch::from_records(vec![record.clone()]);
//! let view = polled.iter().next().unwrap();
//! assert_eq!((view.topic, view.offset, view.value), ("t", 7, Some(&b"v"[..])));
//! assert_eq!(view.headers.get(b"h"), Some(Some(&b"1"[..])));
//! assert_eq!(polled.next_offsets(), vec![(record.topic_partition(), 8)]);
//! assert_eq!(polled.into_records()[0].value, record.value);
//! ```

use bytes::Bytes;
use sluice_wire::records::{HeadersRef, RecordRef, TimestampType};

use crate::TopicPartition;
use crate::record::{ConsumerRecord, ConsumerRecordRef};

/// A poll's records, borrowing the fetched buffers: see the
/// [module documentation](self). Iterate with [`PolledBatch::iter`]; keep
/// records beyond the batch with [`PolledBatch::to_owned`],
/// [`PolledBatch::into_records`] or [`ConsumerRecordRef::to_owned`].
#[derive(Default)]
pub struct PolledBatch {
    segments: Vec<Segment>,
    spans: Vec<Span>,
    len: usize,
}

impl std::fmt::Debug for PolledBatch {
    // Not the buffers' bytes: a batch holds up to a fetch's worth.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolledBatch")
            .field("len", &self.len)
            .field("next_offsets", &self.next_offsets())
            .finish()
    }
}

/// A run of records of one partition.
struct Segment {
    tp: TopicPartition,
    store: Store,
}

enum Store {
    /// Records as spans `spans[start..end]` of `buffer`.
    Spans {
        buffer: Bytes,
        timestamp_type: TimestampType,
        start: usize,
        end: usize,
    },
    /// Records held owned.
    Owned(Vec<ConsumerRecord>),
}

/// Where a slice lies in a segment's buffer; `len == NULL` is `None`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: u32,
    len: u32,
}

const NULL: u32 = u32::MAX;

impl Slot {
    const NONE: Slot = Slot {
        start: 0,
        len: NULL,
    };
    const EMPTY: Slot = Slot { start: 0, len: 0 };

    /// `part`'s place in `buffer` (of fewer than `u32::MAX` bytes), if it
    /// lies there.
    #[inline(always)]
    fn of(buffer: &[u8], part: &[u8]) -> Option<Slot> {
        if part.is_empty() {
            return Some(Slot::EMPTY);
        }
        let at = (part.as_ptr() as usize).wrapping_sub(buffer.as_ptr() as usize);
        (at <= buffer.len() && part.len() <= buffer.len() - at).then_some(Slot {
            start: at as u32,
            len: part.len() as u32,
        })
    }

    #[inline(always)]
    fn of_option(buffer: &[u8], part: Option<&[u8]>) -> Option<Slot> {
        match part {
            None => Some(Slot::NONE),
            Some(p) => Slot::of(buffer, p),
        }
    }

    /// The slice (never `None` for a slot made by [`Slot::of`]).
    #[inline(always)]
    fn get(self, buffer: &[u8]) -> &[u8] {
        let start = self.start as usize;
        // In range by construction; an empty slice rather than a panic if not.
        buffer
            .get(start..start + self.len as usize)
            .unwrap_or_default()
    }

    #[inline(always)]
    fn get_option(self, buffer: &[u8]) -> Option<&[u8]> {
        (self.len != NULL).then(|| self.get(buffer))
    }
}

/// One record in a segment's buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    offset: i64,
    timestamp: i64,
    key: Slot,
    value: Slot,
    headers: Slot,
    header_count: u32,
}

// The size the design counts on (see the module documentation).
const _: () = assert!(std::mem::size_of::<Span>() == 48);

impl Span {
    /// The span of a record whose key, value and headers lie in `buffer`.
    #[inline(always)]
    fn of(buffer: &[u8], r: &RecordRef<'_>) -> Option<Span> {
        if buffer.len() >= NULL as usize {
            return None;
        }
        let (raw, count) = r.headers.raw_parts()?;
        let (headers, header_count) = if count == 0 {
            (Slot::EMPTY, 0)
        } else {
            (Slot::of(buffer, raw)?, u32::try_from(count).ok()?)
        };
        Some(Span {
            offset: r.offset,
            timestamp: r.timestamp,
            key: Slot::of_option(buffer, r.key)?,
            value: Slot::of_option(buffer, r.value)?,
            headers,
            header_count,
        })
    }

    #[inline(always)]
    fn view<'a>(
        &self,
        tp: &'a TopicPartition,
        buffer: &'a Bytes,
        timestamp_type: TimestampType,
    ) -> ConsumerRecordRef<'a> {
        let record = RecordRef {
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type,
            key: self.key.get_option(buffer),
            value: self.value.get_option(buffer),
            headers: HeadersRef::from_raw_parts(
                self.headers.get(buffer),
                self.header_count as usize,
            ),
        };
        ConsumerRecordRef::in_buffer(tp, buffer, record)
    }
}

impl PolledBatch {
    /// An empty batch.
    pub fn new() -> Self {
        PolledBatch::default()
    }

    /// A batch of owned records (what a poll returned), in their order.
    pub fn from_records(records: Vec<ConsumerRecord>) -> Self {
        let mut batch = PolledBatch::new();
        for r in records {
            batch.push_owned(r);
        }
        batch
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the batch, keeping its allocations for the next poll.
    pub fn clear(&mut self) {
        self.segments.clear();
        self.spans.clear();
        self.len = 0;
    }

    /// The records in poll order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            segments: self.segments.iter(),
            spans: &self.spans,
            current: Current::Done,
            remaining: self.len,
        }
    }

    /// Per partition in the batch (in order of first appearance), the
    /// offset after its last record here: what to commit once the batch is
    /// processed.
    pub fn next_offsets(&self) -> Vec<(TopicPartition, i64)> {
        let mut out: Vec<(TopicPartition, i64)> = Vec::new();
        for s in &self.segments {
            let last = match &s.store {
                Store::Spans { start, end, .. } => self
                    .spans
                    .get(*start..*end)
                    .and_then(|spans| spans.last())
                    .map(|span| span.offset),
                Store::Owned(records) => records.last().map(|r| r.offset),
            };
            let Some(last) = last else { continue };
            match out.iter_mut().find(|(tp, _)| *tp == s.tp) {
                Some((_, next)) => *next = (*next).max(last + 1),
                None => out.push((s.tp.clone(), last + 1)),
            }
        }
        out
    }

    /// The records, owned (sharing the buffers: a reference count for each
    /// of topic, key, value and headers).
    pub fn to_owned(&self) -> Vec<ConsumerRecord> {
        self.iter().map(|r| r.to_owned()).collect()
    }

    /// The records, owned, consuming the batch (owned segments move out).
    pub fn into_records(self) -> Vec<ConsumerRecord> {
        let mut out = Vec::with_capacity(self.len);
        for s in self.segments {
            match s.store {
                Store::Spans {
                    buffer,
                    timestamp_type,
                    start,
                    end,
                } => {
                    for span in self.spans.get(start..end).unwrap_or_default() {
                        out.push(span.view(&s.tp, &buffer, timestamp_type).to_owned());
                    }
                }
                Store::Owned(records) => out.extend(records),
            }
        }
        out
    }

    pub(crate) fn reserve_spans(&mut self, n: usize) {
        self.spans.reserve(n);
    }

    /// Adds a record of `tp` lying in `buffer` (its batch's records).
    #[inline]
    pub(crate) fn push_ref(&mut self, tp: &TopicPartition, buffer: &Bytes, record: &RecordRef<'_>) {
        let Some(span) = Span::of(buffer, record) else {
            let owned = record.to_record(buffer);
            return self.push_owned(ConsumerRecord::new(tp.topic.clone(), tp.partition, owned));
        };
        let i = self.spans.len();
        match self.segments.last_mut() {
            // Same buffer, so same batch (it is held, so its memory is not reused).
            Some(Segment {
                store: Store::Spans { buffer: b, end, .. },
                ..
            }) if b.as_ptr() == buffer.as_ptr() && b.len() == buffer.len() => *end = i + 1,
            _ => self.segments.push(Segment {
                tp: tp.clone(),
                store: Store::Spans {
                    buffer: buffer.clone(),
                    timestamp_type: record.timestamp_type,
                    start: i,
                    end: i + 1,
                },
            }),
        }
        self.spans.push(span);
        self.len += 1;
    }

    /// Adds an owned record.
    pub(crate) fn push_owned(&mut self, record: ConsumerRecord) {
        self.len += 1;
        if let Some(Segment {
            tp,
            store: Store::Owned(records),
        }) = self.segments.last_mut()
        {
            if tp.partition == record.partition && tp.topic == record.topic {
                records.push(record);
                return;
            }
        }
        self.segments.push(Segment {
            tp: record.topic_partition(),
            store: Store::Owned(vec![record]),
        });
    }
}

impl<'a> IntoIterator for &'a PolledBatch {
    type Item = ConsumerRecordRef<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The records of a [`PolledBatch`], as views.
#[derive(Clone)]
pub struct Iter<'a> {
    segments: std::slice::Iter<'a, Segment>,
    spans: &'a [Span],
    current: Current<'a>,
    remaining: usize,
}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("remaining", &self.remaining)
            .finish()
    }
}

#[derive(Clone)]
enum Current<'a> {
    Spans {
        tp: &'a TopicPartition,
        buffer: &'a Bytes,
        timestamp_type: TimestampType,
        spans: std::slice::Iter<'a, Span>,
    },
    Owned(std::slice::Iter<'a, ConsumerRecord>),
    Done,
}

impl<'a> Iter<'a> {
    /// Moves to the next segment; false at the end.
    #[inline]
    fn load(&mut self) -> bool {
        let Some(segment) = self.segments.next() else {
            self.current = Current::Done;
            return false;
        };
        self.current = match &segment.store {
            Store::Spans {
                buffer,
                timestamp_type,
                start,
                end,
            } => Current::Spans {
                tp: &segment.tp,
                buffer,
                timestamp_type: *timestamp_type,
                spans: self.spans.get(*start..*end).unwrap_or_default().iter(),
            },
            Store::Owned(records) => Current::Owned(records.iter()),
        };
        true
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = ConsumerRecordRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<ConsumerRecordRef<'a>> {
        loop {
            match &mut self.current {
                Current::Spans {
                    tp,
                    buffer,
                    timestamp_type,
                    spans,
                } => {
                    if let Some(span) = spans.next() {
                        self.remaining -= 1;
                        return Some(span.view(tp, buffer, *timestamp_type));
                    }
                }
                Current::Owned(records) => {
                    if let Some(r) = records.next() {
                        self.remaining -= 1;
                        return Some(r.view());
                    }
                }
                Current::Done => {}
            }
            if !self.load() {
                return None;
            }
        }
    }

    /// Skips whole segments without building their records' views.
    fn nth(&mut self, mut n: usize) -> Option<ConsumerRecordRef<'a>> {
        loop {
            let left = match &self.current {
                Current::Spans { spans, .. } => spans.len(),
                Current::Owned(records) => records.len(),
                Current::Done => 0,
            };
            if n < left {
                if n > 0 {
                    self.remaining -= n;
                    match &mut self.current {
                        Current::Spans { spans, .. } => _ = spans.nth(n - 1),
                        Current::Owned(records) => _ = records.nth(n - 1),
                        Current::Done => {}
                    }
                }
                return self.next();
            }
            n -= left;
            self.remaining -= left;
            if !self.load() {
                return None;
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}
