//! Producer configuration, with the Java client's defaults and string keys.

use std::str::FromStr;
use std::time::Duration;

use sluice_fetch::config::{parse, parse_bool, parse_in, parse_ms, parse_servers};
use sluice_wire::WireError;
use sluice_wire::connection::ConnectionConfig;
use sluice_wire::key_doc::{Java, KeyDoc};
use sluice_wire::records::Compression;

use crate::error::ProduceError;

/// How many acknowledgements a write waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: none; delivery results carry offset -1.
    None,
    /// `acks=1`: the leader's.
    Leader,
    /// `acks=all` (`-1`): every in-sync replica's.
    All,
}

impl Acks {
    /// The wire value.
    pub fn code(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// `partitioner`: how a record without an explicit partition gets one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partitioner {
    /// `murmur2_random` (the default): keyed records go where the Java
    /// client's default partitioner puts them (murmur2 of the key); records
    /// without a key are spread round robin.
    #[default]
    Murmur2Random,
    /// `murmur2`: as `murmur2_random`, but records without a key all go to
    /// the partition of the empty key (librdkafka's `murmur2`).
    Murmur2,
}

impl FromStr for Partitioner {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "murmur2_random" => Ok(Partitioner::Murmur2Random),
            "murmur2" => Ok(Partitioner::Murmur2),
            _ => Err("expected murmur2_random or murmur2".into()),
        }
    }
}

/// The producer's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `linger.ms`: how long a batch waits for more records.
    pub linger: Duration,
    /// `batch.size`: a partition's batch is sent at this many bytes.
    pub batch_size: usize,
    /// `compression.type`.
    pub compression: Compression,
    /// `acks`.
    pub acks: Acks,
    /// `retries`: attempts after the first for a retriable error.
    pub retries: u32,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `delivery.timeout.ms`: a record not acknowledged this long after
    /// `send` fails.
    pub delivery_timeout: Duration,
    /// `max.request.size`: the largest record (and batch) sent.
    pub max_request_size: usize,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `partitioner`.
    pub partitioner: Partitioner,
    /// `enable.idempotence`: the broker drops duplicates a retry would
    /// write (InitProducerId, sequence numbers per partition); needs
    /// `acks=all`.
    pub enable_idempotence: bool,
    /// `transactional.id`: makes the producer transactional
    /// (`Producer::init_transactions`); implies idempotence, needs `acks=all`.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: the coordinator aborts a transaction open
    /// longer than this.
    pub transaction_timeout: Duration,
    /// `security.protocol`, `ssl.*`, `sasl.*`: how connections are secured.
    pub security: sluice_wire::security::SecurityConfig,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            bootstrap_servers: Vec::new(),
            client_id: "sluice".into(),
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            compression: Compression::None,
            acks: Acks::All,
            retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(30),
            delivery_timeout: Duration::from_secs(120),
            max_request_size: 1 << 20,
            metadata_max_age: Duration::from_secs(300),
            partitioner: Partitioner::Murmur2Random,
            enable_idempotence: false,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
            security: Default::default(),
        }
    }
}

