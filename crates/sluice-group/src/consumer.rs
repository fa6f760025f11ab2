//! A consumer in a group: the fetcher ([`FetchClient`]) driven by the
//! group's assignment, with commits, a rebalance listener and metrics.
//!
//! Rebalances happen inside [`GroupConsumer::poll`], as in the Java client:
//! before partitions are revoked, records fetched for them but not yet
//! returned are dropped, the offsets of returned records are committed (with
//! `enable.auto.commit`) and the listener runs; after an assignment, the
//! committed offsets decide where each partition starts, falling back to
//! `auto.offset.reset`. Heartbeats go on in the coordinator task while the
//! application works between polls.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use sluice_fetch::record::ConsumerRecord;
use sluice_fetch::{FetchClient, FetchConfig, TopicPartition};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::assignor::{Assignor, by_name};
use crate::config::GroupConfig;
use crate::coordinator::{Command, Committed, Coordinator, GroupEvent};
use crate::error::GroupError;
use crate::membership::Membership;
use crate::metrics::{GroupMetrics, describe_metrics};
use crate::offsets::{OffsetAndMetadata, Offsets};

type Result<T, E = GroupError> = std::result::Result<T, E>;

/// The future a [`RebalanceListener`] callback returns.
pub type ListenerFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Hears of partitions being revoked and assigned, from inside
/// [`GroupConsumer::poll`]. The callbacks may use the consumer (commit,
/// seek, look committed offsets up) and may await.
pub trait RebalanceListener: Send {
    /// These partitions are being taken away. Fetched-but-unreturned records
    /// are already dropped and (with `enable.auto.commit`) the offsets of
    /// returned records committed; commit here when committing manually.
    fn on_partitions_revoked<'a>(
        &'a mut self,
        consumer: &'a mut GroupConsumer,
        partitions: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        let _ = (consumer, partitions);
        Box::pin(async {})
    }

    /// These partitions were assigned; positions come from the committed
    /// offsets (or `auto.offset.reset`) unless the listener seeks.
    fn on_partitions_assigned<'a>(
        &'a mut self,
        consumer: &'a mut GroupConsumer,
        partitions: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        let _ = (consumer, partitions);
        Box::pin(async {})
    }
}

/// The completion of [`GroupConsumer::commit_async`]: await it for the
/// result, or drop it (the commit still happens).
#[derive(Debug)]
pub struct CommitHandle(oneshot::Receiver<Result<()>>);

impl Future for CommitHandle {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| Err(gone())))
    }
}

fn gone() -> GroupError {
    GroupError::State("the consumer's group coordinator task has stopped".into())
}

/// A consumer that joins a group and consumes what the group assigns it.
pub struct GroupConsumer {
    fetch: FetchClient,
    config: GroupConfig,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<GroupEvent>,
    task: tokio::task::JoinHandle<()>,
    listener: Option<Box<dyn RebalanceListener>>,
    /// The next offset after the last record returned to the application.
    consumed: Offsets,
    /// What auto-commit last sent.
    auto_committed: Offsets,
    next_auto_commit: Instant,
    /// An assignment whose committed offsets could not be looked up yet.
    pending_assign: Option<Vec<TopicPartition>>,
    closed: bool,
}

impl std::fmt::Debug for GroupConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupConsumer")
            .field("group", &self.config.group_id)
            .field("assignment", &self.fetch.assignment())
            .finish_non_exhaustive()
    }
}

impl GroupConsumer {
    /// Connects to the cluster and starts the group's coordinator task; the
    /// member joins once it has a subscription.
    pub async fn new(fetch: FetchConfig, group: GroupConfig) -> Result<Self> {
        group.validate()?;
        let assignors: Vec<Box<dyn Assignor>> = group
            .assignment_strategy
            .iter()
            .map(|name| {
                by_name(name).ok_or_else(|| GroupError::Config {
                    key: "partition.assignment.strategy".into(),
                    message: format!("unknown assignor {name:?}"),
                })
            })
            .collect::<Result<_>>()?;
        let fetch = FetchClient::connect(fetch).await?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let membership = Membership::new(group.clone(), assignors, Instant::now().into_std());
        let (commands, task) = Coordinator::spawn(
            membership,
            fetch.pool().clone(),
            events_tx,
            group.retry_backoff,
            group.max_poll_interval,
            group.group_instance_id.clone(),
        );
        Ok(GroupConsumer {
            fetch,
            next_auto_commit: Instant::now() + group.auto_commit_interval,
            config: group,
            commands,
            events,
            task,
            listener: None,
            consumed: Offsets::new(),
            auto_committed: Offsets::new(),
            pending_assign: None,
            closed: false,
        })
    }

    /// Subscribes to `topics` (replacing the subscription); the group
    /// rebalances.
    pub fn subscribe(&mut self, topics: impl IntoIterator<Item = impl Into<String>>) {
        let topics = topics.into_iter().map(Into::into).collect();
        let _ = self.commands.send(Command::Subscribe(topics));
    }

