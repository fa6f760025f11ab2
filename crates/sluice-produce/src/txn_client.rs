//! The transactional requests (KIP-98, transaction version 1): finding the
//! transaction and group coordinators, InitProducerId with the
//! `transactional.id`, AddPartitionsToTxn before a partition's first
//! produce, AddOffsetsToTxn and TxnOffsetCommit (KIP-447), EndTxn. Retriable
//! coordinator errors are retried until `request.timeout.ms`; the state
//! machine is [`crate::transaction`].
//!
//! Transaction version 2 (KIP-890) when the cluster has finalized
//! `transaction.version` 2 or more and offers Produce v12 and EndTxn v5: no
//! AddPartitionsToTxn (a Produce v12 adds its partition) and no
//! AddOffsetsToTxn (TxnOffsetCommit adds the group), and every EndTxn bumps
//! the producer epoch (the response carries the new one). Otherwise version
//! 1: Produce capped at v11 and EndTxn at v4.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, ApiVersionsRequest, EndTxnRequest,
    FindCoordinatorRequest, GroupId, InitProducerIdRequest, ProducerId, TopicName, TransactionalId,
    TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use sluice_fetch::TopicPartition;
use sluice_fetch::cluster::BrokerAddr;
use sluice_fetch::pool::BrokerPool;
use sluice_wire::KafkaCode;
use sluice_wire::connection::Connection;
use tokio::time::Instant;

use crate::error::ProduceError;
use crate::transaction::{TransactionState, is_fatal_code};

/// The highest Produce version of transaction version 1 (v12 is KIP-890's).
pub(crate) const TV1_MAX_PRODUCE: i16 = 11;
/// The highest EndTxn version of transaction version 1 (v5 bumps the epoch).
const TV1_MAX_END_TXN: i16 = 4;
/// The Produce version that adds its partition to the transaction (TV2).
pub(crate) const TV2_PRODUCE: i16 = 12;
/// The EndTxn version that bumps the epoch (TV2).
const TV2_END_TXN: i16 = 5;

/// A consumer group member's identity, for `send_offsets_to_transaction`:
/// the group coordinator fences a zombie member by it (KIP-447).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The generation the member joined (-1 for none: no fencing by generation).
    pub generation_id: i32,
    /// The member id the coordinator gave ("" for none).
    pub member_id: String,
    /// `group.instance.id` (static membership).
    pub group_instance_id: Option<String>,
}

