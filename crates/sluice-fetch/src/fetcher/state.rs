//! Per-partition fetch state: position, pending reset, pause, watermarks.

use crate::offsets::OffsetSpec;

/// Where the consumer is in one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The next offset to fetch (and to hand out).
    pub offset: i64,
    /// The leader epoch of the record before it, if known.
    pub leader_epoch: Option<i32>,
}

/// The state of one assigned partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// The position; `None` until an offset is known.
    pub position: Option<Position>,
    /// The offset lookup to do when there is no position.
    pub reset: Option<OffsetSpec>,
    /// A lookup is in flight.
    pub reset_in_flight: bool,
    /// Paused by the application: not fetched, nothing returned.
    pub paused: bool,
    /// The high watermark from the last fetch (-1 before the first).
    pub high_watermark: i64,
    /// The last stable offset from the last fetch (-1 before the first).
    pub last_stable_offset: i64,
    /// The log start offset from the last fetch (-1 before the first).
    pub log_start_offset: i64,
    /// A position the broker's fetch answer suggested is outside the log
    /// without saying so (no OFFSET_OUT_OF_RANGE), being checked against
    /// ListOffsets before any reset.
    pub verify: Option<Verify>,
}

/// The check of a suspect position: ListOffsets earliest, then latest; the
/// position is kept if it lies between them (or at the last high watermark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verify {
    /// The suspect position.
    pub offset: i64,
    /// The earliest offset, once looked up.
    pub earliest: Option<i64>,
}

impl PartitionState {
    /// A newly assigned partition that starts with an offset lookup (`reset`),
    /// or with no way to start (`None`: auto.offset.reset=none).
    pub fn awaiting(reset: Option<OffsetSpec>) -> Self {
        PartitionState {
            position: None,
            reset,
            reset_in_flight: false,
            paused: false,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            verify: None,
        }
    }

    /// Whether the partition can be fetched now.
    pub fn is_fetchable(&self) -> bool {
        self.position.is_some() && !self.paused
    }

    /// Lag: high watermark minus position, when both are known.
    pub fn lag(&self) -> Option<i64> {
        let position = self.position?;
        (self.high_watermark >= 0).then(|| (self.high_watermark - position.offset).max(0))
    }
}
