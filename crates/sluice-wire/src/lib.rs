//! Kafka wire protocol for sluice: framing, connections with pipelined
//! requests, ApiVersions negotiation, and our own zero-copy record codec.

pub mod error;
pub mod error_code;
pub mod records;

pub use error::{Result, WireError};
pub use error_code::{ErrorAction, KafkaCode};
pub use kafka_protocol;
