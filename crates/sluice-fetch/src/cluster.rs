//! The client's view of the cluster: brokers, topics, partition leaders and
//! leader epochs. Plain state, updated from Metadata responses with an
//! injected clock; it decides when a refresh is due.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_wire::{ErrorAction, KafkaCode};
use uuid::Uuid;

use crate::TopicPartition;

/// A broker's node id and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    /// The node id.
    pub id: i32,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: i32,
}

impl BrokerAddr {
    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition's leadership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// The leader's node id, if there is one.
    pub leader: Option<i32>,
    /// The leader epoch (-1 when the broker does not send one).
    pub leader_epoch: i32,
    /// The partition-level error in the last metadata.
    pub error: KafkaCode,
}

/// One topic's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicInfo {
    /// The topic's name.
    pub name: Arc<str>,
    /// The topic id (nil before Metadata v10).
    pub id: Uuid,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

/// What an applied Metadata response changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MetadataUpdate {
    /// Topics the response reported an error for (e.g. UNKNOWN_TOPIC_OR_PARTITION).
    pub topic_errors: Vec<(String, KafkaCode)>,
    /// Partitions whose leader changed.
    pub leader_changes: Vec<TopicPartition>,
    /// Whether something in the response asks for another refresh soon
    /// (a leader not yet elected, a retriable error).
    pub retry_soon: bool,
}

/// The cluster as this client last saw it.
#[derive(Debug, Default)]
pub struct Cluster {
    brokers: HashMap<i32, BrokerAddr>,
    topics: HashMap<Arc<str>, TopicInfo>,
    ids: HashMap<Uuid, Arc<str>>,
    last_refresh: Option<Instant>,
    /// Every topic a Metadata response has answered for, found or not.
    answered: HashSet<Arc<str>>,
    refresh_requested: bool,
    /// A topic was added since the last refresh: refresh without backoff.
    new_topics: bool,
}

impl Cluster {
    /// An empty view: the first call to [`Cluster::needs_refresh`] says yes.
    pub fn new() -> Self {
        Cluster::default()
    }

