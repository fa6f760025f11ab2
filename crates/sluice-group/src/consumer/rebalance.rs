//! The rebalance steps [`GroupConsumer::poll`] runs (revoke: commit, listener,
//! tell the coordinator; assign: committed offsets, positions, listener),
//! kept as state in the consumer rather than in a poll future's locals: a
//! poll dropped at any await leaves the step where it was, and the next poll
//! carries it on. Nothing is lost and nothing is done twice, except a
//! listener callback whose future was dropped before it finished: it is
//! called again.
//!
//! With the cooperative protocol events come in a row (revoke what moved,
//! then assign what is new) and partitions not named are kept and fetched
//! throughout; a lost partition is dropped with no commit.

use std::sync::{Arc, Mutex};

use sluice_fetch::TopicPartition;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{CommitHandle, GroupConsumer, RebalanceListener, Result, gone};
use crate::coordinator::{Command, Committed, GroupEvent};
use crate::error::GroupError;

/// A rebalance step begun by an event and not finished yet.
pub(super) enum Step {
    /// Partitions being taken away; already dropped from the fetcher.
    Revoke {
        tps: Vec<TopicPartition>,
        /// The auto-commit of their consumed offsets, once sent.
        commit: Option<CommitHandle>,
        committed: bool,
        listener_done: bool,
        /// An assignment this revoke interrupted, carried on after it for the
        /// partitions it did not revoke (cooperative).
        then: Option<Box<Step>>,
    },
    /// Partitions lost (cooperative: fenced, session or poll interval
    /// expired); already dropped from the fetcher, nothing committed.
    Lose {
        tps: Vec<TopicPartition>,
        /// An assignment this loss interrupted, carried on after it.
        then: Option<Box<Step>>,
    },
    /// Partitions assigned by the group, waiting for their committed offsets
    /// and the listener.
    Assign {
        tps: Vec<TopicPartition>,
        /// The committed-offset lookup in flight.
        lookup: Option<oneshot::Receiver<Result<Committed>>>,
        /// When the lookup may be sent again after a failure.
        retry_at: Option<Instant>,
        /// The fetcher has the partitions at their committed offsets.
        positioned: bool,
    },
}

/// How far [`GroupConsumer::advance`] got before the poll's deadline.
pub(super) enum Advanced {
    /// The step is finished.
    Done,
    /// The deadline passed; the step waits for the next poll.
    TimedOut,
    /// An event came while waiting; it was begun (the step may be replaced).
    Event,
}

/// The rebalance listener, shared so that a callback's future dropped
/// mid-await puts it back (see [`ListenerSlot`]).
pub(super) type SharedListener = Arc<Mutex<Option<Box<dyn RebalanceListener>>>>;

/// Holds the listener while a callback runs and gives it back on drop, when
/// the callback finished or its future was dropped.
struct ListenerSlot {
    home: SharedListener,
    listener: Option<Box<dyn RebalanceListener>>,
}

impl Drop for ListenerSlot {
    fn drop(&mut self) {
        let mut home = self.home.lock().unwrap_or_else(|e| e.into_inner());
        if home.is_none() {
            *home = self.listener.take();
        }
    }
}

impl GroupConsumer {
    /// Starts what an event asks for. Synchronous, so nothing of it is lost
    /// when a poll is dropped: the rest is [`GroupConsumer::advance`]'s.
    pub(super) fn begin(&mut self, event: GroupEvent) -> Result<()> {
        match event {
            GroupEvent::Revoke(tps) => {
                // An assignment not finished yet is interrupted: its partitions
                // revoked now are dropped from it, the rest (cooperative) are
                // assigned after the revoke.
                let then = self.interrupted_assignment(&tps);
                self.drop_partitions(&tps);
                self.flow_stopped();
                self.step = Some(Step::Revoke {
                    tps,
                    commit: None,
                    committed: !self.config.enable_auto_commit,
                    listener_done: false,
                    then,
                });
                Ok(())
            }
            GroupEvent::Lose(tps) => {
                let then = self.interrupted_assignment(&tps);
                self.drop_partitions(&tps);
                self.flow_stopped();
                // Nothing of them is committed: they may be someone else's.
                self.consumed.retain(|tp, _| !tps.contains(tp));
                self.auto_committed.retain(|tp, _| !tps.contains(tp));
                self.step = Some(Step::Lose { tps, then });
                Ok(())
            }
            GroupEvent::Assign(mut tps) => {
                // A newer assignment replaces one whose offsets are still being
                // looked up; cooperative assignments add up, so its partitions
                // are looked up again with the new ones.
                if let Some(Step::Assign { tps: earlier, .. }) = self.step.take() {
                    for tp in earlier {
                        if !tps.contains(&tp) {
                            tps.push(tp);
                        }
                    }
                }
                self.step = Some(Step::Assign {
                    tps,
                    lookup: None,
                    retry_at: None,
                    positioned: false,
                });
                Ok(())
            }
            GroupEvent::Failed(e) => {
                tracing::error!(group = %self.config.group_id, error = %e, "the group failed: dropping every partition");
                self.step = None;
                self.fetch.assign(Vec::new());
                self.consumed.clear();
                self.auto_committed.clear();
                let again = copy_error(&e);
                self.fatal = Some(e);
                Err(again)
            }
        }
    }

