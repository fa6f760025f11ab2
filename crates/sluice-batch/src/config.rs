//! How records are cut into batches and how failing batches are retried.

use std::time::Duration;

use sluice_fetch::config::parse_in;
use sluice_wire::key_doc::{Java, KeyDoc};

use crate::error::BatchError;

/// What a batch holds records of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// One batch at a time across every assigned partition.
    #[default]
    None,
    /// A batch per partition.
    Partition,
    /// A batch per record key.
    Key,
}

/// What the pipeline guarantees about a batch's results and offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Guarantee {
    /// Results are written, then offsets committed: a crash between the two
    /// writes the results again.
    #[default]
    AtLeastOnce,
    /// Results and offsets in one transaction per batch (KIP-98, KIP-447):
    /// a read_committed reader sees each batch's result exactly once.
    ExactlyOnceV2,
}

/// Batching settings, with defaults and the string keys the CLI's `-X` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    /// `batch.size`: a batch is ready at this many records.
    pub max_records: usize,
    /// `batch.bytes`: ...or at this many bytes of keys and values.
    pub max_bytes: usize,
    /// `linger.ms`: ...or this long after its first record.
    pub linger: Duration,
    /// `batch.group.by`: `none`, `partition` or `key`.
    pub group_by: GroupBy,
    /// `batch.retries`: attempts after the first before a failing batch stops the run.
    pub max_retries: u32,
    /// `batch.retry.backoff.ms`: the first wait between attempts (doubling).
    pub retry_backoff: Duration,
    /// `batch.retry.backoff.max.ms`: the longest wait between attempts.
    pub retry_backoff_max: Duration,
    /// `processing.guarantee`: `at_least_once` or `exactly_once_v2`.
    pub guarantee: Guarantee,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_records: 1000,
            max_bytes: 1 << 20,
            linger: Duration::from_secs(1),
            group_by: GroupBy::None,
            max_retries: 3,
            retry_backoff: Duration::from_millis(200),
            retry_backoff_max: Duration::from_secs(10),
            guarantee: Guarantee::AtLeastOnce,
        }
    }
}

/// The batch keys, documented
/// (the configuration reference in docs/guide.md is generated from these).
pub const BATCH_KEY_DOCS: &[KeyDoc] = &[
    KeyDoc {
        key: "batch.size",
        aliases: &[],
        default: Some("1000"),
        java: Java::SluiceOnly,
        doc: "A batch closes at this many records.",
    },
    KeyDoc {
        key: "batch.bytes",
        aliases: &[],
        default: Some("1048576"),
        java: Java::SluiceOnly,
        doc: "...or at this many bytes of keys and values.",
    },
    KeyDoc {
        key: "linger.ms",
        aliases: &[],
        default: Some("1000"),
        java: Java::SluiceOnly,
        doc: "...or this long after its first record.",
    },
    KeyDoc {
        key: "batch.group.by",
        aliases: &[],
        default: Some("none"),
        java: Java::SluiceOnly,
        doc: "`none` (one batch across partitions), `partition` or `key`: what a batch holds.",
    },
    KeyDoc {
        key: "batch.retries",
        aliases: &[],
        default: Some("3"),
        java: Java::SluiceOnly,
        doc: "How many times a failed batch is retried before the pipeline stops with the error (never skipped).",
    },
    KeyDoc {
        key: "batch.retry.backoff.ms",
        aliases: &[],
        default: Some("200"),
        java: Java::SluiceOnly,
        doc: "The first wait before retrying a batch; it doubles per attempt.",
    },
    KeyDoc {
        key: "batch.retry.backoff.max.ms",
        aliases: &[],
        default: Some("10000"),
        java: Java::SluiceOnly,
        doc: "The longest wait between batch retries.",
    },
    KeyDoc {
        key: "processing.guarantee",
        aliases: &[],
        default: Some("at_least_once"),
        java: Java::SluiceOnly,
        doc: "`at_least_once` or `exactly_once_v2` (Kafka Streams' key and values): with `exactly_once_v2` each batch's results and offsets are written in one transaction (the results producer needs `transactional.id`, the input is read with `isolation.level=read_committed`, `batch.group.by=key` is refused). `exactly_once` (v1, one producer per partition) is refused.",
    },
];

