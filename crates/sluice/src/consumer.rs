//! [`Consumer`]: one type over the two ways to consume. With `group.id` and
//! [`Consumer::subscribe`] it is a group member (partitions assigned by the
//! group, offsets committed to it); with [`Consumer::assign`] it reads the
//! partitions it is given.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use sluice_fetch::offsets::OffsetSpec;
use sluice_fetch::record::ConsumerRecord;
use sluice_fetch::{FetchClient, PolledBatch, TopicPartition};
use sluice_group::{
    CommitHandle, Committed, GroupConsumer, GroupMetrics, Offsets, RebalanceListener,
};

use crate::config::ConsumerConfig;
use crate::error::Error;

type Result<T, E = Error> = std::result::Result<T, E>;

enum Inner {
    /// Not yet subscribed or assigned.
    Idle,
    /// A group member.
    Group(Box<GroupConsumer>),
    /// Reading assigned partitions.
    Assigned(Box<FetchClient>),
}

/// A Kafka consumer. See the crate documentation for an example.
pub struct Consumer {
    config: ConsumerConfig,
    inner: Inner,
    listener: Option<Box<dyn RebalanceListener>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.inner {
            Inner::Idle => "idle",
            Inner::Group(_) => "group",
            Inner::Assigned(_) => "assigned",
        };
        f.debug_struct("Consumer")
            .field("group", &self.config.group.group_id)
            .field("mode", &mode)
            .finish()
    }
}