    /// Stops fetching `tps`; records fetched for them and not returned are dropped.
    fn drop_partitions(&mut self, tps: &[TopicPartition]) {
        let keep: Vec<TopicPartition> = self
            .fetch
            .assignment()
            .into_iter()
            .filter(|tp| !tps.contains(tp))
            .collect();
        self.fetch.assign(keep);
    }

    /// Takes the step being replaced by a revoke or loss of `tps`: an
    /// assignment comes back without those partitions (`None` if nothing of
    /// it is left), to run after; nothing else can be under way.
    fn interrupted_assignment(&mut self, tps: &[TopicPartition]) -> Option<Box<Step>> {
        match self.step.take() {
            Some(Step::Assign {
                tps: mut assigned,
                positioned,
                ..
            }) => {
                assigned.retain(|tp| !tps.contains(tp));
                (!assigned.is_empty()).then(|| {
                    Box::new(Step::Assign {
                        tps: assigned,
                        lookup: None,
                        retry_at: None,
                        positioned,
                    })
                })
            }
            _ => None,
        }
    }

    /// Carries the current step on until it is done, `deadline` passes or
    /// (while an assignment waits for its offsets) an event comes. Every
    /// await here is cancel-safe: what was reached is in `self.step`.
    pub(super) async fn advance(&mut self, deadline: Instant) -> Result<Advanced> {
        loop {
            match &mut self.step {
                None => return Ok(Advanced::Done),
                Some(Step::Lose { tps, .. }) => {
                    let tps = tps.clone();
                    self.call_listener(Callback::Lost, &tps).await;
                    if let Some(Step::Lose { then, .. }) = self.step.take() {
                        self.step = then.map(|s| *s);
                    }
                    if self.step.is_none() {
                        return Ok(Advanced::Done);
                    }
                }
                Some(Step::Revoke {
                    tps,
                    commit,
                    committed,
                    listener_done,
                    ..
                }) => {
                    if !*committed {
                        if commit.is_none() {
                            let mut offsets = super::to_commit(&self.consumed, &self.fetch);
                            offsets.retain(|tp, _| tps.contains(tp));
                            *commit = Some(super::send_commit(&self.commands, offsets));
                        }
                        let handle = commit.as_mut().expect("just set");
                        match tokio::time::timeout_at(deadline, handle).await {
                            Err(_) => return Ok(Advanced::TimedOut),
                            Ok(result) => {
                                if let Err(e) = result {
                                    tracing::warn!(error = %e, "committing before revoking partitions failed");
                                }
                                *committed = true;
                                *commit = None;
                            }
                        }
                        continue;
                    }
                    if !*listener_done {
                        let tps = tps.clone();
                        self.call_listener(Callback::Revoked, &tps).await;
                        if let Some(Step::Revoke { listener_done, .. }) = &mut self.step {
                            *listener_done = true;
                        }
                        continue;
                    }
                    let tps = std::mem::take(tps);
                    self.consumed.retain(|tp, _| !tps.contains(tp));
                    self.auto_committed.retain(|tp, _| !tps.contains(tp));
                    if let Some(Step::Revoke { then, .. }) = self.step.take() {
                        self.step = then.map(|s| *s);
                    }
                    let _ = self.commands.send(Command::RevokeDone);
                    if self.step.is_none() {
                        return Ok(Advanced::Done);
                    }
                }
                Some(Step::Assign {
                    tps,
                    lookup,
                    retry_at,
                    positioned,
                }) => {
                    if *positioned {
                        let tps = tps.clone();
                        self.call_listener(Callback::Assigned, &tps).await;
                        self.step = None;
                        let _ = self.commands.send(Command::AssignDone);
                        return Ok(Advanced::Done);
                    }
                    if let Some(at) = retry_at.filter(|at| *at > Instant::now()) {
                        let wait = at.min(deadline);
                        tokio::select! {
                            biased;
                            event = self.events.recv() => {
                                self.begin(event.ok_or_else(gone)?)?;
                                return Ok(Advanced::Event);
                            }
                            _ = tokio::time::sleep_until(wait) => {}
                        }
                        if Instant::now() >= deadline {
                            return Ok(Advanced::TimedOut);
                        }
                        continue;
                    }
                    let rx = lookup.get_or_insert_with(|| {
                        let (tx, rx) = oneshot::channel();
                        let _ = self.commands.send(Command::Committed(tps.clone(), tx));
                        rx
                    });
                    let answer = tokio::select! {
                        biased;
                        event = self.events.recv() => {
                            self.begin(event.ok_or_else(gone)?)?;
                            return Ok(Advanced::Event);
                        }
                        answer = rx => answer.unwrap_or_else(|_| Err(gone())),
                        _ = tokio::time::sleep_until(deadline) => return Ok(Advanced::TimedOut),
                    };
                    *lookup = None;
                    match answer {
                        Ok(committed) => {
                            // Added to what is kept or already assigned (cooperative
                            // members and the consumer protocol assign incrementally;
                            // eager members revoked everything before).
                            let mut all = self.fetch.assignment();
                            let kept = !all.is_empty();
                            all.extend(
                                tps.iter()
                                    .filter(|tp| !all.contains(tp))
                                    .cloned()
                                    .collect::<Vec<_>>(),
                            );
                            self.fetch.assign(all);
                            for (tp, offset) in &committed {
                                if let Some(o) = offset {
                                    self.fetch.seek(tp, o.offset)?;
                                }
                            }
                            tracing::info!(group = %self.config.group_id, partitions = tps.len(), "partitions assigned");
                            *positioned = true;
                            self.flow_resumed(kept);
                        }
                        // The task is gone: nothing will answer again.
                        Err(e) if self.commands.is_closed() => return Err(e),
                        Err(e) => {
                            // Retried until it works or a newer event replaces the step.
                            *retry_at = Some(Instant::now() + self.config.retry_backoff);
                            let retriable = e.is_retriable() || matches!(e, GroupError::State(_));
                            tracing::warn!(error = %e, "looking committed offsets up failed; retrying");
                            if !retriable {
                                return Err(e);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs one of the listener's callbacks. A callback whose future is
    /// dropped is called again by the next poll.
    async fn call_listener(&mut self, callback: Callback, tps: &[TopicPartition]) {
        let taken = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(listener) = taken else {
            return;
        };
        let mut slot = ListenerSlot {
            home: self.listener.clone(),
            listener: Some(listener),
        };
        let listener = slot.listener.as_mut().expect("just set");
        match callback {
            Callback::Revoked => listener.on_partitions_revoked(self, tps).await,
            Callback::Assigned => listener.on_partitions_assigned(self, tps).await,
            Callback::Lost => listener.on_partitions_lost(self, tps).await,
        }
    }
}

/// Which listener callback to run.
#[derive(Debug, Clone, Copy)]
enum Callback {
    Revoked,
    Assigned,
    Lost,
}

/// The same error again, for every call after a fatal one.
pub(super) fn copy_error(e: &GroupError) -> GroupError {
    match e {
        GroupError::Coordinator { group, code } => GroupError::Coordinator {
            group: group.clone(),
            code: *code,
        },
        GroupError::Join { group, code } => GroupError::Join {
            group: group.clone(),
            code: *code,
        },
        GroupError::Sync { group, code } => GroupError::Sync {
            group: group.clone(),
            code: *code,
        },
        GroupError::Heartbeat { group, code } => GroupError::Heartbeat {
            group: group.clone(),
            code: *code,
        },
        GroupError::UnknownProtocol { group, protocol } => GroupError::UnknownProtocol {
            group: group.clone(),
            protocol: protocol.clone(),
        },
        GroupError::OffsetFetch { group, code } => GroupError::OffsetFetch {
            group: group.clone(),
            code: *code,
        },
        GroupError::FencedInstanceId { group, instance_id } => GroupError::FencedInstanceId {
            group: group.clone(),
            instance_id: instance_id.clone(),
        },
        GroupError::InvalidAssignment {
            group,
            assignor,
            partitions,
        } => GroupError::InvalidAssignment {
            group: group.clone(),
            assignor: assignor.clone(),
            partitions: partitions.clone(),
        },
        other => GroupError::State(format!("the group failed: {other}")),
    }
}
