//! Kafka wire protocol for sluice: framing, connections with pipelined
//! requests, ApiVersions negotiation, and our own zero-copy record codec.
//!
//! Encode a request frame, decode a response, and decode the records a
//! Fetch response carries, all without a socket:
//!
//! ```
//! use bytes::BytesMut;
//! use sluice_wire::frame::FrameDecoder;
//! use sluice_wire::kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, ResponseKind};
//! use sluice_wire::protocol::{decode_response, encode_request, encode_response_body, encode_response_frame, parse_request_frame};
//! use sluice_wire::records::{BatchBuilder, Compression, DecodeOptions, RecordDecoder};
//!
//! // A Metadata v12 request, framed as it goes on the wire.
//! let mut wire = encode_request(7, Some("my-app"), 12, &MetadataRequest::default()).unwrap();
//! let frame = FrameDecoder::new(1 << 20).decode(&mut wire).unwrap().unwrap();
//! let request = parse_request_frame(frame).unwrap();
//! assert_eq!((request.api_key, request.correlation_id), (ApiKey::Metadata, 7));
//!
//! // The broker's answer, decoded back (flexible header v1 and all).
//! let body = encode_response_body(&ResponseKind::Metadata(MetadataResponse::default().with_throttle_time_ms(5)), ApiKey::Metadata, 12).unwrap();
//! let mut answer = encode_response_frame(7, ApiKey::Metadata, 12, &body);
//! let frame = FrameDecoder::new(1 << 20).decode(&mut answer).unwrap().unwrap();
//! let (correlation_id, response) = decode_response::<MetadataRequest>(frame, 12).unwrap();
//! assert_eq!((correlation_id, response.throttle_time_ms), (7, 5));
//!
//! // Records: our encoder and decoder, zstd-compressed, headers kept in order.
//! let mut batch = BatchBuilder::new(Compression::Zstd);
//! batch.push(1_700_000_000_000, Some(b"user-1"), Some(b"{\"amount\":12}"), &[(b"h", Some(b"a")), (b"h", Some(b"b"))]);
//! let mut decoder = RecordDecoder::new(DecodeOptions::default());
//! let batches = decoder.decode_batches(batch.build(100).unwrap()).unwrap();
//! let record = batches[0].records().next().unwrap().unwrap();
//! assert_eq!(record.offset, 100);
//! assert_eq!(record.headers.len(), 2);
//! ```
//!
//! Against a broker, [`connection::Connection::connect`] does the
//! ApiVersions handshake and `send` picks the highest common version.

pub mod connection;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod key_doc;
pub mod protocol;
pub mod records;
pub mod security;
pub mod versions;

pub use error::{Result, WireError};
pub use error_code::{ErrorAction, KafkaCode};
pub use kafka_protocol;
