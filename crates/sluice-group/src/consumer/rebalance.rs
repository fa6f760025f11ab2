//! The rebalance steps [`GroupConsumer::poll`] runs (revoke: commit, listener,
//! tell the coordinator; assign: committed offsets, positions, listener),
//! kept as state in the consumer rather than in a poll future's locals: a
//! poll dropped at any await leaves the step where it was, and the next poll
//! carries it on. Nothing is lost and nothing is done twice, except a
//! listener callback whose future was dropped before it finished: it is
//! called again.

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
                // An assignment not finished yet is replaced: its partitions are revoked too.
                self.step = None;
                let keep: Vec<TopicPartition> = self
                    .fetch
                    .assignment()
                    .into_iter()
                    .filter(|tp| !tps.contains(tp))
                    .collect();
                // Records fetched for revoked partitions and not returned are dropped.
                self.fetch.assign(keep);
                self.step = Some(Step::Revoke {
                    tps,
                    commit: None,
                    committed: !self.config.enable_auto_commit,
                    listener_done: false,
                });
                Ok(())
            }
            GroupEvent::Lost(tps) => {
                // As a revocation, without the commit: the partitions are
                // someone else's already, and so are their offsets.
                self.begin(GroupEvent::Revoke(tps))?;
                if let Some(Step::Revoke { committed, .. }) = &mut self.step {
                    *committed = true;
                }
                Ok(())
            }
            GroupEvent::Assign(tps) => {
                // A newer assignment replaces one whose offsets are still being looked up.
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

    /// Carries the current step on until it is done, `deadline` passes or
    /// (while an assignment waits for its offsets) an event comes. Every
    /// await here is cancel-safe: what was reached is in `self.step`.
    pub(super) async fn advance(&mut self, deadline: Instant) -> Result<Advanced> {
        loop {
            match &mut self.step {
                None => return Ok(Advanced::Done),
                Some(Step::Revoke {
                    tps,
                    commit,
                    committed,
                    listener_done,
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
                        self.call_listener(true, &tps).await;
                        if let Some(Step::Revoke { listener_done, .. }) = &mut self.step {
                            *listener_done = true;
                        }
                        continue;
                    }
                    let tps = std::mem::take(tps);
                    self.consumed.retain(|tp, _| !tps.contains(tp));
                    self.auto_committed.retain(|tp, _| !tps.contains(tp));
                    self.step = None;
                    let _ = self.commands.send(Command::RevokeDone);
                    return Ok(Advanced::Done);
                }
                Some(Step::Assign {
                    tps,
                    lookup,
                    retry_at,
                    positioned,
                }) => {
                    if *positioned {
                        let tps = tps.clone();
                        self.call_listener(false, &tps).await;
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
                            // Added to what is assigned (the consumer protocol
                            // assigns incrementally; an eager revoke left nothing).
                            let mut all = self.fetch.assignment();
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

    /// Runs the listener's callback (`revoked`, else assigned). A callback
    /// whose future is dropped is called again by the next poll.
    async fn call_listener(&mut self, revoked: bool, tps: &[TopicPartition]) {
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
        if revoked {
            listener.on_partitions_revoked(self, tps).await;
        } else {
            listener.on_partitions_assigned(self, tps).await;
        }
    }
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
        other => GroupError::State(format!("the group failed: {other}")),
    }
}
