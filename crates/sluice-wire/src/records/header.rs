//! Record headers: an ordered list, duplicate keys kept, held as the raw
//! bytes of the record (validated when the record was decoded) and parsed
//! as they are iterated, so a record with headers costs no allocation.
//!
//! [`HeadersRef`] is the borrowed view; [`Headers`] the owned one, which
//! shares the record's buffer and iterates through the same parser.

use bytes::Bytes;

use super::record::share;
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
        let raw = HeadersRef {
            inner: Inner::Raw {
                raw: &self.raw,
                count: if self.owned.is_empty() { self.count } else { 0 },
            },
        };
        self.owned
            .iter()
            .cloned()
            .chain(raw.iter().map(|h| h.to_header(&self.raw)))
    }

    /// The first value for `key`.
    pub fn get(&self, key: &[u8]) -> Option<Option<Bytes>> {
        self.iter().find(|h| h.key == key).map(|h| h.value)
    }

    /// A borrowed view of these headers.
    pub fn view(&self) -> HeadersRef<'_> {
        if self.owned.is_empty() {
            HeadersRef {
                inner: Inner::Raw {
                    raw: &self.raw,
                    count: self.count,
                },
            }
        } else {
            HeadersRef {
                inner: Inner::Owned(&self.owned),
            }
        }
    }
}

/// One header, borrowed from the record's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value (`None` is a null value).
    pub value: Option<&'a [u8]>,
}

impl HeaderRef<'_> {
    /// The key as UTF-8, if it is.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(self.key).ok()
    }

    /// The owned header, sharing `buffer` when the header lies in it (and
    /// copying otherwise).
    pub fn to_header(&self, buffer: &Bytes) -> Header {
        Header {
            key: share(buffer, self.key),
            value: self.value.map(|v| share(buffer, v)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Inner<'a> {
    /// Validated wire bytes holding `count` headers.
    Raw { raw: &'a [u8], count: usize },
    /// Headers already decoded.
    Owned(&'a [Header]),
}

/// A record's headers, borrowed and parsed as they are iterated (they were
/// validated when the record was read).
#[derive(Debug, Clone, Copy)]
pub struct HeadersRef<'a> {
    inner: Inner<'a>,
}

impl Default for HeadersRef<'_> {
    fn default() -> Self {
        HeadersRef {
            inner: Inner::Raw { raw: &[], count: 0 },
        }
    }
}

impl<'a> HeadersRef<'a> {
    /// Validates `count` headers at `data[*pos..]` and views them.
    pub(crate) fn parse(data: &'a [u8], pos: &mut usize, count: i32) -> Result<HeadersRef<'a>> {
        let count = usize::try_from(count)
            .map_err(|_| corrupt(format!("negative header count {count}")))?;
        if count == 0 {
            return Ok(HeadersRef::default());
        }
        let available = data.len().saturating_sub(*pos);
        // Each header takes at least two bytes: never trust the count beyond that.
        if count > available / 2 {
            return Err(WireError::Truncated {
                what: "record headers",
                needed: count * 2,
                available,
            });
        }
        let start = *pos;
        for _ in 0..count {
            read_header(data, pos)?;
        }
        Ok(HeadersRef {
            inner: Inner::Raw {
                raw: &data[start..*pos],
                count,
            },
        })
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        match self.inner {
            Inner::Raw { count, .. } => count,
            Inner::Owned(h) => h.len(),
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The headers in order.
    pub fn iter(&self) -> impl Iterator<Item = HeaderRef<'a>> + use<'a> {
        let (raw, count, owned): (&'a [u8], usize, &'a [Header]) = match self.inner {
            Inner::Raw { raw, count } => (raw, count, &[]),
            Inner::Owned(h) => (&[], 0, h),
        };
        let mut pos = 0;
        let parsed = (0..count).map_while(move |_| read_header(raw, &mut pos).ok());
        owned
            .iter()
            .map(|h| HeaderRef {
                key: &h.key,
                value: h.value.as_deref(),
            })
            .chain(parsed)
    }

    /// The first value for `key`.
    pub fn get(&self, key: &[u8]) -> Option<Option<&'a [u8]>> {
        self.iter().find(|h| h.key == key).map(|h| h.value)
    }

    /// The wire bytes and the count of headers read from a record (what a
    /// compact copy of the view keeps, see [`HeadersRef::from_raw_parts`]);
    /// `None` for headers held decoded (legacy or built records). Headers of
    /// a record without any are `Some((&[], 0))`.
    pub fn raw_parts(&self) -> Option<(&'a [u8], usize)> {
        match self.inner {
            Inner::Raw { raw, count } => Some((raw, count)),
            Inner::Owned(_) => None,
        }
    }

    /// The view again from what [`HeadersRef::raw_parts`] gave, without
    /// parsing: the bytes were validated when the record was read. Other
    /// bytes are safe too, but iterate only up to the first header that
    /// does not parse.
    pub fn from_raw_parts(raw: &'a [u8], count: usize) -> HeadersRef<'a> {
        HeadersRef {
            inner: Inner::Raw { raw, count },
        }
    }

    /// The owned headers, sharing `buffer` when they lie in it (and copying
    /// otherwise).
    pub fn to_headers(&self, buffer: &Bytes) -> Headers {
        match self.inner {
            Inner::Raw { count: 0, .. } => Headers::default(),
            Inner::Raw { raw, count } => Headers {
                raw: share(buffer, raw),
                count,
                owned: Vec::new(),
            },
            Inner::Owned(h) => Headers::from_vec(h.to_vec()),
        }
    }
}

fn corrupt(reason: String) -> WireError {
    WireError::Corrupt {
        what: "record header",
        offset: -1,
        reason,
    }
}

fn read_header<'a>(data: &'a [u8], pos: &mut usize) -> Result<HeaderRef<'a>> {
    let key_len = read_varint(data, pos, "header key length")?;
    let key_len =
        usize::try_from(key_len).map_err(|_| corrupt(format!("header key length {key_len}")))?;
    let key = take_slice(data, pos, key_len, "header key")?;
    let value_len = read_varint(data, pos, "header value length")?;
    let value = match value_len {
        -1 => None,
        n if n >= 0 => Some(take_slice(data, pos, n as usize, "header value")?),
        n => return Err(corrupt(format!("header value length {n}"))),
    };
    Ok(HeaderRef { key, value })
}

/// Borrows `len` bytes at `*pos`, checked.
#[inline(always)]
pub(crate) fn take_slice<'a>(
    data: &'a [u8],
    pos: &mut usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8]> {
    match data.get(*pos..).and_then(|rest| rest.get(..len)) {
        Some(out) => {
            *pos += len;
            Ok(out)
        }
        None => Err(WireError::Truncated {
            what,
            needed: len,
            available: data.len().saturating_sub(*pos),
        }),
    }
}

/// Slices `len` bytes at `*pos`, checked.
pub(crate) fn take(data: &Bytes, pos: &mut usize, len: usize, what: &'static str) -> Result<Bytes> {
    let out = take_slice(data, pos, len, what)?;
    Ok(share(data, out))
}
