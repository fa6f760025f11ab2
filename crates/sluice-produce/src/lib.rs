//! A Kafka producer for sluice, enough to write results back: batching per
//! partition (`linger.ms`, `batch.size`), every codec, `acks` 0/1/all,
//! retries of retriable errors until `delivery.timeout.ms` with one batch in
//! flight per partition (so retries keep order), the Java client's murmur2
//! partitioner for keyed records, a delivery result per record, and
//! idempotence (`enable.idempotence=true`: InitProducerId, then a sequence
//! per partition so the broker drops what a retry writes twice).
//!
//! ```
//! use sluice_produce::{Acks, ProducerConfig, ProducerRecord, partition_for_key};
//!
//! let config = ProducerConfig::default()
//!     .with_pairs([("bootstrap.servers", "127.0.0.1:9092"), ("compression.type", "lz4")])
//!     .unwrap();
//! assert_eq!(config.acks, Acks::All);
//! // The partition the Java producer picks for this key on a 6-partition topic.
//! assert_eq!(partition_for_key(b"21", 6), (-973_932_308 & 0x7fff_ffff) % 6);
//! let record = ProducerRecord::new("results", r#"{"sum": 12.5}"#)
//!     .key("user-42")
//!     .header("source", Some("batch-7".into()));
//! assert_eq!(record.key.as_deref(), Some(&b"user-42"[..]));
//! ```
//!
//! With a broker:
//!
//! ```no_run
//! # use sluice_produce::{Producer, ProducerConfig, ProducerRecord, ProduceError};
//! # async fn run() -> Result<(), ProduceError> {
//! let config = ProducerConfig::default().bootstrap_servers(["127.0.0.1:9092"]);
//! let producer = Producer::connect(config).await?;
//! let meta = producer.send(ProducerRecord::new("results", "42").key("user-1")).await?;
//! println!("{}/{} at offset {}", meta.topic, meta.partition, meta.offset);
//! producer.flush().await; // everything sent so far is acknowledged or failed
//! producer.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! Transactions (`transactional.id`, KIP-98/KIP-447):
//! [`Producer::init_transactions`], then per transaction
//! `begin_transaction`, `send`, `send_offsets_to_transaction`,
//! `commit_transaction` or `abort_transaction`. Errors are abortable (abort,
//! retry the work) or fatal (fenced: make a new producer); see
//! [`transaction`]. Transaction version 2 (KIP-890: no AddPartitionsToTxn,
//! an epoch bump per transaction) when the cluster has finalized it,
//! version 1 otherwise ([`Producer::transaction_v2`]).
//!
//! Not supported: `buffer.memory` (the
//! queue is unbounded: await delivery futures to apply back-pressure),
//! `max.in.flight.requests.per.connection` (always one batch in flight per
//! partition), SASL/TLS, custom partitioners. With idempotence, a batch
//! that fails for good can leave a gap in its partition's sequence, and the
//! partition's later batches then fail with OUT_OF_ORDER_SEQUENCE_NUMBER
//! (the Java client bumps the epoch instead, KIP-360): make a new producer.

pub mod accumulator;
pub mod config;
mod driver;
pub mod error;
pub mod partitioner;
pub mod producer;
pub mod record;
mod request;
pub mod stats;
pub mod transaction;
mod txn_client;

pub use config::{Acks, Partitioner, ProducerConfig};
pub use error::ProduceError;
pub use partitioner::{murmur2, partition_for_key};
pub use producer::Producer;
pub use record::{DeliveryFuture, ProducerRecord, RecordMetadata};
pub use stats::{ProducerStats, ProducerStatsSnapshot};
pub use transaction::TxnState;
pub use txn_client::GroupMetadata;
