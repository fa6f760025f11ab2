//! The consumer protocol's embedded messages: the subscription a member
//! sends in JoinGroup and the assignment the leader sends in SyncGroup.
//! Both are `[int16 version][struct]`, byte-compatible with the Java client
//! and librdkafka (versions 0-3).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use sluice_fetch::TopicPartition;
use sluice_wire::WireError;

/// The newest version sluice writes and reads in full.
pub const MAX_VERSION: i16 = 3;

/// A member's subscription.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Opaque assignor data.
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (v1+, for cooperative protocols).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation the member last joined (v2+; -1 if none).
    pub generation_id: i32,
    /// The member's rack (v3+).
    pub rack_id: Option<String>,
}

/// What the leader assigned to a member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberAssignment {
    /// The assigned partitions.
    pub partitions: Vec<TopicPartition>,
    /// Opaque assignor data.
    pub user_data: Option<Bytes>,
}

fn decode_error(what: &str, message: impl std::fmt::Display) -> WireError {
    WireError::Decode {
        what: what.to_string(),
        message: message.to_string(),
    }
}

fn name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

fn group<T>(partitions: &[TopicPartition], make: impl Fn(&str, Vec<i32>) -> T) -> Vec<T> {
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match topics.iter_mut().find(|(t, _)| *t == &*tp.topic) {
            Some((_, ps)) => ps.push(tp.partition),
            None => topics.push((&tp.topic, vec![tp.partition])),
        }
    }
    topics.into_iter().map(|(t, ps)| make(t, ps)).collect()
}

/// Splits off the version and the body; versions above ours are read as
/// ours (newer versions only add fields at the end, as in the Java client).
fn split_version(data: &Bytes, what: &str) -> Result<(i16, Bytes), WireError> {
    if data.len() < 2 {
        return Err(decode_error(
            what,
            format!("{} bytes, need a 2-byte version", data.len()),
        ));
    }
    let mut body = data.clone();
    let version = body.get_i16();
    if version < 0 {
        return Err(decode_error(what, format!("negative version {version}")));
    }
    Ok((version.min(MAX_VERSION), body))
}

impl Subscription {
    /// Encodes at `version` (0-3).
    pub fn encode(&self, version: i16) -> Result<Bytes, WireError> {
        let message = ConsumerProtocolSubscription::default()
            .with_topics(
                self.topics
                    .iter()
                    .map(|t| StrBytes::from_string(t.clone()))
                    .collect(),
            )
            .with_user_data(self.user_data.clone())
            .with_owned_partitions(group(&self.owned_partitions, |t, ps| {
                OwnedTopic::default()
                    .with_topic(name(t))
                    .with_partitions(ps)
            }))
            .with_generation_id(self.generation_id)
            .with_rack_id(self.rack_id.clone().map(StrBytes::from_string));
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        message
            .encode(&mut buf, version)
            .map_err(|e| WireError::Encode {
                api: kafka_protocol::messages::ApiKey::JoinGroup,
                version,
                message: e.to_string(),
            })?;
        Ok(buf.freeze())
    }

    /// Decodes any version.
    pub fn decode(data: &Bytes) -> Result<Self, WireError> {
        let (version, mut body) = split_version(data, "consumer protocol subscription")?;
        let m = ConsumerProtocolSubscription::decode(&mut body, version)
            .map_err(|e| decode_error("consumer protocol subscription", e))?;
        Ok(Subscription {
            topics: m.topics.iter().map(|t| t.to_string()).collect(),
            user_data: m.user_data,
            owned_partitions: m
                .owned_partitions
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|&p| TopicPartition::new(t.topic.0.as_str(), p))
                })
                .collect(),
            generation_id: if version >= 2 { m.generation_id } else { -1 },
            rack_id: m.rack_id.map(|r| r.to_string()),
        })
    }
}

impl MemberAssignment {
    /// Encodes at `version` (0-3).
    pub fn encode(&self, version: i16) -> Result<Bytes, WireError> {
        let message = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(group(&self.partitions, |t, ps| {
                AssignedTopic::default()
                    .with_topic(name(t))
                    .with_partitions(ps)
            }))
            .with_user_data(self.user_data.clone());
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        message
            .encode(&mut buf, version)
            .map_err(|e| WireError::Encode {
                api: kafka_protocol::messages::ApiKey::SyncGroup,
                version,
                message: e.to_string(),
            })?;
        Ok(buf.freeze())
    }

    /// Decodes any version. An empty blob is an empty assignment (brokers
    /// send one to members the leader gave nothing).
    pub fn decode(data: &Bytes) -> Result<Self, WireError> {
        if data.is_empty() {
            return Ok(MemberAssignment::default());
        }
        let (version, mut body) = split_version(data, "consumer protocol assignment")?;
        let m = ConsumerProtocolAssignment::decode(&mut body, version)
            .map_err(|e| decode_error("consumer protocol assignment", e))?;
        Ok(MemberAssignment {
            partitions: m
                .assigned_partitions
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|&p| TopicPartition::new(t.topic.0.as_str(), p))
                })
                .collect(),
            user_data: m.user_data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// librdkafka's v0 subscription for topic "t1" with no user data, byte
    /// for byte as the Java client writes it too: version 0, one topic,
    /// user data length -1.
    const V0_SUBSCRIPTION: &[u8] = &[0, 0, 0, 0, 0, 1, 0, 2, b't', b'1', 0xff, 0xff, 0xff, 0xff];

    #[test]
    fn v0_subscription_bytes_match_the_java_layout() {
        let s = Subscription {
            topics: vec!["t1".into()],
            generation_id: -1,
            ..Default::default()
        };
        assert_eq!(&s.encode(0).unwrap()[..], V0_SUBSCRIPTION);
        assert_eq!(
            Subscription::decode(&Bytes::from_static(V0_SUBSCRIPTION)).unwrap(),
            s
        );
    }

    #[test]
    fn assignment_round_trips_and_groups_by_topic() {
        let a = MemberAssignment {
            partitions: vec![
                TopicPartition::new("a", 0),
                TopicPartition::new("b", 1),
                TopicPartition::new("a", 2),
            ],
            user_data: None,
        };
        for version in 0..=3 {
            let bytes = a.encode(version).unwrap();
            let back = MemberAssignment::decode(&bytes).unwrap();
            let mut want = a.partitions.clone();
            want.sort();
            let mut got = back.partitions.clone();
            got.sort();
            assert_eq!(got, want, "v{version}");
        }
        // v0: version, 2 topics; "a" with [0, 2] first.
        let bytes = a.encode(0).unwrap();
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 0, 2, 0, 1]);
    }

    #[test]
    fn newer_versions_read_as_ours_and_garbage_is_an_error() {
        let s = Subscription {
            topics: vec!["t".into()],
            generation_id: 4,
            rack_id: Some("r1".into()),
            ..Default::default()
        };
        let mut v4 = s.encode(3).unwrap().to_vec();
        v4[1] = 4; // a future version with our v3 fields first
        assert_eq!(Subscription::decode(&Bytes::from(v4)).unwrap(), s);
        assert!(Subscription::decode(&Bytes::from_static(&[0])).is_err());
        assert!(
            Subscription::decode(&Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff])).is_err()
        );
        assert!(MemberAssignment::decode(&Bytes::from_static(&[0xff, 0xff])).is_err());
        assert_eq!(
            MemberAssignment::decode(&Bytes::new()).unwrap(),
            MemberAssignment::default()
        );
    }
}
