//! The consumer's configuration: typed fields with the Java client's
//! defaults, a builder, and the Java/librdkafka string keys.

use std::time::Duration;

use sluice_fetch::{FetchConfig, IsolationLevel, OffsetReset};
use sluice_group::GroupConfig;

use crate::error::Error;

/// Everything a [`crate::Consumer`] needs. Build it with
/// [`ConsumerConfig::builder`], or from string keys with
/// [`ConsumerConfig::from_pairs`]; either way an unknown key or a bad value
/// is an error naming the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerConfig {
    /// Fetching: bootstrap.servers, client.id, fetch.*, max.poll.records,
    /// isolation.level, auto.offset.reset, check.crcs, request.timeout.ms,
    /// metadata.max.age.ms...
    pub fetch: FetchConfig,
    /// The group: group.id, session.timeout.ms, heartbeat.interval.ms,
    /// max.poll.interval.ms, partition.assignment.strategy,
    /// enable.auto.commit, auto.commit.interval.ms...
    pub group: GroupConfig,
}

impl ConsumerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ConsumerConfigBuilder {
        ConsumerConfigBuilder(Ok(ConsumerConfig::default()))
    }

    /// A configuration from `(key, value)` pairs over the defaults.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Error> {
        let mut c = ConsumerConfig::default();
        for (k, v) in pairs {
            c.set(k, v)?;
        }
        Ok(c)
    }

    /// Sets one option by its Java/librdkafka key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        // Both parts, not the first that takes it: retry.backoff.ms and
        // client-wide keys like it mean something to each.
        let fetch = self.fetch.set(key, value)?;
        let group = self.group.set(key, value)?;
        if fetch || group {
            return Ok(());
        }
        Err(Error::Config {
            key: key.to_string(),
            message: "unknown configuration key".into(),
        })
    }

    /// Whether the consumer joins a group (group.id is set).
    pub fn has_group(&self) -> bool {
        !self.group.group_id.is_empty()
    }
}

/// Builds a [`ConsumerConfig`]; the first bad value is reported by
/// [`ConsumerConfigBuilder::build`].
#[derive(Debug, Clone)]
pub struct ConsumerConfigBuilder(Result<ConsumerConfig, String>);

impl ConsumerConfigBuilder {
    fn with(mut self, f: impl FnOnce(&mut ConsumerConfig)) -> Self {
        if let Ok(c) = self.0.as_mut() {
            f(c);
        }
        self
    }

    /// Any option by its string key (`fetch.min.bytes`, ...).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        if let Ok(c) = self.0.as_mut() {
            if let Err(e) = c.set(key, value) {
                self.0 = Err(e.to_string());
            }
        }
        self
    }

    /// `bootstrap.servers`, comma-separated `host:port`s.
    pub fn bootstrap_servers(self, servers: &str) -> Self {
        self.set("bootstrap.servers", servers)
    }

    /// `group.id`.
    pub fn group_id(self, group: &str) -> Self {
        self.with(|c| c.group.group_id = group.to_string())
    }

    /// `client.id`.
    pub fn client_id(self, id: &str) -> Self {
        self.with(|c| c.fetch.client_id = id.to_string())
    }

    /// `auto.offset.reset`.
    pub fn auto_offset_reset(self, reset: OffsetReset) -> Self {
        self.with(|c| c.fetch.auto_offset_reset = reset)
    }

    /// `enable.auto.commit`.
    pub fn enable_auto_commit(self, on: bool) -> Self {
        self.with(|c| c.group.enable_auto_commit = on)
    }

    /// `max.poll.records`.
    pub fn max_poll_records(self, n: usize) -> Self {
        self.set("max.poll.records", &n.to_string())
    }

    /// `session.timeout.ms`.
    pub fn session_timeout(self, d: Duration) -> Self {
        self.with(|c| c.group.session_timeout = d)
    }

    /// `isolation.level`.
    pub fn isolation_level(self, level: IsolationLevel) -> Self {
        self.with(|c| c.fetch.isolation_level = level)
    }

    /// The configuration, or the first bad key.
    pub fn build(self) -> Result<ConsumerConfig, Error> {
        let c = self.0.map_err(|message| Error::Config {
            key: "builder".into(),
            message,
        })?;
        // Without group.id the consumer can only assign (as the Java client
        // allows); the group settings matter only with one.
        if c.has_group() {
            c.group.validate()?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_group_id_builds_an_assign_only_config_but_a_bad_group_does_not() {
        let c = ConsumerConfig::builder()
            .bootstrap_servers("127.0.0.1:9092")
            .build()
            .unwrap();
        assert!(!c.has_group());
        let bad = ConsumerConfig::builder()
            .group_id("g")
            .set("heartbeat.interval.ms", "10000")
            .set("session.timeout.ms", "6000")
            .build();
        assert!(bad.is_err());
    }

    #[test]
    fn a_key_both_parts_take_reaches_both() {
        let c = ConsumerConfig::from_pairs([("retry.backoff.ms", "250")]).unwrap();
        assert_eq!(c.fetch.retry_backoff, Duration::from_millis(250));
        assert_eq!(c.group.retry_backoff, Duration::from_millis(250));
    }

    #[test]
    fn every_documented_key_is_accepted() {
        let pairs = [
            ("bootstrap.servers", "a:9092,b:9092"),
            ("group.id", "g"),
            ("client.id", "c"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("auto.commit.interval.ms", "1000"),
            ("partition.assignment.strategy", "roundrobin,range"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "2000"),
            ("max.poll.interval.ms", "60000"),
            ("fetch.min.bytes", "1024"),
            ("fetch.max.wait.ms", "100"),
            ("fetch.max.bytes", "1048576"),
            ("max.partition.fetch.bytes", "65536"),
            ("max.poll.records", "10"),
            ("isolation.level", "read_committed"),
            ("check.crcs", "false"),
            ("request.timeout.ms", "5000"),
            ("metadata.max.age.ms", "10000"),
        ];
        let c = ConsumerConfig::from_pairs(pairs).unwrap();
        assert_eq!(c.fetch.bootstrap_servers, vec!["a:9092", "b:9092"]);
        assert_eq!(c.group.group_id, "g");
        assert_eq!(c.group.assignment_strategy, vec!["roundrobin", "range"]);
        assert_eq!(c.fetch.max_poll_records, 10);
        assert_eq!(c.fetch.isolation_level, IsolationLevel::ReadCommitted);
        assert!(!c.group.enable_auto_commit && !c.fetch.check_crcs);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = ConsumerConfig::from_pairs([("fetch.min.byte", "1")]).unwrap_err();
        assert!(e.to_string().contains("fetch.min.byte"), "{e}");
        let e = ConsumerConfig::from_pairs([("max.poll.records", "many")]).unwrap_err();
        assert!(e.to_string().contains("max.poll.records"), "{e}");
        let e = ConsumerConfig::builder()
            .set("session.timeout.ms", "soon")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("session.timeout.ms"), "{e}");
    }

    #[test]
    fn the_builder_sets_typed_fields() {
        let c = ConsumerConfig::builder()
            .bootstrap_servers("127.0.0.1:9092")
            .group_id("g")
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
            .max_poll_records(5)
            .build()
            .unwrap();
        assert!(c.has_group());
        assert_eq!(
            (c.fetch.auto_offset_reset, c.fetch.max_poll_records),
            (OffsetReset::Earliest, 5)
        );
    }
}
