//! RecordBatch v2: the batch header, CRC32C verification, and the records
//! inside, decoded lazily and without copying.

use bytes::{Buf, Bytes};

use super::Compression;
use super::header::{HeadersRef, take_slice};
use super::record::{Record, RecordRef, TimestampType};
use super::varint::{read_varint, read_varlong};
use crate::error::{Result, WireError};

/// Bytes before the records in a v2 batch.
pub(crate) const V2_HEADER_LEN: usize = 61;
/// Where the CRC32C-covered part starts (the attributes).
const CRC_START: usize = 21;

/// A batch's header. Legacy messages are described by the same fields
/// (magic 0/1, one record or a compressed wrapper's count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// The first offset.
    pub base_offset: i64,
    /// The batch length after this field.
    pub batch_length: i32,
    /// The leader epoch when the batch was appended.
    pub partition_leader_epoch: i32,
    /// 2 for RecordBatch, 0 or 1 for legacy messages.
    pub magic: i8,
    /// The stored CRC.
    pub crc: u32,
    /// Compression, timestamp type, transactional and control bits.
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// The first record's timestamp.
    pub base_timestamp: i64,
    /// The largest timestamp (the append time for LogAppendTime).
    pub max_timestamp: i64,
    /// The producer id (-1 for non-idempotent producers).
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The first record's sequence number.
    pub base_sequence: i32,
    /// How many records the batch declares.
    pub record_count: i32,
}

impl BatchHeader {
    /// The compression codec (an unknown id was rejected at decode).
    pub fn compression(&self) -> Compression {
        Compression::from_id((self.attributes & 0x07) as u8).unwrap_or(Compression::None)
    }

    /// CreateTime or LogAppendTime.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.magic == 0 {
            TimestampType::NoTimestamp
        } else if self.attributes & 0x08 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// Holds control records (transaction markers), not data.
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// The last offset in the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Reads a v2 header from the front of `data` (at least 61 bytes).
    pub(crate) fn parse_v2(mut data: &[u8]) -> BatchHeader {
        BatchHeader {
            base_offset: data.get_i64(),
            batch_length: data.get_i32(),
            partition_leader_epoch: data.get_i32(),
            magic: data.get_i8(),
            crc: data.get_u32(),
            attributes: data.get_i16(),
            last_offset_delta: data.get_i32(),
            base_timestamp: data.get_i64(),
            max_timestamp: data.get_i64(),
            producer_id: data.get_i64(),
            producer_epoch: data.get_i16(),
            base_sequence: data.get_i32(),
            record_count: data.get_i32(),
        }
    }

    /// Checks a v2 batch's CRC32C over everything from the attributes on.
    pub(crate) fn verify_crc(&self, batch: &[u8]) -> Result<()> {
        let computed = crc32c::crc32c(&batch[CRC_START..]);
        if computed != self.crc {
            return Err(WireError::CrcMismatch {
                what: "record batch",
                offset: self.base_offset,
                stored: self.crc,
                computed,
            });
        }
        Ok(())
    }
}

/// A transaction marker's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRecord {
    /// The transaction was aborted.
    Abort,
    /// The transaction was committed.
    Commit,
    /// A control type this client does not know.
    Unknown(i16),
}

#[derive(Debug, Clone)]
enum Body {
    /// The (decompressed) records section of a v2 batch.
    V2(Bytes),
    /// Legacy messages, decoded.
    Legacy(Vec<Record>),
}

/// One batch: its header and its records.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The header.
    pub header: BatchHeader,
    body: Body,
}

impl Batch {
    pub(crate) fn v2(header: BatchHeader, records: Bytes) -> Batch {
        Batch {
            header,
            body: Body::V2(records),
        }
    }

    pub(crate) fn legacy(header: BatchHeader, records: Vec<Record>) -> Batch {
        Batch {
            header,
            body: Body::Legacy(records),
        }
    }

    /// The records, decoded as iterated. An error ends the iteration.
    /// Each record's key, value and headers share the batch's buffer.
    pub fn records(&self) -> Records {
        Records {
            inner: match &self.body {
                Body::V2(data) => RecordsInner::V2 {
                    data: data.clone(),
                    parser: Parser::new(&self.header),
                },
                Body::Legacy(records) => RecordsInner::Legacy(records.clone().into_iter()),
            },
        }
    }

