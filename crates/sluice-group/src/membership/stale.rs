//! Answers that belong to a generation the member has already left (the
//! Java client's `generationUnchanged` checks): a heartbeat or commit sent
//! in generation N and answered ILLEGAL_GENERATION after the member joined
//! N+1 says nothing about N+1, and REBALANCE_IN_PROGRESS while the member is
//! already rejoining asks for nothing new. Acting on them would reset a
//! generation just formed (and, cooperative, lose its partitions).

use std::time::Instant;

use sluice_wire::KafkaCode;

use super::{Membership, State};

impl Membership {
    /// Whether an error answer to a request sent in generation `sent` is
    /// stale and to be ignored.
    pub(super) fn stale_answer(&self, code: KafkaCode, sent: i32) -> bool {
        let moved_on = sent != self.generation.generation_id;
        let stale = match code {
            KafkaCode::REBALANCE_IN_PROGRESS => moved_on || self.state != State::Stable,
            KafkaCode::ILLEGAL_GENERATION
            | KafkaCode::UNKNOWN_MEMBER_ID
            | KafkaCode::FENCED_MEMBER_EPOCH => moved_on,
            _ => false,
        };
        if stale {
            tracing::debug!(group = %self.config.group_id, %code, sent, now = self.generation.generation_id, state = ?self.state, "ignoring an answer for an earlier generation");
        }
        stale
    }

    /// A commit sent in generation `sent` was answered with `code` for the
    /// group as a whole: as [`Membership::on_commit_error`], unless the
    /// answer is stale (the member has joined another generation since, or
    /// is already rejoining).
    pub fn on_commit_error_in(&mut self, code: KafkaCode, sent: i32, now: Instant) {
        if !self.stale_answer(code, sent) {
            self.on_commit_error(code, now);
        }
    }
}
