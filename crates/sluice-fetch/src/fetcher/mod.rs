//! The fetcher, sans-I/O: which partitions to fetch from which broker, what
//! to do with each response, and what a poll hands out.
//!
//! A driver (see [`crate::driver`]) owns the sockets and the clock; it asks
//! [`Fetcher::fetch_targets`] where to send, [`Fetcher::build_fetch`] for the
//! request, feeds responses to [`Fetcher::on_fetch_response`], and calls
//! [`Fetcher::poll`] for the application. One fetch is in flight per broker;
//! partitions with data still buffered are not fetched again, and fetching
//! stops while the buffered bytes exceed `queued.max.bytes`, so a slow
//! application puts back-pressure on the brokers instead of growing memory.

mod completed;
mod sink;
mod state;

use std::collections::{BTreeMap, HashMap, VecDeque};

use kafka_protocol::messages::{FetchRequest, FetchResponse};
use sluice_wire::records::RecordDecoder;
use sluice_wire::{ErrorAction, KafkaCode};

use crate::TopicPartition;
use crate::cluster::Cluster;
use crate::config::{FetchConfig, IsolationLevel, OffsetReset};
use crate::error::{FetchError, Result};
use crate::offsets::{ListedOffset, OffsetSpec};
use crate::polled::PolledBatch;
use crate::record::ConsumerRecord;
use crate::session::{FetchParams, FetchSession, PartitionFetch};

use completed::CompletedFetch;
pub(crate) use sink::Sink;
pub use state::{PartitionState, Position, Verify};

/// What a fetch response asks of the driver.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// Leadership changed or is unknown: refresh metadata.
    pub refresh_metadata: bool,
    /// Partitions that got new data.
    pub partitions_with_data: usize,
}

#[derive(Debug)]
struct InFlight {
    version: i16,
    offsets: HashMap<TopicPartition, i64>,
}

/// The fetch state of one consumer.
#[derive(Debug)]
pub struct Fetcher {
    config: FetchConfig,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    buffered: VecDeque<CompletedFetch>,
    buffered_bytes: usize,
    in_flight: HashMap<i32, InFlight>,
    sessions: HashMap<i32, FetchSession>,
    decoder: RecordDecoder,
    errors: VecDeque<FetchError>,
}

impl Fetcher {
    /// A fetcher with nothing assigned.
    pub fn new(config: FetchConfig) -> Self {
        let decoder = RecordDecoder::new(config.decode_options());
        Fetcher {
            config,
            partitions: BTreeMap::new(),
            buffered: VecDeque::new(),
            buffered_bytes: 0,
            in_flight: HashMap::new(),
            sessions: HashMap::new(),
            decoder,
            errors: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Replaces the assignment. Partitions kept keep their position; new ones
    /// start with an `auto.offset.reset` lookup unless [`Fetcher::seek`]ed
    /// first; data buffered for partitions no longer assigned is dropped.
    pub fn assign(&mut self, tps: impl IntoIterator<Item = TopicPartition>) {
        let reset = OffsetSpec::for_reset(self.config.auto_offset_reset);
        let mut next = BTreeMap::new();
        for tp in tps {
            let state = self
                .partitions
                .remove(&tp)
                .unwrap_or_else(|| PartitionState::awaiting(reset));
            next.insert(tp, state);
        }
        self.partitions = next;
        self.drop_buffered(|f, parts| !parts.contains_key(&f.tp));
    }

    /// The assigned partitions, in order.
    pub fn assignment(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.keys()
    }

    /// A partition's state.
    pub fn state(&self, tp: &TopicPartition) -> Option<&PartitionState> {
        self.partitions.get(tp)
    }

    /// The next offset a poll returns for `tp`, once known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp)?.position.map(|p| p.offset)
    }

    /// Moves a partition to `offset`; buffered data for it is dropped.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        let state = self
            .partitions
            .get_mut(tp)
            .ok_or_else(|| FetchError::NotAssigned(tp.clone()))?;
        state.position = Some(Position {
            offset,
            leader_epoch: None,
        });
        state.reset = None;
        state.reset_in_flight = false;
        state.verify = None;
        self.drop_buffered(|f, _| &f.tp == tp);
        Ok(())
    }

