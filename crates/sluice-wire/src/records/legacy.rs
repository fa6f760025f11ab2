//! The legacy message format (magic 0 and 1, Kafka before 0.11): one
//! message at a time, CRC32 per message, and compressed "wrapper" messages
//! whose value is a whole inner message set.

use bytes::{Buf, Bytes};

use super::Compression;
use super::batch::{Batch, BatchHeader};
use super::compression::Decompressor;
use super::header::{Headers, take};
use super::record::{Record, TimestampType};
use crate::error::{Result, WireError};

/// Offset and size come first; the smallest v0 message after them is 14 bytes.
const MIN_MESSAGE: usize = 12 + 14;

struct Message {
    offset: i64,
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

fn corrupt(offset: i64, reason: String) -> WireError {
    WireError::Corrupt {
        what: "message",
        offset,
        reason,
    }
}

/// Parses one whole message (`[offset][size][crc][magic][attributes]...`).
fn parse(data: &Bytes, check_crc: bool) -> Result<Message> {
    if data.len() < MIN_MESSAGE {
        return Err(WireError::Truncated {
            what: "message",
            needed: MIN_MESSAGE,
            available: data.len(),
        });
    }
    let mut head = &data[..];
    let offset = head.get_i64();
    let _size = head.get_i32();
    let crc = head.get_u32();
    let magic = head.get_i8();
    let attributes = head.get_i8();
    if check_crc {
        let computed = crc32fast::hash(&data[16..]);
        if computed != crc {
            return Err(WireError::CrcMismatch {
                what: "message",
                offset,
                stored: crc,
                computed,
            });
        }
    }
    let mut pos = 18;
    let timestamp = match magic {
        0 => -1,
        1 => {
            let ts = take(data, &mut pos, 8, "message timestamp")?;
            i64::from_be_bytes(
                ts[..]
                    .try_into()
                    .map_err(|_| corrupt(offset, "timestamp".into()))?,
            )
        }
        m => return Err(WireError::UnsupportedMagic(m)),
    };
    let key = read_bytes(data, &mut pos, offset, "message key")?;
    let value = read_bytes(data, &mut pos, offset, "message value")?;
    if pos != data.len() {
        return Err(corrupt(
            offset,
            format!("{} bytes after the value", data.len() - pos),
        ));
    }
    Ok(Message {
        offset,
        crc,
        magic,
        attributes,
        timestamp,
        key,
        value,
    })
}

fn read_bytes(
    data: &Bytes,
    pos: &mut usize,
    offset: i64,
    what: &'static str,
) -> Result<Option<Bytes>> {
    let len = take(data, pos, 4, what)?.get_i32();
    match len {
        -1 => Ok(None),
        n if n >= 0 => Ok(Some(take(data, pos, n as usize, what)?)),
        n => Err(corrupt(offset, format!("{what} length {n}"))),
    }
}

/// Splits a message set into whole messages; a torn message at the end is
/// dropped when `allow_torn_tail` (the end of a fetch), an error otherwise.
fn split(set: &Bytes, allow_torn_tail: bool) -> Result<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < set.len() {
        let rest = set.len() - pos;
        if rest < 12 {
            break;
        }
        let size = i32::from_be_bytes([set[pos + 8], set[pos + 9], set[pos + 10], set[pos + 11]]);
        let size = usize::try_from(size)
            .map_err(|_| corrupt(-1, format!("negative message size {size}")))?;
        if 12 + size > rest {
            if allow_torn_tail {
                break;
            }
            return Err(WireError::Truncated {
                what: "inner message",
                needed: 12 + size,
                available: rest,
            });
        }
        out.push(set.slice(pos..pos + 12 + size));
        pos += 12 + size;
    }
    if pos < set.len() && !allow_torn_tail {
        return Err(WireError::Truncated {
            what: "inner message set",
            needed: 12,
            available: set.len() - pos,
        });
    }
    Ok(out)
}

/// Decodes one legacy message, expanding a compressed wrapper into its
/// inner messages (one level only, as Kafka allows).
pub(crate) fn decode(
    message: Bytes,
    check_crc: bool,
    decompressor: &mut Decompressor,
) -> Result<Batch> {
    let m = parse(&message, check_crc)?;
    let codec = Compression::from_id((m.attributes & 0x07) as u8)?;
    let log_append = m.magic == 1 && m.attributes & 0x08 != 0;
    let timestamp_type = match (m.magic, log_append) {
        (0, _) => TimestampType::NoTimestamp,
        (_, true) => TimestampType::LogAppendTime,
        _ => TimestampType::CreateTime,
    };
    let records = if codec == Compression::None {
        vec![Record {
            offset: m.offset,
            timestamp: m.timestamp,
            timestamp_type,
            key: m.key,
            value: m.value,
            headers: Headers::default(),
        }]
    } else {
        let compressed = m.value.unwrap_or_default();
        let inner_set = decompressor.decompress(codec, &compressed)?;
        let mut inner = Vec::new();
        for raw in split(&inner_set, false)? {
            let i = parse(&raw, check_crc)?;
            if i.attributes & 0x07 != 0 {
                return Err(corrupt(
                    m.offset,
                    "a compressed message inside a compressed message".into(),
                ));
            }
            inner.push(i);
        }
        // Magic 1 wrappers carry relative inner offsets; the wrapper's offset is the last one's.
        let last_inner = inner.last().map_or(0, |i| i.offset);
        inner
            .into_iter()
            .map(|i| {
                let offset = if m.magic == 1 {
                    m.offset - last_inner + i.offset
                } else {
                    i.offset
                };
                let timestamp = if log_append { m.timestamp } else { i.timestamp };
                let timestamp_type = if i.magic == 0 {
                    TimestampType::NoTimestamp
                } else {
                    timestamp_type
                };
                Record {
                    offset,
                    timestamp,
                    timestamp_type,
                    key: i.key,
                    value: i.value,
                    headers: Headers::default(),
                }
            })
            .collect()
    };
    let first = records.first().map_or(m.offset, |r| r.offset);
    let last = records.last().map_or(m.offset, |r| r.offset);
    let header = BatchHeader {
        base_offset: first,
        batch_length: (message.len() - 12) as i32,
        partition_leader_epoch: -1,
        magic: m.magic,
        crc: m.crc,
        attributes: i16::from(m.attributes),
        last_offset_delta: i32::try_from(last - first).unwrap_or(i32::MAX),
        base_timestamp: records.first().map_or(m.timestamp, |r| r.timestamp),
        max_timestamp: m.timestamp,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        record_count: records.len() as i32,
    };
    Ok(Batch::legacy(header, records))
}