    /// Applies a Metadata response received at `now`. Leader epochs never go
    /// back: a partition whose epoch is older than the one known is stale
    /// metadata from a lagging broker and is ignored (KIP-320), unless the
    /// topic id changed (the topic was recreated and starts over).
    pub fn apply(&mut self, response: &MetadataResponse, now: Instant) -> MetadataUpdate {
        let mut update = MetadataUpdate::default();
        for b in &response.brokers {
            self.brokers.insert(
                b.node_id.0,
                BrokerAddr {
                    id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                },
            );
        }
        for t in &response.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            if !self.answered.contains(name.as_str()) {
                self.answered.insert(Arc::from(name.as_str()));
            }
            let code = KafkaCode(t.error_code);
            if !code.is_ok() {
                if code.is_retriable() {
                    update.retry_soon = true;
                }
                update.topic_errors.push((name, code));
                continue;
            }
            let name: Arc<str> = self
                .topics
                .get_key_value(name.as_str())
                .map_or_else(|| Arc::from(name.as_str()), |(k, _)| k.clone());
            let mut old = self.topics.get(&name);
            if let Some(o) =
                old.filter(|o| !o.id.is_nil() && !t.topic_id.is_nil() && o.id != t.topic_id)
            {
                // Deleted and created again: its partitions start over at leader epoch 0, so
                // the old topic's epochs say nothing about them. Compared, they kept the dead
                // topic's leaders and epochs for good, and every fetch was answered
                // UNKNOWN_LEADER_EPOCH.
                tracing::info!(topic = %name, old = %o.id, new = %t.topic_id, "topic recreated");
                self.ids.remove(&o.id);
                old = None;
            }
            let mut partitions: Vec<PartitionInfo> = Vec::with_capacity(t.partitions.len());
            for p in &t.partitions {
                let mut info = PartitionInfo {
                    partition: p.partition_index,
                    leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                    leader_epoch: p.leader_epoch,
                    error: KafkaCode(p.error_code),
                };
                let previous = old.and_then(|o| {
                    o.partitions
                        .iter()
                        .find(|q| q.partition == p.partition_index)
                });
                if let Some(prev) = previous {
                    if info.leader_epoch >= 0 && info.leader_epoch < prev.leader_epoch {
                        info = *prev; // stale: keep what we knew
                    } else if prev.leader != info.leader {
                        update
                            .leader_changes
                            .push(TopicPartition::new(name.clone(), info.partition));
                    }
                }
                if info.leader.is_none() || info.error.action() == ErrorAction::RefreshMetadata {
                    update.retry_soon = true;
                }
                partitions.push(info);
            }
            partitions.sort_by_key(|p| p.partition);
            if !t.topic_id.is_nil() {
                self.ids.insert(t.topic_id, name.clone());
            }
            self.topics.insert(
                name.clone(),
                TopicInfo {
                    name,
                    id: t.topic_id,
                    partitions,
                },
            );
        }
        self.last_refresh = Some(now);
        self.refresh_requested = update.retry_soon;
        self.new_topics = false;
        update
    }

    /// Whether a Metadata response has answered for `topic` (with its
    /// partitions, or saying it does not exist): until then, its absence
    /// says nothing.
    pub fn has_answered_for(&self, topic: &str) -> bool {
        self.answered.contains(topic)
    }

    /// Asks for a refresh at the next opportunity (a leader moved, a broker
    /// went away, a refresh failed), at least the backoff after the last one.
    /// It also ends a new topic's exemption from the backoff, so a failing
    /// refresh is never retried in a tight loop.
    pub fn request_refresh(&mut self) {
        self.refresh_requested = true;
        self.new_topics = false;
    }

    /// Asks for a refresh now because a topic was added (subscribe, assign,
    /// a producer's first record to it): unlike [`Cluster::request_refresh`]
    /// it does not wait out the backoff since the last refresh, as the Java
    /// client's `requestUpdateForNewTopics` does not. Without this, an
    /// `assign` right after connecting waited 100 ms for its first records.
    pub fn request_refresh_for_new_topic(&mut self) {
        self.refresh_requested = true;
        self.new_topics = true;
    }

    /// Whether a refresh is due at `now`: never refreshed, asked for (and at
    /// least `backoff` since the last one), or older than `max_age`.
    pub fn needs_refresh(&self, now: Instant, max_age: Duration, backoff: Duration) -> bool {
        match self.last_refresh {
            None => true,
            Some(_) if self.new_topics => true,
            Some(at) => {
                let age = now.saturating_duration_since(at);
                age >= max_age || (self.refresh_requested && age >= backoff)
            }
        }
    }

    /// When the next refresh falls due (for timers), if none is due yet.
    pub fn next_refresh(&self, max_age: Duration, backoff: Duration) -> Option<Instant> {
        let at = self.last_refresh?;
        Some(if self.new_topics {
            at
        } else if self.refresh_requested {
            at + backoff
        } else {
            at + max_age
        })
    }

    /// A Metadata request for `topics` (all topics when `None`).
    pub fn request_for<'a>(topics: Option<impl IntoIterator<Item = &'a str>>) -> MetadataRequest {
        let topics = topics.map(|ts| {
            ts.into_iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
                })
                .collect()
        });
        MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(false)
    }

    /// A broker by node id.
    pub fn broker(&self, id: i32) -> Option<&BrokerAddr> {
        self.brokers.get(&id)
    }

    /// Every known broker.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerAddr> {
        self.brokers.values()
    }

    /// A topic's metadata.
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.get(name)
    }

    /// The topic name for a topic id (Fetch v13+ names topics by id).
    pub fn topic_name(&self, id: &Uuid) -> Option<&Arc<str>> {
        self.ids.get(id)
    }

    /// The leader and leader epoch of a partition, if known.
    pub fn leader(&self, tp: &TopicPartition) -> Option<(i32, i32)> {
        let info = self.partition(tp)?;
        Some((info.leader?, info.leader_epoch))
    }

    /// A partition's metadata.
    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionInfo> {
        let topic = self.topics.get(&tp.topic)?;
        topic
            .partitions
            .iter()
            .find(|p| p.partition == tp.partition)
    }

    /// Every partition of a topic, or `None` when the topic is unknown.
    pub fn partitions_of(&self, topic: &str) -> Option<Vec<TopicPartition>> {
        let info = self.topics.get(topic)?;
        Some(
            info.partitions
                .iter()
                .map(|p| TopicPartition::new(info.name.clone(), p.partition))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    fn response(leader: i32, epoch: i32, topic_error: i16) -> MetadataResponse {
        let partition = |i: i32| {
            MetadataResponsePartition::default()
                .with_partition_index(i)
                .with_leader_id(BrokerId(leader))
                .with_leader_epoch(epoch)
        };
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("h1"))
                    .with_port(9092),
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("h2"))
                    .with_port(9093),
            ])
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                    .with_topic_id(Uuid::from_u128(7))
                    .with_error_code(topic_error)
                    .with_partitions(vec![partition(1), partition(0)]),
            ])
    }

    #[test]
    fn first_refresh_is_due_then_by_age_or_request() {
        let t0 = Instant::now();
        let age = Duration::from_secs(300);
        let backoff = Duration::from_millis(100);
        let mut c = Cluster::new();
        assert!(c.needs_refresh(t0, age, backoff));
        c.apply(&response(1, 5, 0), t0);
        assert!(!c.needs_refresh(t0 + Duration::from_secs(299), age, backoff));
        assert!(c.needs_refresh(t0 + age, age, backoff));
        c.request_refresh();
        assert!(
            !c.needs_refresh(t0 + Duration::from_millis(50), age, backoff),
            "backoff holds"
        );
        assert!(c.needs_refresh(t0 + backoff, age, backoff));
        assert_eq!(c.next_refresh(age, backoff), Some(t0 + backoff));
    }

    #[test]
    fn a_new_topic_refreshes_without_waiting_out_the_backoff() {
        let t0 = Instant::now();
        let age = Duration::from_secs(300);
        let backoff = Duration::from_millis(100);
        let mut c = Cluster::new();
        c.apply(&response(1, 5, 0), t0);
        c.request_refresh_for_new_topic();
        assert!(c.needs_refresh(t0, age, backoff));
        assert_eq!(c.next_refresh(age, backoff), Some(t0));
        c.apply(&response(1, 5, 0), t0 + Duration::from_millis(1));
        assert!(!c.needs_refresh(t0 + Duration::from_millis(2), age, backoff));
    }

    #[test]
    fn leaders_brokers_and_ids() {
        let mut c = Cluster::new();
        let now = Instant::now();
        let update = c.apply(&response(2, 5, 0), now);
        assert!(update.topic_errors.is_empty());
        let tp = TopicPartition::new("t", 1);
        assert_eq!(c.leader(&tp), Some((2, 5)));
        assert_eq!(
            c.broker(2).map(BrokerAddr::addr).as_deref(),
            Some("h2:9093")
        );
        assert_eq!(c.topic_name(&Uuid::from_u128(7)).map(|s| &**s), Some("t"));
        let parts = c.partitions_of("t").unwrap();
        assert_eq!(
            parts,
            vec![TopicPartition::new("t", 0), TopicPartition::new("t", 1)]
        );
        assert_eq!(c.partitions_of("nope"), None);
    }

    #[test]
    fn leader_moves_are_reported_and_stale_epochs_ignored() {
        let mut c = Cluster::new();
        let now = Instant::now();
        c.apply(&response(1, 5, 0), now);
        let update = c.apply(&response(2, 6, 0), now);
        assert_eq!(update.leader_changes.len(), 2);
        assert_eq!(c.leader(&TopicPartition::new("t", 0)), Some((2, 6)));
        // A lagging broker still says leader 1 at epoch 5: ignored.
        let update = c.apply(&response(1, 5, 0), now);
        assert!(update.leader_changes.is_empty());
        assert_eq!(c.leader(&TopicPartition::new("t", 0)), Some((2, 6)));
    }

    #[test]
    fn a_recreated_topic_starts_over_at_its_own_epochs() {
        let mut c = Cluster::new();
        let now = Instant::now();
        c.apply(&response(1, 5, 0), now);
        // Deleted and created again: a new topic id, leader 2 at epoch 0. Not stale metadata.
        let mut recreated = response(2, 0, 0);
        recreated.topics[0].topic_id = Uuid::from_u128(8);
        c.apply(&recreated, now);
        assert_eq!(c.leader(&TopicPartition::new("t", 0)), Some((2, 0)));
        assert_eq!(c.topic("t").map(|t| t.id), Some(Uuid::from_u128(8)));
        assert_eq!(c.topic_name(&Uuid::from_u128(8)).map(|s| &**s), Some("t"));
        assert_eq!(
            c.topic_name(&Uuid::from_u128(7)),
            None,
            "the old id is gone"
        );
        // The new topic's own lagging answers are still ignored.
        let with_id_8 = |leader, epoch| {
            let mut r = response(leader, epoch, 0);
            r.topics[0].topic_id = Uuid::from_u128(8);
            r
        };
        c.apply(&with_id_8(2, 1), now);
        c.apply(&with_id_8(1, 0), now);
        assert_eq!(c.leader(&TopicPartition::new("t", 0)), Some((2, 1)));
    }

    #[test]
    fn no_leader_and_topic_errors_ask_for_a_retry() {
        let mut c = Cluster::new();
        let now = Instant::now();
        let update = c.apply(&response(-1, 5, 0), now);
        assert!(update.retry_soon);
        assert_eq!(c.leader(&TopicPartition::new("t", 0)), None);
        let update = c.apply(
            &response(1, 5, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0),
            now,
        );
        assert_eq!(
            update.topic_errors,
            vec![("t".to_string(), KafkaCode::UNKNOWN_TOPIC_OR_PARTITION)]
        );
        assert!(update.retry_soon);
    }
}
