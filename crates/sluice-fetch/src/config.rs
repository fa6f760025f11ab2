//! Fetcher configuration: a typed struct with the Java client's defaults that
//! also accepts the Java/librdkafka string keys.

use sluice_wire::key_doc::{Java, KeyDoc};
use std::str::FromStr;
use std::time::Duration;

use crate::error::{FetchError, Result};

/// `auto.offset.reset`: where to start when a partition has no valid position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The high watermark (only records produced from now on).
    #[default]
    Latest,
    /// Fail with [`FetchError::NoOffsetForPartition`].
    None,
}

impl FromStr for OffsetReset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "earliest" | "smallest" | "beginning" => Ok(OffsetReset::Earliest),
            "latest" | "largest" | "end" => Ok(OffsetReset::Latest),
            "none" | "error" => Ok(OffsetReset::None),
            _ => Err("expected earliest, latest or none".into()),
        }
    }
}

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Return every record, including those of open and aborted transactions.
    #[default]
    ReadUncommitted,
    /// Return only committed transactional records (up to the last stable offset).
    ReadCommitted,
}

impl IsolationLevel {
    /// The value Fetch and ListOffsets requests carry.
    pub fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

impl FromStr for IsolationLevel {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "read_uncommitted" => Ok(IsolationLevel::ReadUncommitted),
            "read_committed" => Ok(IsolationLevel::ReadCommitted),
            _ => Err("expected read_uncommitted or read_committed".into()),
        }
    }
}

/// How the fetcher talks to brokers and hands records out. Defaults are the
/// Java consumer's.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchConfig {
    /// `bootstrap.servers`: `host:port` addresses to learn the cluster from.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `fetch.min.bytes`: the broker waits until this much data is available...
    pub fetch_min_bytes: i32,
    /// `fetch.max.wait.ms`: ...or this long.
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`: the most data one partition returns per fetch.
    pub max_partition_fetch_bytes: i32,
    /// `fetch.max.bytes`: the most data one fetch returns.
    pub fetch_max_bytes: i32,
    /// `max.poll.records`: the most records one poll returns.
    pub max_poll_records: usize,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `auto.offset.reset`.
    pub auto_offset_reset: OffsetReset,
    /// `check.crcs`: verify record batch CRCs.
    pub check_crcs: bool,
    /// `queued.max.bytes`: fetched-but-unpolled bytes above which fetching pauses.
    pub queued_max_bytes: usize,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `metadata.max.age.ms`: refresh metadata at least this often.
    pub metadata_max_age: Duration,
    /// `retry.backoff.ms`: wait before retrying a failed request.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the longest wait between retries; each failure
    /// in a row doubles the wait from `retry.backoff.ms` up to this (KIP-580).
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms`: wait before reconnecting to a broker.
    pub reconnect_backoff: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub connect_timeout: Duration,
    /// `receive.message.max.bytes`: the largest response frame accepted.
    pub receive_message_max_bytes: usize,
    /// `security.protocol`, `ssl.*`, `sasl.*`: how connections are secured.
    pub security: sluice_wire::security::SecurityConfig,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            bootstrap_servers: vec!["127.0.0.1:9092".into()],
            client_id: "sluice".into(),
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            max_partition_fetch_bytes: 1024 * 1024,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_poll_records: 500,
            isolation_level: IsolationLevel::ReadUncommitted,
            auto_offset_reset: OffsetReset::Latest,
            check_crcs: true,
            queued_max_bytes: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            metadata_max_age: Duration::from_secs(300),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            reconnect_backoff: Duration::from_millis(50),
            connect_timeout: Duration::from_secs(10),
            receive_message_max_bytes: sluice_wire::frame::DEFAULT_RECEIVE_MESSAGE_MAX_BYTES,
            security: Default::default(),
        }
    }
}

