//! OffsetCommit and OffsetFetch: building the requests and reading the
//! answers, without I/O. The driver ([`crate::coordinator`]) sends them to
//! the group coordinator.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use sluice_fetch::TopicPartition;
use sluice_wire::KafkaCode;

use crate::membership::Generation;

/// An offset to commit (or a committed one): the next offset to consume,
/// with the leader epoch of the last consumed record and free-form metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetAndMetadata {
    /// The next offset the group reads from this partition.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// The application's metadata string.
    pub metadata: Option<String>,
}

impl OffsetAndMetadata {
    /// An offset without epoch or metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: None,
        }
    }
}

/// Offsets by partition.
pub type Offsets = BTreeMap<TopicPartition, OffsetAndMetadata>;

/// An OffsetCommit for `offsets` in `generation` (generation -1 and an empty
/// member id for a consumer outside a group).
pub fn commit_request(
    group: &str,
    generation: &Generation,
    instance_id: Option<&str>,
    offsets: &Offsets,
) -> OffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, o) in offsets {
        topics.entry(&tp.topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(o.offset)
                .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                .with_committed_metadata(Some(StrBytes::from_string(
                    o.metadata.clone().unwrap_or_default(),
                ))),
        );
    }
    OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(generation.generation_id)
        .with_member_id(StrBytes::from_string(generation.member_id.clone()))
        .with_group_instance_id(instance_id.map(|i| StrBytes::from_string(i.to_string())))
        .with_topics(
            topics
                .into_iter()
                .map(|(t, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(partitions)
                })
                .collect(),
        )
}

/// The partitions an OffsetCommit answer rejected, with their codes. A
/// partition that was asked for and is missing from the answer counts as
/// UNKNOWN_TOPIC_OR_PARTITION.
pub fn commit_failures(
    asked: &Offsets,
    response: &OffsetCommitResponse,
) -> Vec<(TopicPartition, KafkaCode)> {
    let mut answered: BTreeMap<TopicPartition, KafkaCode> = BTreeMap::new();
    for t in &response.topics {
        for p in &t.partitions {
            answered.insert(
                TopicPartition::new(t.name.0.as_str(), p.partition_index),
                KafkaCode(p.error_code),
            );
        }
    }
    asked
        .keys()
        .filter_map(|tp| {
            let code = answered
                .get(tp)
                .copied()
                .unwrap_or(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION);
            (!code.is_ok()).then(|| (tp.clone(), code))
        })
        .collect()
}

/// An OffsetFetch for `tps` in `group` at `version`: the top-level fields
/// up to v7, `groups` from v8 (the codec rejects a field set at a version
/// without it). `require_stable` (KIP-447) is sent from v7.
pub fn fetch_request(
    group: &str,
    tps: &[TopicPartition],
    require_stable: bool,
    version: i16,
) -> OffsetFetchRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        topics.entry(&tp.topic).or_default().push(tp.partition);
    }
    let group_id = GroupId(StrBytes::from_string(group.to_string()));
    let name = |t: &str| TopicName(StrBytes::from_string(t.to_string()));
    let request = OffsetFetchRequest::default().with_require_stable(require_stable && version >= 7);
    if version >= 8 {
        return request.with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(group_id)
                .with_topics(Some(
                    topics
                        .iter()
                        .map(|(t, parts)| {
                            OffsetFetchRequestTopics::default()
                                .with_name(name(t))
                                .with_partition_indexes(parts.clone())
                        })
                        .collect(),
                )),
        ]);
    }
    request.with_group_id(group_id).with_topics(Some(
        topics
            .iter()
            .map(|(t, parts)| {
                OffsetFetchRequestTopic::default()
                    .with_name(name(t))
                    .with_partition_indexes(parts.clone())
            })
            .collect(),
    ))
}

