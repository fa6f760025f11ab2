//! The tokio driver: one task owns the accumulator, the cluster view and the
//! connections; `Producer` handles send it records over a channel.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, MetadataResponse, ProduceRequest, ProduceResponse, ProducerId,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use sluice_fetch::TopicPartition;
use sluice_fetch::cluster::Cluster;
use sluice_fetch::pool::BrokerPool;
use sluice_wire::{ErrorAction, KafkaCode};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::accumulator::{Accumulator, Limits, ReadyBatch};
use crate::config::{Acks, ProducerConfig};
use crate::error::ProduceError;
use crate::partitioner::partition_for_key;
use crate::record::{DeliveryFuture, ProducerRecord, RecordMetadata};

type Waiter = oneshot::Sender<Result<RecordMetadata, ProduceError>>;

enum Command {
    Send(ProducerRecord, Waiter),
    Flush(oneshot::Sender<()>),
}

enum Event {
    Metadata(Result<MetadataResponse, ProduceError>),
    Produced {
        id: u64,
        result: Result<Option<ProduceResponse>, ProduceError>,
    },
}

/// A Kafka producer. Cheap to clone; every clone feeds the same background
/// task, which stops once the last clone is dropped or closed (after
/// delivering what was sent).
#[derive(Debug, Clone)]
pub struct Producer {
    commands: mpsc::UnboundedSender<Command>,
    producer: Option<(i64, i16)>,
}

