//! Incremental fetch sessions (KIP-227), sans-I/O.
//!
//! A broker that supports sessions (Fetch v7+) remembers which partitions a
//! client fetches and at which offsets. After the first, full request, each
//! request carries only the partitions whose fetch state changed, plus those
//! to forget; responses carry only partitions with news. librdkafka sends
//! full requests every time; with many partitions this saves most of the
//! request bytes and the broker's work.
//!
//! This follows the Java client's `FetchSessionHandler`: any session error,
//! or a response that names partitions outside the session, falls back to a
//! full request that starts a new session.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_wire::KafkaCode;
use uuid::Uuid;

use crate::TopicPartition;

/// The first Fetch version with sessions.
pub const FIRST_SESSION_VERSION: i16 = 7;
/// The first Fetch version that names topics by id.
pub const FIRST_TOPIC_ID_VERSION: i16 = 13;

/// What the fetcher wants from one partition in this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFetch {
    /// The partition.
    pub tp: TopicPartition,
    /// The topic's id (nil if unknown; needed from Fetch v13).
    pub topic_id: Uuid,
    /// The offset to fetch from.
    pub fetch_offset: i64,
    /// The leader epoch from metadata, for fencing (-1 if unknown).
    pub current_leader_epoch: i32,
    /// The most bytes to return for this partition.
    pub max_bytes: i32,
}

/// Request-wide fetch parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchParams {
    /// `fetch.max.wait.ms`.
    pub max_wait_ms: i32,
    /// `fetch.min.bytes`.
    pub min_bytes: i32,
    /// `fetch.max.bytes`.
    pub max_bytes: i32,
    /// `isolation.level` (0 or 1).
    pub isolation_level: i8,
}

const INITIAL_EPOCH: i32 = 0;

/// The fetch session with one broker.
#[derive(Debug)]
pub struct FetchSession {
    session_id: i32,
    next_epoch: i32,
    /// What the broker's session holds, as of the last request sent.
    partitions: BTreeMap<TopicPartition, PartitionFetch>,
    topics_by_id: HashMap<Uuid, Arc<str>>,
    last_request_full: bool,
}

impl Default for FetchSession {
    fn default() -> Self {
        FetchSession::new()
    }
}

impl FetchSession {
    /// No session yet: the next request is full.
    pub fn new() -> Self {
        FetchSession {
            session_id: 0,
            next_epoch: INITIAL_EPOCH,
            partitions: BTreeMap::new(),
            topics_by_id: HashMap::new(),
            last_request_full: true,
        }
    }

    /// The broker-assigned session id (0 = none).
    pub fn session_id(&self) -> i32 {
        self.session_id
    }

    /// The epoch the next request will carry (0 = full request).
    pub fn next_epoch(&self) -> i32 {
        self.next_epoch
    }

    /// Builds the request that makes the broker fetch exactly `next`, full or
    /// incremental as the session allows, and records what was sent.
    pub fn build(
        &mut self,
        next: &[PartitionFetch],
        params: FetchParams,
        version: i16,
    ) -> FetchRequest {
        for p in next {
            if !p.topic_id.is_nil() {
                self.topics_by_id.insert(p.topic_id, p.tp.topic.clone());
            }
        }
        let sessions = version >= FIRST_SESSION_VERSION;
        let full = !sessions || self.next_epoch == INITIAL_EPOCH;
        let (send, forget): (Vec<&PartitionFetch>, Vec<&TopicPartition>) = if full {
            (next.iter().collect(), Vec::new())
        } else {
            let send = next
                .iter()
                .filter(|p| self.partitions.get(&p.tp) != Some(p))
                .collect();
            let forget = self
                .partitions
                .keys()
                .filter(|tp| !next.iter().any(|p| &p.tp == *tp))
                .collect();
            (send, forget)
        };
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(params.max_wait_ms)
            .with_min_bytes(params.min_bytes)
            .with_max_bytes(params.max_bytes)
            .with_isolation_level(params.isolation_level)
            .with_session_id(if sessions { self.session_id } else { 0 })
            .with_session_epoch(if sessions { self.next_epoch } else { -1 })
            .with_topics(group_topics(&send))
            .with_forgotten_topics_data(group_forgotten(&forget, &self.partitions));
        self.partitions = next.iter().map(|p| (p.tp.clone(), p.clone())).collect();
        self.last_request_full = full;
        request
    }

