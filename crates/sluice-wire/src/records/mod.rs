//! Kafka record formats: RecordBatch v2 and the legacy MessageSet v0/v1,
//! decoded zero-copy over [`bytes::Bytes`] into one [`Record`] type, and a
//! RecordBatch v2 encoder.
//!
//! ```
//! use sluice_wire::records::{BatchBuilder, Compression, DecodeOptions, RecordDecoder};
//!
//! let mut builder = BatchBuilder::new(Compression::Lz4);
//! builder.push(1_700_000_000_000, Some(b"key"), Some(b"value"), &[(b"trace", Some(b"1"))]);
//! let bytes = builder.build(42).unwrap();
//!
//! let mut decoder = RecordDecoder::new(DecodeOptions::default());
//! let batches = decoder.decode_batches(bytes).unwrap();
//! let record = batches[0].records().next().unwrap().unwrap();
//! assert_eq!((record.offset, record.value.as_deref()), (42, Some(&b"value"[..])));
//!
//! // Borrowed views cost no reference counting; keep one with `to_record`.
//! let view = batches[0].record_refs().next().unwrap().unwrap();
//! assert_eq!(view.headers.get(b"trace"), Some(Some(&b"1"[..])));
//! assert_eq!(view.to_record(batches[0].buffer()), record);
//! ```

mod batch;
mod compression;
mod decoder;
mod encoder;
mod gzip;
mod header;
mod legacy;
mod lz4_frame;
mod record;
mod varint;

use std::fmt;
use std::str::FromStr;

pub use batch::{Batch, BatchHeader, ControlRecord, RecordCursor, RecordRefs, Records};
pub use decoder::{DecodeOptions, RecordDecoder, whole_batch_len};
pub use encoder::BatchBuilder;
pub use header::{Header, HeaderRef, Headers, HeadersRef};
pub use record::{Record, RecordRef, TimestampType};

use crate::error::{Result, WireError};

/// Decompresses one compressed blob (a batch's records, a legacy wrapper's
/// value, a snappy-java stream) with `codec`, producing at most `limit`
/// bytes. Decoding batches goes through [`RecordDecoder`], which reuses its
/// buffers; this is for one-off data.
pub fn decompress(codec: Compression, data: &[u8], limit: usize) -> Result<bytes::Bytes> {
    compression::Decompressor::new(limit).decompress(codec, data)
}

/// The compression codec of a batch (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy: raw (librdkafka) or xerial-framed (the Java producer).
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The codec for an attributes id (0-4); anything else is an error.
    pub fn from_id(id: u8) -> Result<Compression> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(WireError::UnknownCompression(other)),
        })
    }

    /// The attributes id.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Every codec.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        })
    }
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "none" | "uncompressed" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(format!(
                "unknown codec {s:?}: expected none, gzip, snappy, lz4 or zstd"
            )),
        }
    }
}

#[cfg(test)]
mod tests;