/// The string keys [`FetchConfig::set`] accepts.
pub const FETCH_KEYS: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "client.id",
    "fetch.min.bytes",
    "fetch.max.wait.ms",
    "fetch.wait.max.ms",
    "max.partition.fetch.bytes",
    "fetch.max.bytes",
    "max.poll.records",
    "isolation.level",
    "auto.offset.reset",
    "check.crcs",
    "queued.max.bytes",
    "request.timeout.ms",
    "metadata.max.age.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "reconnect.backoff.ms",
    "socket.connection.setup.timeout.ms",
    "receive.message.max.bytes",
];

/// The fetcher's keys, documented
/// (the configuration reference in docs/guide.md is generated from these).
pub const FETCH_KEY_DOCS: &[KeyDoc] = &[
    KeyDoc {
        key: "bootstrap.servers",
        aliases: &["metadata.broker.list"],
        default: Some("127.0.0.1:9092"),
        java: Java::Same,
        doc: "`host:port[,host:port...]`: brokers to learn the cluster from.",
    },
    KeyDoc {
        key: "client.id",
        aliases: &[],
        default: Some("sluice"),
        java: Java::Same,
        doc: "The name brokers log and quota this client by.",
    },
    KeyDoc {
        key: "fetch.min.bytes",
        aliases: &[],
        default: Some("1"),
        java: Java::Same,
        doc: "The broker holds a fetch until this many bytes are available (or `fetch.max.wait.ms` passes).",
    },
    KeyDoc {
        key: "fetch.max.wait.ms",
        aliases: &["fetch.wait.max.ms"],
        default: Some("500"),
        java: Java::Same,
        doc: "The longest the broker holds a fetch waiting for `fetch.min.bytes`.",
    },
    KeyDoc {
        key: "max.partition.fetch.bytes",
        aliases: &[],
        default: Some("1048576"),
        java: Java::Same,
        doc: "The most data one partition returns per fetch (a larger first batch still comes whole).",
    },
    KeyDoc {
        key: "fetch.max.bytes",
        aliases: &[],
        default: Some("52428800"),
        java: Java::Same,
        doc: "The most data one fetch response returns.",
    },
    KeyDoc {
        key: "max.poll.records",
        aliases: &[],
        default: Some("500"),
        java: Java::Same,
        doc: "The most records one `poll` returns.",
    },
    KeyDoc {
        key: "isolation.level",
        aliases: &[],
        default: Some("read_uncommitted"),
        java: Java::Same,
        doc: "`read_committed` returns only committed transactional records, up to the last stable offset.",
    },
    KeyDoc {
        key: "auto.offset.reset",
        aliases: &[],
        default: Some("latest"),
        java: Java::Same,
        doc: "Where a partition without a valid position starts: `earliest`, `latest` or `none` (an error).",
    },
    KeyDoc {
        key: "check.crcs",
        aliases: &[],
        default: Some("true"),
        java: Java::Same,
        doc: "Verify each record batch's CRC32C.",
    },
    KeyDoc {
        key: "queued.max.bytes",
        aliases: &[],
        default: Some("67108864"),
        java: Java::SluiceOnly,
        doc: "Fetched but not yet polled bytes above which fetching pauses (librdkafka's `queued.max.messages.kbytes`, in bytes).",
    },
    KeyDoc {
        key: "request.timeout.ms",
        aliases: &[],
        default: Some("30000"),
        java: Java::Same,
        doc: "How long a request may wait for its answer before the connection is replaced.",
    },
    KeyDoc {
        key: "metadata.max.age.ms",
        aliases: &[],
        default: Some("300000"),
        java: Java::Same,
        doc: "Metadata is refreshed at least this often.",
    },
    KeyDoc {
        key: "retry.backoff.ms",
        aliases: &[],
        default: Some("100"),
        java: Java::Same,
        doc: "The first wait before retrying a failed request.",
    },
    KeyDoc {
        key: "retry.backoff.max.ms",
        aliases: &[],
        default: Some("1000"),
        java: Java::Same,
        doc: "Each failure in a row doubles the wait from `retry.backoff.ms` up to this (KIP-580).",
    },
    KeyDoc {
        key: "reconnect.backoff.ms",
        aliases: &[],
        default: Some("50"),
        java: Java::Same,
        doc: "The wait before reconnecting to a broker.",
    },
    KeyDoc {
        key: "socket.connection.setup.timeout.ms",
        aliases: &[],
        default: Some("10000"),
        java: Java::Same,
        doc: "How long connecting (TCP, TLS, ApiVersions) may take.",
    },
    KeyDoc {
        key: "receive.message.max.bytes",
        aliases: &[],
        default: Some("104857600"),
        java: Java::LibrdkafkaOnly,
        doc: "The largest response frame accepted; a larger declared size is a protocol error, never an allocation.",
    },
];

