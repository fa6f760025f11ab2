//! The batch pipeline: consume as a group member, cut batches, run the
//! application's function, write its results, then commit.
//!
//! At-least-once, in this order for every batch: the function succeeds, every
//! result is acknowledged by the broker, and only then are the batch's
//! offsets committed (never past a record still waiting in another batch).
//! A failing batch is tried again with backoff up to `batch.retries` times,
//! then the run stops with [`BatchError::Failed`] and nothing at or after the
//! batch is committed. Partitions a rebalance takes away are dropped from the
//! waiting batches uncommitted, so their next owner reads them again.
//!
//! With `processing.guarantee=exactly_once_v2` each batch is finished in a
//! transaction instead ([`exactly_once`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_fetch::TopicPartition;
use sluice_group::{GroupConsumer, ListenerFuture, OffsetAndMetadata, Offsets, RebalanceListener};
use sluice_produce::{Producer, ProducerRecord};

use crate::batcher::{Batch, Batcher};
use crate::config::{BatchConfig, Guarantee};
use crate::error::{BatchError, BoxError};
use crate::metrics::{Metrics, MetricsPublisher};
use crate::stats::{BatchStats, BatchStatsSnapshot};

pub mod exactly_once;

/// One result record the batch function asks to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The key (decides the output partition, as the Java partitioner does).
    pub key: Option<Bytes>,
    /// The value.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

impl Output {
    /// A result whose value is `value` serialized as JSON.
    pub fn json(value: &serde_json::Value) -> Self {
        Output {
            value: Some(Bytes::from(value.to_string())),
            ..Output::default()
        }
    }
}

/// The future a batch function returns.
pub type BatchFuture = Pin<Box<dyn Future<Output = Result<Vec<Output>, BoxError>> + Send>>;

/// The application's computation over one batch.
pub trait BatchFn: Send {
    /// Runs on a batch; may be called again on the same batch after a failure.
    fn call(&mut self, batch: Arc<Batch>) -> BatchFuture;
}

/// A synchronous batch function (see [`sync_fn`]).
#[derive(Debug, Clone)]
pub struct SyncFn<F>(F);

/// Wraps a closure `FnMut(&Batch) -> Result<Vec<Output>, BoxError>`.
pub fn sync_fn<F>(f: F) -> SyncFn<F>
where
    F: FnMut(&Batch) -> Result<Vec<Output>, BoxError> + Send,
{
    SyncFn(f)
}

impl<F> BatchFn for SyncFn<F>
where
    F: FnMut(&Batch) -> Result<Vec<Output>, BoxError> + Send,
{
    fn call(&mut self, batch: Arc<Batch>) -> BatchFuture {
        let result = (self.0)(&batch);
        Box::pin(async move { result })
    }
}

/// An asynchronous batch function (see [`async_fn`]).
#[derive(Debug, Clone)]
pub struct AsyncFn<F>(F);

/// Wraps a closure `FnMut(Arc<Batch>) -> impl Future<Output = Result<Vec<Output>, BoxError>>`.
pub fn async_fn<F, Fut>(f: F) -> AsyncFn<F>
where
    F: FnMut(Arc<Batch>) -> Fut + Send,
    Fut: Future<Output = Result<Vec<Output>, BoxError>> + Send + 'static,
{
    AsyncFn(f)
}

impl<F, Fut> BatchFn for AsyncFn<F>
where
    F: FnMut(Arc<Batch>) -> Fut + Send,
    Fut: Future<Output = Result<Vec<Output>, BoxError>> + Send + 'static,
{
    fn call(&mut self, batch: Arc<Batch>) -> BatchFuture {
        Box::pin((self.0)(batch))
    }
}

/// Progress of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Batches finished and committed.
    pub batches: u64,
    /// Records in them.
    pub records: u64,
    /// Result records written.
    pub results: u64,
    /// Batch attempts that failed and were retried.
    pub retries: u64,
}

/// Collects partitions revoked during a poll, for the pipeline to drop.
#[derive(Clone, Default)]
struct Revoked(Arc<Mutex<Vec<TopicPartition>>>);

impl RebalanceListener for Revoked {
    fn on_partitions_revoked<'a>(
        &'a mut self,
        _consumer: &'a mut GroupConsumer,
        tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        self.0.lock().expect("not poisoned").extend_from_slice(tps);
        Box::pin(async {})
    }

    fn on_partitions_assigned<'a>(
        &'a mut self,
        _consumer: &'a mut GroupConsumer,
        _tps: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        Box::pin(async {})
    }
}

