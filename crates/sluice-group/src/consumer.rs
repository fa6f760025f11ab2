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
//!
//! `poll` is cancel-safe: a rebalance step in progress is state of the
//! consumer (see the `rebalance` module), so a poll dropped by
//! `tokio::select!` or `tokio::time::timeout` loses no event, record or
//! offset, and the next poll carries on.

mod flow;
mod rebalance;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use sluice_fetch::client::deadline_after;
use sluice_fetch::offsets::OffsetSpec;
use sluice_fetch::record::ConsumerRecord;
use sluice_fetch::{FetchClient, FetchConfig, PolledBatch, TopicPartition};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::assignor::{Assignor, by_name};
use crate::config::{GroupConfig, GroupProtocol};
use crate::consumer_protocol::ConsumerMembership;
use crate::coordinator::{Command, Committed, Coordinator, GroupEvent, Machine};
use crate::error::GroupError;
use crate::membership::Membership;
use crate::metrics::{GroupMetrics, describe_metrics};
use crate::offsets::{OffsetAndMetadata, Offsets};
use crate::stats::{ConsumerStats, GroupStats};
use rebalance::{Advanced, SharedListener, Step, copy_error};

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

    /// These partitions were lost (cooperative protocol: the member was
    /// fenced or its session or poll interval expired), so they may be
    /// another member's already: their unreturned records are dropped and
    /// nothing was committed for them; a commit here would be refused. The
    /// default calls [`RebalanceListener::on_partitions_revoked`], as the
    /// Java client's does.
    fn on_partitions_lost<'a>(
        &'a mut self,
        consumer: &'a mut GroupConsumer,
        partitions: &'a [TopicPartition],
    ) -> ListenerFuture<'a> {
        self.on_partitions_revoked(consumer, partitions)
    }

    /// These partitions were assigned; positions come from the committed
    /// offsets (or `auto.offset.reset`) unless the listener seeks. With the
    /// cooperative protocol only the new ones are named (the rest are kept).
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

