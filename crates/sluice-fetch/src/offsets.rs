//! ListOffsets: earliest, latest and by-timestamp offset lookups, built and
//! parsed without I/O.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_wire::KafkaCode;

use crate::TopicPartition;
use crate::config::{IsolationLevel, OffsetReset};

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (or last stable offset under read_committed).
    Latest,
    /// The first offset whose timestamp is at or after this (ms since the epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    /// The timestamp value ListOffsets carries for this spec.
    pub fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(ts) => ts,
        }
    }

    /// The spec an `auto.offset.reset` policy resets to (`None` for `none`).
    pub fn for_reset(policy: OffsetReset) -> Option<OffsetSpec> {
        match policy {
            OffsetReset::Earliest => Some(OffsetSpec::Earliest),
            OffsetReset::Latest => Some(OffsetSpec::Latest),
            OffsetReset::None => None,
        }
    }
}

/// One partition's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset (-1 when a timestamp lookup found no record at or after it).
    pub offset: i64,
    /// The leader epoch of that offset (-1 if unknown).
    pub leader_epoch: i32,
    /// The timestamp of the record found (-1 for earliest/latest).
    pub timestamp: i64,
}

/// A ListOffsets request for `partitions`, all led by the broker it goes to.
pub fn request(
    partitions: &[(TopicPartition, OffsetSpec, i32)],
    isolation: IsolationLevel,
) -> ListOffsetsRequest {
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for (tp, spec, leader_epoch) in partitions {
        let p = ListOffsetsPartition::default()
            .with_partition_index(tp.partition)
            .with_current_leader_epoch(*leader_epoch)
            .with_timestamp(spec.timestamp());
        match topics.iter_mut().find(|t| t.name.0.as_str() == &*tp.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(tp.topic.to_string())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation.as_i8())
        .with_topics(topics)
}

/// The answers in a ListOffsets response, per partition.
pub fn parse(
    response: &ListOffsetsResponse,
) -> Vec<(TopicPartition, Result<ListedOffset, KafkaCode>)> {
    let mut out = Vec::new();
    for t in &response.topics {
        let topic: Arc<str> = Arc::from(t.name.0.as_str());
        for p in &t.partitions {
            let tp = TopicPartition::new(topic.clone(), p.partition_index);
            let code = KafkaCode(p.error_code);
            let result = if code.is_ok() {
                Ok(ListedOffset {
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                    timestamp: p.timestamp,
                })
            } else {
                Err(code)
            };
            out.push((tp, result));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };

    #[test]
    fn specs_map_to_kafka_timestamps() {
        assert_eq!(OffsetSpec::Earliest.timestamp(), -2);
        assert_eq!(OffsetSpec::Latest.timestamp(), -1);
        assert_eq!(OffsetSpec::Timestamp(1234).timestamp(), 1234);
        assert_eq!(
            OffsetSpec::for_reset(OffsetReset::Earliest),
            Some(OffsetSpec::Earliest)
        );
        assert_eq!(
            OffsetSpec::for_reset(OffsetReset::Latest),
            Some(OffsetSpec::Latest)
        );
        assert_eq!(OffsetSpec::for_reset(OffsetReset::None), None);
    }

    #[test]
    fn request_groups_partitions_by_topic() {
        let r = request(
            &[
                (TopicPartition::new("a", 0), OffsetSpec::Earliest, 3),
                (TopicPartition::new("b", 1), OffsetSpec::Latest, -1),
                (TopicPartition::new("a", 2), OffsetSpec::Timestamp(99), 4),
            ],
            IsolationLevel::ReadCommitted,
        );
        assert_eq!(r.isolation_level, 1);
        assert_eq!(r.topics.len(), 2);
        let a = &r.topics[0];
        assert_eq!(a.name.0.as_str(), "a");
        let got: Vec<(i32, i64, i32)> = a
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.timestamp, p.current_leader_epoch))
            .collect();
        assert_eq!(got, vec![(0, -2, 3), (2, 99, 4)]);
    }

    #[test]
    fn parse_splits_answers_and_errors() {
        let response = ListOffsetsResponse::default().with_topics(vec![
            ListOffsetsTopicResponse::default()
                .with_name(TopicName(StrBytes::from_static_str("a")))
                .with_partitions(vec![
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(0)
                        .with_offset(42)
                        .with_leader_epoch(3)
                        .with_timestamp(-1),
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(1)
                        .with_error_code(KafkaCode::NOT_LEADER_OR_FOLLOWER.0),
                ]),
        ]);
        let parsed = parse(&response);
        assert_eq!(
            parsed[0],
            (
                TopicPartition::new("a", 0),
                Ok(ListedOffset {
                    offset: 42,
                    leader_epoch: 3,
                    timestamp: -1
                })
            )
        );
        assert_eq!(
            parsed[1],
            (
                TopicPartition::new("a", 1),
                Err(KafkaCode::NOT_LEADER_OR_FOLLOWER)
            )
        );
    }
}