impl FetchConfig {
    /// Sets one option by its Java/librdkafka key. `Ok(false)` means the key
    /// is not a fetcher key (a caller composing several configs tries the
    /// next one, and reports a key nobody knows); a bad value is an error
    /// naming the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        let security = self.security.set(key, value).map_err(|e| match e {
            sluice_wire::WireError::Config { key, message } => FetchError::Config { key, message },
            e => FetchError::Wire(e),
        })?;
        if security {
            return Ok(true);
        }
        match key {
            "bootstrap.servers" | "metadata.broker.list" => {
                self.bootstrap_servers = parse_servers(key, value)?
            }
            "client.id" => self.client_id = value.to_string(),
            "fetch.min.bytes" => self.fetch_min_bytes = parse_in(key, value, 0, i32::MAX)?,
            "fetch.max.wait.ms" | "fetch.wait.max.ms" => {
                self.fetch_max_wait = parse_ms(key, value)?
            }
            "max.partition.fetch.bytes" => {
                self.max_partition_fetch_bytes = parse_in(key, value, 1, i32::MAX)?
            }
            "fetch.max.bytes" => self.fetch_max_bytes = parse_in(key, value, 1, i32::MAX)?,
            "max.poll.records" => self.max_poll_records = parse_in(key, value, 1, usize::MAX)?,
            "isolation.level" => self.isolation_level = parse(key, value)?,
            "auto.offset.reset" => self.auto_offset_reset = parse(key, value)?,
            "check.crcs" => self.check_crcs = parse_bool(key, value)?,
            "queued.max.bytes" => self.queued_max_bytes = parse_in(key, value, 1, usize::MAX)?,
            "request.timeout.ms" => self.request_timeout = parse_ms(key, value)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_ms(key, value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_ms(key, value)?,
            "reconnect.backoff.ms" => self.reconnect_backoff = parse_ms(key, value)?,
            "socket.connection.setup.timeout.ms" => self.connect_timeout = parse_ms(key, value)?,
            "receive.message.max.bytes" => {
                self.receive_message_max_bytes = parse_in(key, value, 1024, usize::MAX)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Sets every `key=value` pair, failing on the first unknown key or bad value.
    pub fn with_pairs<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self> {
        for (key, value) in pairs {
            if !self.set(key, value)? {
                return Err(unknown_key(key));
            }
        }
        Ok(self)
    }

    /// The connection settings these options imply.
    pub fn connection_config(&self) -> sluice_wire::connection::ConnectionConfig {
        sluice_wire::connection::ConnectionConfig {
            client_id: self.client_id.clone(),
            request_timeout: self.request_timeout,
            connect_timeout: self.connect_timeout,
            receive_message_max_bytes: self.receive_message_max_bytes,
            security: self.security.clone(),
            ..Default::default()
        }
    }

    /// The record decoder settings these options imply.
    pub fn decode_options(&self) -> sluice_wire::records::DecodeOptions {
        sluice_wire::records::DecodeOptions {
            check_crcs: self.check_crcs,
            ..Default::default()
        }
    }
}

/// The error for a key no configuration knows.
pub fn unknown_key(key: &str) -> FetchError {
    FetchError::Config {
        key: key.to_string(),
        message: "unknown configuration key".into(),
    }
}

fn bad(key: &str, value: &str, why: &str) -> FetchError {
    FetchError::Config {
        key: key.to_string(),
        message: format!("bad value {value:?}: {why}"),
    }
}

/// Parses a value with `FromStr`, naming the key on failure.
pub fn parse<T: FromStr>(key: &str, value: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse::<T>()
        .map_err(|e| bad(key, value, &e.to_string()))
}

/// Parses an integer in `min..=max`, naming the key on failure.
pub fn parse_in<T>(key: &str, value: &str, min: T, max: T) -> Result<T>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
    T::Err: std::fmt::Display,
{
    let n: T = parse(key, value)?;
    if n < min || n > max {
        return Err(bad(key, value, &format!("must be between {min} and {max}")));
    }
    Ok(n)
}

/// Parses a millisecond count into a `Duration`, naming the key on failure.
pub fn parse_ms(key: &str, value: &str) -> Result<Duration> {
    parse_in::<u64>(key, value, 0, u64::from(u32::MAX)).map(Duration::from_millis)
}

/// Parses `host:port[,host:port...]`, naming the key when there is none.
pub fn parse_servers(key: &str, value: &str) -> Result<Vec<String>> {
    let servers: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if servers.is_empty() {
        return Err(bad(key, value, "expected host:port[,host:port...]"));
    }
    Ok(servers)
}

/// Parses `true`/`false` (and librdkafka's `1`/`0`), naming the key on failure.
pub fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad(key, value, "expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_java_clients() {
        let c = FetchConfig::default();
        assert_eq!(c.fetch_min_bytes, 1);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.max_partition_fetch_bytes, 1_048_576);
        assert_eq!(c.fetch_max_bytes, 52_428_800);
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert_eq!(c.isolation_level, IsolationLevel::ReadUncommitted);
        assert!(c.check_crcs);
        assert_eq!(c.retry_backoff, Duration::from_millis(100));
        assert_eq!(c.retry_backoff_max, Duration::from_millis(1000));
    }

    #[test]
    fn string_keys_set_typed_fields() {
        let c = FetchConfig::default()
            .with_pairs([
                ("bootstrap.servers", "a:1, b:2"),
                ("fetch.min.bytes", "1000"),
                ("fetch.max.wait.ms", "250"),
                ("max.poll.records", "10"),
                ("isolation.level", "read_committed"),
                ("auto.offset.reset", "earliest"),
                ("check.crcs", "false"),
                ("retry.backoff.max.ms", "400"),
            ])
            .unwrap();
        assert_eq!(
            c.bootstrap_servers,
            vec!["a:1".to_string(), "b:2".to_string()]
        );
        assert_eq!(c.fetch_min_bytes, 1000);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(250));
        assert_eq!(c.max_poll_records, 10);
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
        assert!(!c.check_crcs);
        assert_eq!(c.retry_backoff_max, Duration::from_millis(400));
        for key in FETCH_KEYS {
            assert!(
                FetchConfig::default().set(key, "").is_err() || *key == "client.id",
                "{key}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let err = FetchConfig::default()
            .with_pairs([("fetch.min.byte", "1")])
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::Config { key, .. } if key == "fetch.min.byte"),
            "{err}"
        );
        let err = FetchConfig::default()
            .with_pairs([("max.poll.records", "0")])
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::Config { key, .. } if key == "max.poll.records"),
            "{err}"
        );
        let err = FetchConfig::default()
            .with_pairs([("auto.offset.reset", "oldest")])
            .unwrap_err();
        assert!(err.to_string().contains("auto.offset.reset"), "{err}");
        let err = FetchConfig::default()
            .with_pairs([("check.crcs", "yes")])
            .unwrap_err();
        assert!(err.to_string().contains("check.crcs"), "{err}");
    }

    #[test]
    fn every_key_is_documented_with_its_real_default() {
        let problems = sluice_wire::key_doc::check_docs(
            FETCH_KEY_DOCS,
            FetchConfig::default,
            FetchConfig::set,
            include_str!("config.rs"),
        );
        assert!(problems.is_empty(), "{problems:#?}");
        let mut documented: Vec<&str> = FETCH_KEY_DOCS.iter().flat_map(|d| d.names()).collect();
        let mut listed = FETCH_KEYS.to_vec();
        documented.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, documented);
    }
}
