//! Produce requests and their answers: one request per leader with one
//! batch per partition, topics named by name (v3-v12) or by topic id (v13+,
//! KIP-516), and each partition's answer found in the response.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use sluice_fetch::TopicPartition;
use sluice_wire::KafkaCode;
use uuid::Uuid;

use crate::error::ProduceError;

/// The first Produce version that names topics by id instead of by name.
pub const TOPIC_ID_VERSION: i16 = 13;

/// One partition's part of a request.
#[derive(Debug, Clone)]
pub struct PartitionData {
    /// The partition.
    pub tp: TopicPartition,
    /// Its topic's id from metadata (nil when unknown).
    pub topic_id: Uuid,
    /// The encoded RecordBatch.
    pub records: Bytes,
}

/// Builds the Produce request for one leader. Topics carry both their name
/// and their id; the encoder writes whichever the version uses.
pub fn build(partitions: &[PartitionData], acks: i16, timeout_ms: i32) -> ProduceRequest {
    let mut topics: BTreeMap<&str, (Uuid, Vec<PartitionProduceData>)> = BTreeMap::new();
    for p in partitions {
        let entry = topics
            .entry(&p.tp.topic)
            .or_insert((p.topic_id, Vec::new()));
        entry.1.push(
            PartitionProduceData::default()
                .with_index(p.tp.partition)
                .with_records(Some(p.records.clone())),
        );
    }
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(
            topics
                .into_iter()
                .map(|(name, (id, parts))| {
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(name.to_string())))
                        .with_topic_id(id)
                        .with_partition_data(parts)
                })
                .collect(),
        )
}

/// The version to send: the highest both sides speak (`negotiated`), but
/// below [`TOPIC_ID_VERSION`] when a topic's id is unknown and the broker
/// still takes names.
pub fn choose_version(
    negotiated: i16,
    broker: Option<VersionRange>,
    ids_known: bool,
) -> Result<i16, ProduceError> {
    if negotiated < TOPIC_ID_VERSION || ids_known {
        return Ok(negotiated);
    }
    match broker {
        Some(range) if range.min < TOPIC_ID_VERSION => Ok(TOPIC_ID_VERSION - 1),
        _ => Err(ProduceError::Client(format!(
            "the broker takes only Produce v{TOPIC_ID_VERSION}+ (topic ids) and metadata gave no topic id"
        ))),
    }
}

/// A partition's answer in a Produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The error code (0: written).
    pub code: KafkaCode,
    /// The offset of the batch's first record.
    pub base_offset: i64,
    /// The broker's append time with LogAppendTime topics, else -1.
    pub log_append_time_ms: i64,
    /// The broker's explanation, if it gave one (v8+).
    pub message: Option<String>,
}

/// Finds `tp`'s answer in `response`, matching the topic by name or, from
/// v13, by `topic_id`.
pub fn answer(response: &ProduceResponse, tp: &TopicPartition, topic_id: Uuid) -> Option<Answer> {
    response
        .responses
        .iter()
        .filter(|t| {
            t.name.0.as_str() == &*tp.topic || (!topic_id.is_nil() && t.topic_id == topic_id)
        })
        .flat_map(|t| &t.partition_responses)
        .find(|p| p.index == tp.partition)
        .map(|p| Answer {
            code: KafkaCode(p.error_code),
            base_offset: p.base_offset,
            log_append_time_ms: p.log_append_time_ms,
            message: p
                .error_message
                .as_ref()
                .map(|m| m.to_string())
                .filter(|m| !m.is_empty()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::protocol::{Decodable, Encodable};

    fn data(topic: &str, partition: i32, id: u128) -> PartitionData {
        PartitionData {
            tp: TopicPartition::new(topic, partition),
            topic_id: Uuid::from_u128(id),
            records: Bytes::from_static(b"batch"),
        }
    }

    fn roundtrip(request: &ProduceRequest, version: i16) -> ProduceRequest {
        let mut buf = BytesMut::new();
        request.encode(&mut buf, version).unwrap();
        ProduceRequest::decode(&mut buf.freeze(), version).unwrap()
    }

    #[test]
    fn topics_go_by_name_before_v13_and_by_id_from_v13() {
        let parts = [data("a", 0, 1), data("b", 1, 2), data("a", 2, 1)];
        let request = build(&parts, -1, 30_000);
        let old = roundtrip(&request, 12);
        assert_eq!(old.acks, -1);
        let names: Vec<(&str, Vec<i32>)> = old
            .topic_data
            .iter()
            .map(|t| {
                let parts = t.partition_data.iter().map(|p| p.index).collect();
                (t.name.0.as_str(), parts)
            })
            .collect();
        assert_eq!(names, vec![("a", vec![0, 2]), ("b", vec![1])]);
        assert!(old.topic_data.iter().all(|t| t.topic_id.is_nil()));
        let new = roundtrip(&request, 13);
        let ids: Vec<Uuid> = new.topic_data.iter().map(|t| t.topic_id).collect();
        assert_eq!(ids, vec![Uuid::from_u128(1), Uuid::from_u128(2)]);
        assert!(new.topic_data.iter().all(|t| t.name.0.is_empty()));
    }

    #[test]
    fn v13_is_used_only_with_topic_ids() {
        let range = |min, max| Some(VersionRange { min, max });
        assert_eq!(choose_version(12, range(3, 12), false).unwrap(), 12);
        assert_eq!(choose_version(13, range(3, 13), true).unwrap(), 13);
        assert_eq!(choose_version(13, range(3, 13), false).unwrap(), 12);
        assert!(choose_version(13, range(13, 13), false).is_err());
    }

    #[test]
    fn answers_are_found_by_name_or_by_topic_id() {
        let partition = |index, code| {
            PartitionProduceResponse::default()
                .with_index(index)
                .with_error_code(code)
                .with_base_offset(40)
                .with_log_append_time_ms(-1)
        };
        let by_name = ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default()
                .with_name(TopicName(StrBytes::from_static_str("a")))
                .with_partition_responses(vec![partition(0, 0), partition(1, 6)]),
        ]);
        let tp = TopicPartition::new("a", 1);
        let got = answer(&by_name, &tp, Uuid::nil()).unwrap();
        assert_eq!(got.code, KafkaCode::NOT_LEADER_OR_FOLLOWER);
        assert_eq!(
            answer(&by_name, &TopicPartition::new("a", 2), Uuid::nil()),
            None
        );
        assert_eq!(
            answer(&by_name, &TopicPartition::new("b", 0), Uuid::nil()),
            None
        );

        let by_id = ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default()
                .with_topic_id(Uuid::from_u128(9))
                .with_partition_responses(vec![partition(0, 0)]),
        ]);
        let tp = TopicPartition::new("a", 0);
        let got = answer(&by_id, &tp, Uuid::from_u128(9)).unwrap();
        assert_eq!((got.code, got.base_offset), (KafkaCode(0), 40));
        assert_eq!(answer(&by_id, &tp, Uuid::from_u128(8)), None);
    }
}
