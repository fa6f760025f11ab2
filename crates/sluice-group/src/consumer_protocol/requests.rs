//! The requests a [`ConsumerMembership`] sends. A heartbeat carries the
//! fields sent only on a change (rebalance timeout, subscription, server
//! assignor, owned partitions) when they differ from what the last one sent,
//! and null otherwise, as the Java client's `HeartbeatState` does.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, FindCoordinatorRequest, GroupId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{ConsumerMembership, IdPartition, LEAVE_EPOCH, LEAVE_STATIC_EPOCH};

impl ConsumerMembership {
    pub(super) fn find_coordinator_request(&self) -> FindCoordinatorRequest {
        let key = StrBytes::from_string(self.config.group_id.clone());
        FindCoordinatorRequest::default()
            .with_key(key.clone())
            .with_key_type(0)
            .with_coordinator_keys(vec![key])
    }

    fn base_request(&self, epoch: i32) -> ConsumerGroupHeartbeatRequest {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_member_id(StrBytes::from_string(self.generation.member_id.clone()))
            .with_member_epoch(epoch)
            // Always sent when set, as the Java client does.
            .with_instance_id(
                self.config
                    .group_instance_id
                    .clone()
                    .map(StrBytes::from_string),
            )
    }

    /// The next heartbeat at the current epoch, noting what it sends.
    pub(super) fn heartbeat_request(&mut self) -> ConsumerGroupHeartbeatRequest {
        let mut request = self.base_request(self.generation.generation_id);
        let timeout = millis(self.config.max_poll_interval);
        if self.sent.rebalance_timeout != Some(timeout) {
            request.rebalance_timeout_ms = timeout;
            self.sent.rebalance_timeout = Some(timeout);
        }
        let subscription = (self.topics.clone(), self.pattern.clone());
        if self.sent.topics.as_ref() != Some(&subscription) {
            request.subscribed_topic_names = Some(
                self.topics
                    .iter()
                    .map(|t| TopicName(StrBytes::from_string(t.clone())))
                    .collect(),
            );
            // Without a pattern, an empty one (and with one, no names), as
            // librdkafka sends: its mock coordinator requires names and
            // pattern to be both set or both null.
            request.subscribed_topic_regex = Some(StrBytes::from_string(
                self.pattern.clone().unwrap_or_default(),
            ));
            self.sent.topics = Some(subscription);
        }
        if let Some(assignor) = &self.config.remote_assignor {
            if self.sent.assignor.as_ref() != Some(assignor) {
                request.server_assignor = Some(StrBytes::from_string(assignor.clone()));
                self.sent.assignor = Some(assignor.clone());
            }
        }
        if self.sent.owned.as_ref() != Some(&self.owned) {
            request.topic_partitions = Some(topic_partitions(&self.owned));
            self.sent.owned = Some(self.owned.clone());
        }
        request
    }

    /// The leaving heartbeat: epoch -1, or -2 for a static member.
    pub(super) fn leave_request(&self) -> ConsumerGroupHeartbeatRequest {
        let epoch = if self.config.group_instance_id.is_some() {
            LEAVE_STATIC_EPOCH
        } else {
            LEAVE_EPOCH
        };
        self.base_request(epoch)
    }
}

/// Owned partitions grouped by topic id, in order.
fn topic_partitions(owned: &BTreeSet<IdPartition>) -> Vec<TopicPartitions> {
    let mut by_topic: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
    for (id, p) in owned {
        by_topic.entry(*id).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(id, partitions)| {
            TopicPartitions::default()
                .with_topic_id(id)
                .with_partitions(partitions)
        })
        .collect()
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// A heartbeat cut down to `version`: v0 has no `SubscribedTopicRegex`.
pub fn fit(
    mut request: ConsumerGroupHeartbeatRequest,
    version: i16,
) -> ConsumerGroupHeartbeatRequest {
    if version < 1 {
        request.subscribed_topic_regex = None;
    }
    request
}
