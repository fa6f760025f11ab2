//! The tokio driver of [`Membership`]: a task that owns the connection to
//! the group coordinator, sends what the state machine asks for, feeds the
//! answers back, heartbeats while the application works, and runs offset
//! commits and lookups for the consumer.
//!
//! The coordinator gets a connection of its own, as in the Java client and
//! librdkafka: brokers answer one request per connection at a time, so a
//! JoinGroup held for a whole rebalance (or a Fetch held for its max wait)
//! must not queue heartbeats and commits behind it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsResponse, FindCoordinatorResponse, GroupId, HeartbeatResponse,
    JoinGroupResponse, MetadataResponse, OffsetCommitResponse, OffsetFetchResponse,
    SyncGroupResponse,
};
use kafka_protocol::protocol::{Request, StrBytes};
use sluice_fetch::TopicPartition;
use sluice_fetch::cluster::{BrokerAddr, Cluster};
use sluice_fetch::pool::BrokerPool;
use sluice_wire::{ErrorAction, KafkaCode};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::GroupError;
use crate::membership::{Action, RequestKind};
use crate::metrics::describe_metrics;
use crate::offsets::{self, OffsetAndMetadata, Offsets};
use crate::stats::{CommitReply, GroupStats};

mod fit;
mod kip848;
mod pattern;

use kip848::Kip848Net;
pub(crate) use kip848::Machine;
pub(crate) use pattern::check_pattern;

type Result<T, E = GroupError> = std::result::Result<T, E>;

/// Committed offsets by partition (`None`: nothing committed).
pub type Committed = BTreeMap<TopicPartition, Option<OffsetAndMetadata>>;

/// What the consumer asks of the coordinator task.
pub(crate) enum Command {
    /// The application entered a poll (it counts as polling until `Polled`).
    PollStarted(Instant),
    /// A poll returned or was dropped (resets the max.poll.interval.ms clock).
    Polled(Instant),
    /// Subscribe to these topics.
    Subscribe(Vec<String>),
    /// Subscribe to the topics matching this pattern (validated); under the
    /// classic protocol matched against every topic's metadata this often.
    SubscribePattern(String, Duration),
    /// The subscribed topics' partition counts per the consumer's metadata.
    PartitionCounts(BTreeMap<String, usize>),
    /// The consumer finished revoking the partitions it was told to.
    RevokeDone,
    /// The consumer finished taking on assigned partitions (positions and
    /// listener): the consumer protocol acknowledges them.
    AssignDone,
    /// Commit offsets.
    Commit(Offsets, oneshot::Sender<Result<()>>),
    /// Look committed offsets up.
    Committed(Vec<TopicPartition>, oneshot::Sender<Result<Committed>>),
    /// Describe the group (members and their assignments).
    Describe(oneshot::Sender<Result<DescribeGroupsResponse>>),
    /// Leave the group and stop.
    Close(oneshot::Sender<()>),
}

/// What the coordinator task tells the consumer.
#[derive(Debug)]
pub(crate) enum GroupEvent {
    /// Stop consuming these partitions, then send [`Command::RevokeDone`].
    Revoke(Vec<TopicPartition>),
    /// Start consuming these partitions (besides those already assigned:
    /// cooperative and consumer-protocol assignments add up), then send
    /// [`Command::AssignDone`].
    Assign(Vec<TopicPartition>),
    /// These partitions are lost: drop them, commit nothing (no answer).
    Lose(Vec<TopicPartition>),
    /// The group failed for good.
    Failed(GroupError),
}

/// A commit or lookup waiting for the coordinator, retried on retriable
/// errors until its deadline.
struct Job<T> {
    work: T,
    not_before: Instant,
    deadline: Instant,
}

struct CommitWork {
    offsets: Offsets,
    reply: CommitReply,
}

struct LookupWork {
    tps: Vec<TopicPartition>,
    reply: oneshot::Sender<Result<Committed>>,
}