    /// The partitions of a response, by name (resolving topic ids for v13+).
    /// A topic id this session never sent is returned as `Err(id)`.
    pub fn response_partitions<'a>(
        &'a self,
        response: &'a FetchResponse,
        version: i16,
    ) -> impl Iterator<Item = Result<(TopicPartition, &'a PartitionData), Uuid>> + 'a {
        response.responses.iter().flat_map(move |t| {
            let topic = if version >= FIRST_TOPIC_ID_VERSION {
                self.topics_by_id
                    .get(&t.topic_id)
                    .cloned()
                    .ok_or(t.topic_id)
            } else {
                Ok(Arc::from(t.topic.0.as_str()))
            };
            t.partitions.iter().map(move |p| {
                topic
                    .clone()
                    .map(|topic| (TopicPartition::new(topic, p.partition_index), p))
            })
        })
    }

    /// Takes in a response. `Ok(())` when it fits the session (and the
    /// session moves to the next epoch); `Err(code)` when the session is
    /// gone or broken, in which case the next request is full.
    pub fn handle_response(
        &mut self,
        response: &FetchResponse,
        version: i16,
    ) -> Result<(), KafkaCode> {
        let code = KafkaCode(response.error_code);
        if !code.is_ok() {
            self.reset();
            return Err(code);
        }
        if version < FIRST_SESSION_VERSION {
            return Ok(());
        }
        let unknown = self
            .response_partitions(response, version)
            .any(|p| match p {
                Ok((tp, _)) => !self.partitions.contains_key(&tp),
                Err(_) => true,
            });
        if unknown {
            self.reset();
            return Err(KafkaCode::FETCH_SESSION_TOPIC_ID_ERROR);
        }
        if self.last_request_full {
            self.session_id = response.session_id;
            // A broker that made no session (id 0) gets full requests from now on.
            self.next_epoch = if response.session_id == 0 {
                INITIAL_EPOCH
            } else {
                1
            };
        } else {
            self.next_epoch = if self.next_epoch == i32::MAX {
                1
            } else {
                self.next_epoch + 1
            };
        }
        Ok(())
    }

    /// The request failed (timeout, connection lost): start over with a full request.
    pub fn reset(&mut self) {
        self.session_id = 0;
        self.next_epoch = INITIAL_EPOCH;
        self.partitions.clear();
    }
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn group_topics(send: &[&PartitionFetch]) -> Vec<FetchTopic> {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for p in send {
        let partition = FetchPartition::default()
            .with_partition(p.tp.partition)
            .with_current_leader_epoch(p.current_leader_epoch)
            .with_fetch_offset(p.fetch_offset)
            .with_log_start_offset(-1)
            .with_last_fetched_epoch(-1)
            .with_partition_max_bytes(p.max_bytes);
        match topics
            .iter_mut()
            .find(|t| t.topic.0.as_str() == &*p.tp.topic)
        {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(topic_name(&p.tp.topic))
                    .with_topic_id(p.topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    topics
}

fn group_forgotten(
    forget: &[&TopicPartition],
    session: &BTreeMap<TopicPartition, PartitionFetch>,
) -> Vec<ForgottenTopic> {
    let mut topics: Vec<ForgottenTopic> = Vec::new();
    for tp in forget {
        match topics.iter_mut().find(|t| t.topic.0.as_str() == &*tp.topic) {
            Some(t) => t.partitions.push(tp.partition),
            None => {
                let id = session.get(*tp).map_or(Uuid::nil(), |p| p.topic_id);
                topics.push(
                    ForgottenTopic::default()
                        .with_topic(topic_name(&tp.topic))
                        .with_topic_id(id)
                        .with_partitions(vec![tp.partition]),
                );
            }
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::FetchableTopicResponse;

    const PARAMS: FetchParams = FetchParams {
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level: 0,
    };

    fn pf(partition: i32, offset: i64) -> PartitionFetch {
        PartitionFetch {
            tp: TopicPartition::new("t", partition),
            topic_id: Uuid::from_u128(9),
            fetch_offset: offset,
            current_leader_epoch: 3,
            max_bytes: 1000,
        }
    }

    fn sent(request: &FetchRequest) -> Vec<(i32, i64)> {
        request
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (p.partition, p.fetch_offset)))
            .collect()
    }

    fn forgotten(request: &FetchRequest) -> Vec<i32> {
        request
            .forgotten_topics_data
            .iter()
            .flat_map(|t| t.partitions.clone())
            .collect()
    }

    fn response(session_id: i32, error: i16, partitions: &[i32]) -> FetchResponse {
        FetchResponse::default()
            .with_session_id(session_id)
            .with_error_code(error)
            .with_responses(vec![
                FetchableTopicResponse::default()
                    .with_topic(topic_name("t"))
                    .with_topic_id(Uuid::from_u128(9))
                    .with_partitions(
                        partitions
                            .iter()
                            .map(|&p| PartitionData::default().with_partition_index(p))
                            .collect(),
                    ),
            ])
    }

    #[test]
    fn full_then_incremental_with_only_changes_and_forgotten() {
        let mut s = FetchSession::new();
        let r = s.build(&[pf(0, 10), pf(1, 20), pf(2, 30)], PARAMS, 12);
        assert_eq!((r.session_id, r.session_epoch), (0, 0));
        assert_eq!(sent(&r), vec![(0, 10), (1, 20), (2, 30)]);
        assert_eq!(r.max_wait_ms, 500);
        assert_eq!(r.min_bytes, 1);
        s.handle_response(&response(77, 0, &[0, 1, 2]), 12).unwrap();
        assert_eq!(s.session_id(), 77);

        // Partition 0 advanced, 1 unchanged, 2 dropped (e.g. paused).
        let r = s.build(&[pf(0, 15), pf(1, 20)], PARAMS, 12);
        assert_eq!((r.session_id, r.session_epoch), (77, 1));
        assert_eq!(sent(&r), vec![(0, 15)]);
        assert_eq!(forgotten(&r), vec![2]);
        s.handle_response(&response(77, 0, &[0]), 12).unwrap();

        // Nothing changed: an empty incremental request.
        let r = s.build(&[pf(0, 15), pf(1, 20)], PARAMS, 12);
        assert_eq!(r.session_epoch, 2);
        assert!(sent(&r).is_empty());
        assert!(forgotten(&r).is_empty());
    }

    #[test]
    fn session_errors_fall_back_to_a_full_request() {
        for code in [
            KafkaCode::FETCH_SESSION_ID_NOT_FOUND,
            KafkaCode::INVALID_FETCH_SESSION_EPOCH,
        ] {
            let mut s = FetchSession::new();
            s.build(&[pf(0, 10), pf(1, 20)], PARAMS, 12);
            s.handle_response(&response(5, 0, &[0, 1]), 12).unwrap();
            s.build(&[pf(0, 11), pf(1, 20)], PARAMS, 12);
            assert_eq!(s.handle_response(&response(0, code.0, &[]), 12), Err(code));
            let r = s.build(&[pf(0, 11), pf(1, 20)], PARAMS, 12);
            assert_eq!((r.session_id, r.session_epoch), (0, 0), "{code}");
            assert_eq!(sent(&r), vec![(0, 11), (1, 20)], "{code}: full request");
        }
    }

    #[test]
    fn a_response_naming_a_partition_outside_the_session_resets_it() {
        let mut s = FetchSession::new();
        s.build(&[pf(0, 10)], PARAMS, 12);
        assert!(s.handle_response(&response(5, 0, &[0, 4]), 12).is_err());
        assert_eq!(s.next_epoch(), 0);
    }

    #[test]
    fn broker_without_sessions_gets_full_requests() {
        let mut s = FetchSession::new();
        s.build(&[pf(0, 10)], PARAMS, 12);
        s.handle_response(&response(0, 0, &[0]), 12).unwrap();
        let r = s.build(&[pf(0, 10)], PARAMS, 12);
        assert_eq!((r.session_id, r.session_epoch), (0, 0));
        assert_eq!(sent(&r), vec![(0, 10)]);
        // Before v7 there are no sessions at all.
        let mut s = FetchSession::new();
        let r = s.build(&[pf(0, 10)], PARAMS, 6);
        assert_eq!(r.session_epoch, -1);
    }

    #[test]
    fn topic_ids_resolve_for_v13_responses() {
        let mut s = FetchSession::new();
        s.build(&[pf(0, 10)], PARAMS, 13);
        let mut resp = response(5, 0, &[0]);
        resp.responses[0].topic = TopicName::default();
        let parts: Vec<_> = s
            .response_partitions(&resp, 13)
            .map(|r| r.map(|(tp, _)| tp))
            .collect();
        assert_eq!(parts, vec![Ok(TopicPartition::new("t", 0))]);
        resp.responses[0].topic_id = Uuid::from_u128(10);
        assert!(s.response_partitions(&resp, 13).all(|r| r.is_err()));
    }

    #[test]
    fn epoch_wraps_to_one() {
        let mut s = FetchSession::new();
        s.build(&[pf(0, 10)], PARAMS, 12);
        s.handle_response(&response(5, 0, &[0]), 12).unwrap();
        s.next_epoch = i32::MAX;
        s.build(&[pf(0, 10)], PARAMS, 12);
        s.handle_response(&response(5, 0, &[]), 12).unwrap();
        assert_eq!(s.next_epoch(), 1);
    }
}