/// The producer keys, documented
/// (the configuration reference in docs/guide.md is generated from these).
pub const PRODUCER_KEY_DOCS: &[KeyDoc] = &[
    KeyDoc {
        key: "bootstrap.servers",
        aliases: &["metadata.broker.list"],
        default: None,
        java: Java::Same,
        doc: "`host:port[,host:port...]`: brokers to learn the cluster from (required).",
    },
    KeyDoc {
        key: "client.id",
        aliases: &[],
        default: Some("sluice"),
        java: Java::Same,
        doc: "The name brokers log and quota this client by.",
    },
    KeyDoc {
        key: "linger.ms",
        aliases: &["queue.buffering.max.ms"],
        default: Some("5"),
        java: Java::Same,
        doc: "How long a batch waits for more records before it is sent.",
    },
    KeyDoc {
        key: "batch.size",
        aliases: &[],
        default: Some("16384"),
        java: Java::Same,
        doc: "The bytes a partition's batch holds before it is sent.",
    },
    KeyDoc {
        key: "compression.type",
        aliases: &["compression.codec"],
        default: Some("none"),
        java: Java::Same,
        doc: "`none`, `gzip`, `snappy`, `lz4` or `zstd`.",
    },
    KeyDoc {
        key: "acks",
        aliases: &["request.required.acks"],
        default: Some("all"),
        java: Java::Same,
        doc: "`0`, `1` or `all` (`-1`): how many replicas must have a record before it counts as written.",
    },
    KeyDoc {
        key: "retries",
        aliases: &["message.send.max.retries"],
        default: Some("2147483647"),
        java: Java::Same,
        doc: "How many times a failed produce is retried (within `delivery.timeout.ms`).",
    },
    KeyDoc {
        key: "retry.backoff.ms",
        aliases: &[],
        default: Some("100"),
        java: Java::Same,
        doc: "The wait before retrying a failed produce.",
    },
    KeyDoc {
        key: "request.timeout.ms",
        aliases: &[],
        default: Some("30000"),
        java: Java::Same,
        doc: "How long a produce may wait for its answer.",
    },
    KeyDoc {
        key: "delivery.timeout.ms",
        aliases: &["message.timeout.ms"],
        default: Some("120000"),
        java: Java::Same,
        doc: "The longest a record may take from `send` to acknowledged or failed.",
    },
    KeyDoc {
        key: "max.request.size",
        aliases: &["message.max.bytes"],
        default: Some("1048576"),
        java: Java::Same,
        doc: "The largest produce request (and record batch).",
    },
    KeyDoc {
        key: "metadata.max.age.ms",
        aliases: &[],
        default: Some("300000"),
        java: Java::Same,
        doc: "Metadata is refreshed at least this often.",
    },
    KeyDoc {
        key: "partitioner",
        aliases: &[],
        default: Some("murmur2_random"),
        java: Java::LibrdkafkaOnly,
        doc: "`murmur2_random` (the Java client's: keyed records by murmur2, unkeyed spread) or `murmur2`.",
    },
    KeyDoc {
        key: "enable.idempotence",
        aliases: &[],
        default: Some("false"),
        java: Java::Same,
        doc: "Sequence numbers per partition so retries never duplicate (needs `acks=all`).",
    },
    KeyDoc {
        key: "transactional.id",
        aliases: &[],
        default: None,
        java: Java::Same,
        doc: "Makes the producer transactional (`init_transactions`, then begin/commit/abort); implies idempotence, needs `acks=all`. One live producer per id: a new one fences the old.",
    },
    KeyDoc {
        key: "transaction.timeout.ms",
        aliases: &[],
        default: Some("60000"),
        java: Java::Same,
        doc: "The coordinator aborts a transaction left open longer than this.",
    },
];

impl ProducerConfig {
    /// With `bootstrap.servers` (`host:port` addresses).
    pub fn bootstrap_servers<S: Into<String>>(
        mut self,
        servers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.bootstrap_servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// With `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// With `linger.ms`.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// With `batch.size` (bytes per partition batch, at least 1).
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.batch_size = bytes.max(1);
        self
    }

