//! The tokio driver around the sans-I/O [`Fetcher`] and [`Cluster`]: it owns
//! the connections and the clock, keeps one fetch in flight per leader while
//! the application works on what the last poll returned, refreshes metadata
//! when it is old or a leader moved, and looks offsets up.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataResponse,
};
use sluice_wire::connection::Connection;
use sluice_wire::{KafkaCode, WireError};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::TopicPartition;
use crate::backoff::Backoff;
use crate::cluster::Cluster;
use crate::config::FetchConfig;
use crate::error::{FetchError, Result};
use crate::fetcher::{Fetcher, Sink};
use crate::offsets::{self, ListedOffset, OffsetSpec};
use crate::polled::PolledBatch;
use crate::pool::BrokerPool;
use crate::record::ConsumerRecord;
use crate::stats::{FetchStats, FetchStatsSnapshot, PartitionStats};

enum Event {
    Metadata(Result<MetadataResponse>),
    Fetched {
        broker: i32,
        result: std::result::Result<FetchResponse, WireError>,
        latency: Duration,
    },
    Offsets {
        broker: i32,
        asked: Vec<(TopicPartition, OffsetSpec)>,
        result: Result<ListOffsetsResponse>,
    },
    Connected {
        broker: i32,
        result: Result<Connection>,
    },
}

/// Fetches assigned partitions from their leaders and hands records out.
pub struct FetchClient {
    pool: Arc<BrokerPool>,
    cluster: Cluster,
    fetcher: Fetcher,
    topics: BTreeSet<String>,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    metadata_in_flight: bool,
    connecting: BTreeSet<i32>,
    /// Brokers not to fetch from (or look offsets up at) yet: failures in a
    /// row back off exponentially, a throttle holds.
    brokers: Backoff<i32>,
    /// Partitions whose last offset lookup failed, waiting to ask again.
    lookups: Backoff<TopicPartition>,
    /// A security error met in the background (wrong credentials or TLS
    /// settings): the next poll returns it instead of retrying forever.
    fatal: Option<FetchError>,
    /// Counters for [`FetchClient::stats`], shared with the fetch tasks.
    stats: Arc<FetchStats>,
    /// When the last poll returned (for the time between polls).
    returned_at: Option<Instant>,
}

impl FetchClient {
    /// Connects to the cluster (`bootstrap.servers`) and loads its metadata.
    pub async fn connect(config: FetchConfig) -> Result<Self> {
        let pool = BrokerPool::new(config.bootstrap_servers.clone(), config.connection_config());
        Self::with_pool(config, pool).await
    }

    /// Like [`FetchClient::connect`], sharing an existing connection pool.
    pub async fn with_pool(config: FetchConfig, pool: Arc<BrokerPool>) -> Result<Self> {
        config.security.validate()?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let max = config.retry_backoff_max;
        let mut client = FetchClient {
            pool,
            cluster: Cluster::new(),
            fetcher: Fetcher::new(config),
            topics: BTreeSet::new(),
            events_tx,
            events_rx,
            metadata_in_flight: false,
            connecting: BTreeSet::new(),
            brokers: Backoff::new(max),
            lookups: Backoff::new(max),
            fatal: None,
            stats: Arc::default(),
            returned_at: None,
        };
        client.refresh_metadata().await?;
        Ok(client)
    }

    /// The shared connection pool.
    pub fn pool(&self) -> &Arc<BrokerPool> {
        &self.pool
    }