    /// Sets the rebalance listener.
    pub fn set_rebalance_listener(&mut self, listener: impl RebalanceListener + 'static) {
        self.listener = Some(Box::new(listener));
    }

    /// The group's configuration.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The fetch client (positions, watermarks, cluster metadata).
    pub fn fetch_client(&self) -> &FetchClient {
        &self.fetch
    }

    /// The fetch client, mutably: for metadata lookups (`partitions_for`,
    /// `list_offsets`). Assigning or seeking through it bypasses the group.
    pub fn fetch_client_mut(&mut self) -> &mut FetchClient {
        &mut self.fetch
    }

    /// Whether every assigned partition has reached the first high
    /// watermark seen for it, remembered in `ends` (kcat's `-e`). A member
    /// with no partitions is not at the end: it waits for an assignment.
    pub fn reached_ends(&self, ends: &mut BTreeMap<TopicPartition, i64>) -> bool {
        let assignment = self.assignment();
        if assignment.is_empty() {
            return false;
        }
        let fetcher = self.fetch.fetcher();
        assignment.iter().all(|tp| {
            let hw = fetcher.state(tp).map_or(-1, |s| s.high_watermark);
            if hw >= 0 {
                ends.entry(tp.clone()).or_insert(hw);
            }
            match (ends.get(tp), self.position(tp)) {
                (Some(end), Some(position)) => position >= *end,
                _ => false,
            }
        })
    }