enum Net {
    FindCoordinator(Result<FindCoordinatorResponse>),
    Join(Result<JoinGroupResponse>),
    Counts(Result<MetadataResponse>),
    Sync(Result<SyncGroupResponse>),
    Heartbeat(Result<HeartbeatResponse>),
    Left,
    /// A commit's answer, with the generation it was sent in.
    Commit(Job<CommitWork>, i32, Result<OffsetCommitResponse>),
    Lookup(Job<LookupWork>, Result<OffsetFetchResponse>),
    Kip848(Kip848Net),
    PatternTopics(Result<MetadataResponse>),
}

/// The coordinator task's state.
pub(crate) struct Coordinator {
    membership: Machine,
    /// The client's pool: bootstrap connection for FindCoordinator and Metadata.
    pool: Arc<BrokerPool>,
    /// The coordinator's own connection.
    coordinator_pool: Arc<BrokerPool>,
    /// JoinGroup and SyncGroup get connections of their own: the coordinator
    /// holds them until the group forms (a broker answers a connection's
    /// requests in order), and a commit or lookup queued behind one would
    /// wait that long, time out and take the join down with its connection.
    rebalance_pool: Arc<BrokerPool>,
    events: mpsc::UnboundedSender<GroupEvent>,
    net_tx: mpsc::UnboundedSender<Net>,
    net_rx: mpsc::UnboundedReceiver<Net>,
    commits: VecDeque<Job<CommitWork>>,
    lookups: VecDeque<Job<LookupWork>>,
    closing: Option<oneshot::Sender<()>>,
    retry_backoff: Duration,
    request_timeout: Duration,
    rebalance_timeout: Duration,
    instance_id: Option<String>,
    /// Commit and rebalance counters, shared with the consumer.
    stats: Arc<GroupStats>,
    /// When the rebalance under way sent its first JoinGroup.
    rebalance_started: Option<Instant>,
    /// A pattern subscription under the classic protocol.
    pattern: Option<pattern::PatternWatch>,
}