    /// The cluster as last seen.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The sans-I/O fetch state (positions, watermarks).
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The counters so far (records and bytes consumed, fetches and their
    /// latency, time between polls), with the position, high watermark and
    /// lag of each assigned partition. Cheap: atomics are copied, no request
    /// is made.
    pub fn stats(&self) -> FetchStatsSnapshot {
        let partitions = self
            .fetcher
            .assignment()
            .map(|tp| {
                let state = self.fetcher.state(tp);
                let position = self.fetcher.position(tp);
                let high_watermark = state.map(|s| s.high_watermark).filter(|&hw| hw >= 0);
                PartitionStats {
                    tp: tp.clone(),
                    position,
                    high_watermark,
                    lag: high_watermark.zip(position).map(|(hw, p)| (hw - p).max(0)),
                }
            })
            .collect();
        self.stats.snapshot(partitions)
    }

    /// Fetches metadata for the topics of interest now and waits for it.
    /// A connection that breaks before the answer is in (cut, reset) is
    /// replaced and asked again, until `request.timeout.ms` has passed.
    pub async fn refresh_metadata(&mut self) -> Result<()> {
        let request = Cluster::request_for(Some(self.topics.iter().map(String::as_str)));
        let config = self.fetcher.config();
        let deadline = Instant::now() + config.request_timeout;
        loop {
            let conn = self.pool.least_loaded().await?;
            match conn.send(request.clone()).await {
                Ok(response) => {
                    self.cluster.apply(&response, Instant::now().into_std());
                    self.pool.learn(self.cluster.brokers());
                    return Ok(());
                }
                // The answer was lost with the connection, not refused: ask again.
                Err(e) if conn.is_poisoned() && Instant::now() < deadline => {
                    tracing::warn!(error = %e, "metadata request lost with its connection; retrying");
                    tokio::time::sleep(config.retry_backoff).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The partitions of `topic`, loading its metadata if needed. An unknown
    /// topic is [`FetchError::UnknownTopic`].
    pub async fn partitions_for(&mut self, topic: &str) -> Result<Vec<TopicPartition>> {
        if self.topics.insert(topic.to_string()) || self.cluster.topic(topic).is_none() {
            self.refresh_metadata().await?;
        }
        self.cluster
            .partitions_of(topic)
            .ok_or_else(|| FetchError::UnknownTopic(topic.to_string()))
    }

    /// Adds `topics` to the topics whose metadata is kept (refreshed every
    /// `metadata.max.age.ms`), whether assigned or not: a group member
    /// watches its subscription this way. A new one is looked up at once.
    pub fn watch_topics(&mut self, topics: &[String]) {
        for topic in topics {
            if self.topics.insert(topic.clone()) {
                self.cluster.request_refresh_for_new_topic();
            }
        }
    }

    /// Replaces the assignment (see [`Fetcher::assign`]).
    pub fn assign(&mut self, tps: impl IntoIterator<Item = TopicPartition>) {
        let tps: Vec<TopicPartition> = tps.into_iter().collect();
        for tp in &tps {
            if self.topics.insert(tp.topic.to_string()) {
                self.cluster.request_refresh_for_new_topic();
            }
        }
        self.fetcher.assign(tps);
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.fetcher.assignment().cloned().collect()
    }

    /// Moves a partition to an offset.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.fetcher.seek(tp, offset)
    }

    /// Moves a partition to the earliest or latest offset, or the first at or after a timestamp.
    pub fn seek_to(&mut self, tp: &TopicPartition, spec: OffsetSpec) -> Result<()> {
        self.fetcher.seek_to(tp, spec)
    }

    /// Pauses a partition.
    pub fn pause(&mut self, tp: &TopicPartition) -> Result<()> {
        self.fetcher.pause(tp)
    }

    /// Resumes a partition.
    pub fn resume(&mut self, tp: &TopicPartition) -> Result<()> {
        self.fetcher.resume(tp)
    }

    /// The next offset a poll returns for `tp`, once known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.fetcher.position(tp)
    }

    /// Looks offsets up now, from each partition's leader, and waits for them.
    pub async fn list_offsets(
        &mut self,
        tps: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<HashMap<TopicPartition, ListedOffset>> {
        let mut by_leader: HashMap<i32, Vec<(TopicPartition, OffsetSpec, i32)>> = HashMap::new();
        for tp in tps {
            if self.cluster.leader(tp).is_none() {
                self.topics.insert(tp.topic.to_string());
                self.refresh_metadata().await?;
            }
            let (leader, epoch) = self
                .cluster
                .leader(tp)
                .ok_or_else(|| FetchError::Partition {
                    api: "ListOffsets",
                    tp: tp.clone(),
                    code: KafkaCode::LEADER_NOT_AVAILABLE,
                })?;
            by_leader
                .entry(leader)
                .or_default()
                .push((tp.clone(), spec, epoch));
        }
        let mut out = HashMap::new();
        for (leader, parts) in by_leader {
            let conn = self.connection(leader).await?;
            let response = conn
                .send(offsets::request(
                    &parts,
                    self.fetcher.config().isolation_level,
                ))
                .await?;
            for (tp, result) in offsets::parse(&response) {
                let listed = result.map_err(|code| FetchError::Partition {
                    api: "ListOffsets",
                    tp: tp.clone(),
                    code,
                })?;
                out.insert(tp, listed);
            }
        }
        Ok(out)
    }

    async fn connection(&self, broker: i32) -> Result<Connection> {
        let addr = self
            .cluster
            .broker(broker)
            .cloned()
            .ok_or(FetchError::Broker {
                api: "Metadata",
                broker,
                code: KafkaCode::BROKER_NOT_AVAILABLE,
            })?;
        self.pool.get(&addr).await
    }

    /// Returns the next records (at most `max.poll.records`), waiting up to
    /// `timeout` for some to arrive; an empty vector means none came in time.
    /// Before returning, the next fetches are already sent, so they are in
    /// flight while the application works.
    ///
    /// Cancel-safe: dropped before it returns, it has returned no record;
    /// all it loses is that poll's count in [`FetchClient::stats`].
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let mut records = Vec::new();
        self.poll_counted(timeout, &mut records).await?;
        Ok(records)
    }

    /// [`FetchClient::poll`]'s records as a [`PolledBatch`]: views of the
    /// fetched buffers, with no reference count or allocation per record;
    /// the same records, positions and errors, poll for poll.
    ///
    /// Cancel-safe in the same way: records are taken from the buffered
    /// fetches only when the call is about to return, with no await in
    /// between, so a future dropped before it returns has taken none; they
    /// stay buffered for the next poll.
    pub async fn poll_batch(&mut self, timeout: Duration) -> Result<PolledBatch> {
        let mut batch = PolledBatch::new();
        self.poll_counted(timeout, &mut batch).await?;
        Ok(batch)
    }

    /// [`FetchClient::poll_batch`] into `batch`, emptied first and keeping
    /// its allocations, so a poll loop that hands its last batch back
    /// allocates nothing per poll. Cancel-safe as `poll_batch`: dropped
    /// before it returns, it has taken no record, and `batch` is empty (or
    /// untouched, if the future was never polled).
    pub async fn poll_batch_into(
        &mut self,
        timeout: Duration,
        batch: &mut PolledBatch,
    ) -> Result<()> {
        batch.clear();
        self.poll_counted(timeout, batch).await
    }

    /// A poll into `out` (empty on entry), counted in the stats.
    async fn poll_counted(&mut self, timeout: Duration, out: &mut impl Sink) -> Result<()> {
        if let Some(at) = self.returned_at.take() {
            self.stats.poll_interval(at.elapsed());
        }
        let result = self.poll_records(timeout, out).await;
        self.returned_at = Some(Instant::now());
        self.stats.polled(out.len());
        result
    }

    /// The poll loop: `out` is filled by one synchronous
    /// [`Fetcher::poll_into`] just before returning (never across an
    /// await), which is what makes every poll cancel-safe.
    async fn poll_records(&mut self, timeout: Duration, out: &mut impl Sink) -> Result<()> {
        let deadline = deadline_after(timeout);
        loop {
            while let Ok(event) = self.events_rx.try_recv() {
                self.handle(event);
            }
            if let Some(e) = self.fatal.take() {
                return Err(e);
            }
            self.drive();
            self.fetcher.poll_into(out)?;
            if out.len() > 0 {
                self.drive();
                return Ok(());
            }
            let wake = self.next_wake().map_or(deadline, |w| w.min(deadline));
            match tokio::time::timeout_at(wake, self.events_rx.recv()).await {
                Ok(Some(event)) => {
                    self.handle(event);
                    if let Some(e) = self.fatal.take() {
                        return Err(e);
                    }
                }
                Ok(None) => unreachable!("the client holds a sender"),
                Err(_) if Instant::now() >= deadline => return Ok(()),
                Err(_) => {}
            }
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let config = self.fetcher.config();
        let metadata = self
            .cluster
            .next_refresh(config.metadata_max_age, config.retry_backoff)
            .map(Instant::from_std);
        let now = Instant::now().into_std();
        let brokers = self.brokers.next_wake(now).map(Instant::from_std);
        let lookups = self.lookups.next_wake(now).map(Instant::from_std);
        [metadata, brokers, lookups].into_iter().flatten().min()
    }

    /// Starts whatever network work is due: metadata, offset lookups, fetches.
    fn drive(&mut self) {
        let now = Instant::now();
        let config = self.fetcher.config().clone();
        if !self.metadata_in_flight
            && self.cluster.needs_refresh(
                now.into_std(),
                config.metadata_max_age,
                config.retry_backoff,
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
        self.start_offset_lookups();
        for broker in self.fetcher.fetch_targets(&self.cluster) {
            if self.brokers.waiting(&broker, now.into_std()) || self.connecting.contains(&broker) {
                continue;
            }
            let Some(conn) = self.pool.cached(broker) else {
                self.start_connect(broker);
                continue;
            };
            let version = match conn
                .versions()
                .negotiate(kafka_protocol::messages::ApiKey::Fetch)
            {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(broker, error = %e, "cannot fetch from broker");
                    self.brokers
                        .hold(broker, (now + Duration::from_secs(1)).into_std());
                    continue;
                }
            };
            let Some(request) = self.fetcher.build_fetch(broker, version, &self.cluster) else {
                continue;
            };
            self.send_fetch(broker, conn, request, version);
        }
    }

    fn send_fetch(&self, broker: i32, conn: Connection, request: FetchRequest, version: i16) {
        let tx = self.events_tx.clone();
        self.stats.fetch_sent();
        tokio::spawn(async move {
            let sent = Instant::now();
            let result = conn.send_version(request, version).await;
            let latency = sent.elapsed();
            let _ = tx.send(Event::Fetched {
                broker,
                result,
                latency,
            });
        });
    }

    fn start_connect(&mut self, broker: i32) {
        let Some(addr) = self.cluster.broker(broker).cloned() else {
            self.cluster.request_refresh();
            return;
        };
        self.connecting.insert(broker);
        let pool = self.pool.clone();
        let tx = self.events_tx.clone();
        tokio::spawn(async move {
            let result = pool.get(&addr).await;
            let _ = tx.send(Event::Connected { broker, result });
        });
    }

    fn start_offset_lookups(&mut self) {
        let lookups = self.fetcher.offset_lookups();
        if lookups.is_empty() {
            return;
        }
        let mut by_leader: HashMap<i32, Vec<(TopicPartition, OffsetSpec, i32)>> = HashMap::new();
        let mut leaderless = Vec::new();
        let mut waiting = Vec::new();
        let now = Instant::now().into_std();
        for (tp, spec) in lookups {
            match self.cluster.leader(&tp) {
                Some((leader, epoch)) if self.cluster.broker(leader).is_some() => {
                    if self.brokers.waiting(&leader, now) || self.lookups.waiting(&tp, now) {
                        waiting.push(tp);
                    } else {
                        by_leader.entry(leader).or_default().push((tp, spec, epoch));
                    }
                }
                _ => leaderless.push(tp),
            }
        }
        self.fetcher.on_offset_lookup_failed(&waiting);
        if !leaderless.is_empty() {
            self.fetcher.on_offset_lookup_failed(&leaderless);
            self.cluster.request_refresh();
        }
        let isolation = self.fetcher.config().isolation_level;
        for (broker, parts) in by_leader {
            let Some(addr) = self.cluster.broker(broker).cloned() else {
                continue;
            };
            let request: ListOffsetsRequest = offsets::request(&parts, isolation);
            let asked = parts.into_iter().map(|(tp, spec, _)| (tp, spec)).collect();
            let pool = self.pool.clone();
            let tx = self.events_tx.clone();
            tokio::spawn(async move {
                let result = async { Ok(pool.get(&addr).await?.send(request).await?) }.await;
                let _ = tx.send(Event::Offsets {
                    broker,
                    asked,
                    result,
                });
            });
        }
    }

    fn handle(&mut self, event: Event) {
        let now = Instant::now().into_std();
        let config = self.fetcher.config();
        let reconnect = config.reconnect_backoff.max(Duration::from_millis(10));
        let retry = config.retry_backoff;
        match event {
            Event::Metadata(result) => {
                self.metadata_in_flight = false;
                match result {
                    Ok(response) => {
                        let update = self.cluster.apply(&response, now);
                        self.pool.learn(self.cluster.brokers());
                        for (topic, code) in update.topic_errors {
                            tracing::warn!(%topic, %code, "metadata error for topic");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "metadata refresh failed");
                        self.cluster.request_refresh();
                        self.surface(e);
                    }
                }
            }
            Event::Connected { broker, result } => {
                self.connecting.remove(&broker);
                if let Err(e) = result {
                    tracing::warn!(broker, error = %e, "cannot connect to broker");
                    self.brokers.failed(broker, reconnect, now);
                    self.cluster.request_refresh();
                    self.surface(e);
                }
            }
            Event::Fetched {
                broker,
                result,
                latency,
            } => match result {
                Ok(response) => {
                    let buffered = self.fetcher.buffered_bytes();
                    let outcome = self.fetcher.on_fetch_response(broker, &response);
                    let added = self.fetcher.buffered_bytes().saturating_sub(buffered);
                    self.stats.fetch_answered(latency, added);
                    if outcome.refresh_metadata {
                        self.cluster.request_refresh();
                        // A partition error (leader moved, epoch behind): wait retry.backoff.ms,
                        // doubling while it goes on, before fetching from this broker again, or
                        // a leader that metadata still names is asked again at once, thousands
                        // of times a second.
                        self.brokers.failed(broker, retry, now);
                    } else {
                        self.brokers.succeeded(&broker, now);
                    }
                    // KIP-219: nothing more to a broker until its throttle time has passed.
                    let throttle = u64::try_from(response.throttle_time_ms).unwrap_or(0);
                    if throttle > 0 {
                        self.brokers
                            .hold(broker, now + Duration::from_millis(throttle));
                    }
                }
                Err(e) => {
                    self.stats.fetch_failed(latency);
                    tracing::warn!(broker, error = %e, "fetch failed");
                    self.fetcher.on_fetch_failed(broker);
                    self.brokers.failed(broker, reconnect, now);
                    self.cluster.request_refresh();
                    self.surface(FetchError::Wire(e));
                }
            },
            Event::Offsets {
                broker,
                asked,
                result,
            } => match result {
                Ok(response) => {
                    let answers = offsets::parse(&response);
                    for (tp, spec) in &asked {
                        let answer = answers
                            .iter()
                            .find(|(t, _)| t == tp)
                            .map_or(Err(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION), |(_, r)| *r);
                        // A partition whose lookup failed (OFFSET_NOT_AVAILABLE, leader moved)
                        // asks again after retry.backoff.ms, doubling while it goes on.
                        match answer {
                            Ok(_) => self.lookups.succeeded(tp, now),
                            Err(_) => {
                                self.lookups.failed(tp.clone(), retry, now);
                            }
                        }
                        if self.fetcher.on_offset_lookup(tp, *spec, answer) {
                            self.cluster.request_refresh();
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(broker, error = %e, "offset lookup failed");
                    let tps: Vec<TopicPartition> = asked.into_iter().map(|(tp, _)| tp).collect();
                    for tp in &tps {
                        self.lookups.failed(tp.clone(), retry, now);
                    }
                    self.fetcher.on_offset_lookup_failed(&tps);
                    self.brokers.failed(broker, reconnect, now);
                    self.cluster.request_refresh();
                    self.surface(e);
                }
            },
        }
    }

    /// Keeps a security error for the next poll to return (the first one
    /// wins); other background errors are retried as they were.
    fn surface(&mut self, e: FetchError) {
        if e.is_security() && self.fatal.is_none() {
            self.fatal = Some(e);
        }
    }

    /// Closes every connection.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// `now + timeout`, for any timeout: `Duration::MAX` (no limit) and other
/// sums past the clock's range become a deadline decades away instead of a
/// panic.
pub fn deadline_after(timeout: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    let now = Instant::now();
    now.checked_add(timeout.min(FAR))
        .unwrap_or_else(|| now + Duration::from_secs(86_400))
}