    /// Returns the next records of the assigned partitions (at most
    /// `max.poll.records`), waiting up to `timeout`; joins the group,
    /// rebalances and auto-commits along the way. An empty vector means
    /// nothing arrived in time.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        if self.closed {
            return Err(GroupError::State("the consumer is closed".into()));
        }
        let deadline = Instant::now() + timeout;
        let _ = self.commands.send(Command::Polled(Instant::now()));
        self.maybe_auto_commit();
        loop {
            while let Ok(event) = self.events.try_recv() {
                self.on_event(event).await?;
            }
            if let Some(tps) = self.pending_assign.take() {
                self.on_assign(tps).await?;
            }
            let now = Instant::now();
            if self.fetch.assignment().is_empty() || self.pending_assign.is_some() {
                if self.pending_assign.is_some() && now >= deadline {
                    return Ok(Vec::new());
                }
                let wake = if self.pending_assign.is_some() {
                    deadline.min(now + self.config.retry_backoff)
                } else {
                    deadline
                };
                match tokio::time::timeout_at(wake, self.events.recv()).await {
                    Ok(Some(event)) => self.on_event(event).await?,
                    Ok(None) => return Err(gone()),
                    Err(_) if Instant::now() >= deadline => return Ok(Vec::new()),
                    Err(_) => {}
                }
                continue;
            }
            let remaining = deadline.saturating_duration_since(now);
            let next = tokio::select! {
                biased;
                event = self.events.recv() => Err(event),
                records = self.fetch.poll(remaining) => Ok(records),
            };
            match next {
                Err(Some(event)) => self.on_event(event).await?,
                Err(None) => return Err(gone()),
                Ok(records) => {
                    let records = records?;
                    self.note_consumed(&records);
                    return Ok(records);
                }
            }
        }
    }

    /// Remembers the position after the last returned record of each partition.
    fn note_consumed(&mut self, records: &[ConsumerRecord]) {
        let mut last: Option<&ConsumerRecord> = None;
        for r in records {
            if let Some(l) = last.filter(|l| l.partition != r.partition || l.topic != r.topic) {
                self.consumed
                    .insert(l.topic_partition(), OffsetAndMetadata::new(l.offset + 1));
            }
            last = Some(r);
        }
        if let Some(l) = last {
            self.consumed
                .insert(l.topic_partition(), OffsetAndMetadata::new(l.offset + 1));
        }
    }

    fn maybe_auto_commit(&mut self) {
        if !self.config.enable_auto_commit || Instant::now() < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        let changed: Offsets = self
            .consumed
            .iter()
            .filter(|(tp, o)| self.auto_committed.get(*tp) != Some(*o))
            .map(|(tp, o)| (tp.clone(), o.clone()))
            .collect();
        if changed.is_empty() {
            return;
        }
        self.auto_committed.extend(changed.clone());
        let handle = self.commit_offsets_async(changed);
        tokio::spawn(async move {
            if let Err(e) = handle.await {
                tracing::warn!(error = %e, "auto-commit failed");
            }
        });
    }

    async fn on_event(&mut self, event: GroupEvent) -> Result<()> {
        match event {
            GroupEvent::Revoke(tps) => {
                self.revoke(&tps).await;
                let _ = self.commands.send(Command::RevokeDone);
                Ok(())
            }
            GroupEvent::Assign(tps) => self.on_assign(tps).await,
            GroupEvent::Failed(e) => Err(e),
        }
    }

    async fn revoke(&mut self, tps: &[TopicPartition]) {
        let keep: Vec<TopicPartition> = self
            .fetch
            .assignment()
            .into_iter()
            .filter(|tp| !tps.contains(tp))
            .collect();
        // Records fetched for revoked partitions and not returned are dropped.
        self.fetch.assign(keep);
        if self.config.enable_auto_commit {
            let offsets: Offsets = self
                .consumed
                .iter()
                .filter(|(tp, _)| tps.contains(tp))
                .map(|(tp, o)| (tp.clone(), o.clone()))
                .collect();
            if let Err(e) = self.commit_offsets_sync(offsets).await {
                tracing::warn!(error = %e, "committing before revoking partitions failed");
            }
        }
        if let Some(mut listener) = self.listener.take() {
            listener.on_partitions_revoked(self, tps).await;
            self.listener = Some(listener);
        }
        self.consumed.retain(|tp, _| !tps.contains(tp));
        self.auto_committed.retain(|tp, _| !tps.contains(tp));
    }

    async fn on_assign(&mut self, tps: Vec<TopicPartition>) -> Result<()> {
        let committed = match self.committed(&tps).await {
            Ok(c) => c,
            Err(e) if e.is_retriable() => {
                tracing::warn!(error = %e, "looking committed offsets up failed; retrying");
                self.pending_assign = Some(tps);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.fetch.assign(tps.iter().cloned());
        for (tp, offset) in &committed {
            if let Some(o) = offset {
                self.fetch.seek(tp, o.offset)?;
            }
        }
        tracing::info!(group = %self.config.group_id, partitions = tps.len(), "partitions assigned");
        if let Some(mut listener) = self.listener.take() {
            listener.on_partitions_assigned(self, &tps).await;
            self.listener = Some(listener);
        }
        Ok(())
    }

    /// Commits the offsets of every record poll has returned, and waits.
    pub async fn commit_sync(&mut self) -> Result<()> {
        let offsets = self.consumed.clone();
        self.commit_offsets_sync(offsets).await
    }

    /// Commits the offsets of every record poll has returned, without
    /// waiting; the handle completes with the result.
    pub fn commit_async(&mut self) -> CommitHandle {
        let offsets = self.consumed.clone();
        self.commit_offsets_async(offsets)
    }

    /// Commits explicit offsets (the next offset to read, with optional
    /// metadata), and waits. Failures name their partitions.
    pub async fn commit_offsets_sync(&mut self, offsets: Offsets) -> Result<()> {
        self.commit_offsets_async(offsets).await
    }

    /// Commits explicit offsets without waiting.
    pub fn commit_offsets_async(&mut self, offsets: Offsets) -> CommitHandle {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(Command::Commit(_, tx))) =
            self.commands.send(Command::Commit(offsets, tx))
        {
            let _ = tx.send(Err(gone()));
        }
        CommitHandle(rx)
    }

    /// The group's committed offsets for `tps`.
    pub async fn committed(&mut self, tps: &[TopicPartition]) -> Result<Committed> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Committed(tps.to_vec(), tx));
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// The partitions currently assigned to this member.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.fetch.assignment()
    }

    /// The next offset poll returns for `tp`, once known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.fetch.position(tp)
    }

    /// Moves an assigned partition to `offset`. As in the Java client, the
    /// position is what the next commit of this partition stores.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.fetch.seek(tp, offset)?;
        self.consumed
            .insert(tp.clone(), OffsetAndMetadata::new(offset));
        Ok(())
    }

    /// Stops fetching and returning records of an assigned partition.
    pub fn pause(&mut self, tp: &TopicPartition) -> Result<()> {
        Ok(self.fetch.pause(tp)?)
    }

    /// Resumes a paused partition.
    pub fn resume(&mut self, tp: &TopicPartition) -> Result<()> {
        Ok(self.fetch.resume(tp)?)
    }

    /// Per assigned partition: high watermark minus position, when both are
    /// known.
    pub fn lag(&self) -> BTreeMap<TopicPartition, Option<i64>> {
        self.fetch
            .assignment()
            .into_iter()
            .map(|tp| {
                let lag = self.fetch.fetcher().state(&tp).and_then(|s| {
                    let position = s.position?.offset;
                    (s.high_watermark >= 0).then(|| (s.high_watermark - position).max(0))
                });
                (tp, lag)
            })
            .collect()
    }

    /// The group as the coordinator describes it, with this member's
    /// assignment and lag.
    pub async fn metrics(&mut self) -> Result<GroupMetrics> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Describe(tx));
        let described = rx.await.unwrap_or_else(|_| Err(gone()))?;
        describe_metrics(
            &self.config.group_id,
            &described,
            self.assignment(),
            self.lag(),
        )
    }

    /// Commits (with `enable.auto.commit`), runs the listener's revocation,
    /// leaves the group and closes the connections.
    pub async fn close(mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let assigned = self.fetch.assignment();
        self.revoke(&assigned).await;
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Close(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
        }
        let _ = self.task.await;
        self.fetch.close().await;
        Ok(())
    }
}
