//! The crate's one error type.

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::VersionRange;

use crate::error_code::KafkaCode;
use crate::records::Compression;

/// Everything that can go wrong in `sluice-wire`: I/O, framing, protocol
/// decoding, version negotiation, broker error codes and record decoding.
///
/// Every variant names what was wrong; nothing from the network panics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    // ---- connection -------------------------------------------------------
    /// A socket operation failed.
    #[error("I/O error with {addr}: {source}")]
    Io {
        /// The peer's address.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Connecting to a broker did not finish in time.
    #[error("connecting to {addr} timed out after {timeout_ms} ms")]
    ConnectTimeout {
        /// The peer's address.
        addr: String,
        /// The timeout that expired.
        timeout_ms: u64,
    },
    /// The connection was closed (by us or the peer) before the response came.
    #[error("connection to {addr} is closed")]
    ConnectionClosed {
        /// The peer's address.
        addr: String,
    },
    /// The connection lost frame sync or failed; it serves no more requests.
    #[error("connection to {addr} is poisoned: {reason}")]
    Poisoned {
        /// The peer's address.
        addr: String,
        /// What broke it first.
        reason: String,
    },
    /// A request got no response within `request.timeout.ms`.
    #[error(
        "{api:?} v{version} request (correlation id {correlation_id}) to {addr} timed out after {timeout_ms} ms"
    )]
    RequestTimeout {
        /// The peer's address.
        addr: String,
        /// The request's API.
        api: ApiKey,
        /// The request's version.
        version: i16,
        /// The request's correlation id.
        correlation_id: i32,
        /// The timeout that expired.
        timeout_ms: u64,
    },

    // ---- security ---------------------------------------------------------
    /// A security setting (`security.protocol`, `ssl.*`, `sasl.*`) is
    /// missing, unknown or has a bad value. Never carries a secret.
    #[error("configuration {key}: {message}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The broker refused our credentials, or its SASL answers did not
    /// prove it knows them (a SCRAM server signature that does not verify).
    #[error("SASL {mechanism} authentication failed at {addr}: {message}")]
    SaslAuthenticationFailed {
        /// The peer's address.
        addr: String,
        /// The mechanism used.
        mechanism: String,
        /// The broker's message, or what did not verify.
        message: String,
    },
    /// The broker does not enable the configured SASL mechanism.
    #[error("SASL mechanism {mechanism} is not enabled on {addr}; {}", if enabled.is_empty() { "the broker did not list the ones it enables".to_string() } else { format!("it enables: {}", enabled.join(", ")) })]
    SaslMechanismNotEnabled {
        /// The peer's address.
        addr: String,
        /// The mechanism asked for.
        mechanism: String,
        /// The mechanisms the broker listed.
        enabled: Vec<String>,
    },
    /// The TLS handshake failed (unknown CA, hostname mismatch, expired
    /// certificate, client certificate required...).
    #[error("TLS with {addr} failed: {message}")]
    Tls {
        /// The peer's address.
        addr: String,
        /// What rustls or the peer said, in words.
        message: String,
    },
    /// The peer speaks another security protocol than the one configured:
    /// TLS answered to plaintext, plaintext to TLS, or a connection closed
    /// right after ApiVersions (a SASL listener spoken to without SASL).
    #[error("{addr}: {message}; check security.protocol (configured: {configured})")]
    SecurityProtocolMismatch {
        /// The peer's address.
        addr: String,
        /// The configured `security.protocol`.
        configured: String,
        /// What was seen.
        message: String,
    },

    // ---- framing ----------------------------------------------------------
    /// A frame's size prefix is larger than `receive.message.max.bytes`.
    #[error("frame of {size} bytes exceeds receive.message.max.bytes ({max})")]
    FrameTooLarge {
        /// The declared size.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// A frame's size prefix is negative.
    #[error("negative frame size {0}")]
    NegativeFrameSize(i32),
    /// A response carried a correlation id other than the one expected next.
    #[error("correlation id mismatch: expected {expected}, got {actual}")]
    CorrelationMismatch {
        /// The id of the oldest request in flight.
        expected: i32,
        /// The id in the response.
        actual: i32,
    },

    // ---- protocol messages ------------------------------------------------
    /// A request could not be encoded (a field does not fit the version).
    #[error("cannot encode {api:?} v{version}: {message}")]
    Encode {
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
        /// What the encoder said.
        message: String,
    },
    /// A protocol message could not be decoded.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// What was being decoded, e.g. `Fetch v12 response`.
        what: String,
        /// What the decoder said.
        message: String,
    },
    /// An API key we do not know.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// The broker lacks an API (or every version of it) that we need.
    #[error("broker does not support {api:?} in any version we speak ({ours}); broker offers {}", broker.map_or_else(|| "none".to_string(), |b| b.to_string()))]
    UnsupportedApi {
        /// The API.
        api: ApiKey,
        /// The versions sluice speaks.
        ours: VersionRange,
        /// The versions the broker offers, if any.
        broker: Option<VersionRange>,
    },
    /// The broker answered with an error code.
    #[error("broker error {code} in {context}")]
    Kafka {
        /// The error code.
        code: KafkaCode,
        /// Where it came from (API, topic, partition...).
        context: String,
    },

    // ---- records ----------------------------------------------------------
    /// A record batch's stored CRC does not match its bytes.
    #[error(
        "CRC mismatch in {what} at offset {offset}: stored {stored:#010x}, computed {computed:#010x}"
    )]
    CrcMismatch {
        /// `record batch` or `message`.
        what: &'static str,
        /// The batch's base offset (or the message's offset).
        offset: i64,
        /// The CRC in the data.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// A varint ran past 5 (or 10) bytes or past the end of the data.
    #[error("bad varint in {context}")]
    BadVarint {
        /// Which field.
        context: &'static str,
    },
    /// A structure ends before its declared size.
    #[error("truncated {what}: need {needed} bytes, have {available}")]
    Truncated {
        /// Which structure.
        what: &'static str,
        /// Bytes it declares.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The attributes name a compression codec that does not exist.
    #[error("unknown compression codec id {0}")]
    UnknownCompression(u8),
    /// Decompressed output would exceed the configured bound.
    #[error("{codec:?} decompression exceeds the limit of {limit} bytes")]
    DecompressionLimit {
        /// The codec.
        codec: Compression,
        /// The limit.
        limit: usize,
    },
    /// The compressed data is corrupt.
    #[error("{codec:?} decompression failed: {message}")]
    Decompression {
        /// The codec.
        codec: Compression,
        /// What the codec said.
        message: String,
    },
    /// A message format (magic byte) we cannot read.
    #[error("unsupported message format (magic {0})")]
    UnsupportedMagic(i8),
    /// A batch or record is inconsistent in a way no other variant names.
    #[error("corrupt {what} at offset {offset}: {reason}")]
    Corrupt {
        /// `record batch`, `record`, `message`...
        what: &'static str,
        /// The offset of the batch or record.
        offset: i64,
        /// What is wrong.
        reason: String,
    },
}

impl WireError {
    /// Whether retrying (on this or a fresh connection) may succeed, following
    /// Kafka's classification for broker error codes. Network failures and
    /// timeouts are retriable; corrupt data and unsupported versions are not.
    pub fn is_retriable(&self) -> bool {
        match self {
            WireError::Io { .. }
            | WireError::ConnectTimeout { .. }
            | WireError::ConnectionClosed { .. }
            | WireError::Poisoned { .. }
            | WireError::RequestTimeout { .. } => true,
            WireError::Kafka { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    /// Whether the error is about security (credentials, mechanisms, TLS,
    /// the wrong `security.protocol`): retrying with the same settings will
    /// fail the same way, so callers surface it instead of reconnecting.
    pub fn is_security(&self) -> bool {
        matches!(
            self,
            WireError::Config { .. }
                | WireError::SaslAuthenticationFailed { .. }
                | WireError::SaslMechanismNotEnabled { .. }
                | WireError::Tls { .. }
                | WireError::SecurityProtocolMismatch { .. }
        )
    }

    /// Fills in the peer's address of an error made where it was not known
    /// (a SASL mechanism or the TLS layer).
    pub fn at(mut self, peer: &str) -> Self {
        match &mut self {
            WireError::SaslAuthenticationFailed { addr, .. }
            | WireError::SaslMechanismNotEnabled { addr, .. }
            | WireError::Tls { addr, .. }
            | WireError::SecurityProtocolMismatch { addr, .. }
            | WireError::RequestTimeout { addr, .. }
                if addr.is_empty() =>
            {
                *addr = peer.to_string()
            }
            _ => {}
        }
        self
    }

    /// A SASL authentication failure, before the address is known
    /// ([`WireError::at`] fills it in).
    pub fn sasl_failed(mechanism: &str, message: impl Into<String>) -> Self {
        WireError::SaslAuthenticationFailed {
            addr: String::new(),
            mechanism: mechanism.to_string(),
            message: message.into(),
        }
    }

    /// The Kafka error code, when the broker sent one.
    pub fn kafka_code(&self) -> Option<KafkaCode> {
        match self {
            WireError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = WireError> = std::result::Result<T, E>;
