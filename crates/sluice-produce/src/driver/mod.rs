//! The background task: it owns the accumulator, the cluster view and the
//! delivery waiters. It routes records once their topic's metadata is known,
//! sends closed batches to partition leaders (one in flight per partition),
//! retries what the error-code table calls retriable until
//! `delivery.timeout.ms`, and answers flushes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::{ApiKey, MetadataResponse, ProduceResponse};
use sluice_fetch::TopicPartition;
use sluice_fetch::cluster::Cluster;
use sluice_fetch::pool::BrokerPool;
use sluice_wire::{ErrorAction, KafkaCode};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

use crate::accumulator::{Accumulator, Limits, ReadyBatch};
use crate::config::{Acks, ProducerConfig};
use crate::error::ProduceError;
use crate::partitioner;
use crate::record::{ProducerRecord, RecordMetadata};
use crate::request::{self, PartitionData};
use crate::stats::ProducerStats;
use crate::txn_client::{SharedTxn, TV1_MAX_PRODUCE, TV2_PRODUCE};

type Outcome = Result<RecordMetadata, ProduceError>;

/// What a `Producer` handle asks of the task.
#[derive(Debug)]
pub(crate) enum Command {
    Send(ProducerRecord, oneshot::Sender<Outcome>),
    Flush(oneshot::Sender<()>),
    /// A transactional producer id and epoch from `init_transactions`.
    SetProducer((i64, i16), oneshot::Sender<()>),
}

/// A record's waiter, numbered in the order the task took records in (for flushes).
#[derive(Debug)]
pub(crate) struct Waiter {
    seq: u64,
    tx: oneshot::Sender<Outcome>,
}

enum Event {
    Metadata(Result<MetadataResponse, ProduceError>),
    Produced {
        id: u64,
        result: Result<Option<ProduceResponse>, ProduceError>,
    },
}

/// A batch in a request, with the topic id it was sent under.
type Sent = (ReadyBatch<Waiter>, Uuid);

pub(crate) struct Driver {
    config: ProducerConfig,
    pool: Arc<BrokerPool>,
    cluster: Cluster,
    topics: HashSet<String>,
    metadata_in_flight: bool,
    acc: Accumulator<Waiter>,
    /// Records whose topic has no metadata yet, with when they were taken in.
    unrouted: Vec<(ProducerRecord, Waiter, Instant)>,
    round_robin: HashMap<String, u32>,
    next_seq: u64,
    /// The records not yet answered.
    pending: BTreeSet<u64>,
    /// Flushes, each done once every record taken in before it is answered.
    flushes: Vec<(u64, oneshot::Sender<()>)>,
    in_flight: HashMap<u64, Vec<Sent>>,
    next_id: u64,
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    /// Counters for `Producer::stats`, shared with the handles.
    stats: Arc<ProducerStats>,
    /// With `transactional.id`: the transaction partitions join before
    /// their first produce, and whose state failures make abortable.
    txn: Option<SharedTxn>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Driver {
    pub(crate) fn new(
        config: ProducerConfig,
        pool: Arc<BrokerPool>,
        producer: Option<(i64, i16)>,
        txn: Option<SharedTxn>,
    ) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        let limits = Limits {
            batch_size: config.batch_size,
            linger: config.linger,
            max_request_size: config.max_request_size,
            compression: config.compression,
            producer,
        };
        Driver {
            config,
            pool,
            cluster: Cluster::new(),
            topics: HashSet::new(),
            metadata_in_flight: false,
            acc: Accumulator::new(limits),
            unrouted: Vec::new(),
            round_robin: HashMap::new(),
            next_seq: 0,
            pending: BTreeSet::new(),
            flushes: Vec::new(),
            in_flight: HashMap::new(),
            next_id: 0,
            events_tx,
            events,
            stats: Arc::default(),
            txn,
        }
    }

    /// The counters this task keeps.
    pub(crate) fn stats(&self) -> Arc<ProducerStats> {
        self.stats.clone()
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut open = true;
        loop {
            self.step();
            if !open && self.pending.is_empty() {
                return;
            }
            let wake = self.next_wake();
            tokio::select! {
                command = commands.recv(), if open => match command {
                    Some(Command::Send(record, tx)) => self.accept(record, tx),
                    Some(Command::Flush(done)) => self.flushes.push((self.next_seq, done)),
                    Some(Command::SetProducer(producer, done)) => {
                        self.acc.set_transactional_producer(producer);
                        let _ = done.send(());
                    }
                    None => open = false,
                },
                Some(event) = self.events.recv() => self.on_event(event),
                _ = sleep_until(wake) => {}
            }
        }
    }