impl Coordinator {
    /// Starts the task; commands go in through the returned sender, events
    /// come out of `events`.
    pub(crate) fn spawn(
        membership: Machine,
        pool: Arc<BrokerPool>,
        events: mpsc::UnboundedSender<GroupEvent>,
        retry_backoff: Duration,
        rebalance_timeout: Duration,
        instance_id: Option<String>,
        stats: Arc<GroupStats>,
    ) -> (mpsc::UnboundedSender<Command>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (net_tx, net_rx) = mpsc::unbounded_channel();
        let coordinator_pool = BrokerPool::new(Vec::new(), pool.config().clone());
        let rebalance_pool = BrokerPool::new(Vec::new(), pool.config().clone());
        let request_timeout = pool.config().request_timeout;
        let task = Coordinator {
            membership,
            pool,
            coordinator_pool,
            rebalance_pool,
            events,
            net_tx,
            net_rx,
            commits: VecDeque::new(),
            lookups: VecDeque::new(),
            closing: None,
            retry_backoff,
            request_timeout,
            rebalance_timeout,
            instance_id,
            stats,
            rebalance_started: None,
            pattern: None,
        };
        (tx, tokio::spawn(task.run(rx)))
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let now = Instant::now();
            self.dispatch_jobs(now);
            self.refresh_pattern(now);
            self.flush_actions(now);
            if let Some(error) = self.membership.take_error() {
                self.fail_jobs(&error.to_string());
                let _ = self.events.send(GroupEvent::Failed(error));
            }
            let wake = [
                self.membership.poll_timeout().map(Instant::from_std),
                self.next_job_time(),
                self.pattern_due(),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(3600));
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Close(reply)) => {
                        if self.close(reply) {
                            break;
                        }
                    }
                    Some(command) => self.command(command),
                    // The consumer is gone without closing: leave quietly.
                    None => {
                        self.membership.close();
                        self.flush_actions(now);
                        return;
                    }
                },
                net = self.net_rx.recv() => {
                    if let Some(net) = net {
                        if self.on_net(net) {
                            break;
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
        self.coordinator_pool.close().await;
        self.rebalance_pool.close().await;
    }

    /// Leaves the group; `true` when there is nothing to wait for.
    fn close(&mut self, reply: oneshot::Sender<()>) -> bool {
        self.membership.close();
        self.fail_jobs("the consumer is closing");
        let mut leaving = false;
        while let Some(action) = self.membership.poll_action(Instant::now().into_std()) {
            leaving |= action.is_leave();
            self.run_action(action);
        }
        if leaving {
            self.closing = Some(reply);
            false
        } else {
            let _ = reply.send(());
            true
        }
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::PollStarted(at) => self.membership.on_poll_started(at.into_std()),
            Command::Polled(at) => self.membership.on_poll(at.into_std()),
            Command::Subscribe(topics) => {
                self.pattern = None;
                self.membership.subscribe(topics)
            }
            Command::SubscribePattern(p, every) => match &mut self.membership {
                Machine::Classic(_) => match pattern::PatternWatch::new(&p, every) {
                    Ok(watch) => self.pattern = Some(watch),
                    Err(e) => tracing::error!(error = %e, "subscription pattern refused"),
                },
                Machine::Consumer(_) => self.membership.subscribe_pattern(p),
            },
            Command::PartitionCounts(counts) => self.membership.on_partition_counts(counts),
            Command::RevokeDone => self.membership.revoke_done(),
            Command::AssignDone => self.membership.assign_done(),
            Command::Commit(offsets, reply) => {
                if offsets.is_empty() {
                    let _ = reply.send(Ok(()));
                    return;
                }
                let reply = CommitReply::new(reply, self.stats.clone());
                self.commits.push_back(Job {
                    work: CommitWork { offsets, reply },
                    not_before: now,
                    deadline: now + self.request_timeout,
                })
            }
            Command::Committed(tps, reply) => self.lookups.push_back(Job {
                work: LookupWork { tps, reply },
                not_before: now,
                deadline: now + self.request_timeout,
            }),
            Command::Describe(reply) => {
                let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(
                    StrBytes::from_string(self.membership.group().to_string()),
                )]);
                let Some(addr) = self.membership.coordinator().cloned() else {
                    let _ = reply.send(Err(GroupError::State(
                        "the group coordinator is not known yet".into(),
                    )));
                    return;
                };
                let pool = self.coordinator_pool.clone();
                tokio::spawn(async move {
                    let _ = reply.send(send(&pool, &addr, move |_| request, None).await);
                });
            }
            Command::Close(_) => unreachable!("handled by run"),
        }
    }

    fn execute(&mut self, action: Action) {
        match action {
            Action::FindCoordinator(request) => {
                let pool = self.pool.clone();
                let tx = self.net_tx.clone();
                tokio::spawn(async move {
                    let result = async {
                        let conn = pool.least_loaded().await?;
                        let version = conn.versions().negotiate(ApiKey::FindCoordinator)?;
                        Ok(conn
                            .send_version(fit::find_coordinator(request, version), version)
                            .await?)
                    }
                    .await;
                    let _ = tx.send(Net::FindCoordinator(result));
                });
            }
            Action::Join(request) => {
                self.rebalance_started.get_or_insert_with(Instant::now);
                // The broker holds JoinGroup until the group forms: up to the rebalance timeout.
                self.to_coordinator_while_group_forms(move |v| fit::join(request, v), Net::Join);
            }
            Action::NeedPartitionCounts(topics) => {
                let pool = self.pool.clone();
                let tx = self.net_tx.clone();
                let request = Cluster::request_for(Some(topics.iter().map(String::as_str)));
                tokio::spawn(async move {
                    let result =
                        async { Ok(pool.least_loaded().await?.send(request).await?) }.await;
                    let _ = tx.send(Net::Counts(result));
                });
            }
            Action::Sync(request) => {
                // A follower's SyncGroup waits for the leader's assignment.
                self.to_coordinator_while_group_forms(move |v| fit::sync(request, v), Net::Sync)
            }
            Action::Heartbeat(request) => {
                self.to_coordinator(move |_| request, None, Net::Heartbeat)
            }
            Action::Leave(request) => {
                let timeout = self.request_timeout.min(Duration::from_secs(5));
                self.to_coordinator(
                    move |v| fit::leave(request, v),
                    Some(timeout),
                    |_| Net::Left,
                );
            }
            Action::Revoke(tps) => {
                self.stats.rebalance.revoking(tps.len());
                if self.events.send(GroupEvent::Revoke(tps)).is_err() {
                    self.membership.revoke_done();
                }
            }
            Action::Lose(tps) => {
                self.stats.rebalance.lost(tps.len());
                let _ = self.events.send(GroupEvent::Lose(tps));
            }
            Action::Assign(tps) => {
                let took = self.rebalance_started.take().map(|s| s.elapsed());
                if let Some(took) = took {
                    self.stats.rebalanced(took);
                }
                self.stats.generation.set(self.membership.generation());
                let m = &self.membership;
                self.stats.rebalance.finished(
                    m.group(),
                    m.rebalance_protocol(),
                    m.generation().generation_id,
                    tps.len(),
                    took,
                );
                let _ = self.events.send(GroupEvent::Assign(tps));
                self.describe_for_stats();
            }
        }
    }

    /// Asks the coordinator to describe the group, for the member count in
    /// [`GroupStats`] (one request per rebalance; a broker that cannot
    /// describe groups leaves it unknown).
    fn describe_for_stats(&self) {
        let Some(addr) = self.membership.coordinator().cloned() else {
            return;
        };
        let group = self.membership.group().to_string();
        let request = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(group.clone()))]);
        let (pool, stats) = (self.coordinator_pool.clone(), self.stats.clone());
        tokio::spawn(async move {
            let described = send(&pool, &addr, move |_| request, None)
                .await
                .and_then(|r| describe_metrics(&group, &r, Vec::new(), BTreeMap::new()));
            match described {
                Ok(m) => stats.described(m.members.len()),
                Err(e) => tracing::debug!(error = %e, "describing the group for its stats failed"),
            }
        });
    }

    /// Sends a request to the coordinator on its own connection; the answer
    /// comes back through `wrap`.
    /// Carries out every action the membership has for `now`.
    fn flush_actions(&mut self, now: Instant) {
        while let Some(action) = self.membership.poll_action(now.into_std()) {
            self.run_action(action);
        }
    }

    /// Sends a JoinGroup or SyncGroup: over the rebalance connection, with
    /// time for the coordinator to hold it until the group forms.
    fn to_coordinator_while_group_forms<R>(
        &self,
        request: impl FnOnce(i16) -> R + Send + 'static,
        wrap: impl FnOnce(Result<R::Response>) -> Net + Send + 'static,
    ) where
        R: Request + Send + 'static,
        R::Response: Send,
    {
        let timeout = self.rebalance_timeout + Duration::from_secs(5);
        self.send_to_coordinator(self.rebalance_pool.clone(), request, Some(timeout), wrap);
    }

    fn to_coordinator<R>(
        &self,
        request: impl FnOnce(i16) -> R + Send + 'static,
        timeout: Option<Duration>,
        wrap: impl FnOnce(Result<R::Response>) -> Net + Send + 'static,
    ) where
        R: Request + Send + 'static,
        R::Response: Send,
    {
        self.send_to_coordinator(self.coordinator_pool.clone(), request, timeout, wrap);
    }

    /// Like [`Coordinator::to_coordinator`], over `pool`'s connection.
    fn send_to_coordinator<R>(
        &self,
        pool: Arc<BrokerPool>,
        request: impl FnOnce(i16) -> R + Send + 'static,
        timeout: Option<Duration>,
        wrap: impl FnOnce(Result<R::Response>) -> Net + Send + 'static,
    ) where
        R: Request + Send + 'static,
        R::Response: Send,
    {
        let tx = self.net_tx.clone();
        let Some(addr) = self.membership.coordinator().cloned() else {
            let _ = tx.send(wrap(Err(GroupError::State(
                "the group coordinator is not known".into(),
            ))));
            return;
        };
        tokio::spawn(async move {
            let _ = tx.send(wrap(send(&pool, &addr, request, timeout).await));
        });
    }

    /// Handles a network answer; `true` when the task should stop.
    fn on_net(&mut self, net: Net) -> bool {
        let now = Instant::now();
        let at = now.into_std();
        let m = &mut self.membership;
        match net {
            Net::FindCoordinator(Ok(r)) => m.on_find_coordinator(&r, at),
            Net::FindCoordinator(Err(e)) => {
                tracing::warn!(error = %e, "FindCoordinator failed");
                m.on_request_failed(RequestKind::FindCoordinator, at)
            }
            Net::Join(Ok(r)) => m.on_join(&r, at),
            Net::Join(Err(e)) => {
                tracing::warn!(error = %e, "JoinGroup failed");
                m.on_request_failed(RequestKind::Join, at)
            }
            Net::Counts(Ok(r)) => {
                let mut counts = BTreeMap::new();
                for t in &r.topics {
                    if let (0, Some(name)) = (t.error_code, t.name.as_ref()) {
                        counts.insert(name.0.to_string(), t.partitions.len() as i32);
                    }
                }
                m.assign(&counts)
            }
            Net::Counts(Err(e)) => {
                tracing::warn!(error = %e, "metadata for the assignment failed");
                m.on_assign_failed(at)
            }
            Net::Sync(Ok(r)) => m.on_sync(&r, at),
            Net::Sync(Err(e)) => {
                tracing::warn!(error = %e, "SyncGroup failed");
                m.on_request_failed(RequestKind::Sync, at)
            }
            Net::Heartbeat(Ok(r)) => m.on_heartbeat(&r, at),
            Net::Heartbeat(Err(e)) => {
                tracing::warn!(error = %e, "Heartbeat failed");
                m.on_request_failed(RequestKind::Heartbeat, at)
            }
            Net::Left => {
                if let Some(reply) = self.closing.take() {
                    let _ = reply.send(());
                    return true;
                }
            }
            Net::Commit(job, sent, result) => self.on_commit(job, sent, result, now),
            Net::Lookup(job, result) => self.on_lookup(job, result, now),
            Net::Kip848(net) => self.on_kip848(net),
            Net::PatternTopics(result) => self.on_pattern_topics(result),
        }
        false
    }

    fn on_commit(
        &mut self,
        mut job: Job<CommitWork>,
        sent: i32,
        result: Result<OffsetCommitResponse>,
        now: Instant,
    ) {
        let group = self.membership.group().to_string();
        let failed = match result {
            Ok(response) => offsets::commit_failures(&job.work.offsets, &response),
            Err(e) => {
                if e.is_retriable() && now < job.deadline {
                    self.membership.coordinator_dead();
                    job.not_before = now + self.retry_backoff;
                    self.commits.push_back(job);
                } else {
                    let _ = job.work.reply.send(Err(e));
                }
                return;
            }
        };
        if failed.is_empty() {
            let _ = job.work.reply.send(Ok(()));
            return;
        }
        // A stale generation cannot be retried: the partitions may be someone
        // else's now. The member rejoins and the application hears of it.
        let retried = |c: KafkaCode| c.is_retriable() || self.membership.retries_commit(c);
        let stale = failed.iter().find(|(_, c)| {
            (c.action() == ErrorAction::Rejoin
                || *c == KafkaCode::REBALANCE_IN_PROGRESS
                || *c == KafkaCode::FENCED_INSTANCE_ID)
                && !retried(*c)
        });
        if let Some((_, code)) = stale {
            self.membership
                .on_commit_error_in(*code, sent, now.into_std());
            // The revoke reaches the consumer before the commit's error does.
            self.flush_actions(now);
        } else if failed.iter().all(|(_, c)| retried(*c)) && now < job.deadline {
            if failed
                .iter()
                .any(|(_, c)| c.action() == ErrorAction::FindCoordinator)
            {
                self.membership.coordinator_dead();
            }
            job.work
                .offsets
                .retain(|tp, _| failed.iter().any(|(f, _)| f == tp));
            job.not_before = now + self.retry_backoff;
            self.commits.push_back(job);
            return;
        }
        let _ = job
            .work
            .reply
            .send(Err(GroupError::Commit { group, failed }));
    }

    fn on_lookup(
        &mut self,
        mut job: Job<LookupWork>,
        result: Result<OffsetFetchResponse>,
        now: Instant,
    ) {
        let group = self.membership.group().to_string();
        let code = match result {
            Ok(response) => match offsets::parse_fetch(&group, &response) {
                Ok(found) => {
                    let _ = job.work.reply.send(Ok(found));
                    return;
                }
                Err(code) => code,
            },
            Err(e) if e.is_retriable() && now < job.deadline => {
                self.membership.coordinator_dead();
                job.not_before = now + self.retry_backoff;
                self.lookups.push_back(job);
                return;
            }
            Err(e) => {
                let _ = job.work.reply.send(Err(e));
                return;
            }
        };
        if code.is_retriable() && now < job.deadline {
            if code.action() == ErrorAction::FindCoordinator {
                self.membership.coordinator_dead();
            }
            job.not_before = now + self.retry_backoff;
            self.lookups.push_back(job);
        } else {
            let _ = job
                .work
                .reply
                .send(Err(GroupError::OffsetFetch { group, code }));
        }
    }

    /// Sends the commits and lookups that are due, once the coordinator is known.
    fn dispatch_jobs(&mut self, now: Instant) {
        for job in std::mem::take(&mut self.commits) {
            if now >= job.deadline {
                let _ = job.work.reply.send(Err(GroupError::State(format!(
                    "committing offsets of group {} timed out: no coordinator answered",
                    self.membership.group()
                ))));
            } else if job.not_before > now || self.membership.coordinator().is_none() {
                self.commits.push_back(job);
            } else {
                let request = offsets::commit_request(
                    self.membership.group(),
                    self.membership.generation(),
                    self.instance_id.as_deref(),
                    &job.work.offsets,
                );
                let sent = self.membership.generation().generation_id;
                let build = move |v| fit::commit(request, v);
                self.to_coordinator(build, None, move |r| Net::Commit(job, sent, r));
            }
        }
        for job in std::mem::take(&mut self.lookups) {
            if now >= job.deadline {
                let _ = job.work.reply.send(Err(GroupError::State(format!(
                    "fetching committed offsets of group {} timed out: no coordinator answered",
                    self.membership.group()
                ))));
            } else if job.not_before > now || self.membership.coordinator().is_none() {
                self.lookups.push_back(job);
            } else {
                let group = self.membership.group().to_string();
                let tps = job.work.tps.clone();
                let build = move |v| offsets::fetch_request(&group, &tps, true, v);
                self.to_coordinator(build, None, move |r| Net::Lookup(job, r));
            }
        }
    }

    fn next_job_time(&self) -> Option<Instant> {
        let commits = self.commits.iter().map(|j| j.not_before.min(j.deadline));
        let lookups = self.lookups.iter().map(|j| j.not_before.min(j.deadline));
        commits.chain(lookups).min()
    }

    fn fail_jobs(&mut self, why: &str) {
        for job in self.commits.drain(..) {
            let _ = job.work.reply.send(Err(GroupError::State(why.to_string())));
        }
        for job in self.lookups.drain(..) {
            let _ = job.work.reply.send(Err(GroupError::State(why.to_string())));
        }
    }
}

/// Sends one request to the coordinator at `addr` (negotiating the version),
/// with its own timeout when given.
async fn send<R: Request>(
    pool: &BrokerPool,
    addr: &BrokerAddr,
    build: impl FnOnce(i16) -> R,
    timeout: Option<Duration>,
) -> Result<R::Response> {
    let conn = pool.get(addr).await?;
    let api =
        ApiKey::try_from(R::KEY).map_err(|()| sluice_wire::WireError::UnknownApiKey(R::KEY))?;
    let version = conn.versions().negotiate(api)?;
    let timeout = timeout.unwrap_or(pool.config().request_timeout);
    Ok(conn
        .send_with_timeout(build(version), version, timeout)
        .await?)
}