    /// The records as borrowed views, decoded as iterated: no reference
    /// counting, no allocation. An error ends the iteration. Use
    /// [`RecordRef::to_record`] with [`Batch::buffer`] to keep one.
    pub fn record_refs(&self) -> RecordRefs<'_> {
        RecordRefs {
            inner: match &self.body {
                Body::V2(data) => RefsInner::V2 {
                    data,
                    parser: Parser::new(&self.header),
                },
                Body::Legacy(records) => RefsInner::Legacy(records.iter()),
            },
        }
    }

    /// A cursor over the records that does not borrow the batch, for a
    /// reader that keeps the batch and its place in it side by side (a
    /// poll cut at `max.poll.records` in the middle of a batch): each
    /// [`RecordCursor::next`] call borrows the batch only for the view it
    /// returns. Decodes exactly as [`Batch::record_refs`] does.
    pub fn cursor(&self) -> RecordCursor {
        RecordCursor {
            inner: match &self.body {
                Body::V2(_) => CursorInner::V2(Parser::new(&self.header)),
                Body::Legacy(records) => CursorInner::Legacy {
                    next: 0,
                    len: records.len(),
                },
            },
        }
    }

    /// The (decompressed) records section a v2 batch's records are read
    /// from; empty for legacy batches, whose records each hold their own.
    pub fn buffer(&self) -> &Bytes {
        static EMPTY: Bytes = Bytes::new();
        match &self.body {
            Body::V2(data) => data,
            Body::Legacy(_) => &EMPTY,
        }
    }

    /// For a control batch, what its marker says.
    pub fn control_record(&self) -> Result<Option<ControlRecord>> {
        if !self.header.is_control() {
            return Ok(None);
        }
        let Some(record) = self.record_refs().next().transpose()? else {
            return Ok(None);
        };
        let key = record.key.unwrap_or_default();
        if key.len() < 4 {
            return Err(WireError::Corrupt {
                what: "control record",
                offset: record.offset,
                reason: format!("key of {} bytes", key.len()),
            });
        }
        Ok(Some(match i16::from_be_bytes([key[2], key[3]]) {
            0 => ControlRecord::Abort,
            1 => ControlRecord::Commit,
            other => ControlRecord::Unknown(other),
        }))
    }
}

/// The records of a batch, decoded one at a time.
#[derive(Debug)]
pub struct Records {
    inner: RecordsInner,
}

#[derive(Debug)]
enum RecordsInner {
    V2 { data: Bytes, parser: Parser },
    Legacy(std::vec::IntoIter<Record>),
}

impl Iterator for Records {
    type Item = Result<Record>;

    #[inline]
    fn next(&mut self) -> Option<Result<Record>> {
        match &mut self.inner {
            RecordsInner::V2 { data, parser } => {
                Some(parser.next(data)?.map(|r| r.to_record(data)))
            }
            RecordsInner::Legacy(it) => it.next().map(Ok),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            RecordsInner::V2 { parser, .. } => (0, Some(parser.remaining)),
            RecordsInner::Legacy(it) => it.size_hint(),
        }
    }
}

/// The records of a batch as borrowed views, decoded one at a time.
#[derive(Debug)]
pub struct RecordRefs<'a> {
    inner: RefsInner<'a>,
}

#[derive(Debug)]
enum RefsInner<'a> {
    V2 { data: &'a [u8], parser: Parser },
    Legacy(std::slice::Iter<'a, Record>),
}

impl<'a> Iterator for RecordRefs<'a> {
    type Item = Result<RecordRef<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Result<RecordRef<'a>>> {
        match &mut self.inner {
            RefsInner::V2 { data, parser } => parser.next(data),
            RefsInner::Legacy(it) => it.next().map(|r| Ok(r.view())),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            RefsInner::V2 { parser, .. } => (0, Some(parser.remaining)),
            RefsInner::Legacy(it) => it.size_hint(),
        }
    }
}

/// A place in a batch's records, held apart from the batch: see
/// [`Batch::cursor`].
#[derive(Debug, Clone)]
pub struct RecordCursor {
    inner: CursorInner,
}

#[derive(Debug, Clone)]
enum CursorInner {
    V2(Parser),
    Legacy { next: usize, len: usize },
}