    /// With `compression.type`.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// With `acks`.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = acks;
        self
    }

    /// With `retries`.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// With `retry.backoff.ms`.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// With `request.timeout.ms`.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// With `delivery.timeout.ms`.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// With `max.request.size` (bytes).
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// With `metadata.max.age.ms`.
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.metadata_max_age = age;
        self
    }

    /// With `partitioner`.
    pub fn partitioner(mut self, partitioner: Partitioner) -> Self {
        self.partitioner = partitioner;
        self
    }

    /// With `enable.idempotence` (needs `acks=all`).
    pub fn enable_idempotence(mut self, enable: bool) -> Self {
        self.enable_idempotence = enable;
        self
    }

    /// With `transactional.id` (needs `acks=all`, the default).
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.transactional_id = Some(id.into());
        self
    }

    /// Sets one option by its Java/librdkafka key; `Ok(false)` if the key is
    /// not a producer key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, ProduceError> {
        let bad = |message: &str| ProduceError::Config {
            key: key.to_string(),
            message: format!("{value:?}: {message}"),
        };
        if self.security.set(key, value).map_err(|e| match e {
            WireError::Config { key, message } => ProduceError::Config { key, message },
            e => ProduceError::from(e),
        })? {
            return Ok(true);
        }
        match key {
            "bootstrap.servers" | "metadata.broker.list" => {
                self.bootstrap_servers = parse_servers(key, value)?
            }
            "client.id" => self.client_id = value.to_string(),
            "linger.ms" | "queue.buffering.max.ms" => self.linger = parse_ms(key, value)?,
            "batch.size" => self.batch_size = parse_in(key, value, 1, usize::MAX)?,
            "compression.type" | "compression.codec" => self.compression = parse(key, value)?,
            "acks" | "request.required.acks" => {
                self.acks = match value {
                    "0" => Acks::None,
                    "1" => Acks::Leader,
                    "all" | "-1" => Acks::All,
                    _ => return Err(bad("expected 0, 1, all or -1")),
                }
            }
            "retries" | "message.send.max.retries" => {
                self.retries = parse_in(key, value, 0, u32::MAX)?
            }
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "request.timeout.ms" => self.request_timeout = parse_ms(key, value)?,
            "delivery.timeout.ms" | "message.timeout.ms" => {
                self.delivery_timeout = parse_ms(key, value)?
            }
            "max.request.size" | "message.max.bytes" => {
                self.max_request_size = parse_in(key, value, 1024, 1 << 30)?
            }
            "metadata.max.age.ms" => self.metadata_max_age = parse_ms(key, value)?,
            "partitioner" => self.partitioner = parse(key, value)?,
            "enable.idempotence" => self.enable_idempotence = parse_bool(key, value)?,
            "transactional.id" => {
                self.transactional_id = (!value.is_empty()).then(|| value.to_string())
            }
            "transaction.timeout.ms" => self.transaction_timeout = parse_ms(key, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Sets every pair, failing on the first unknown key or bad value.
    pub fn with_pairs<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ProduceError> {
        for (k, v) in pairs {
            if !self.set(k, v)? {
                return Err(ProduceError::Config {
                    key: k.to_string(),
                    message: "unknown configuration key".into(),
                });
            }
        }
        Ok(self)
    }

    /// Checks settings that only make sense together.
    pub fn validate(&self) -> Result<(), ProduceError> {
        if self.max_request_size < 1024 {
            return Err(ProduceError::Config {
                key: "max.request.size".into(),
                message: format!("{} is below the minimum, 1024", self.max_request_size),
            });
        }
        if self.enable_idempotence && self.acks != Acks::All {
            return Err(ProduceError::Config {
                key: "acks".into(),
                message: "enable.idempotence needs acks=all".into(),
            });
        }
        if self.transactional_id.is_some() && self.acks != Acks::All {
            return Err(ProduceError::Config {
                key: "acks".into(),
                message: "transactional.id needs acks=all".into(),
            });
        }
        if self.transaction_timeout.as_millis() > i32::MAX as u128 {
            return Err(ProduceError::Config {
                key: "transaction.timeout.ms".into(),
                message: "larger than i32::MAX".into(),
            });
        }
        Ok(())
    }

    /// The connection settings this configuration implies.
    pub fn connection(&self) -> ConnectionConfig {
        ConnectionConfig {
            client_id: self.client_id.clone(),
            request_timeout: self.request_timeout,
            security: self.security.clone(),
            ..ConnectionConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_set_fields_and_bad_values_name_the_key() {
        let c = ProducerConfig::default()
            .with_pairs([
                ("bootstrap.servers", "a:1,b:2"),
                ("linger.ms", "20"),
                ("batch.size", "65536"),
                ("compression.type", "zstd"),
                ("acks", "1"),
                ("retries", "3"),
                ("delivery.timeout.ms", "5000"),
                ("enable.idempotence", "true"),
            ])
            .unwrap();
        assert_eq!(c.bootstrap_servers, vec!["a:1", "b:2"]);
        assert_eq!((c.linger, c.batch_size), (Duration::from_millis(20), 65536));
        assert_eq!(
            (c.compression, c.acks, c.retries),
            (Compression::Zstd, Acks::Leader, 3)
        );
        for (k, v) in [
            ("acks", "2"),
            ("compression.type", "brotli"),
            ("batch.size", "0"),
            ("enable.idempotence", "maybe"),
            ("partitioner", "fnv1a"),
            ("max.request.size", "12"),
            ("linger.ms", "-1"),
            ("linger", "1"),
        ] {
            match ProducerConfig::default().with_pairs([(k, v)]) {
                Err(ProduceError::Config { key, .. }) => assert_eq!(key, k),
                other => panic!("{k}={v}: {other:?}"),
            }
        }
    }

    #[test]
    fn defaults_are_the_java_clients() {
        let c = ProducerConfig::default();
        assert_eq!(c.linger, Duration::from_millis(5));
        assert_eq!(c.batch_size, 16384);
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.retries, i32::MAX as u32);
        assert_eq!(c.retry_backoff, Duration::from_millis(100));
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.delivery_timeout, Duration::from_secs(120));
        assert_eq!(c.max_request_size, 1_048_576);
        assert_eq!(c.partitioner, Partitioner::Murmur2Random);
        assert!(!c.enable_idempotence);
    }

    #[test]
    fn the_builder_and_the_keys_agree() {
        let built = ProducerConfig::default()
            .bootstrap_servers(["a:1"])
            .client_id("me")
            .linger(Duration::from_millis(7))
            .batch_size(1000)
            .compression(Compression::Gzip)
            .acks(Acks::None)
            .retries(2)
            .retry_backoff(Duration::from_millis(50))
            .request_timeout(Duration::from_secs(3))
            .delivery_timeout(Duration::from_secs(9))
            .max_request_size(4096)
            .metadata_max_age(Duration::from_secs(60))
            .partitioner(Partitioner::Murmur2);
        let keyed = ProducerConfig::default()
            .with_pairs([
                ("bootstrap.servers", "a:1"),
                ("client.id", "me"),
                ("linger.ms", "7"),
                ("batch.size", "1000"),
                ("compression.type", "gzip"),
                ("acks", "0"),
                ("retries", "2"),
                ("retry.backoff.ms", "50"),
                ("request.timeout.ms", "3000"),
                ("delivery.timeout.ms", "9000"),
                ("max.request.size", "4096"),
                ("metadata.max.age.ms", "60000"),
                ("partitioner", "murmur2"),
            ])
            .unwrap();
        assert_eq!(built, keyed);
    }

    #[test]
    fn validate_refuses_idempotence_without_acks_all() {
        let c = ProducerConfig::default()
            .enable_idempotence(true)
            .acks(Acks::Leader);
        assert!(matches!(c.validate(), Err(ProduceError::Config { key, .. }) if key == "acks"));
        assert!(c.acks(Acks::All).validate().is_ok());
        let small = ProducerConfig::default().max_request_size(100);
        assert!(matches!(
            small.validate(),
            Err(ProduceError::Config { key, .. }) if key == "max.request.size"
        ));
    }

    #[test]
    fn every_key_is_documented_with_its_real_default() {
        let problems = sluice_wire::key_doc::check_docs(
            PRODUCER_KEY_DOCS,
            ProducerConfig::default,
            ProducerConfig::set,
            include_str!("config.rs"),
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
