//! How long a rebalance stops this member's records: from the moment a
//! revocation or a loss leaves it nothing to fetch until an assignment is
//! in place again. An eager rebalance stops every member for about the whole
//! rebalance; a cooperative one (or the consumer protocol) only a member
//! that gave up everything, and counts 0 for the others. The first
//! assignment after joining is not a pause: there was nothing flowing to
//! stop.

use tokio::time::Instant;

use super::GroupConsumer;

impl GroupConsumer {
    /// Partitions were just taken away: if none are left, records stop now.
    pub(super) fn flow_stopped(&mut self) {
        if self.fetch.assignment().is_empty() && self.paused_since.is_none() {
            self.paused_since = Some(Instant::now());
        }
    }

    /// An assignment is in place; `kept` says whether the member was still
    /// fetching partitions it kept through the rebalance.
    pub(super) fn flow_resumed(&mut self, kept: bool) {
        match self.paused_since.take() {
            Some(since) => self.stats.rebalance.paused(since.elapsed()),
            None if kept => self.stats.rebalance.paused(std::time::Duration::ZERO),
            None => {}
        }
    }
}