/// Committed offsets from an OffsetFetch answer: `None` for a partition
/// without a committed offset (-1). A group-level error is `Err(code)`, as is
/// the first partition-level one (UNSTABLE_OFFSET_COMMIT is retriable).
pub fn parse_fetch(
    group: &str,
    response: &OffsetFetchResponse,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, KafkaCode> {
    let mut out = BTreeMap::new();
    let mut put = |topic: &str,
                   partition: i32,
                   offset: i64,
                   epoch: i32,
                   metadata: Option<&StrBytes>,
                   code: i16|
     -> Result<(), KafkaCode> {
        let code = KafkaCode(code);
        if !code.is_ok() {
            return Err(code);
        }
        let committed = (offset >= 0).then(|| OffsetAndMetadata {
            offset,
            leader_epoch: (epoch >= 0).then_some(epoch),
            metadata: metadata.map(|m| m.to_string()).filter(|m| !m.is_empty()),
        });
        out.insert(TopicPartition::new(topic, partition), committed);
        Ok(())
    };
    if let Some(g) = response
        .groups
        .iter()
        .find(|g| g.group_id.0.as_str() == group)
    {
        if g.error_code != 0 {
            return Err(KafkaCode(g.error_code));
        }
        for t in &g.topics {
            for p in &t.partitions {
                put(
                    &t.name,
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.as_ref(),
                    p.error_code,
                )?;
            }
        }
        return Ok(out);
    }
    if response.error_code != 0 {
        return Err(KafkaCode(response.error_code));
    }
    for t in &response.topics {
        for p in &t.partitions {
            put(
                &t.name,
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
                p.metadata.as_ref(),
                p.error_code,
            )?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::offset_commit_response::{
        OffsetCommitResponsePartition, OffsetCommitResponseTopic,
    };
    use kafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    };
    use kafka_protocol::protocol::{Decodable, Encodable};

    fn generation() -> Generation {
        Generation {
            generation_id: 3,
            member_id: "m-1".into(),
            protocol: Some("range".into()),
        }
    }

    fn offsets() -> Offsets {
        Offsets::from([
            (TopicPartition::new("a", 0), OffsetAndMetadata::new(10)),
            (
                TopicPartition::new("a", 1),
                OffsetAndMetadata {
                    offset: 20,
                    leader_epoch: Some(2),
                    metadata: Some("m".into()),
                },
            ),
            (TopicPartition::new("b", 0), OffsetAndMetadata::new(5)),
        ])
    }

    #[test]
    fn commit_request_groups_by_topic_and_round_trips_at_every_version() {
        let request = commit_request("g", &generation(), None, &offsets());
        assert_eq!(request.generation_id_or_member_epoch, 3);
        assert_eq!(request.member_id.as_str(), "m-1");
        assert_eq!(request.topics.len(), 2);
        assert_eq!(request.topics[0].partitions[1].committed_offset, 20);
        assert_eq!(request.topics[0].partitions[1].committed_leader_epoch, 2);
        for version in 2..=9 {
            let mut buf = bytes::BytesMut::new();
            request.encode(&mut buf, version).unwrap();
            let back = OffsetCommitRequest::decode(&mut buf.freeze(), version).unwrap();
            assert_eq!(back.topics.len(), 2, "v{version}");
            assert_eq!(back.topics[1].partitions[0].committed_offset, 5);
        }
    }

    #[test]
    fn commit_failures_name_rejected_and_missing_partitions() {
        let response = OffsetCommitResponse::default().with_topics(vec![
            OffsetCommitResponseTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("a")))
                .with_partitions(vec![
                    OffsetCommitResponsePartition::default().with_partition_index(0),
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(1)
                        .with_error_code(KafkaCode::OFFSET_METADATA_TOO_LARGE.0),
                ]),
        ]);
        let failed = commit_failures(&offsets(), &response);
        assert_eq!(
            failed,
            vec![
                (
                    TopicPartition::new("a", 1),
                    KafkaCode::OFFSET_METADATA_TOO_LARGE
                ),
                (
                    TopicPartition::new("b", 0),
                    KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
                ),
            ]
        );
    }

    #[test]
    fn fetch_request_fits_the_old_and_new_layouts() {
        let tps = [TopicPartition::new("a", 0), TopicPartition::new("a", 2)];
        for version in 1..=9 {
            let request = fetch_request("g", &tps, true, version);
            let mut buf = bytes::BytesMut::new();
            request.encode(&mut buf, version).unwrap();
            let back = OffsetFetchRequest::decode(&mut buf.freeze(), version).unwrap();
            let parts = if version >= 8 {
                back.groups[0].topics.as_ref().unwrap()[0]
                    .partition_indexes
                    .clone()
            } else {
                back.topics.as_ref().unwrap()[0].partition_indexes.clone()
            };
            assert_eq!(parts, vec![0, 2], "v{version}");
        }
    }

    #[test]
    fn parse_fetch_reads_both_layouts_and_errors() {
        let old = OffsetFetchResponse::default().with_topics(vec![
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("a")))
                .with_partitions(vec![
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(7)
                        .with_committed_leader_epoch(1)
                        .with_metadata(Some(StrBytes::from_static_str("x"))),
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(-1),
                ]),
        ]);
        let got = parse_fetch("g", &old).unwrap();
        assert_eq!(
            got[&TopicPartition::new("a", 0)],
            Some(OffsetAndMetadata {
                offset: 7,
                leader_epoch: Some(1),
                metadata: Some("x".into())
            })
        );
        assert_eq!(got[&TopicPartition::new("a", 1)], None);

        let new = OffsetFetchResponse::default().with_groups(vec![
            OffsetFetchResponseGroup::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_topics(vec![
                    OffsetFetchResponseTopics::default()
                        .with_name(TopicName(StrBytes::from_static_str("a")))
                        .with_partitions(vec![
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(0)
                                .with_committed_offset(9),
                        ]),
                ]),
        ]);
        let got = parse_fetch("g", &new).unwrap();
        assert_eq!(
            got[&TopicPartition::new("a", 0)].as_ref().unwrap().offset,
            9
        );

        let failed = OffsetFetchResponse::default().with_error_code(KafkaCode::NOT_COORDINATOR.0);
        assert_eq!(parse_fetch("g", &failed), Err(KafkaCode::NOT_COORDINATOR));
        let unstable = OffsetFetchResponse::default().with_groups(vec![
            OffsetFetchResponseGroup::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_error_code(KafkaCode::UNSTABLE_OFFSET_COMMIT.0),
        ]);
        assert_eq!(
            parse_fetch("g", &unstable),
            Err(KafkaCode::UNSTABLE_OFFSET_COMMIT)
        );
    }
}