/// What a commit of the `consumed` offsets stores: per partition handed
/// records (or seeked), the position, which is past the last returned record
/// and any transaction markers, aborted or compacted-away offsets after it
/// (the Java client commits positions); without that, lag never reaches 0
/// after a marker.
fn to_commit(consumed: &Offsets, fetch: &FetchClient) -> Offsets {
    consumed
        .iter()
        .map(|(tp, o)| {
            let mut o = o.clone();
            if let Some(position) = fetch.position(tp) {
                o.offset = o.offset.max(position);
            }
            (tp.clone(), o)
        })
        .collect()
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
    listener: SharedListener,
    /// The next offset after the last record returned to the application.
    consumed: Offsets,
    /// What auto-commit last sent.
    auto_committed: Offsets,
    /// The auto-commit sent and not yet answered.
    auto_commit_in_flight: Option<(Offsets, CommitHandle)>,
    next_auto_commit: Instant,
    /// The rebalance step in progress (kept here so a dropped poll loses nothing).
    step: Option<Step>,
    /// Since when a rebalance has left this member nothing to fetch (see
    /// `consumer/flow.rs`).
    paused_since: Option<Instant>,
    /// The group failed for good: every call returns this.
    fatal: Option<GroupError>,
    /// The subscription, and its topics' partition counts last reported to
    /// the coordinator task.
    subscription: Vec<String>,
    reported_counts: Option<BTreeMap<String, usize>>,
    closed: bool,
    /// Commit and rebalance counters, shared with the coordinator task.
    stats: Arc<GroupStats>,
    /// `metadata.max.age.ms`: how often a classic pattern subscription is matched.
    metadata_max_age: Duration,
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
        let metadata_max_age = fetch.metadata_max_age;
        let fetch = FetchClient::connect(fetch).await?;
        let stats = Arc::new(GroupStats::default());
        let (events_tx, events) = mpsc::unbounded_channel();
        let now = Instant::now().into_std();
        let membership: Machine = match group.group_protocol {
            GroupProtocol::Classic => Membership::new(group.clone(), assignors, now).into(),
            GroupProtocol::Consumer => ConsumerMembership::new(group.clone(), now).into(),
        };
        let (commands, task) = Coordinator::spawn(
            membership,
            fetch.pool().clone(),
            events_tx,
            group.retry_backoff,
            group.max_poll_interval,
            group.group_instance_id.clone(),
            stats.clone(),
        );
        Ok(GroupConsumer {
            fetch,
            next_auto_commit: Instant::now() + group.auto_commit_interval,
            config: group,
            commands,
            events,
            task,
            listener: Arc::new(Mutex::new(None)),
            consumed: Offsets::new(),
            auto_committed: Offsets::new(),
            auto_commit_in_flight: None,
            step: None,
            paused_since: None,
            fatal: None,
            subscription: Vec::new(),
            reported_counts: None,
            closed: false,
            stats,
            metadata_max_age,
        })
    }

    /// Subscribes to `topics` (replacing the subscription); the group
    /// rebalances.
    pub fn subscribe(&mut self, topics: impl IntoIterator<Item = impl Into<String>>) {
        let topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        // Their metadata is refreshed every metadata.max.age.ms from now on,
        // so partitions added to them are seen (see report_partition_counts).
        self.fetch.watch_topics(&topics);
        self.subscription = topics.clone();
        self.reported_counts = None;
        let _ = self.commands.send(Command::Subscribe(topics));
    }

    /// Subscribes to the topics matching `pattern` (replacing the
    /// subscription), as the Java client's `subscribe(Pattern)`: the whole
    /// topic name must match. With `group.protocol=consumer` the coordinator
    /// matches it (RE2 syntax, KIP-848's `SubscribedTopicRegex`) as topics
    /// come and go; with `classic` the consumer matches the names in the
    /// metadata of every topic, every `metadata.max.age.ms`, internal topics
    /// excluded. A bad pattern is an error.
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<()> {
        if pattern.is_empty() {
            return Err(GroupError::State("an empty subscription pattern".into()));
        }
        crate::coordinator::check_pattern(pattern)?;
        self.subscription.clear();
        self.reported_counts = None;
        let every = self.metadata_max_age;
        let _ = self
            .commands
            .send(Command::SubscribePattern(pattern.to_string(), every));
        Ok(())
    }

    /// Tells the coordinator task when the subscribed topics' partition
    /// counts in the metadata changed (the membership rebalances then).
    /// Only the metadata the fetcher already has is read: no request.
    fn report_partition_counts(&mut self) {
        let cluster = self.fetch.cluster();
        if self.subscription.is_empty()
            || !self
                .subscription
                .iter()
                .all(|t| cluster.has_answered_for(t))
        {
            return; // no baseline before the metadata has answered for each
        }
        // Called on every poll: compare in place, allocate only on a change.
        let count = |t: &str| cluster.topic(t).map(|i| i.partitions.len());
        let unchanged = self.reported_counts.as_ref().is_some_and(|known| {
            known.len()
                == self
                    .subscription
                    .iter()
                    .filter(|t| count(t).is_some())
                    .count()
                && known.iter().all(|(t, n)| count(t) == Some(*n))
        });
        if unchanged {
            return;
        }
        let counts: BTreeMap<String, usize> = self
            .subscription
            .iter()
            .filter_map(|t| Some((t.clone(), count(t)?)))
            .collect();
        self.reported_counts = Some(counts.clone());
        let _ = self.commands.send(Command::PartitionCounts(counts));
    }

    /// Sets the rebalance listener.
    pub fn set_rebalance_listener(&mut self, listener: impl RebalanceListener + 'static) {
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(listener));
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
    /// `max.poll.records`), waiting up to `timeout` (`Duration::MAX`: no
    /// limit); joins the group, rebalances and auto-commits along the way.
    /// An empty vector means nothing arrived in time. Time inside `poll`
    /// counts as polling for `max.poll.interval.ms`.
    ///
    /// Cancel-safe: when the future is dropped (`tokio::select!`,
    /// `tokio::time::timeout`) before it completes, no record has been
    /// returned or marked consumed, and a rebalance step under way (revoke
    /// commit, committed-offset lookup) stays in the consumer and the next
    /// poll carries it on. The one thing repeated: a rebalance listener
    /// callback whose future was dropped before it finished is called again,
    /// with the same partitions, by the next poll.
    ///
    /// After a fatal group error (FENCED_INSTANCE_ID, an authorization
    /// error...) the consumer owns nothing and every call returns the error.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let mut records = Vec::new();
        self.poll_into(timeout, &mut Polled::Records(&mut records))
            .await?;
        Ok(records)
    }

    /// [`GroupConsumer::poll`]'s records as a [`PolledBatch`]: views of the
    /// fetched buffers, with no reference count or allocation per record
    /// (see [`FetchClient::poll_batch`]); the same records, commits and
    /// rebalance steps, poll for poll. The batch owns its buffers, so its
    /// records stay valid while it lives, also after a rebalance took their
    /// partitions away (committing them is then up to the listener, as for
    /// `poll`'s records).
    ///
    /// Cancel-safe as [`GroupConsumer::poll`]: a dropped future has returned
    /// no record and marked none consumed.
    pub async fn poll_batch(&mut self, timeout: Duration) -> Result<PolledBatch> {
        let mut batch = PolledBatch::new();
        self.poll_batch_into(timeout, &mut batch).await?;
        Ok(batch)
    }

    /// [`GroupConsumer::poll_batch`] into `batch`, emptied first and keeping
    /// its allocations. Cancel-safe as `poll_batch`: dropped before it
    /// returns, it has taken no record and `batch` is empty (or untouched,
    /// if the future was never polled).
    pub async fn poll_batch_into(
        &mut self,
        timeout: Duration,
        batch: &mut PolledBatch,
    ) -> Result<()> {
        batch.clear();
        self.poll_into(timeout, &mut Polled::Batch(batch)).await
    }

    /// The poll loop behind `poll` and `poll_batch`: `out` is filled only
    /// by the fetch that ends it, which takes its records without an await
    /// once it has them.
    async fn poll_into(&mut self, timeout: Duration, out: &mut Polled<'_>) -> Result<()> {
        self.usable()?;
        let deadline = deadline_after(timeout);
        let _polling = Polling::start(&self.commands);
        self.maybe_auto_commit();
        loop {
            self.report_partition_counts();
            // A revoke or loss under way finishes before the next event
            // (cooperative: the assignment queued right behind it).
            while !matches!(self.step, Some(Step::Revoke { .. } | Step::Lose { .. })) {
                match self.events.try_recv() {
                    Ok(event) => self.begin(event)?,
                    Err(_) => break,
                }
            }
            if self.step.is_some() {
                match self.advance(deadline).await? {
                    Advanced::TimedOut => return Ok(()),
                    Advanced::Done | Advanced::Event => continue,
                }
            }
            let now = Instant::now();
            if self.fetch.assignment().is_empty() {
                match tokio::time::timeout_at(deadline, self.events.recv()).await {
                    Ok(Some(event)) => self.begin(event)?,
                    Ok(None) => return Err(gone()),
                    Err(_) => return Ok(()),
                }
                continue;
            }
            let remaining = deadline.saturating_duration_since(now);
            let next = tokio::select! {
                biased;
                event = self.events.recv() => Err(event),
                fetched = out.fetch(&mut self.fetch, remaining) => Ok(fetched),
            };
            match next {
                Err(Some(event)) => self.begin(event)?,
                Err(None) => return Err(gone()),
                Ok(fetched) => {
                    fetched?;
                    match out {
                        Polled::Records(records) => self.note_consumed(records),
                        Polled::Batch(batch) => {
                            for (tp, next) in batch.next_offsets() {
                                self.consumed.insert(tp, OffsetAndMetadata::new(next));
                            }
                        }
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Whether the consumer can be used: not closed, not failed.
    fn usable(&self) -> Result<()> {
        if let Some(e) = &self.fatal {
            return Err(copy_error(e));
        }
        if self.closed {
            return Err(GroupError::State("the consumer is closed".into()));
        }
        Ok(())
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

    /// What a commit of the consumed offsets stores (see [`to_commit`]).
    fn to_commit(&self) -> Offsets {
        to_commit(&self.consumed, &self.fetch)
    }

    /// Sends an auto-commit when one is due. What it sends counts as
    /// committed only once the broker has said so: a refused one is sent
    /// again at the next interval. One is in flight at a time.
    fn maybe_auto_commit(&mut self) {
        if let Some((offsets, mut handle)) = self.auto_commit_in_flight.take() {
            match handle.0.try_recv() {
                Ok(Ok(())) => self.auto_committed.extend(offsets),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "auto-commit failed; sending it again at the next interval")
                }
                Err(oneshot::error::TryRecvError::Empty) => {
                    self.auto_commit_in_flight = Some((offsets, handle));
                    return;
                }
                Err(oneshot::error::TryRecvError::Closed) => {}
            }
        }
        if !self.config.enable_auto_commit || Instant::now() < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        let changed: Offsets = self
            .to_commit()
            .into_iter()
            .filter(|(tp, o)| self.auto_committed.get(tp) != Some(o))
            .collect();
        if changed.is_empty() {
            return;
        }
        let handle = self.commit_offsets_async(changed.clone());
        self.auto_commit_in_flight = Some((changed, handle));
    }

    /// Commits the offsets of every record poll has returned, and waits.
    pub async fn commit_sync(&mut self) -> Result<()> {
        self.usable()?;
        let offsets = self.to_commit();
        self.commit_offsets_sync(offsets).await
    }

    /// Commits the offsets of every record poll has returned, without
    /// waiting; the handle completes with the result.
    pub fn commit_async(&mut self) -> CommitHandle {
        let offsets = self.to_commit();
        self.commit_offsets_async(offsets)
    }

    /// Commits explicit offsets (the next offset to read, with optional
    /// metadata), and waits. Failures name their partitions.
    pub async fn commit_offsets_sync(&mut self, offsets: Offsets) -> Result<()> {
        self.commit_offsets_async(offsets).await
    }

    /// Commits explicit offsets without waiting.
    pub fn commit_offsets_async(&mut self, offsets: Offsets) -> CommitHandle {
        if let Err(e) = self.usable() {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(Err(e));
            return CommitHandle(rx);
        }
        send_commit(&self.commands, offsets)
    }

    /// The group's committed offsets for `tps`.
    pub async fn committed(&mut self, tps: &[TopicPartition]) -> Result<Committed> {
        self.usable()?;
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Committed(tps.to_vec(), tx));
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// The member's group id, generation, member id and instance id as of
    /// its current assignment, for a transactional producer's
    /// `send_offsets_to_transaction` (KIP-447 zombie fencing).
    pub fn group_metadata(&self) -> crate::ConsumerGroupMetadata {
        let (generation_id, member_id) = self.stats.generation.get();
        crate::ConsumerGroupMetadata {
            group_id: self.config.group_id.clone(),
            generation_id,
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
        }
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

    /// Moves an assigned partition to its earliest or latest offset, or the
    /// first at or after a timestamp (looked up by the next poll). Until a
    /// record of it is returned, commits leave the partition's committed
    /// offset as it was.
    pub fn seek_to(&mut self, tp: &TopicPartition, spec: OffsetSpec) -> Result<()> {
        self.fetch.seek_to(tp, spec)?;
        self.consumed.remove(tp);
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

    /// The counters so far: records, bytes, fetches and polls with each
    /// assigned partition's position and lag (the fetch client's), commits,
    /// rebalances, the group's members as last described and the subscribed
    /// topics' partition count. Cheap and
    /// synchronous: atomics are copied, no request is made (unlike
    /// [`GroupConsumer::metrics`]).
    pub fn stats(&self) -> ConsumerStats {
        let fetch = self.fetch.stats();
        let subscribed = self.reported_counts.as_ref().map(|c| c.values().sum());
        let group = self.stats.snapshot(fetch.partitions.len(), subscribed);
        let rebalance = self.stats.rebalance.snapshot();
        ConsumerStats {
            fetch,
            group,
            rebalance,
        }
    }

    /// The group as the coordinator describes it, with this member's
    /// assignment and lag.
    pub async fn metrics(&mut self) -> Result<GroupMetrics> {
        self.usable()?;
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
    /// leaves the group (static members, with `group.instance.id`, do not:
    /// KIP-345) and closes the connections. A revocation a dropped poll left
    /// unfinished is finished first.
    ///
    /// Dropping the future part-way loses the rest of the close: the member
    /// then leaves without committing, as when the consumer is dropped.
    pub async fn close(mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let forever = deadline_after(Duration::MAX);
        if matches!(self.step, Some(Step::Revoke { .. } | Step::Lose { .. })) {
            let _ = self.advance(forever).await;
        }
        self.step = None;
        let assigned = self.fetch.assignment();
        if self.fatal.is_none() && !assigned.is_empty() {
            let _ = self.begin(GroupEvent::Revoke(assigned));
            let _ = self.advance(forever).await;
        }
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Close(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
        }
        let _ = self.task.await;
        self.fetch.close().await;
        Ok(())
    }
}

/// Sends a commit to the coordinator task; the handle completes with the result.
fn send_commit(commands: &mpsc::UnboundedSender<Command>, offsets: Offsets) -> CommitHandle {
    let (tx, rx) = oneshot::channel();
    if let Err(mpsc::error::SendError(Command::Commit(_, tx))) =
        commands.send(Command::Commit(offsets, tx))
    {
        let _ = tx.send(Err(gone()));
    }
    CommitHandle(rx)
}

/// Brackets a poll for the coordinator task: time inside it counts as
/// polling, and the end is told when the poll returns or is dropped.
struct Polling(mpsc::UnboundedSender<Command>);

impl Polling {
    fn start(commands: &mpsc::UnboundedSender<Command>) -> Self {
        let _ = commands.send(Command::PollStarted(Instant::now()));
        Polling(commands.clone())
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        let _ = self.0.send(Command::Polled(Instant::now()));
    }
}

/// Where a poll puts its records.
enum Polled<'a> {
    Records(&'a mut Vec<ConsumerRecord>),
    Batch(&'a mut PolledBatch),
}

impl Polled<'_> {
    /// One fetch poll into the records or the batch (cancel-safe: the
    /// fetch client takes records only as it returns).
    async fn fetch(&mut self, fetch: &mut FetchClient, timeout: Duration) -> Result<()> {
        match self {
            Polled::Records(records) => **records = fetch.poll(timeout).await?,
            Polled::Batch(batch) => fetch.poll_batch_into(timeout, batch).await?,
        }
        Ok(())
    }
}