    /// Answers one record.
    fn resolve(&mut self, waiter: Waiter, outcome: Outcome) {
        if let Err(e) = &outcome {
            self.stats.failed();
            if let Some(txn) = &self.txn {
                txn.lock().machine.fail(e);
            }
        }
        self.pending.remove(&waiter.seq);
        let _ = waiter.tx.send(outcome);
    }

    fn next_wake(&self) -> Option<Instant> {
        let std_now = std::time::Instant::now();
        let to_tokio =
            |at: std::time::Instant| Instant::now() + at.saturating_duration_since(std_now);
        let metadata = (!self.metadata_in_flight && !self.topics.is_empty())
            .then(|| {
                self.cluster
                    .next_refresh(self.config.metadata_max_age, self.config.retry_backoff)
            })
            .flatten()
            .map(to_tokio);
        let timeout = self.config.delivery_timeout;
        let unrouted = self.unrouted.iter().map(|(_, _, at)| *at + timeout).min();
        let ready = self.acc.oldest_ready().map(|at| to_tokio(at + timeout));
        let cluster = &self.cluster;
        let batches = self
            .acc
            .next_deadline(|tp| cluster.leader(tp).is_some())
            .map(to_tokio);
        [batches, metadata, unrouted, ready]
            .into_iter()
            .flatten()
            .min()
    }

    /// Takes a record in: routes it if its topic is known, else waits for metadata.
    fn accept(&mut self, record: ProducerRecord, tx: oneshot::Sender<Outcome>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(seq);
        if self.topics.insert(record.topic.clone()) {
            self.cluster.request_refresh_for_new_topic();
        }
        self.unrouted
            .push((record, Waiter { seq, tx }, Instant::now()));
        self.route();
    }

    fn route(&mut self) {
        let now = Instant::now();
        for (record, waiter, since) in std::mem::take(&mut self.unrouted) {
            let Some(partitions) = self.cluster.partitions_of(&record.topic) else {
                if now.saturating_duration_since(since) >= self.config.delivery_timeout {
                    let e = ProduceError::Timeout {
                        tp: TopicPartition::new(record.topic.as_str(), -1),
                        timeout_ms: self.config.delivery_timeout.as_millis() as u64,
                        last: "no metadata for the topic (does it exist?)".into(),
                    };
                    self.resolve(waiter, Err(e));
                } else {
                    self.unrouted.push((record, waiter, since));
                }
                continue;
            };
            let count = partitions.len() as i32;
            let partition = match record.partition {
                Some(p) if p >= 0 && p < count => p,
                Some(p) => {
                    let e = ProduceError::UnknownPartition(format!(
                        "{}/{p} (the topic has {count} partitions)",
                        record.topic
                    ));
                    self.resolve(waiter, Err(e));
                    continue;
                }
                None => {
                    let next = self.round_robin.entry(record.topic.clone()).or_insert(0);
                    let key = record.key.as_deref();
                    partitioner::choose(self.config.partitioner, key, count, next)
                }
            };
            let tp = TopicPartition::new(record.topic.as_str(), partition);
            let timestamp = record.timestamp.unwrap_or_else(now_ms);
            if let Err((waiter, e)) =
                self.acc
                    .append(tp, &record, timestamp, waiter, now.into_std())
            {
                self.resolve(waiter, Err(e));
            }
        }
    }