impl Consumer {
    /// A consumer; it connects on [`Consumer::subscribe`] or [`Consumer::assign`].
    pub fn new(config: ConsumerConfig) -> Result<Self> {
        if config.fetch.bootstrap_servers.is_empty() {
            return Err(Error::Config {
                key: "bootstrap.servers".into(),
                message: "required".into(),
            });
        }
        if config.has_group() {
            config.group.validate()?;
        }
        Ok(Consumer {
            config,
            inner: Inner::Idle,
            listener: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Hears of rebalances (set before [`Consumer::subscribe`]).
    pub fn set_rebalance_listener(&mut self, listener: impl RebalanceListener + 'static) {
        match &mut self.inner {
            Inner::Group(g) => g.set_rebalance_listener(listener),
            _ => self.listener = Some(Box::new(listener)),
        }
    }

    /// Joins `group.id` subscribed to `topics`; the group assigns partitions
    /// from the next poll on.
    pub async fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        if !self.config.has_group() {
            return Err(Error::Usage("subscribe needs group.id".into()));
        }
        match &mut self.inner {
            Inner::Assigned(_) => {
                return Err(Error::Usage(
                    "this consumer reads assigned partitions: subscribe on a new one".into(),
                ));
            }
            Inner::Group(g) => g.subscribe(topics.iter().map(|t| t.to_string())),
            Inner::Idle => {
                let mut g =
                    GroupConsumer::new(self.config.fetch.clone(), self.config.group.clone())
                        .await?;
                if let Some(l) = self.listener.take() {
                    g.set_rebalance_listener(BoxedListener(l));
                }
                g.subscribe(topics.iter().map(|t| t.to_string()));
                self.inner = Inner::Group(Box::new(g));
            }
        }
        Ok(())
    }

    /// Reads exactly `partitions` (no group membership), starting at
    /// `auto.offset.reset` unless [`Consumer::seek`] says otherwise.
    pub async fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        match &mut self.inner {
            Inner::Group(_) => Err(Error::Usage(
                "this consumer is a group member: assign on a new one".into(),
            )),
            Inner::Assigned(c) => {
                c.assign(partitions.iter().cloned());
                Ok(())
            }
            Inner::Idle => {
                let mut c = FetchClient::connect(self.config.fetch.clone()).await?;
                c.assign(partitions.iter().cloned());
                self.inner = Inner::Assigned(Box::new(c));
                Ok(())
            }
        }
    }

    /// The partitions of `topic` (connecting if needed).
    pub async fn partitions_for(&mut self, topic: &str) -> Result<Vec<TopicPartition>> {
        if let Inner::Idle = self.inner {
            let c = FetchClient::connect(self.config.fetch.clone()).await?;
            self.inner = Inner::Assigned(Box::new(c));
        }
        match &mut self.inner {
            Inner::Assigned(c) => Ok(c.partitions_for(topic).await?),
            Inner::Group(g) => Ok(g.fetch_client_mut().partitions_for(topic).await?),
            Inner::Idle => unreachable!("connected above"),
        }
    }

    /// The next records (at most `max.poll.records`), waiting up to
    /// `timeout` (`Duration::MAX`: no limit); empty if nothing arrived.
    /// Group members join, rebalance, heartbeat and auto-commit along the
    /// way.
    ///
    /// Cancel-safe: a poll whose future is dropped returns no record and
    /// marks none consumed (see [`GroupConsumer::poll`] for a group's
    /// rebalance steps); the next poll carries on.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        match &mut self.inner {
            Inner::Idle => Err(Error::Usage("subscribe or assign before polling".into())),
            Inner::Group(g) => Ok(g.poll(timeout).await?),
            Inner::Assigned(c) => Ok(c.poll(timeout).await?),
        }
    }

    /// The next records as a [`PolledBatch`]: the records [`Consumer::poll`]
    /// would return, as views of the fetched buffers (no reference count or
    /// allocation per record; [`PolledBatch::to_owned`] or
    /// [`ConsumerRecordRef::to_owned`](sluice_fetch::record::ConsumerRecordRef::to_owned)
    /// keeps them). The batch owns its buffers, so its records stay valid
    /// while it lives, across later polls.
    ///
    /// Assigned or in a group, the records are decoded straight into the
    /// batch; a group member counts them consumed (for commits) as `poll`
    /// does, and joins, rebalances, heartbeats and auto-commits along the
    /// way.
    ///
    /// Cancel-safe: a dropped future has taken no record (they stay
    /// buffered for the next poll) and marks none consumed.
    pub async fn poll_batch(&mut self, timeout: Duration) -> Result<PolledBatch> {
        let mut batch = PolledBatch::new();
        self.poll_batch_into(timeout, &mut batch).await?;
        Ok(batch)
    }

    /// [`Consumer::poll_batch`] into `batch`, emptied first and keeping its
    /// allocations, so a poll loop that hands its last batch back allocates
    /// nothing per poll once warm. Cancel-safe as `poll_batch`: dropped
    /// before it returns, it has taken no record and `batch` is empty (or
    /// untouched, if the future was never polled).
    pub async fn poll_batch_into(
        &mut self,
        timeout: Duration,
        batch: &mut PolledBatch,
    ) -> Result<()> {
        match &mut self.inner {
            Inner::Idle => Err(Error::Usage("subscribe or assign before polling".into())),
            Inner::Group(g) => Ok(g.poll_batch_into(timeout, batch).await?),
            Inner::Assigned(c) => Ok(c.poll_batch_into(timeout, batch).await?),
        }
    }

    /// The records one at a time (polling in turn); ends after an error.
    ///
    /// Nothing is lost: a record counts as consumed (for `commit_sync`,
    /// auto-commit and the position) only once the stream has yielded it.
    /// When the stream is dropped, the records of its last poll it did not
    /// yield are handed back (each partition goes back to its first
    /// unyielded record), so the next poll or stream returns them; a
    /// `next()` future dropped mid-poll loses nothing either.
    pub fn stream(&mut self) -> RecordStream<'_> {
        RecordStream {
            consumer: Some(self),
            buffered: VecDeque::new(),
            polling: None,
            failed: false,
        }
    }

    /// Hands records back: each partition in `records` goes back to its
    /// first offset there (for a group member this is also what the next
    /// commit stores).
    fn give_back(&mut self, records: &VecDeque<ConsumerRecord>) {
        let mut first: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for r in records {
            first.entry(r.topic_partition()).or_insert(r.offset);
        }
        for (tp, offset) in first {
            // Cannot fail: the stream held the consumer since the poll that
            // returned these records, so the partition is still assigned.
            let _ = self.seek(&tp, offset);
        }
    }

    fn group(&mut self, what: &str) -> Result<&mut GroupConsumer> {
        match &mut self.inner {
            Inner::Group(g) => Ok(g),
            _ => Err(Error::Usage(format!(
                "{what} needs a group member (group.id and subscribe)"
            ))),
        }
    }

    /// Commits the offsets of every record poll has returned, and waits.
    pub async fn commit_sync(&mut self) -> Result<()> {
        Ok(self.group("commit")?.commit_sync().await?)
    }

    /// Commits the offsets of every record poll has returned; await the
    /// handle for the result.
    pub fn commit_async(&mut self) -> Result<CommitHandle> {
        Ok(self.group("commit")?.commit_async())
    }

    /// Commits explicit offsets (the next offset to read, with metadata).
    pub async fn commit_offsets_sync(&mut self, offsets: Offsets) -> Result<()> {
        Ok(self.group("commit")?.commit_offsets_sync(offsets).await?)
    }

    /// The group's committed offsets for `partitions`.
    pub async fn committed(&mut self, partitions: &[TopicPartition]) -> Result<Committed> {
        Ok(self.group("committed")?.committed(partitions).await?)
    }

    /// The partitions this consumer reads now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        match &self.inner {
            Inner::Idle => Vec::new(),
            Inner::Group(g) => g.assignment(),
            Inner::Assigned(c) => c.assignment(),
        }
    }

    /// The offset of the next record poll returns for `tp`.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        match &self.inner {
            Inner::Idle => None,
            Inner::Group(g) => g.position(tp),
            Inner::Assigned(c) => c.position(tp),
        }
    }

    /// Moves `tp` to `offset`; buffered records of it are dropped.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        match &mut self.inner {
            Inner::Idle => Err(Error::Usage("subscribe or assign before seeking".into())),
            Inner::Group(g) => Ok(g.seek(tp, offset)?),
            Inner::Assigned(c) => Ok(c.seek(tp, offset)?),
        }
    }

    /// Moves `tp` to the earliest or latest offset, or the first at or after
    /// a timestamp (looked up by the next poll).
    pub fn seek_to(&mut self, tp: &TopicPartition, spec: OffsetSpec) -> Result<()> {
        match &mut self.inner {
            Inner::Idle => Err(Error::Usage("subscribe or assign before seeking".into())),
            Inner::Group(g) => Ok(g.seek_to(tp, spec)?),
            Inner::Assigned(c) => Ok(c.seek_to(tp, spec)?),
        }
    }

    /// Stops fetching `tp` until [`Consumer::resume`].
    pub fn pause(&mut self, tp: &TopicPartition) -> Result<()> {
        match &mut self.inner {
            Inner::Idle => Err(Error::Usage("nothing assigned".into())),
            Inner::Group(g) => Ok(g.pause(tp)?),
            Inner::Assigned(c) => Ok(c.pause(tp)?),
        }
    }

    /// Fetches `tp` again.
    pub fn resume(&mut self, tp: &TopicPartition) -> Result<()> {
        match &mut self.inner {
            Inner::Idle => Err(Error::Usage("nothing assigned".into())),
            Inner::Group(g) => Ok(g.resume(tp)?),
            Inner::Assigned(c) => Ok(c.resume(tp)?),
        }
    }

    /// Lag per assigned partition: high watermark minus position (`None`
    /// before the first fetch answer).
    pub fn lag(&self) -> BTreeMap<TopicPartition, Option<i64>> {
        match &self.inner {
            Inner::Idle => BTreeMap::new(),
            Inner::Group(g) => g.lag(),
            Inner::Assigned(c) => c
                .assignment()
                .into_iter()
                .map(|tp| {
                    let lag = match (c.fetcher().state(&tp), c.position(&tp)) {
                        (Some(s), Some(p)) if s.high_watermark >= 0 => {
                            Some((s.high_watermark - p).max(0))
                        }
                        _ => None,
                    };
                    (tp, lag)
                })
                .collect(),
        }
    }

    /// The group's members, assignment, members/partitions ratio and this
    /// member's lag.
    pub async fn metrics(&mut self) -> Result<GroupMetrics> {
        Ok(self.group("metrics")?.metrics().await?)
    }

    /// Counters of this consumer (records, bytes, fetches, polls, commits,
    /// rebalances, per-partition position and lag), for
    /// [`crate::metrics::render_prometheus`]. Cheap and synchronous: no
    /// request is made (unlike [`Consumer::metrics`]). Empty before
    /// `subscribe` or `assign`.
    pub fn stats(&self) -> crate::metrics::Metrics {
        match &self.inner {
            Inner::Idle => crate::metrics::Metrics::default(),
            Inner::Group(g) => crate::metrics::Metrics::consumer(g.stats()),
            Inner::Assigned(c) => crate::metrics::Metrics {
                fetch: Some(c.stats()),
                ..Default::default()
            },
        }
    }

    /// The underlying group consumer, for what this type does not wrap.
    pub fn group_consumer(&mut self) -> Option<&mut GroupConsumer> {
        match &mut self.inner {
            Inner::Group(g) => Some(g),
            _ => None,
        }
    }

    /// Takes the group consumer out (to hand it to a batch pipeline).
    pub fn into_group_consumer(self) -> Option<GroupConsumer> {
        match self.inner {
            Inner::Group(g) => Some(*g),
            _ => None,
        }
    }

    /// Commits (with enable.auto.commit), leaves the group and closes the
    /// connections.
    pub async fn close(self) -> Result<()> {
        match self.inner {
            Inner::Idle => Ok(()),
            Inner::Group(g) => Ok(g.close().await?),
            Inner::Assigned(c) => {
                c.close().await;
                Ok(())
            }
        }
    }
}