/// Consumes, batches, computes, writes results and commits.
pub struct Pipeline {
    consumer: GroupConsumer,
    output: Option<(Producer, String)>,
    config: BatchConfig,
    batcher: Batcher,
    revoked: Revoked,
    committed: BTreeMap<TopicPartition, i64>,
    progress: Progress,
    /// The first high watermark seen per partition: the end when running until drained.
    ends: BTreeMap<TopicPartition, i64>,
    /// A batch failed for good (its ranges): nothing more is committed and
    /// `run` refuses to go on.
    failed: Option<String>,
    stats: BatchStats,
    /// Where `run` hands its metrics snapshots, if anywhere.
    publisher: Option<MetricsPublisher>,
    /// Exactly-once: the failures of the batch starting where the consumer
    /// was rewound to, and where to rewind a transaction left open.
    txn: exactly_once::TxnProgress,
}

impl Pipeline {
    /// A pipeline over a subscribed consumer whose `enable.auto.commit` is
    /// false (the pipeline commits), writing results with `output` (a
    /// producer and topic) if given.
    ///
    /// With `processing.guarantee=exactly_once_v2` the output is required,
    /// its producer must have `transactional.id` and the consumer must read
    /// with `isolation.level=read_committed`; `run` calls
    /// `init_transactions` if it has not been.
    pub fn new(
        mut consumer: GroupConsumer,
        output: Option<(Producer, String)>,
        config: BatchConfig,
    ) -> Result<Self, BatchError> {
        if consumer.config().enable_auto_commit {
            return Err(BatchError::Config {
                key: "enable.auto.commit".into(),
                message: "must be false: the pipeline commits after each batch".into(),
            });
        }
        config.validate()?;
        if config.guarantee == Guarantee::ExactlyOnceV2 {
            exactly_once::check(&consumer, output.as_ref())?;
        }
        let revoked = Revoked::default();
        consumer.set_rebalance_listener(revoked.clone());
        Ok(Pipeline {
            consumer,
            output,
            batcher: Batcher::new(config.clone()),
            config,
            revoked,
            committed: BTreeMap::new(),
            progress: Progress::default(),
            ends: BTreeMap::new(),
            failed: None,
            stats: BatchStats::default(),
            publisher: None,
            txn: exactly_once::TxnProgress::default(),
        })
    }

    /// What has been done so far.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// The pipeline's counters: batches, records, results, retries, batch
    /// sizes and latencies.
    pub fn stats(&self) -> BatchStatsSnapshot {
        self.stats.snapshot()
    }

    /// Everything measured: the consumer's, the group member's, the results
    /// producer's and the pipeline's counters. Cheap: atomics are copied.
    pub fn metrics(&self) -> Metrics {
        let consumer = Metrics::consumer(self.consumer.stats());
        Metrics {
            producer: self.output.as_ref().map(|(p, _)| p.stats()),
            batch: Some(self.stats()),
            ..consumer
        }
    }

    /// Has [`Pipeline::run`] publish [`Pipeline::metrics`] after every batch,
    /// and after a poll when the publisher's interval has passed.
    pub fn publish_metrics(&mut self, publisher: MetricsPublisher) {
        self.publisher = Some(publisher);
    }

    /// Publishes a snapshot if there is a publisher, and `force` or it is due.
    fn publish(&mut self, force: bool) {
        if self.publisher.as_ref().is_some_and(|p| force || p.due()) {
            let metrics = self.metrics();
            if let Some(p) = &mut self.publisher {
                p.publish(metrics);
            }
        }
    }

    /// The consumer (for metrics, lag, assignment).
    pub fn consumer_mut(&mut self) -> &mut GroupConsumer {
        &mut self.consumer
    }

    /// Runs until an error, or with `until_drained` until every assigned
    /// partition has reached the high watermark first seen for it and every
    /// batch is finished. `on_progress` is called after each batch.
    ///
    /// After [`BatchError::Failed`] the pipeline does not run again: every
    /// later call returns [`BatchError::Stopped`] at once.
    ///
    /// Exactly-once: dropped while a batch's transaction is open, the batch
    /// is neither committed nor lost: the next call aborts the transaction
    /// (or finishes a commit under way) and reads the batch's records again.
    pub async fn run(
        &mut self,
        f: &mut dyn BatchFn,
        until_drained: bool,
        on_progress: &mut (dyn FnMut(&Progress, &GroupConsumer) + Send),
    ) -> Result<Progress, BatchError> {
        if let Some(ranges) = &self.failed {
            return Err(BatchError::Stopped {
                ranges: ranges.clone(),
            });
        }
        if self.config.guarantee == Guarantee::ExactlyOnceV2 {
            self.start_transactions().await?;
        }
        loop {
            while let Some(batch) = self.batcher.take_ready() {
                self.finish(f, batch).await?;
                self.publish(true);
                on_progress(&self.progress, &self.consumer);
            }
            if until_drained && self.at_end() {
                if self.batcher.is_empty() {
                    return Ok(self.progress);
                }
                self.batcher.flush();
                continue;
            }
            let now = Instant::now();
            let wait = self
                .batcher
                .next_deadline()
                .map_or(Duration::from_millis(500), |d| {
                    d.saturating_duration_since(now)
                })
                .min(Duration::from_millis(500));
            let polled = self.consumer.poll_batch(wait).await?;
            let revoked = std::mem::take(&mut *self.revoked.0.lock().expect("not poisoned"));
            if !revoked.is_empty() {
                self.batcher.drop_partitions(&revoked);
                self.committed.retain(|tp, _| !revoked.contains(tp));
                self.ends.retain(|tp, _| !revoked.contains(tp));
            }
            // The batches share the poll's buffers: no copy per record.
            let now = Instant::now();
            self.batcher.push_polled(polled, now);
            self.batcher.expire(now);
            self.publish(false);
        }
    }