impl RecordCursor {
    /// The next record of `batch`, which must be the batch the cursor came
    /// from (given another, it yields errors or nothing, never a panic).
    /// After an error, `None`.
    #[inline(always)]
    pub fn next<'a>(&mut self, batch: &'a Batch) -> Option<Result<RecordRef<'a>>> {
        match (&mut self.inner, &batch.body) {
            (CursorInner::V2(parser), Body::V2(data)) => parser.next(data),
            (CursorInner::Legacy { next, len }, Body::Legacy(records)) if *next < *len => {
                let record = records.get(*next)?;
                *next += 1;
                Some(Ok(record.view()))
            }
            _ => None,
        }
    }

    /// At most this many records are left (exactly, unless one fails to
    /// decode).
    pub fn remaining(&self) -> usize {
        match &self.inner {
            CursorInner::V2(parser) => parser.remaining,
            CursorInner::Legacy { next, len } => len - next,
        }
    }
}

fn corrupt(offset: i64, reason: String) -> WireError {
    WireError::Corrupt {
        what: "record",
        offset,
        reason,
    }
}

/// The one v2 record parser, behind both iterators: a cursor over the
/// records section and what each record needs from the batch header.
#[derive(Debug, Clone)]
struct Parser {
    pos: usize,
    remaining: usize,
    base_offset: i64,
    base_timestamp: i64,
    /// LogAppendTime batches give every record the batch's max timestamp.
    log_append_time: Option<i64>,
    timestamp_type: TimestampType,
}

impl Parser {
    fn new(h: &BatchHeader) -> Parser {
        let timestamp_type = h.timestamp_type();
        Parser {
            pos: 0,
            remaining: h.record_count.max(0) as usize,
            base_offset: h.base_offset,
            base_timestamp: h.base_timestamp,
            log_append_time: (timestamp_type == TimestampType::LogAppendTime)
                .then_some(h.max_timestamp),
            timestamp_type,
        }
    }

    /// The next record of `data`; after an error, none.
    #[inline(always)]
    fn next<'a>(&mut self, data: &'a [u8]) -> Option<Result<RecordRef<'a>>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let result = self.read(data);
        if result.is_err() {
            self.remaining = 0;
        }
        Some(result)
    }

    #[inline(always)]
    fn read<'a>(&mut self, data: &'a [u8]) -> Result<RecordRef<'a>> {
        let pos = &mut self.pos;
        let length = read_varint(data, pos, "record length")?;
        let length = usize::try_from(length)
            .map_err(|_| corrupt(self.base_offset, format!("negative record length {length}")))?;
        let start = *pos;
        let available = data.len() - start;
        if length > available {
            return Err(WireError::Truncated {
                what: "record",
                needed: length,
                available,
            });
        }
        let end = start + length;
        // Every read below is bounded by the record's end.
        let record = &data[..end];
        *pos += 1; // attributes, unused
        let timestamp_delta = read_varlong(record, pos, "record timestamp delta")?;
        let offset_delta = read_varint(record, pos, "record offset delta")?;
        let offset = self.base_offset + i64::from(offset_delta);
        let key = read_slice(record, pos, offset, "record key")?;
        let value = read_slice(record, pos, offset, "record value")?;
        let header_count = read_varint(record, pos, "record header count")?;
        let headers = HeadersRef::parse(record, pos, header_count)?;
        if *pos != end {
            return Err(corrupt(
                offset,
                format!("record declares {length} bytes but holds {}", *pos - start),
            ));
        }
        Ok(RecordRef {
            offset,
            timestamp: match self.log_append_time {
                Some(t) => t,
                None => self.base_timestamp.wrapping_add(timestamp_delta),
            },
            timestamp_type: self.timestamp_type,
            key,
            value,
            headers,
        })
    }
}

#[inline(always)]
fn read_slice<'a>(
    data: &'a [u8],
    pos: &mut usize,
    offset: i64,
    what: &'static str,
) -> Result<Option<&'a [u8]>> {
    match read_varint(data, pos, what)? {
        -1 => Ok(None),
        n if n >= 0 => Ok(Some(take_slice(data, pos, n as usize, what)?)),
        n => Err(corrupt(offset, format!("{what} length {n}"))),
    }
}