    /// Moves a partition to the offset an offset lookup finds (earliest,
    /// latest, or by timestamp); the lookup is one of the next
    /// [`Fetcher::offset_lookups`].
    pub fn seek_to(&mut self, tp: &TopicPartition, spec: OffsetSpec) -> Result<()> {
        let state = self
            .partitions
            .get_mut(tp)
            .ok_or_else(|| FetchError::NotAssigned(tp.clone()))?;
        state.position = None;
        state.reset = Some(spec);
        state.reset_in_flight = false;
        state.verify = None;
        self.drop_buffered(|f, _| &f.tp == tp);
        Ok(())
    }

    /// Stops fetching and returning records of `tp` until [`Fetcher::resume`].
    ///
    /// Its fetched-but-unreturned data is let go (and so is that of a fetch
    /// in flight when it arrives): it would count toward `queued.max.bytes`
    /// and hold every other partition's fetching up while the application
    /// keeps this one paused. The position stays where the application is,
    /// so [`Fetcher::resume`] fetches from there again (librdkafka purges a
    /// paused partition's queue the same way).
    pub fn pause(&mut self, tp: &TopicPartition) -> Result<()> {
        self.partitions
            .get_mut(tp)
            .ok_or_else(|| FetchError::NotAssigned(tp.clone()))?
            .paused = true;
        self.drop_buffered(|f, _| &f.tp == tp);
        Ok(())
    }

    /// Resumes a paused partition.
    pub fn resume(&mut self, tp: &TopicPartition) -> Result<()> {
        self.partitions
            .get_mut(tp)
            .ok_or_else(|| FetchError::NotAssigned(tp.clone()))?
            .paused = false;
        Ok(())
    }

    /// Offset lookups to make now (partitions without a position); they are
    /// marked in flight until [`Fetcher::on_offset_lookup`] or
    /// [`Fetcher::on_offset_lookup_failed`].
    pub fn offset_lookups(&mut self) -> Vec<(TopicPartition, OffsetSpec)> {
        let mut out = Vec::new();
        for (tp, state) in &mut self.partitions {
            if let (None, Some(spec), false) = (state.position, state.reset, state.reset_in_flight)
            {
                state.reset_in_flight = true;
                out.push((tp.clone(), spec));
            }
        }
        out
    }

    /// Takes in a lookup's answer. Returns true when metadata should be
    /// refreshed (the lookup went to a broker that is no longer the leader).
    pub fn on_offset_lookup(
        &mut self,
        tp: &TopicPartition,
        spec: OffsetSpec,
        result: std::result::Result<ListedOffset, KafkaCode>,
    ) -> bool {
        let Some(state) = self.partitions.get_mut(tp) else {
            return false;
        };
        if state.reset != Some(spec) || state.position.is_some() {
            return false; // seeked elsewhere meanwhile
        }
        state.reset_in_flight = false;
        if let (Some(verify), Ok(listed)) = (state.verify, result) {
            let policy = OffsetSpec::for_reset(self.config.auto_offset_reset);
            match (spec, verify.earliest) {
                (OffsetSpec::Earliest, _) => {
                    state.verify = Some(Verify {
                        earliest: Some(listed.offset),
                        ..verify
                    });
                    state.reset = Some(OffsetSpec::Latest);
                }
                (_, Some(earliest)) => {
                    let end = listed.offset.max(state.high_watermark);
                    state.verify = None;
                    if (earliest..=end).contains(&verify.offset) {
                        tracing::info!(%tp, offset = verify.offset, earliest, end, "the position is inside the log after all; keeping it");
                        state.reset = None;
                        state.position = Some(Position {
                            offset: verify.offset,
                            leader_epoch: None,
                        });
                    } else {
                        tracing::info!(%tp, offset = verify.offset, earliest, end, ?policy, "offset out of range; resetting");
                        let to = match policy {
                            Some(OffsetSpec::Earliest) => Some(earliest),
                            Some(OffsetSpec::Latest) => Some(listed.offset),
                            _ => None,
                        };
                        state.reset = None;
                        match to {
                            Some(offset) => {
                                state.position = Some(Position {
                                    offset,
                                    leader_epoch: None,
                                })
                            }
                            None => self.errors.push_back(FetchError::NoOffsetForPartition {
                                tp: tp.clone(),
                                offset: Some(verify.offset),
                            }),
                        }
                    }
                }
                (_, None) => state.reset = Some(OffsetSpec::Earliest),
            }
            return false;
        }
        match result {
            Ok(listed) if listed.offset >= 0 => {
                state.position = Some(Position {
                    offset: listed.offset,
                    leader_epoch: (listed.leader_epoch >= 0).then_some(listed.leader_epoch),
                });
                state.reset = None;
                false
            }
            // No record at or after the timestamp: start at the end, as kcat and the Java client's seek do.
            Ok(_) => {
                state.reset = Some(OffsetSpec::Latest);
                false
            }
            Err(code) => {
                if code.action() == ErrorAction::Fatal {
                    self.errors.push_back(FetchError::Partition {
                        api: "ListOffsets",
                        tp: tp.clone(),
                        code,
                    });
                }
                code.action() == ErrorAction::RefreshMetadata
            }
        }
    }