/// A boxed listener forwarded to the group consumer.
struct BoxedListener(Box<dyn RebalanceListener>);

impl RebalanceListener for BoxedListener {
    fn on_partitions_revoked<'a>(
        &'a mut self,
        consumer: &'a mut GroupConsumer,
        partitions: &'a [TopicPartition],
    ) -> sluice_group::ListenerFuture<'a> {
        self.0.on_partitions_revoked(consumer, partitions)
    }

    fn on_partitions_lost<'a>(
        &'a mut self,
        consumer: &'a mut GroupConsumer,
        partitions: &'a [TopicPartition],
    ) -> sluice_group::ListenerFuture<'a> {
        self.0.on_partitions_lost(consumer, partitions)
    }

    fn on_partitions_assigned<'a>(
        &'a mut self,
        consumer: &'a mut GroupConsumer,
        partitions: &'a [TopicPartition],
    ) -> sluice_group::ListenerFuture<'a> {
        self.0.on_partitions_assigned(consumer, partitions)
    }
}

/// What a [`RecordStream`] polls with (it owns the consumer meanwhile).
type PollFuture<'a> =
    Pin<Box<dyn Future<Output = (&'a mut Consumer, Result<Vec<ConsumerRecord>>)> + Send + 'a>>;

/// The records of a [`Consumer`] one at a time: see [`Consumer::stream`].
pub struct RecordStream<'a> {
    /// The consumer, when no poll is in flight.
    consumer: Option<&'a mut Consumer>,
    /// Records of the last poll not yielded yet.
    buffered: VecDeque<ConsumerRecord>,
    polling: Option<PollFuture<'a>>,
    failed: bool,
}