impl Producer {
    /// Starts the producer's task and checks the bootstrap brokers answer.
    pub async fn connect(config: ProducerConfig) -> Result<Producer, ProduceError> {
        if config.bootstrap_servers.is_empty() {
            return Err(ProduceError::Config {
                key: "bootstrap.servers".into(),
                message: "required".into(),
            });
        }
        config.validate()?;
        let pool = BrokerPool::new(config.bootstrap_servers.clone(), config.connection());
        let conn = pool.bootstrap().await?;
        let producer = if config.enable_idempotence {
            let response = conn
                .send(
                    InitProducerIdRequest::default()
                        .with_transactional_id(None)
                        .with_transaction_timeout_ms(i32::MAX)
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1),
                )
                .await?;
            let code = KafkaCode(response.error_code);
            if !code.is_ok() {
                return Err(ProduceError::Client(format!("InitProducerId: {code}")));
            }
            Some((response.producer_id.0, response.producer_epoch))
        } else {
            None
        };
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(Driver::new(config, pool, producer).run(rx));
        Ok(Producer { commands, producer })
    }

    /// The producer id and epoch the broker assigned (with idempotence).
    pub fn producer_id(&self) -> Option<(i64, i16)> {
        self.producer
    }

    /// Queues a record; the future resolves when it is acknowledged (per
    /// `acks`) or failed for good.
    pub fn send(&self, record: ProducerRecord) -> DeliveryFuture {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(Command::Send(_, tx))) =
            self.commands.send(Command::Send(record, tx))
        {
            let _ = tx.send(Err(ProduceError::Closed));
        }
        DeliveryFuture(rx)
    }

    /// Sends every queued record now and waits until each is acknowledged
    /// or failed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Flushes, then lets the task stop once no other clone is left.
    pub async fn close(self) {
        self.flush().await;
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Driver {
    config: ProducerConfig,
    pool: Arc<BrokerPool>,
    cluster: Cluster,
    topics: HashSet<String>,
    metadata_in_flight: bool,
    acc: Accumulator<Waiter>,
    /// Records whose topic has no metadata yet, with when they were sent.
    unrouted: Vec<(ProducerRecord, Waiter, Instant)>,
    round_robin: HashMap<String, i32>,
    flushes: Vec<oneshot::Sender<()>>,
    in_flight: HashMap<u64, Vec<ReadyBatch<Waiter>>>,
    next_id: u64,
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Driver {
    fn new(config: ProducerConfig, pool: Arc<BrokerPool>, producer: Option<(i64, i16)>) -> Self {
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
            flushes: Vec::new(),
            in_flight: HashMap::new(),
            next_id: 0,
            events_tx,
            events,
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut open = true;
        loop {
            self.step();
            if !open && self.is_idle() {
                return;
            }
            let wake = self.next_wake();
            tokio::select! {
                command = commands.recv(), if open => match command {
                    Some(Command::Send(record, waiter)) => self.accept(record, waiter),
                    Some(Command::Flush(done)) => self.flushes.push(done),
                    None => open = false,
                },
                Some(event) = self.events.recv() => self.on_event(event),
                _ = sleep_until(wake) => {}
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.acc.is_empty() && self.unrouted.is_empty() && self.in_flight.is_empty()
    }

    fn next_wake(&self) -> Option<Instant> {
        let std_now = std::time::Instant::now();
        let to_tokio =
            |at: std::time::Instant| Instant::now() + at.saturating_duration_since(std_now);
        let metadata = (!self.unrouted.is_empty() || !self.metadata_in_flight)
            .then(|| {
                self.cluster
                    .next_refresh(self.config.metadata_max_age, self.config.retry_backoff)
            })
            .flatten()
            .map(to_tokio);
        let expiry = self
            .unrouted
            .iter()
            .map(|(_, _, at)| *at + self.config.delivery_timeout)
            .min();
        [self.acc.next_deadline().map(to_tokio), metadata, expiry]
            .into_iter()
            .flatten()
            .min()
    }

    /// Takes a record in: routes it if its topic is known, else waits for metadata.
    fn accept(&mut self, record: ProducerRecord, waiter: Waiter) {
        if self.topics.insert(record.topic.clone()) {
            self.cluster.request_refresh();
        }
        self.unrouted.push((record, waiter, Instant::now()));
        self.route();
    }

    fn route(&mut self) {
        let now = Instant::now();
        for (record, waiter, since) in std::mem::take(&mut self.unrouted) {
            let Some(partitions) = self.cluster.partitions_of(&record.topic) else {
                if now.saturating_duration_since(since) >= self.config.delivery_timeout {
                    let _ = waiter.send(Err(ProduceError::UnknownPartition(record.topic.clone())));
                } else {
                    self.unrouted.push((record, waiter, since));
                }
                continue;
            };
            let count = partitions.len() as i32;
            let partition = match (record.partition, &record.key) {
                (Some(p), _) if p >= 0 && p < count => p,
                (Some(p), _) => {
                    let _ = waiter.send(Err(ProduceError::UnknownPartition(format!(
                        "{}/{p} (the topic has {count} partitions)",
                        record.topic
                    ))));
                    continue;
                }
                (None, Some(key)) => partition_for_key(key, count),
                (None, None) => {
                    let next = self.round_robin.entry(record.topic.clone()).or_insert(0);
                    let p = next.rem_euclid(count.max(1));
                    *next = next.wrapping_add(1);
                    p
                }
            };
            let tp = TopicPartition::new(record.topic.as_str(), partition);
            let timestamp = record.timestamp.unwrap_or_else(now_ms);
            if let Err((waiter, e)) =
                self.acc
                    .append(tp, &record, timestamp, waiter, now.into_std())
            {
                let _ = waiter.send(Err(e));
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
                let result = async { Ok(pool.bootstrap().await?.send(request).await?) }.await;
                let _ = tx.send(Event::Metadata(result));
            });
        }
        self.route();
        for (batch, e) in self.acc.close_due(std_now, !self.flushes.is_empty()) {
            fail(batch, &e);
        }
        for batch in self.acc.take_expired(std_now, self.config.delivery_timeout) {
            let e = ProduceError::Timeout {
                tp: batch.tp.clone(),
                timeout_ms: self.config.delivery_timeout.as_millis() as u64,
                last: "no leader to send to, or retries kept failing".into(),
            };
            fail(batch, &e);
        }
        let cluster = &self.cluster;
        let sendable = self
            .acc
            .take_sendable(std_now, |tp| cluster.leader(tp).map(|(l, _)| l));
        for (broker, batches) in sendable {
            self.send(broker, batches);
        }
        if self.is_idle() {
            for done in self.flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }

    fn send(&mut self, broker: i32, batches: Vec<ReadyBatch<Waiter>>) {
        let Some(addr) = self.cluster.broker(broker).cloned() else {
            let later = std::time::Instant::now() + self.config.retry_backoff;
            for b in batches {
                self.acc.retry(b, later);
            }
            self.cluster.request_refresh();
            return;
        };
        let mut topics: HashMap<&str, Vec<PartitionProduceData>> = HashMap::new();
        for b in &batches {
            topics.entry(&b.tp.topic).or_default().push(
                PartitionProduceData::default()
                    .with_index(b.tp.partition)
                    .with_records(Some(b.records.clone())),
            );
        }
        let request = ProduceRequest::default()
            .with_acks(self.config.acks.code())
            .with_timeout_ms(
                self.config
                    .request_timeout
                    .as_millis()
                    .min(i32::MAX as u128) as i32,
            )
            .with_topic_data(
                topics
                    .into_iter()
                    .map(|(t, parts)| {
                        TopicProduceData::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partition_data(parts)
                    })
                    .collect(),
            );
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.insert(id, batches);
        let (pool, tx, acks) = (self.pool.clone(), self.events_tx.clone(), self.config.acks);
        tokio::spawn(async move {
            let result = async {
                let conn = pool.get(&addr).await?;
                let version = conn.versions().negotiate(ApiKey::Produce)?;
                if acks == Acks::None {
                    conn.send_no_response(request, version).await?;
                    Ok(None)
                } else {
                    Ok(Some(conn.send_version(request, version).await?))
                }
            }
            .await
            .map_err(|e: ProduceError| e);
            let _ = tx.send(Event::Produced { id, result });
        });
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Metadata(result) => {
                self.metadata_in_flight = false;
                match result {
                    Ok(response) => {
                        let update = self.cluster.apply(&response, std::time::Instant::now());
                        for (topic, code) in update.topic_errors {
                            tracing::debug!(%topic, %code, "metadata error for topic");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "metadata refresh failed");
                        self.cluster.request_refresh();
                    }
                }
            }
            Event::Produced { id, result } => {
                let Some(batches) = self.in_flight.remove(&id) else {
                    return;
                };
                self.on_produced(batches, result);
            }
        }
    }

    fn on_produced(
        &mut self,
        batches: Vec<ReadyBatch<Waiter>>,
        result: Result<Option<ProduceResponse>, ProduceError>,
    ) {
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "produce request failed; retrying");
                self.cluster.request_refresh();
                for b in batches {
                    self.retry_or_fail(b, e.clone());
                }
                return;
            }
        };
        for batch in batches {
            let answer = response.as_ref().map(|r| {
                r.responses
                    .iter()
                    .filter(|t| t.name.0.as_str() == &*batch.tp.topic)
                    .flat_map(|t| &t.partition_responses)
                    .find(|p| p.index == batch.tp.partition)
                    .map(|p| (KafkaCode(p.error_code), p.base_offset, p.log_append_time_ms))
            });
            match answer {
                None => {
                    // acks=0: no answer comes; the broker may still have refused it.
                    self.acc.done(&batch.tp);
                    complete(batch, -1, -1);
                }
                // A retry of a batch the broker already has (idempotence): it is written.
                Some(Some((code, base, append_time)))
                    if code.is_ok() || code == KafkaCode::DUPLICATE_SEQUENCE_NUMBER =>
                {
                    self.acc.done(&batch.tp);
                    complete(batch, base, append_time);
                }
                Some(Some((code, _, _))) => {
                    let tp = batch.tp.clone();
                    if code.action() == ErrorAction::RefreshMetadata {
                        self.cluster.request_refresh();
                    }
                    let e = ProduceError::Partition { tp, code };
                    if code.is_retriable() {
                        self.retry_or_fail(batch, e);
                    } else {
                        self.acc.done(&batch.tp);
                        fail(batch, &e);
                    }
                }
                Some(None) => {
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
            fail(batch, &e);
        } else {
            self.acc.retry(batch, now + self.config.retry_backoff);
        }
    }
}

fn complete(batch: ReadyBatch<Waiter>, base_offset: i64, append_time: i64) {
    for (i, entry) in batch.entries.into_iter().enumerate() {
        let offset = if base_offset >= 0 {
            base_offset + i as i64
        } else {
            -1
        };
        let _ = entry.waiter.send(Ok(RecordMetadata {
            topic: batch.tp.topic.to_string(),
            partition: batch.tp.partition,
            offset,
            timestamp: if append_time >= 0 {
                append_time
            } else {
                entry.timestamp
            },
        }));
    }
}

fn fail(batch: ReadyBatch<Waiter>, e: &ProduceError) {
    for entry in batch.entries {
        let _ = entry.waiter.send(Err(e.clone()));
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
