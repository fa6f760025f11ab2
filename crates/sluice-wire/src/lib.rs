//! Kafka wire protocol for sluice: framing, connections with pipelined
//! requests, ApiVersions negotiation, and our own zero-copy record codec.

pub mod connection;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod protocol;
pub mod records;
pub mod versions;

pub use error::{Result, WireError};
pub use error_code::{ErrorAction, KafkaCode};
pub use kafka_protocol;
