//! A pattern subscription under the classic protocol (the Java client's
//! `subscribe(Pattern)`): every `metadata.max.age.ms` the task asks for the
//! metadata of every topic, matches the names (internal topics excluded, as
//! with the Java client's `exclude.internal.topics=true`) and subscribes the
//! membership to what matched, so a topic created later joins the
//! subscription and the group rebalances. Partition counts of the matched
//! topics come from the same metadata.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::MetadataResponse;
use regex::Regex;
use sluice_fetch::cluster::Cluster;
use tokio::time::Instant;

use super::{Coordinator, Machine, Net};
use crate::error::GroupError;

type Result<T, E = GroupError> = std::result::Result<T, E>;

/// The pattern and when its topics are matched next.
#[derive(Debug)]
pub(crate) struct PatternWatch {
    regex: Regex,
    every: Duration,
    next: Instant,
    in_flight: bool,
}

impl PatternWatch {
    /// Watches `pattern` (anchored at both ends, as Java's `Pattern.matcher().matches()`).
    pub(crate) fn new(pattern: &str, every: Duration) -> Result<Self> {
        let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| GroupError::Config {
            key: "subscribe_pattern".into(),
            message: format!("bad pattern {pattern:?}: {e}"),
        })?;
        Ok(PatternWatch {
            regex,
            every,
            next: Instant::now(),
            in_flight: false,
        })
    }

    /// The topics of `response` the pattern matches, with their partition
    /// counts; internal topics and topics in error are left out.
    pub(crate) fn matches(&self, response: &MetadataResponse) -> BTreeMap<String, usize> {
        response
            .topics
            .iter()
            .filter(|t| t.error_code == 0 && !t.is_internal)
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.as_str();
                self.regex
                    .is_match(name)
                    .then(|| (name.to_string(), t.partitions.len()))
            })
            .collect()
    }
}

/// Whether `pattern` is one [`PatternWatch`] takes.
pub(crate) fn check_pattern(pattern: &str) -> Result<()> {
    PatternWatch::new(pattern, Duration::ZERO).map(|_| ())
}

impl Coordinator {
    /// When the pattern's topics are matched next.
    pub(super) fn pattern_due(&self) -> Option<Instant> {
        self.pattern
            .as_ref()
            .filter(|p| !p.in_flight)
            .map(|p| p.next)
    }

    /// Asks for every topic's metadata when the pattern is due.
    pub(super) fn refresh_pattern(&mut self, now: Instant) {
        let Some(p) = self.pattern.as_mut() else {
            return;
        };
        if p.in_flight || now < p.next {
            return;
        }
        p.in_flight = true;
        let pool = self.pool.clone();
        let tx = self.net_tx.clone();
        tokio::spawn(async move {
            let request = Cluster::request_for(None::<[&str; 0]>);
            let result = async { Ok(pool.least_loaded().await?.send(request).await?) }.await;
            let _ = tx.send(Net::PatternTopics(result));
        });
    }

    /// The metadata for the pattern: subscribe to what matched.
    pub(super) fn on_pattern_topics(&mut self, result: Result<MetadataResponse>) {
        let Some(p) = self.pattern.as_mut() else {
            return;
        };
        p.in_flight = false;
        p.next = Instant::now() + p.every;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "metadata for the subscription pattern failed");
                p.next = Instant::now() + self.retry_backoff;
                return;
            }
        };
        let matched = p.matches(&response);
        if let Machine::Classic(m) = &mut self.membership {
            m.subscribe(matched.keys().cloned().collect());
            m.on_partition_counts(matched);
        }
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::protocol::StrBytes;

    use super::*;

    fn topic(name: &'static str, partitions: usize, internal: bool) -> MetadataResponseTopic {
        MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str(name))))
            .with_is_internal(internal)
            .with_partitions(vec![MetadataResponsePartition::default(); partitions])
    }

    #[test]
    fn the_whole_name_must_match_and_internal_topics_never_do() {
        let w = PatternWatch::new("orders-.*|__.*", Duration::from_secs(1)).unwrap();
        let response = MetadataResponse::default().with_topics(vec![
            topic("orders-eu", 3, false),
            topic("orders-us", 1, false),
            topic("old-orders-eu", 2, false),
            topic("__consumer_offsets", 50, true),
            topic("__mine", 1, false),
            topic("orders-bad", 1, false).with_error_code(3),
        ]);
        assert_eq!(
            w.matches(&response),
            BTreeMap::from([
                ("__mine".to_string(), 1),
                ("orders-eu".to_string(), 3),
                ("orders-us".to_string(), 1)
            ])
        );
        let err = PatternWatch::new("(", Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("bad pattern"), "{err}");
    }
}
