//! Consumer-group configuration, with the Java client's defaults and string keys.

use std::time::Duration;

use sluice_fetch::config::{parse_bool, parse_ms};
use sluice_wire::key_doc::{Java, KeyDoc};

use crate::assignor::by_name;
use crate::error::GroupError;

/// How a consumer takes part in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id` (static membership, KIP-345).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`: the broker drops a member it has not heard from for this long.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`: a member that does not poll for this long leaves.
    pub max_poll_interval: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `partition.assignment.strategy`, in preference order.
    pub assignment_strategy: Vec<String>,
    /// `enable.auto.commit`.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            group_id: String::new(),
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            retry_backoff: Duration::from_millis(100),
            assignment_strategy: vec!["range".into(), "roundrobin".into()],
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
        }
    }
}

/// The group keys, documented
/// (the configuration reference in docs/guide.md is generated from these).
pub const GROUP_KEY_DOCS: &[KeyDoc] = &[
    KeyDoc {
        key: "group.id",
        aliases: &[],
        default: None,
        java: Java::Same,
        doc: "The consumer group to join; required for group consumption and commits.",
    },
    KeyDoc {
        key: "group.instance.id",
        aliases: &[],
        default: None,
        java: Java::Same,
        doc: "A static member's fixed identity (KIP-345): a restart within `session.timeout.ms` keeps its partitions.",
    },
    KeyDoc {
        key: "session.timeout.ms",
        aliases: &[],
        default: Some("45000"),
        java: Java::Same,
        doc: "The broker drops a member it has not heard from for this long.",
    },
    KeyDoc {
        key: "heartbeat.interval.ms",
        aliases: &[],
        default: Some("3000"),
        java: Java::Same,
        doc: "How often the member heartbeats; must be below `session.timeout.ms`.",
    },
    KeyDoc {
        key: "max.poll.interval.ms",
        aliases: &[],
        default: Some("300000"),
        java: Java::Same,
        doc: "A member that does not poll for this long leaves the group (its partitions go to others).",
    },
    KeyDoc {
        key: "retry.backoff.ms",
        aliases: &[],
        default: Some("100"),
        java: Java::Same,
        doc: "The wait before retrying a failed group request.",
    },
    KeyDoc {
        key: "partition.assignment.strategy",
        aliases: &[],
        default: Some("range,roundrobin"),
        java: Java::Same,
        doc: "Assignors in preference order: `range`, `roundrobin`, `sticky`, `cooperative-sticky` (or their Java class names).",
    },
    KeyDoc {
        key: "enable.auto.commit",
        aliases: &[],
        default: Some("true"),
        java: Java::Same,
        doc: "Commit, at each poll, the offsets of what earlier polls returned.",
    },
    KeyDoc {
        key: "auto.commit.interval.ms",
        aliases: &[],
        default: Some("5000"),
        java: Java::Same,
        doc: "How often auto-commit commits.",
    },
];

impl GroupConfig {
    /// Sets one option by its Java/librdkafka key; `Ok(false)` if the key is
    /// not a group key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, GroupError> {
        let bad = |message: String| GroupError::Config {
            key: key.to_string(),
            message,
        };
        let ms = |v: &str| parse_ms(key, v).map_err(|e| bad(e.to_string()));
        match key {
            "group.id" => self.group_id = value.to_string(),
            "group.instance.id" => {
                self.group_instance_id = Some(value.to_string()).filter(|v| !v.is_empty())
            }
            "session.timeout.ms" => self.session_timeout = ms(value)?,
            "heartbeat.interval.ms" => self.heartbeat_interval = ms(value)?,
            "max.poll.interval.ms" => self.max_poll_interval = ms(value)?,
            "retry.backoff.ms" => self.retry_backoff = ms(value)?,
            "enable.auto.commit" => {
                self.enable_auto_commit = parse_bool(key, value).map_err(|e| bad(e.to_string()))?
            }
            "auto.commit.interval.ms" => self.auto_commit_interval = ms(value)?,
            "partition.assignment.strategy" => {
                let names: Vec<String> = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if names.is_empty() {
                    return Err(bad(
                        "expected one or more of range, roundrobin, sticky, cooperative-sticky"
                            .into(),
                    ));
                }
                for n in &names {
                    if by_name(n).is_none() {
                        return Err(bad(format!(
                            "unknown assignor {n:?}: expected range, roundrobin, sticky or cooperative-sticky"
                        )));
                    }
                }
                self.assignment_strategy = names;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks the combination: a group id, and heartbeats well inside the session.
    pub fn validate(&self) -> Result<(), GroupError> {
        if self.group_id.is_empty() {
            return Err(GroupError::Config {
                key: "group.id".into(),
                message: "a consumer group needs a group.id".into(),
            });
        }
        if self.heartbeat_interval >= self.session_timeout {
            return Err(GroupError::Config {
                key: "heartbeat.interval.ms".into(),
                message: "must be lower than session.timeout.ms".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_set_fields_and_bad_values_name_the_key() {
        let mut c = GroupConfig::default();
        assert!(c.set("group.id", "g").unwrap());
        assert!(c.set("session.timeout.ms", "6000").unwrap());
        assert!(
            c.set("partition.assignment.strategy", "roundrobin, range")
                .unwrap()
        );
        assert!(!c.set("fetch.min.bytes", "1").unwrap());
        assert_eq!(c.session_timeout, Duration::from_secs(6));
        assert_eq!(
            c.assignment_strategy,
            vec!["roundrobin".to_string(), "range".to_string()]
        );
        let err = c
            .set("partition.assignment.strategy", "sticky-ish")
            .unwrap_err();
        assert!(
            err.to_string().contains("partition.assignment.strategy"),
            "{err}"
        );
        let err = c.set("enable.auto.commit", "maybe").unwrap_err();
        assert!(err.to_string().contains("enable.auto.commit"), "{err}");
        c.validate().unwrap();
        c.heartbeat_interval = Duration::from_secs(10);
        assert!(c.validate().is_err());
        assert!(GroupConfig::default().validate().is_err(), "no group.id");
    }

    #[test]
    fn every_key_is_documented_with_its_real_default() {
        let problems = sluice_wire::key_doc::check_docs(
            GROUP_KEY_DOCS,
            GroupConfig::default,
            GroupConfig::set,
            include_str!("config.rs"),
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