impl BatchConfig {
    /// Sets one option by key; `Ok(false)` if the key is not a batch key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, BatchError> {
        let err = |e: sluice_fetch::FetchError| BatchError::Config {
            key: key.to_string(),
            message: e.to_string(),
        };
        let ms = |v: &str| {
            parse_in::<u64>(key, v, 0, u64::from(u32::MAX))
                .map(Duration::from_millis)
                .map_err(err)
        };
        match key {
            "batch.size" => self.max_records = parse_in(key, value, 1, usize::MAX).map_err(err)?,
            "batch.bytes" => self.max_bytes = parse_in(key, value, 1, usize::MAX).map_err(err)?,
            "linger.ms" => self.linger = ms(value)?,
            "batch.group.by" => {
                self.group_by = match value {
                    "none" => GroupBy::None,
                    "partition" => GroupBy::Partition,
                    "key" => GroupBy::Key,
                    _ => {
                        return Err(BatchError::Config {
                            key: key.into(),
                            message: format!("{value:?}: expected none, partition or key"),
                        });
                    }
                }
            }
            "batch.retries" => self.max_retries = parse_in(key, value, 0, u32::MAX).map_err(err)?,
            "batch.retry.backoff.ms" => self.retry_backoff = ms(value)?,
            "batch.retry.backoff.max.ms" => self.retry_backoff_max = ms(value)?,
            "processing.guarantee" => {
                self.guarantee = match value {
                    "at_least_once" => Guarantee::AtLeastOnce,
                    "exactly_once_v2" => Guarantee::ExactlyOnceV2,
                    "exactly_once" | "exactly_once_beta" => {
                        return Err(BatchError::Config {
                            key: key.into(),
                            message: format!(
                                "{value:?} is not supported (Kafka Streams removed it in 4.0): use exactly_once_v2"
                            ),
                        });
                    }
                    _ => {
                        return Err(BatchError::Config {
                            key: key.into(),
                            message: format!(
                                "{value:?}: expected at_least_once or exactly_once_v2"
                            ),
                        });
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks settings that only conflict together: exactly-once needs
    /// every batch to end where the partition's next batch starts, which
    /// batches per key (interleaved in a partition) do not.
    pub fn validate(&self) -> Result<(), BatchError> {
        if self.guarantee == Guarantee::ExactlyOnceV2 && self.group_by == GroupBy::Key {
            return Err(BatchError::Config {
                key: "batch.group.by".into(),
                message: "key cannot be exactly-once: a partition's records sit in several open batches, so a batch's transaction cannot commit its offsets without committing records still waiting; use none or partition".into(),
            });
        }
        Ok(())
    }

    /// The wait before attempt `attempt` (1 = the first retry).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.retry_backoff
            .saturating_mul(factor)
            .min(self.retry_backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_set_fields_and_bad_values_name_the_key() {
        let mut c = BatchConfig::default();
        for (k, v) in [
            ("batch.size", "10"),
            ("batch.bytes", "2048"),
            ("linger.ms", "5"),
            ("batch.group.by", "key"),
            ("batch.retries", "2"),
        ] {
            assert!(c.set(k, v).unwrap(), "{k}");
        }
        assert_eq!(
            (
                c.max_records,
                c.max_bytes,
                c.linger,
                c.group_by,
                c.max_retries
            ),
            (10, 2048, Duration::from_millis(5), GroupBy::Key, 2)
        );
        assert!(!c.set("fetch.min.bytes", "1").unwrap());
        for (k, v) in [
            ("batch.size", "0"),
            ("batch.size", "ten"),
            ("batch.group.by", "topic"),
            ("linger.ms", "-1"),
            ("processing.guarantee", "exactly_once"),
            ("processing.guarantee", "at_most_once"),
        ] {
            match c.set(k, v) {
                Err(BatchError::Config { key, .. }) => assert_eq!(key, k),
                other => panic!("{k}={v}: {other:?}"),
            }
        }
    }

    #[test]
    fn exactly_once_v2_is_accepted_but_not_with_batches_per_key() {
        let mut c = BatchConfig::default();
        assert!(c.set("processing.guarantee", "exactly_once_v2").unwrap());
        assert_eq!(c.guarantee, Guarantee::ExactlyOnceV2);
        c.validate().unwrap();
        c.set("batch.group.by", "partition").unwrap();
        c.validate().unwrap();
        c.set("batch.group.by", "key").unwrap();
        assert!(
            matches!(c.validate(), Err(BatchError::Config { key, .. }) if key == "batch.group.by")
        );
        c.set("processing.guarantee", "at_least_once").unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = BatchConfig {
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(350),
            ..BatchConfig::default()
        };
        let waits: Vec<u64> = (1..=4).map(|a| c.backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, vec![100, 200, 350, 350]);
    }

    #[test]
    fn every_key_is_documented_with_its_real_default() {
        let problems = sluice_wire::key_doc::check_docs(
            BATCH_KEY_DOCS,
            BatchConfig::default,
            BatchConfig::set,
            include_str!("config.rs"),
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