    /// Does what is due: metadata, closing batches, expiring, sending, flush completion.
    fn step(&mut self) {
        let now = Instant::now();
        let std_now = now.into_std();
        if !self.metadata_in_flight
            && !self.topics.is_empty()
            && self.cluster.needs_refresh(
                std_now,
                self.config.metadata_max_age,
                self.config.retry_backoff,
            )
        {
            self.metadata_in_flight = true;
            let pool = self.pool.clone();
            let tx = self.events_tx.clone();
            let request = Cluster::request_for(Some(self.topics.iter().map(String::as_str)));
            tokio::spawn(async move {
                let result = async { Ok(pool.least_loaded().await?.send(request).await?) }.await;
                let _ = tx.send(Event::Metadata(result));
            });
        }
        self.route();
        for (batch, e) in self.acc.close_due(std_now, !self.flushes.is_empty()) {
            self.fail(batch, &e);
        }
        for batch in self.acc.take_expired(std_now, self.config.delivery_timeout) {
            let e = ProduceError::Timeout {
                tp: batch.tp.clone(),
                timeout_ms: self.config.delivery_timeout.as_millis() as u64,
                last: batch
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "no leader to send to".into()),
            };
            self.fail(batch, &e);
        }
        let cluster = &self.cluster;
        let sendable = self
            .acc
            .take_sendable(std_now, |tp| cluster.leader(tp).map(|(l, _)| l));
        for (broker, batches) in sendable {
            self.send(broker, batches);
        }
        // A flush is done once every record taken in before it is answered.
        let oldest = self.pending.first().copied().unwrap_or(u64::MAX);
        let (done, waiting) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(mark, _)| *mark <= oldest);
        self.flushes = waiting;
        for (_, tx) in done {
            let _ = tx.send(());
        }
    }

    fn send(&mut self, broker: i32, batches: Vec<ReadyBatch<Waiter>>) {
        let Some(addr) = self.cluster.broker(broker).cloned() else {
            let later = std::time::Instant::now() + self.config.retry_backoff;
            for mut b in batches {
                b.last_error = Some(format!("no address for broker {broker} in metadata"));
                self.acc.retry(b, later);
            }
            self.cluster.request_refresh();
            return;
        };
        let sent: Vec<Sent> = batches
            .into_iter()
            .map(|b| {
                let id = self.cluster.topic(&b.tp.topic).map(|t| t.id);
                (b, id.unwrap_or_default())
            })
            .collect();
        let parts: Vec<PartitionData> = sent
            .iter()
            .map(|(b, id)| PartitionData {
                tp: b.tp.clone(),
                topic_id: *id,
                records: b.records.clone(),
            })
            .collect();
        let ids_known = sent.iter().all(|(_, id)| !id.is_nil());
        let timeout_ms = self
            .config
            .request_timeout
            .as_millis()
            .min(i32::MAX as u128) as i32;
        let acks = self.config.acks;
        let mut produce = request::build(&parts, acks.code(), timeout_ms);
        let txn = self.txn.clone();
        if let Some(txn) = &txn {
            produce.transactional_id = Some(kafka_protocol::messages::TransactionalId(
                kafka_protocol::protocol::StrBytes::from_string(txn.id.clone()),
            ));
        }
        let tps: Vec<TopicPartition> = parts.iter().map(|p| p.tp.clone()).collect();
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.insert(id, sent);
        self.stats.request_sent();
        let (pool, tx) = (self.pool.clone(), self.events_tx.clone());
        tokio::spawn(async move {
            let result = async {
                let conn = pool.get(&addr).await?;
                let negotiated = conn.versions().negotiate(ApiKey::Produce)?;
                let range = conn.versions().broker_range(ApiKey::Produce);
                let mut version = request::choose_version(negotiated, range, ids_known)?;
                if let Some(txn) = &txn {
                    // The partitions of this round join the transaction
                    // first: a TV2 Produce (v12) adds them itself.
                    let tv2 = txn.lock().tv2;
                    if tv2 && version >= TV2_PRODUCE {
                        txn.mark_added(&tps)?;
                    } else {
                        version = version.min(TV1_MAX_PRODUCE);
                        txn.add_partitions(&pool, &tps).await?;
                    }
                }
                if acks == Acks::None {
                    conn.send_no_response(produce, version).await?;
                    Ok(None)
                } else {
                    Ok(Some(conn.send_version(produce, version).await?))
                }
            }
            .await
            .map_err(|e: ProduceError| e);
            let _ = tx.send(Event::Produced { id, result });
        });
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Metadata(Ok(response)) => {
                self.metadata_in_flight = false;
                let update = self.cluster.apply(&response, std::time::Instant::now());
                self.pool.learn(self.cluster.brokers());
                for (topic, code) in update.topic_errors {
                    if code.is_retriable() {
                        tracing::debug!(%topic, %code, "metadata error for topic");
                    } else {
                        self.fail_topic(&topic, code);
                    }
                }
            }
            Event::Metadata(Err(e)) => {
                self.metadata_in_flight = false;
                tracing::warn!(error = %e, "metadata refresh failed");
                self.cluster.request_refresh();
            }
            Event::Produced { id, result } => {
                if let Some(sent) = self.in_flight.remove(&id) {
                    self.on_produced(sent, result);
                }
            }
        }
    }

    /// Fails the waiting records of a topic metadata refuses for good
    /// (e.g. TOPIC_AUTHORIZATION_FAILED, INVALID_TOPIC_EXCEPTION).
    fn fail_topic(&mut self, topic: &str, code: KafkaCode) {
        tracing::warn!(%topic, %code, "metadata refuses the topic");
        self.topics.remove(topic);
        let (refused, waiting) = std::mem::take(&mut self.unrouted)
            .into_iter()
            .partition(|(r, _, _)| r.topic == topic);
        self.unrouted = waiting;
        for (_, waiter, _) in refused {
            let e = ProduceError::Partition {
                tp: TopicPartition::new(topic, -1),
                code,
                message: None,
            };
            self.resolve(waiter, Err(e));
        }
    }

    fn on_produced(
        &mut self,
        sent: Vec<Sent>,
        result: Result<Option<ProduceResponse>, ProduceError>,
    ) {
        let response = match result {
            Ok(r) => r,
            Err(e @ ProduceError::Transaction { .. }) => {
                // AddPartitionsToTxn failed for good: the transaction must abort.
                for (b, _) in sent {
                    self.acc.done(&b.tp);
                    self.fail(b, &e);
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "produce request failed; retrying");
                self.cluster.request_refresh();
                for (b, _) in sent {
                    self.retry_or_fail(b, e.clone());
                }
                return;
            }
        };
        for (batch, topic_id) in sent {
            let Some(response) = &response else {
                // acks=0: no answer comes; the broker may still have refused it.
                self.acc.done(&batch.tp);
                self.complete(batch, -1, -1);
                continue;
            };
            match request::answer(response, &batch.tp, topic_id) {
                // A retry of a batch the broker already has (idempotence): it is written.
                Some(a) if a.code.is_ok() || a.code == KafkaCode::DUPLICATE_SEQUENCE_NUMBER => {
                    self.acc.done(&batch.tp);
                    self.complete(batch, a.base_offset, a.log_append_time_ms);
                }
                Some(a) => {
                    if a.code.action() == ErrorAction::RefreshMetadata {
                        self.cluster.request_refresh();
                    }
                    let e = ProduceError::Partition {
                        tp: batch.tp.clone(),
                        code: a.code,
                        message: a.message,
                    };
                    if a.code.is_retriable() {
                        self.retry_or_fail(batch, e);
                    } else {
                        self.acc.done(&batch.tp);
                        self.fail(batch, &e);
                    }
                }
                None => {
                    let e = ProduceError::Client(format!(
                        "no answer for {} in the Produce response",
                        batch.tp
                    ));
                    self.retry_or_fail(batch, e);
                }
            }
        }
    }

    fn retry_or_fail(&mut self, batch: ReadyBatch<Waiter>, e: ProduceError) {
        let now = std::time::Instant::now();
        let late = now.saturating_duration_since(batch.created) >= self.config.delivery_timeout;
        if batch.attempts >= self.config.retries || late {
            self.acc.done(&batch.tp);
            let e = if late {
                ProduceError::Timeout {
                    tp: batch.tp.clone(),
                    timeout_ms: self.config.delivery_timeout.as_millis() as u64,
                    last: e.to_string(),
                }
            } else {
                e
            };
            self.fail(batch, &e);
        } else {
            let mut batch = batch;
            batch.last_error = Some(e.to_string());
            self.acc.retry(batch, now + self.config.retry_backoff);
        }
    }

    fn complete(&mut self, batch: ReadyBatch<Waiter>, base_offset: i64, append_time: i64) {
        self.stats
            .delivered(batch.entries.len(), batch.records.len());
        let topic = batch.tp.topic.to_string();
        for (i, entry) in batch.entries.into_iter().enumerate() {
            let offset = if base_offset >= 0 {
                base_offset + i as i64
            } else {
                -1
            };
            let metadata = RecordMetadata {
                topic: topic.clone(),
                partition: batch.tp.partition,
                offset,
                timestamp: if append_time >= 0 {
                    append_time
                } else {
                    entry.timestamp
                },
            };
            self.resolve(entry.waiter, Ok(metadata));
        }
    }

    fn fail(&mut self, batch: ReadyBatch<Waiter>, e: &ProduceError) {
        for entry in batch.entries {
            self.resolve(entry.waiter, Err(e.clone()));
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