    /// Runs the function on a batch until it and its writes succeed (or the
    /// retries run out), then commits.
    async fn finish(&mut self, f: &mut dyn BatchFn, batch: Batch) -> Result<(), BatchError> {
        if self.config.guarantee == Guarantee::ExactlyOnceV2 {
            return self.finish_in_transaction(f, batch).await;
        }
        let started = Instant::now();
        let batch = Arc::new(batch);
        let mut attempt = 0u32;
        let results = loop {
            let result = match f.call(batch.clone()).await {
                Ok(outputs) => self.write(outputs).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(n) => break n,
                Err(e) if attempt >= self.config.max_retries => {
                    let ranges: Vec<String> = batch
                        .ranges()
                        .iter()
                        .map(|r| format!("{}/{} {}..={}", r.topic, r.partition, r.first, r.last))
                        .collect();
                    let ranges = ranges.join(", ");
                    self.failed = Some(ranges.clone());
                    self.stats.failed();
                    return Err(BatchError::Failed {
                        attempts: attempt + 1,
                        records: batch.len(),
                        ranges,
                        source: e,
                    });
                }
                Err(e) => {
                    attempt += 1;
                    self.progress.retries += 1;
                    self.stats.retried();
                    let wait = self.config.backoff(attempt);
                    tracing::warn!(error = %e, attempt, ?wait, "batch failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        };
        self.progress.batches += 1;
        self.progress.records += batch.len() as u64;
        self.progress.results += results;
        let committed = self.commit().await;
        self.stats.finished(batch.len(), results, started.elapsed());
        committed
    }

    /// Writes results and waits for every acknowledgement.
    pub(crate) async fn write(&self, outputs: Vec<Output>) -> Result<u64, BoxError> {
        let Some((producer, topic)) = &self.output else {
            return Ok(0);
        };
        let n = outputs.len() as u64;
        let deliveries: Vec<_> = outputs
            .into_iter()
            .map(|o| {
                producer.send(ProducerRecord {
                    topic: topic.clone(),
                    key: o.key,
                    value: o.value,
                    headers: o.headers,
                    ..ProducerRecord::default()
                })
            })
            .collect();
        for d in deliveries {
            d.await?;
        }
        Ok(n)
    }

    /// Commits what every finished batch allows, for partitions still owned.
    async fn commit(&mut self) -> Result<(), BatchError> {
        if self.failed.is_some() {
            return Ok(()); // the failed batch's records left the batcher: committing would skip them
        }
        let owned = self.consumer.assignment();
        let offsets: Offsets = self
            .batcher
            .committable_at(|tp| self.consumer.position(tp))
            .into_iter()
            .filter(|(tp, o)| owned.contains(tp) && self.committed.get(tp) != Some(o))
            .map(|(tp, o)| (tp, OffsetAndMetadata::new(o)))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        match self.consumer.commit_offsets_sync(offsets.clone()).await {
            Ok(()) => {
                self.committed
                    .extend(offsets.into_iter().map(|(tp, o)| (tp, o.offset)));
                Ok(())
            }
            // A rebalance is under way: the records will be read again by the
            // partitions' next owner (at-least-once), and the next poll rejoins.
            Err(e) if e.is_retriable() || rebalancing(&e) => {
                tracing::warn!(error = %e, "commit failed; the batch's records may be processed again");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether every assigned partition has reached its end (see [`Pipeline::run`]).
    fn at_end(&mut self) -> bool {
        self.consumer.reached_ends(&mut self.ends)
    }

    /// Commits what is finished and leaves the group.
    ///
    /// Exactly-once: every finished batch was committed in its transaction,
    /// so nothing is committed here.
    pub async fn close(mut self) -> Result<(), BatchError> {
        let result = match self.config.guarantee {
            Guarantee::AtLeastOnce => self.commit().await,
            Guarantee::ExactlyOnceV2 => Ok(()),
        };
        if let Some((producer, _)) = self.output.take() {
            producer.close().await;
        }
        self.consumer.close().await?;
        result
    }
}

/// Whether a commit failed because the group is rebalancing (the member
/// must rejoin): its partitions may have a new owner already.
fn rebalancing(e: &sluice_group::GroupError) -> bool {
    match e {
        sluice_group::GroupError::Commit { failed, .. } => failed
            .iter()
            .all(|(_, code)| code.action() == sluice_wire::ErrorAction::Rejoin),
        _ => false,
    }
}