impl GroupMetadata {
    /// Metadata of a group with no member identity (generation -1): offsets
    /// are committed without zombie fencing, as before KIP-447.
    pub fn new(group_id: impl Into<String>) -> Self {
        GroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// What the producer's handles and its task share about the transaction.
#[derive(Debug)]
pub(crate) struct Txn {
    pub id: String,
    pub timeout_ms: i32,
    pub backoff: Duration,
    pub patience: Duration,
    inner: Mutex<TxnInner>,
}

#[derive(Debug, Default)]
pub(crate) struct TxnInner {
    pub machine: TransactionState,
    pub producer: Option<(i64, i16)>,
    pub coordinator: Option<BrokerAddr>,
    /// The partitions AddPartitionsToTxn added to the open transaction.
    pub added: HashSet<TopicPartition>,
    /// Whether AddOffsetsToTxn added a group to it.
    pub offsets_added: bool,
    /// The last group coordinator TxnOffsetCommit went to, by group id (a
    /// pipeline commits to the same group every transaction: no
    /// FindCoordinator each time).
    pub group_coordinator: Option<(String, BrokerAddr)>,
    /// Transaction version 2 (KIP-890), decided at `init_transactions`.
    pub tv2: bool,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn code_error(what: &str, code: KafkaCode) -> ProduceError {
    ProduceError::Transaction {
        fatal: is_fatal_code(code),
        code: Some(code),
        message: format!("{what}: {code}"),
    }
}

/// The APIs transactions need, the one tansu 0.6 lacks first.
const NEEDED: [ApiKey; 5] = [
    ApiKey::EndTxn,
    ApiKey::AddPartitionsToTxn,
    ApiKey::InitProducerId,
    ApiKey::AddOffsetsToTxn,
    ApiKey::TxnOffsetCommit,
];

/// Fails naming the first API transactions need that the broker lacks.
pub(crate) fn check_apis(conn: &Connection) -> Result<(), ProduceError> {
    for api in NEEDED {
        if conn.versions().broker_range(api).is_none() {
            return Err(ProduceError::TransactionsUnsupported {
                api: format!("{api:?}"),
                message: format!("broker {} does not list it in ApiVersions", conn.addr()),
            });
        }
    }
    Ok(())
}

/// Whether the cluster runs transaction version 2: `transaction.version`
/// finalized at 2 or more (ApiVersions v3+), and Produce v12 and EndTxn v5
/// offered by `conn`'s broker.
pub(crate) async fn transaction_v2(conn: &Connection) -> Result<bool, ProduceError> {
    let versions = conn.versions();
    let at_least = |api: ApiKey, v: i16| versions.negotiate(api).is_ok_and(|n| n >= v);
    if !at_least(ApiKey::Produce, TV2_PRODUCE)
        || !at_least(ApiKey::EndTxn, TV2_END_TXN)
        || !at_least(ApiKey::ApiVersions, 3)
    {
        return Ok(false);
    }
    let version = versions.negotiate(ApiKey::ApiVersions)?;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(s("sluice"))
        .with_client_software_version(s(env!("CARGO_PKG_VERSION")));
    let r = conn.send_version(request, version).await?;
    Ok(r.finalized_features
        .iter()
        .any(|f| f.name.as_str() == "transaction.version" && f.max_version_level >= 2))
}

impl Txn {
    pub(crate) fn new(id: String, timeout_ms: i32, backoff: Duration, patience: Duration) -> Self {
        Txn {
            id,
            timeout_ms,
            backoff,
            patience,
            inner: Mutex::default(),
        }
    }

    /// The shared state (a poisoned lock still holds a usable state).
    pub(crate) fn lock(&self) -> MutexGuard<'_, TxnInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn producer(&self) -> Result<(i64, i16), ProduceError> {
        self.lock()
            .producer
            .ok_or_else(|| ProduceError::Transaction {
                fatal: false,
                code: None,
                message: "init_transactions has not succeeded".into(),
            })
    }

    fn tid(&self) -> TransactionalId {
        TransactionalId(s(&self.id))
    }

    /// Runs `call` against the coordinator of `key` (kept in `slot`), finding
    /// it again on NOT_COORDINATOR and retrying retriable codes until
    /// `patience` runs out. `call` answers the response's first error code.
    async fn with_coordinator<T, F, Fut>(
        &self,
        pool: &BrokerPool,
        key: &str,
        key_type: i8,
        slot: &Mutex<Option<BrokerAddr>>,
        what: &str,
        mut call: F,
    ) -> Result<T, ProduceError>
    where
        F: FnMut(Connection) -> Fut,
        Fut: Future<Output = Result<(KafkaCode, T), ProduceError>>,
    {
        let deadline = Instant::now() + self.patience;
        let mut last;
        loop {
            let known = slot.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let attempt = async {
                let addr = match known {
                    Some(a) => a,
                    None => {
                        let a = find_coordinator(pool, key, key_type).await?;
                        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(a.clone());
                        a
                    }
                };
                call(pool.get(&addr).await?).await
            };
            match attempt.await {
                Ok((code, value)) if code.is_ok() => return Ok(value),
                Ok((code, _))
                    if code == KafkaCode::NOT_COORDINATOR
                        || code == KafkaCode::COORDINATOR_NOT_AVAILABLE =>
                {
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    last = code_error(what, code);
                }
                Ok((code, _)) if code.is_retriable() => last = code_error(what, code),
                Ok((code, _)) => return Err(code_error(what, code)),
                Err(e @ ProduceError::Transaction { .. }) => return Err(e),
                Err(e) => {
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    last = ProduceError::Transaction {
                        fatal: false,
                        code: None,
                        message: format!("{what}: {e}"),
                    };
                }
            }
            if Instant::now() + self.backoff >= deadline {
                return Err(last);
            }
            tracing::debug!(error = %last, "transactional request: retrying");
            tokio::time::sleep(self.backoff).await;
        }
    }

    /// Runs `call` against the transaction coordinator.
    async fn with_txn_coordinator<T, F, Fut>(
        &self,
        pool: &BrokerPool,
        what: &str,
        call: F,
    ) -> Result<T, ProduceError>
    where
        F: FnMut(Connection) -> Fut,
        Fut: Future<Output = Result<(KafkaCode, T), ProduceError>>,
    {
        let slot = Mutex::new(self.lock().coordinator.clone());
        let result = self
            .with_coordinator(pool, &self.id, 1, &slot, what, call)
            .await;
        self.lock().coordinator = slot.into_inner().unwrap_or_else(|e| e.into_inner());
        result
    }

    /// InitProducerId with the transactional id: the coordinator fences
    /// older instances of it and aborts what they left open.
    pub(crate) async fn init(&self, pool: &BrokerPool) -> Result<(i64, i16), ProduceError> {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(self.tid()))
            .with_transaction_timeout_ms(self.timeout_ms)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        self.with_txn_coordinator(pool, "InitProducerId", |conn| {
            let request = request.clone();
            async move {
                let r = conn.send(request).await?;
                Ok((KafkaCode(r.error_code), (r.producer_id.0, r.producer_epoch)))
            }
        })
        .await
    }

    /// Records `tps` as in the transaction without a request (TV2: their
    /// Produce v12 adds them).
    pub(crate) fn mark_added(&self, tps: &[TopicPartition]) -> Result<(), ProduceError> {
        let mut inner = self.lock();
        inner.machine.check_produce()?;
        inner.added.extend(tps.iter().cloned());
        Ok(())
    }

    /// AddPartitionsToTxn for those of `tps` not yet in the transaction
    /// (one request for all of them).
    pub(crate) async fn add_partitions(
        &self,
        pool: &BrokerPool,
        tps: &[TopicPartition],
    ) -> Result<(), ProduceError> {
        let new: Vec<TopicPartition> = {
            let inner = self.lock();
            inner.machine.check_produce()?;
            tps.iter()
                .filter(|tp| !inner.added.contains(*tp))
                .cloned()
                .collect()
        };
        if new.is_empty() {
            return Ok(());
        }
        let (id, epoch) = self.producer()?;
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in &new {
            topics.entry(&tp.topic).or_default().push(tp.partition);
        }
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(self.tid())
            .with_v3_and_below_producer_id(ProducerId(id))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        AddPartitionsToTxnTopic::default()
                            .with_name(TopicName(s(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        self.with_txn_coordinator(pool, "AddPartitionsToTxn", |conn| {
            let request = request.clone();
            async move {
                let version = conn.versions().negotiate(ApiKey::AddPartitionsToTxn)?;
                let r = conn.send_version(request, version.min(3)).await?;
                let code = r
                    .results_by_topic_v3_and_below
                    .iter()
                    .flat_map(|t| &t.results_by_partition)
                    .map(|p| KafkaCode(p.partition_error_code))
                    .find(|c| !c.is_ok())
                    .unwrap_or(KafkaCode(r.error_code));
                Ok((code, ()))
            }
        })
        .await?;
        self.lock().added.extend(new);
        Ok(())
    }

    /// AddOffsetsToTxn, then TxnOffsetCommit to the group's coordinator.
    pub(crate) async fn send_offsets(
        &self,
        pool: &BrokerPool,
        offsets: &[(TopicPartition, i64)],
        group: &GroupMetadata,
    ) -> Result<(), ProduceError> {
        self.lock().machine.check_send()?;
        let (id, epoch) = self.producer()?;
        let add = AddOffsetsToTxnRequest::default()
            .with_transactional_id(self.tid())
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(s(&group.group_id)));
        if !self.lock().tv2 {
            self.with_txn_coordinator(pool, "AddOffsetsToTxn", |conn| {
                let add = add.clone();
                async move {
                    let r = conn.send(add).await?;
                    Ok((KafkaCode(r.error_code), ()))
                }
            })
            .await?;
        }
        self.lock().offsets_added = true;
        let mut topics: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, offset) in offsets {
            topics.entry(&tp.topic).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_committed_offset(*offset)
                    .with_committed_leader_epoch(-1),
            );
        }
        let commit = TxnOffsetCommitRequest::default()
            .with_transactional_id(self.tid())
            .with_group_id(GroupId(s(&group.group_id)))
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch)
            .with_generation_id(group.generation_id)
            .with_member_id(s(&group.member_id))
            .with_group_instance_id(group.group_instance_id.as_deref().map(s))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        TxnOffsetCommitRequestTopic::default()
                            .with_name(TopicName(s(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let known = self
            .lock()
            .group_coordinator
            .clone()
            .filter(|(g, _)| *g == group.group_id)
            .map(|(_, addr)| addr);
        let slot = Mutex::new(known);
        let result = self
            .with_coordinator(pool, &group.group_id, 0, &slot, "TxnOffsetCommit", |conn| {
                let mut commit = commit.clone();
                async move {
                    let version = conn.versions().negotiate(ApiKey::TxnOffsetCommit)?;
                    if version < 3 {
                        // The member identity (KIP-447) is sent from v3.
                        commit.generation_id = -1;
                        commit.member_id = StrBytes::default();
                        commit.group_instance_id = None;
                    }
                    if version < 2 {
                        for t in &mut commit.topics {
                            for p in &mut t.partitions {
                                p.committed_leader_epoch = -1;
                            }
                        }
                    }
                    let r = conn.send_version(commit, version).await?;
                    let code = r
                        .topics
                        .iter()
                        .flat_map(|t| &t.partitions)
                        .map(|p| KafkaCode(p.error_code))
                        .find(|c| !c.is_ok())
                        .unwrap_or(KafkaCode(0));
                    Ok((code, ()))
                }
            })
            .await;
        self.lock().group_coordinator = slot
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .map(|addr| (group.group_id.clone(), addr));
        result
    }

    /// EndTxn (commit or abort), unless nothing joined the transaction.
    /// With TV2 the coordinator bumps the epoch: the new producer id and
    /// epoch are returned (and kept) for the task to produce with.
    pub(crate) async fn end(
        &self,
        pool: &BrokerPool,
        commit: bool,
    ) -> Result<Option<(i64, i16)>, ProduceError> {
        let (empty, tv2) = {
            let inner = self.lock();
            (inner.added.is_empty() && !inner.offsets_added, inner.tv2)
        };
        let mut bumped = None;
        if !empty {
            let (id, epoch) = self.producer()?;
            let request = EndTxnRequest::default()
                .with_transactional_id(self.tid())
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch)
                .with_committed(commit);
            let max = if tv2 { TV2_END_TXN } else { TV1_MAX_END_TXN };
            let answered = self
                .with_txn_coordinator(pool, "EndTxn", |conn| {
                    let request = request.clone();
                    async move {
                        let version = conn.versions().negotiate(ApiKey::EndTxn)?.min(max);
                        let r = conn.send_version(request, version).await?;
                        let next =
                            (version >= TV2_END_TXN).then_some((r.producer_id.0, r.producer_epoch));
                        Ok((KafkaCode(r.error_code), next))
                    }
                })
                .await?;
            bumped = answered.filter(|(id, epoch)| *id >= 0 && *epoch >= 0);
        }
        let mut inner = self.lock();
        inner.added.clear();
        inner.offsets_added = false;
        if let Some(p) = bumped {
            inner.producer = Some(p);
        }
        Ok(bumped)
    }
}

/// FindCoordinator for `key` (`key_type` 0 a group, 1 a transactional id).
async fn find_coordinator(
    pool: &BrokerPool,
    key: &str,
    key_type: i8,
) -> Result<BrokerAddr, ProduceError> {
    let conn = pool.least_loaded().await?;
    let version = conn.versions().negotiate(ApiKey::FindCoordinator)?;
    let mut request = FindCoordinatorRequest::default().with_key_type(key_type);
    if version >= 4 {
        request.coordinator_keys = vec![s(key)];
    } else {
        request.key = s(key);
    }
    let r = conn.send_version(request, version).await?;
    let (code, node, host, port) = match r.coordinators.first() {
        Some(c) if version >= 4 => (c.error_code, c.node_id.0, c.host.to_string(), c.port),
        _ => (r.error_code, r.node_id.0, r.host.to_string(), r.port),
    };
    let code = KafkaCode(code);
    if !code.is_ok() {
        // Retried by the caller when retriable, as a coordinator error.
        return Err(ProduceError::Client(format!(
            "FindCoordinator {key}: {code}"
        )));
    }
    Ok(BrokerAddr {
        id: node,
        host,
        port,
    })
}

/// Shared by `Producer` and the task.
pub(crate) type SharedTxn = Arc<Txn>;
