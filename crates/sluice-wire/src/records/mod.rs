//! Kafka record formats: RecordBatch v2 and the legacy MessageSet v0/v1,
//! decoded zero-copy over [`bytes::Bytes`] into one [`Record`] type, and a
//! RecordBatch v2 encoder.

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
