//! Record headers: an ordered list, duplicate keys kept, held as the raw
//! bytes of the record (validated when the record was decoded) and parsed
//! as they are iterated, so a record with headers costs no allocation.

use bytes::Bytes;

use super::varint::read_varint;
use crate::error::{Result, WireError};

/// One header. Keys are strings in Kafka, but kept as bytes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The key.
    pub key: Bytes,
    /// The value (`None` is a null value).
    pub value: Option<Bytes>,
}

impl Header {
    /// The key as UTF-8, if it is.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// A record's headers, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    raw: Bytes,
    count: usize,
    /// Legacy messages and built records keep headers decoded.
    owned: Vec<Header>,
}

impl Headers {
    /// Parses and validates `count` headers at the front of `data[*pos..]`,
    /// keeping them as a slice of `data`.
    pub(crate) fn parse(data: &Bytes, pos: &mut usize, count: i32) -> Result<Headers> {
        let count = usize::try_from(count)
            .map_err(|_| corrupt(format!("negative header count {count}")))?;
        // Each header takes at least two bytes: never trust the count beyond that.
        if count > (data.len() - *pos) / 2 {
            return Err(WireError::Truncated {
                what: "record headers",
                needed: count * 2,
                available: data.len() - *pos,
            });
        }
        let start = *pos;
        for _ in 0..count {
            read_header(data, pos)?;
        }
        Ok(Headers {
            raw: data.slice(start..*pos),
            count,
            owned: Vec::new(),
        })
    }

    /// Headers from a list (encoder side, tests).
    pub fn from_vec(headers: Vec<Header>) -> Headers {
        Headers {
            raw: Bytes::new(),
            count: headers.len(),
            owned: headers,
        }
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in order.
    pub fn iter(&self) -> impl Iterator<Item = Header> + '_ {
        let mut pos = 0;
        let raw = &self.raw;
        let parsed = (0..if self.owned.is_empty() { self.count } else { 0 }).map(move |_| {
            read_header(raw, &mut pos).expect("headers were validated when the record was decoded")
        });
        self.owned.iter().cloned().chain(parsed)
    }

    /// The first value for `key`.
    pub fn get(&self, key: &[u8]) -> Option<Option<Bytes>> {
        self.iter().find(|h| h.key == key).map(|h| h.value)
    }
}

fn corrupt(reason: String) -> WireError {
    WireError::Corrupt {
        what: "record header",
        offset: -1,
        reason,
    }
}

fn read_header(data: &Bytes, pos: &mut usize) -> Result<Header> {
    let key_len = read_varint(data, pos, "header key length")?;
    let key_len =
        usize::try_from(key_len).map_err(|_| corrupt(format!("header key length {key_len}")))?;
    let key = take(data, pos, key_len, "header key")?;
    let value_len = read_varint(data, pos, "header value length")?;
    let value = match value_len {
        -1 => None,
        n if n >= 0 => Some(take(data, pos, n as usize, "header value")?),
        n => return Err(corrupt(format!("header value length {n}"))),
    };
    Ok(Header { key, value })
}

/// Slices `len` bytes at `*pos`, checked.
pub(crate) fn take(data: &Bytes, pos: &mut usize, len: usize, what: &'static str) -> Result<Bytes> {
    let available = data.len().saturating_sub(*pos);
    if len > available {
        return Err(WireError::Truncated {
            what,
            needed: len,
            available,
        });
    }
    let out = data.slice(*pos..*pos + len);
    *pos += len;
    Ok(out)
}