    /// A lookup request failed as a whole: the partitions will be looked up again.
    pub fn on_offset_lookup_failed(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            if let Some(state) = self.partitions.get_mut(tp) {
                state.reset_in_flight = false;
            }
        }
    }

    fn has_buffered(&self, tp: &TopicPartition) -> bool {
        self.buffered.iter().any(|f| &f.tp == tp)
    }

    /// The brokers a fetch should go to now: leaders of fetchable partitions
    /// with no fetch in flight, while the buffer is under `queued.max.bytes`.
    pub fn fetch_targets(&self, cluster: &Cluster) -> Vec<i32> {
        if self.buffered_bytes >= self.config.queued_max_bytes {
            return Vec::new();
        }
        let mut brokers: Vec<i32> = self
            .partitions
            .iter()
            .filter(|(tp, s)| s.is_fetchable() && !self.has_buffered(tp))
            .filter_map(|(tp, _)| cluster.leader(tp).map(|(leader, _)| leader))
            .filter(|b| !self.in_flight.contains_key(b))
            .collect();
        brokers.sort_unstable();
        brokers.dedup();
        brokers
    }

    /// Partitions that can't be fetched because their leader is unknown.
    pub fn leaderless(&self, cluster: &Cluster) -> Vec<TopicPartition> {
        self.partitions
            .keys()
            .filter(|tp| cluster.leader(tp).is_none())
            .cloned()
            .collect()
    }

    /// The Fetch request for `broker` at Fetch `version`, or `None` when it
    /// has nothing to fetch. The fetch is in flight until its response or failure.
    pub fn build_fetch(
        &mut self,
        broker: i32,
        version: i16,
        cluster: &Cluster,
    ) -> Option<FetchRequest> {
        if self.in_flight.contains_key(&broker)
            || self.buffered_bytes >= self.config.queued_max_bytes
        {
            return None;
        }
        let mut next = Vec::new();
        for (tp, state) in &self.partitions {
            let (Some(position), true) = (state.position, state.is_fetchable()) else {
                continue;
            };
            let Some((leader, epoch)) = cluster.leader(tp) else {
                continue;
            };
            if leader != broker || self.has_buffered(tp) {
                continue;
            }
            let topic_id = cluster.topic(&tp.topic).map(|t| t.id).unwrap_or_default();
            next.push(PartitionFetch {
                tp: tp.clone(),
                topic_id,
                fetch_offset: position.offset,
                current_leader_epoch: epoch,
                max_bytes: self.config.max_partition_fetch_bytes,
            });
        }
        if next.is_empty() {
            return None;
        }
        let params = FetchParams {
            max_wait_ms: i32::try_from(self.config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX),
            min_bytes: self.config.fetch_min_bytes,
            max_bytes: self.config.fetch_max_bytes,
            isolation_level: self.config.isolation_level.as_i8(),
        };
        let request = self
            .sessions
            .entry(broker)
            .or_default()
            .build(&next, params, version);
        let offsets = next.into_iter().map(|p| (p.tp, p.fetch_offset)).collect();
        self.in_flight.insert(broker, InFlight { version, offsets });
        Some(request)
    }

    /// Whether a fetch to `broker` is in flight.
    pub fn is_in_flight(&self, broker: i32) -> bool {
        self.in_flight.contains_key(&broker)
    }

    /// The fetch to `broker` failed (timeout, connection lost): its session
    /// restarts and metadata should be refreshed.
    pub fn on_fetch_failed(&mut self, broker: i32) {
        self.in_flight.remove(&broker);
        if let Some(session) = self.sessions.get_mut(&broker) {
            session.reset();
        }
    }

    /// Takes in the response to the fetch in flight to `broker`.
    pub fn on_fetch_response(&mut self, broker: i32, response: &FetchResponse) -> FetchOutcome {
        let mut outcome = FetchOutcome::default();
        let Some(in_flight) = self.in_flight.remove(&broker) else {
            return outcome;
        };
        let session = self.sessions.entry(broker).or_default();
        if let Err(code) = session.handle_response(response, in_flight.version) {
            // A top-level error (or a response that does not fit the session):
            // as Java's FetchSessionHandler, drop the response, start the
            // session over and fetch again. Its partitions' data is not used,
            // even where a broker (librdkafka's mock cluster) copies the error
            // into each. Only an error that can never pass is the application's.
            match code.action() {
                ErrorAction::Fatal => self.errors.push_back(FetchError::Broker {
                    api: "Fetch",
                    broker,
                    code,
                }),
                ErrorAction::RefreshMetadata | ErrorAction::FindCoordinator => {
                    outcome.refresh_metadata = true
                }
                _ => {
                    tracing::debug!(broker, %code, "fetch answered with a top-level error; fetching again")
                }
            }
            return outcome;
        }
        let read_committed = self.config.isolation_level == IsolationLevel::ReadCommitted;
        let mut reset_session = false;
        for item in session.response_partitions(response, in_flight.version) {
            let Ok((tp, data)) = item else { continue };
            let Some(&fetch_offset) = in_flight.offsets.get(&tp) else {
                continue;
            };
            let Some(state) = self.partitions.get_mut(&tp) else {
                continue;
            };
            if state.position.map(|p| p.offset) != Some(fetch_offset) || state.paused {
                continue; // seeked, reset or paused while the fetch was in flight
            }
            let code = KafkaCode(data.error_code);
            if code.is_ok() && out_of_range(fetch_offset, data) {
                // Some brokers (tansu 0.6) answer a position past the end or before the
                // log start with no error and no data, where Apache Kafka says
                // OFFSET_OUT_OF_RANGE; they also answer with stale watermarks just after a
                // restart. So check with ListOffsets before resetting anything: a reset on a
                // stale answer would skip records.
                tracing::debug!(%tp, fetch_offset, hw = data.high_watermark, log_start = data.log_start_offset, "position looks out of range; checking");
                state.position = None;
                state.reset = Some(OffsetSpec::Earliest);
                state.reset_in_flight = false;
                state.verify = Some(Verify {
                    offset: fetch_offset,
                    earliest: None,
                });
                continue;
            }
            match code.action() {
                ErrorAction::None => {
                    state.high_watermark = data.high_watermark;
                    state.last_stable_offset = data.last_stable_offset;
                    state.log_start_offset = data.log_start_offset;
                    let Some(records) = data.records.clone().filter(|r| !r.is_empty()) else {
                        continue;
                    };
                    let aborted = data
                        .aborted_transactions
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .map(|a| (a.producer_id.0, a.first_offset))
                        .collect();
                    self.buffered_bytes += records.len();
                    self.buffered.push_back(CompletedFetch::new(
                        tp,
                        fetch_offset,
                        records,
                        read_committed,
                        aborted,
                    ));
                    outcome.partitions_with_data += 1;
                }
                ErrorAction::ResetOffset => {
                    // OFFSET_OUT_OF_RANGE: check the log's bounds with ListOffsets before
                    // resetting by auto.offset.reset, as for the silent case above. An answer
                    // for a position that is in fact inside the log (a lagging leader, a
                    // stale answer) would otherwise rewind it (earliest: re-reads) or skip
                    // to the end (latest: records lost). The last high watermark is no
                    // evidence now: keep the answer's (-1 from Apache Kafka).
                    tracing::debug!(%tp, fetch_offset, %code, "offset out of range; checking before any reset");
                    state.high_watermark = data.high_watermark;
                    state.position = None;
                    state.reset = Some(OffsetSpec::Earliest);
                    state.reset_in_flight = false;
                    state.verify = Some(Verify {
                        offset: fetch_offset,
                        earliest: None,
                    });
                }
                ErrorAction::RefreshMetadata | ErrorAction::FindCoordinator => {
                    outcome.refresh_metadata = true
                }
                ErrorAction::ResetFetchSession => reset_session = true,
                ErrorAction::Retry | ErrorAction::Rejoin => {}
                ErrorAction::Fatal => self.errors.push_back(FetchError::Partition {
                    api: "Fetch",
                    tp,
                    code,
                }),
            }
        }
        if reset_session {
            session.reset();
        }
        outcome
    }

    /// Bytes of fetched data not yet handed out.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// Whether a poll would return something without fetching.
    pub fn has_records(&self) -> bool {
        self.buffered
            .iter()
            .any(|f| self.partitions.get(&f.tp).is_some_and(|s| !s.paused))
    }

    /// Hands out up to `max.poll.records` records; the rest stay buffered
    /// for the next poll. Errors (a corrupt batch, an offset out of range
    /// with `auto.offset.reset=none`, a fatal partition error) come first if
    /// no records were collected, otherwise on the next call. A corrupt
    /// batch is never skipped: the position stays before it.
    pub fn poll(&mut self) -> Result<Vec<ConsumerRecord>> {
        let mut out = Vec::new();
        self.poll_into(&mut out)?;
        Ok(out)
    }

    /// What [`Fetcher::poll`] hands out (the same records, errors and
    /// positions after), as views of the fetched buffers: no reference
    /// count or allocation per record. See [`PolledBatch`].
    pub fn poll_batch(&mut self) -> Result<PolledBatch> {
        let mut batch = PolledBatch::new();
        self.poll_into(&mut batch)?;
        Ok(batch)
    }

    /// [`Fetcher::poll_batch`] into `batch`, which is emptied first and
    /// keeps its allocations (hand the last poll's batch back to poll
    /// without allocating). On an error `batch` is left empty.
    pub fn poll_batch_into(&mut self, batch: &mut PolledBatch) -> Result<()> {
        batch.clear();
        self.poll_into(batch)
    }

    /// The one poll: chooses the records, advances the positions, and puts
    /// the records into `out` (empty on entry) in the shape it makes them.
    pub(crate) fn poll_into(&mut self, out: &mut impl Sink) -> Result<()> {
        if let Some(e) = self.errors.pop_front() {
            return Err(e);
        }
        if self.config.auto_offset_reset == OffsetReset::None {
            if let Some((tp, _)) = self
                .partitions
                .iter()
                .find(|(_, s)| s.position.is_none() && s.reset.is_none())
            {
                return Err(FetchError::NoOffsetForPartition {
                    tp: tp.clone(),
                    offset: None,
                });
            }
        }
        let max = self.config.max_poll_records;
        if self.buffered.is_empty() {
            return Ok(());
        }
        // Sized for a whole poll at the default max.poll.records (500), so
        // handing records out does not grow and copy the vector.
        out.reserve(max.min(4096));
        let mut i = 0;
        while out.len() < max && i < self.buffered.len() {
            let fetch = &mut self.buffered[i];
            let state = self.partitions.get_mut(&fetch.tp);
            let current = state.as_ref().and_then(|s| s.position).map(|p| p.offset);
            if current != Some(fetch.next_offset) {
                self.remove_buffered(i); // unassigned or moved since the fetch
                continue;
            }
            if state.as_ref().is_some_and(|s| s.paused) {
                i += 1;
                continue;
            }
            let result = fetch.drain(&mut self.decoder, max - out.len(), out);
            let (tp, next_offset, drained) =
                (fetch.tp.clone(), fetch.next_offset, fetch.is_drained());
            if let Some(state) = self.partitions.get_mut(&tp) {
                if let Some(p) = state.position.as_mut() {
                    p.offset = next_offset;
                }
            }
            if let Err(source) = result {
                self.remove_buffered(i);
                let err = FetchError::Corrupt {
                    tp,
                    offset: next_offset,
                    source,
                };
                if out.len() == 0 {
                    return Err(err);
                }
                self.errors.push_back(err);
                break;
            }
            if drained {
                self.remove_buffered(i);
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    fn remove_buffered(&mut self, i: usize) {
        if let Some(f) = self.buffered.remove(i) {
            self.buffered_bytes -= f.bytes;
        }
    }

    fn drop_buffered(
        &mut self,
        drop: impl Fn(&CompletedFetch, &BTreeMap<TopicPartition, PartitionState>) -> bool,
    ) {
        let parts = &self.partitions;
        let mut freed = 0;
        self.buffered.retain(|f| {
            let d = drop(f, parts);
            if d {
                freed += f.bytes;
            }
            !d
        });
        self.buffered_bytes -= freed;
    }
}

/// Whether a response shows `fetch_offset` outside the log: beyond the high
/// watermark, or before the log start offset.
fn out_of_range(
    fetch_offset: i64,
    data: &kafka_protocol::messages::fetch_response::PartitionData,
) -> bool {
    let empty = data.records.as_ref().is_none_or(|r| r.is_empty());
    empty
        && ((data.high_watermark >= 0 && fetch_offset > data.high_watermark)
            || (data.log_start_offset >= 0 && fetch_offset < data.log_start_offset))
}

#[cfg(test)]
mod tests;