impl std::fmt::Debug for RecordStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStream")
            .field("buffered", &self.buffered.len())
            .field("polling", &self.polling.is_some())
            .finish_non_exhaustive()
    }
}

impl Stream for RecordStream<'_> {
    type Item = Result<ConsumerRecord>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.failed {
                return Poll::Ready(None);
            }
            if let Some(r) = this.buffered.pop_front() {
                return Poll::Ready(Some(Ok(r)));
            }
            if this.polling.is_none() {
                let consumer = this.consumer.take().expect("a consumer when not polling");
                this.polling = Some(Box::pin(async move {
                    let result = consumer.poll(Duration::from_millis(500)).await;
                    (consumer, result)
                }));
            }
            let polling = this.polling.as_mut().expect("just set");
            let (consumer, result) = std::task::ready!(polling.as_mut().poll(cx));
            this.polling = None;
            this.consumer = Some(consumer);
            match result {
                Ok(records) => this.buffered.extend(records),
                Err(e) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl Drop for RecordStream<'_> {
    fn drop(&mut self) {
        // A poll in flight is dropped (cancel-safe: it returned nothing); the
        // records of the last poll not yielded go back to the consumer.
        if let Some(consumer) = self.consumer.take() {
            if !self.buffered.is_empty() {
                consumer.give_back(&self.buffered);
            }
        }
    }
}
