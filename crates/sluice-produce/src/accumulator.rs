//! Per-partition batching (sans-I/O): records are appended to an open batch
//! per partition, which closes at `batch.size` bytes or after `linger.ms`;
//! closed batches are encoded and wait for their leader, one in flight per
//! partition so a retried batch cannot overtake the next one.
//!
//! The accumulator is generic over `W`, whatever the driver uses to tell a
//! record's sender how it went (a oneshot sender; a plain id in tests).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_fetch::TopicPartition;
use sluice_wire::records::{BatchBuilder, Compression};

use crate::error::ProduceError;
use crate::record::ProducerRecord;

/// One record's waiter and timestamp, in batch order.
#[derive(Debug)]
pub struct Entry<W> {
    /// Who hears the outcome.
    pub waiter: W,
    /// The record's timestamp.
    pub timestamp: i64,
}

/// A closed, encoded batch for one partition.
#[derive(Debug)]
pub struct ReadyBatch<W> {
    /// Where it goes.
    pub tp: TopicPartition,
    /// The encoded RecordBatch.
    pub records: Bytes,
    /// Its records' waiters, in offset order.
    pub entries: Vec<Entry<W>>,
    /// When its first record was appended (for `delivery.timeout.ms`).
    pub created: Instant,
    /// Attempts so far.
    pub attempts: u32,
    /// Not to be sent before this (retry backoff).
    pub not_before: Instant,
    /// Why the last attempt failed, if one did.
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct OpenBatch<W> {
    builder: BatchBuilder,
    entries: Vec<Entry<W>>,
    created: Instant,
}

#[derive(Debug)]
struct Queue<W> {
    open: Option<OpenBatch<W>>,
    ready: VecDeque<ReadyBatch<W>>,
    in_flight: bool,
    /// The next batch's base sequence (idempotence).
    next_sequence: i32,
}

impl<W> Default for Queue<W> {
    fn default() -> Self {
        Queue {
            open: None,
            ready: VecDeque::new(),
            in_flight: false,
            next_sequence: 0,
        }
    }
}

/// The batching limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `batch.size`.
    pub batch_size: usize,
    /// `linger.ms`.
    pub linger: Duration,
    /// `max.request.size`.
    pub max_request_size: usize,
    /// `compression.type`.
    pub compression: Compression,
    /// The producer id and epoch from InitProducerId, with idempotence.
    pub producer: Option<(i64, i16)>,
}

/// Batches by partition.
#[derive(Debug)]
pub struct Accumulator<W> {
    limits: Limits,
    /// Whether batches are marked transactional (`transactional.id`).
    transactional: bool,
    queues: HashMap<TopicPartition, Queue<W>>,
}

/// A record's size in a batch, roughly (for the size limits).
fn record_size(r: &ProducerRecord) -> usize {
    let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
    21 + len(&r.key)
        + len(&r.value)
        + r.headers
            .iter()
            .map(|(k, v)| 10 + k.len() + len(v))
            .sum::<usize>()
}

impl<W> Accumulator<W> {
    /// An empty accumulator.
    pub fn new(limits: Limits) -> Self {
        Accumulator {
            limits,
            transactional: false,
            queues: HashMap::new(),
        }
    }

    /// Writes batches closed from now on as `producer`'s transactional
    /// batches, their sequences from 0 (a new producer id or epoch starts
    /// them again). Batches already closed keep what they had.
    pub fn set_transactional_producer(&mut self, producer: (i64, i16)) {
        self.limits.producer = Some(producer);
        self.transactional = true;
        for queue in self.queues.values_mut() {
            queue.next_sequence = 0;
        }
    }

    /// Appends a record to its partition's open batch, closing the batch
    /// first if the record would take it past `batch.size`. A record larger
    /// than `max.request.size` is refused.
    pub fn append(
        &mut self,
        tp: TopicPartition,
        record: &ProducerRecord,
        timestamp: i64,
        waiter: W,
        now: Instant,
    ) -> Result<(), (W, ProduceError)> {
        let size = record_size(record);
        if size + 61 > self.limits.max_request_size {
            let max = self.limits.max_request_size;
            return Err((waiter, ProduceError::RecordTooLarge { size, max }));
        }
        let limits = self.limits;
        let txn = self.transactional;
        let queue = self.queues.entry(tp.clone()).or_default();
        if queue.open.as_ref().is_some_and(|b| {
            b.builder.size() + size > limits.batch_size.min(limits.max_request_size - 61)
        }) {
            close(&tp, queue, now, limits.producer, txn);
        }
        let batch = queue.open.get_or_insert_with(|| OpenBatch {
            builder: BatchBuilder::new(limits.compression),
            entries: Vec::new(),
            created: now,
        });
        let headers: Vec<(&[u8], Option<&[u8]>)> = record
            .headers
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_deref()))
            .collect();
        batch.builder.push(
            timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &headers,
        );
        batch.entries.push(Entry { waiter, timestamp });
        if batch.builder.size() >= limits.batch_size {
            close(&tp, queue, now, limits.producer, txn);
        }
        Ok(())
    }

    /// Closes batches that have lingered long enough; with `all`, every
    /// open batch (flush). Batches that fail to encode come back with the error.
    pub fn close_due(&mut self, now: Instant, all: bool) -> Vec<(ReadyBatch<W>, ProduceError)> {
        let linger = self.limits.linger;
        let mut failed = Vec::new();
        for (tp, queue) in &mut self.queues {
            let due = queue
                .open
                .as_ref()
                .is_some_and(|b| all || now.saturating_duration_since(b.created) >= linger);
            if due {
                if let Some(f) = close(tp, queue, now, self.limits.producer, self.transactional) {
                    failed.push(f);
                }
            }
        }
        failed
    }

    /// Takes the batches that can go now: per partition the oldest ready
    /// one, if none is in flight, its backoff is over and `leader` knows
    /// where it goes. Grouped by leader; the partitions are marked in flight.
    pub fn take_sendable(
        &mut self,
        now: Instant,
        leader: impl Fn(&TopicPartition) -> Option<i32>,
    ) -> BTreeMap<i32, Vec<ReadyBatch<W>>> {
        let mut out: BTreeMap<i32, Vec<ReadyBatch<W>>> = BTreeMap::new();
        let mut bytes: BTreeMap<i32, usize> = BTreeMap::new();
        for (tp, queue) in &mut self.queues {
            if queue.in_flight || queue.ready.front().is_none_or(|b| b.not_before > now) {
                continue;
            }
            let Some(broker) = leader(tp) else { continue };
            let size = queue.ready.front().map_or(0, |b| b.records.len());
            let used = bytes.entry(broker).or_default();
            if *used > 0 && *used + size > self.limits.max_request_size {
                continue; // the next request takes it
            }
            *used += size;
            let batch = queue.ready.pop_front().expect("checked");
            queue.in_flight = true;
            out.entry(broker).or_default().push(batch);
        }
        out
    }

    /// A batch comes back for another attempt (first in its partition's line).
    pub fn retry(&mut self, mut batch: ReadyBatch<W>, not_before: Instant) {
        batch.attempts += 1;
        batch.not_before = not_before;
        let queue = self.queues.entry(batch.tp.clone()).or_default();
        queue.in_flight = false;
        queue.ready.push_front(batch);
    }

    /// The partition's batch in flight is finished (acknowledged or failed).
    pub fn done(&mut self, tp: &TopicPartition) {
        if let Some(q) = self.queues.get_mut(tp) {
            q.in_flight = false;
        }
    }

    /// Removes and returns every ready batch (not in flight) created at
    /// least `timeout` (`delivery.timeout.ms`) before `now`.
    pub fn take_expired(&mut self, now: Instant, timeout: Duration) -> Vec<ReadyBatch<W>> {
        let mut out = Vec::new();
        for queue in self.queues.values_mut() {
            while queue
                .ready
                .front()
                .is_some_and(|b| now.saturating_duration_since(b.created) >= timeout)
            {
                out.extend(queue.ready.pop_front());
            }
        }
        out
    }

    /// The next time something becomes due: a linger ending, or a backoff
    /// ending for a partition whose leader is known (`has_leader`; the
    /// others wait for metadata).
    pub fn next_deadline(&self, has_leader: impl Fn(&TopicPartition) -> bool) -> Option<Instant> {
        self.queues
            .iter()
            .flat_map(|(tp, q)| {
                let linger = q.open.as_ref().map(|b| b.created + self.limits.linger);
                let backoff = q
                    .ready
                    .front()
                    .filter(|_| !q.in_flight && has_leader(tp))
                    .map(|b| b.not_before);
                linger.into_iter().chain(backoff)
            })
            .min()
    }

    /// When the oldest closed batch not in flight was created (it expires
    /// `delivery.timeout.ms` later).
    pub fn oldest_ready(&self) -> Option<Instant> {
        self.queues
            .values()
            .filter_map(|q| q.ready.front().map(|b| b.created))
            .min()
    }

    /// Whether no record is open, ready or in flight.
    pub fn is_empty(&self) -> bool {
        self.queues
            .values()
            .all(|q| q.open.is_none() && q.ready.is_empty() && !q.in_flight)
    }
}

/// Closes the partition's open batch into its ready line.
fn close<W>(
    tp: &TopicPartition,
    queue: &mut Queue<W>,
    now: Instant,
    producer: Option<(i64, i16)>,
    transactional: bool,
) -> Option<(ReadyBatch<W>, ProduceError)> {
    let mut open = queue.open.take()?;
    if let Some((id, epoch)) = producer {
        // Sequences wrap at i32::MAX, as the Java client's do.
        let count = open.entries.len() as i32;
        if transactional {
            open.builder.transactional(id, epoch, queue.next_sequence);
        } else {
            open.builder.idempotent(id, epoch, queue.next_sequence);
        }
        queue.next_sequence = queue.next_sequence.wrapping_add(count) & i32::MAX;
    }
    let (records, error) = match open.builder.build(0) {
        Ok(b) => (b, None),
        Err(e) => (Bytes::new(), Some(ProduceError::from(e))),
    };
    let batch = ReadyBatch {
        tp: tp.clone(),
        records,
        entries: open.entries,
        created: open.created,
        attempts: 0,
        not_before: now,
        last_error: None,
    };
    match error {
        Some(e) => Some((batch, e)),
        None => {
            queue.ready.push_back(batch);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(batch_size: usize, linger_ms: u64) -> Limits {
        Limits {
            batch_size,
            linger: Duration::from_millis(linger_ms),
            max_request_size: 1 << 20,
            compression: Compression::None,
            producer: None,
        }
    }

    fn rec(value: &str) -> ProducerRecord {
        ProducerRecord::new("t", value.to_string())
    }

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn ids(b: &ReadyBatch<u32>) -> Vec<u32> {
        b.entries.iter().map(|e| e.waiter).collect()
    }

    #[test]
    fn a_batch_waits_for_linger_then_goes_to_its_leader() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(limits(1 << 20, 10));
        acc.append(tp(0), &rec("a"), 1, 1, t0).unwrap();
        acc.append(tp(0), &rec("b"), 2, 2, t0).unwrap();
        assert!(
            acc.close_due(t0 + Duration::from_millis(9), false)
                .is_empty()
        );
        assert!(
            acc.take_sendable(t0, |_| Some(1)).is_empty(),
            "still lingering"
        );
        assert_eq!(
            acc.next_deadline(|_| true),
            Some(t0 + Duration::from_millis(10))
        );
        acc.close_due(t0 + Duration::from_millis(10), false);
        let sent = acc.take_sendable(t0 + Duration::from_millis(10), |_| Some(7));
        assert_eq!(ids(&sent[&7][0]), vec![1, 2]);
        assert!(!acc.is_empty(), "in flight");
        acc.done(&tp(0));
        assert!(acc.is_empty());
    }

    #[test]
    fn batch_size_closes_a_batch_and_records_keep_their_order() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(limits(100, 1000));
        for i in 0..5 {
            acc.append(tp(0), &rec(&"x".repeat(40)), 0, i, t0).unwrap();
        }
        // ~61 bytes a record: one per batch before the next would pass 100.
        let first = acc.take_sendable(t0, |_| Some(1));
        assert_eq!(ids(&first[&1][0]), vec![0]);
        assert!(
            acc.take_sendable(t0, |_| Some(1)).is_empty(),
            "one in flight per partition"
        );
        acc.done(&tp(0));
        let second = acc.take_sendable(t0, |_| Some(1));
        assert_eq!(ids(&second[&1][0]), vec![1]);
    }

    #[test]
    fn a_retried_batch_goes_first_after_its_backoff() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(limits(1 << 20, 0));
        acc.append(tp(0), &rec("a"), 0, 1, t0).unwrap();
        acc.close_due(t0, false);
        let mut sent = acc.take_sendable(t0, |_| Some(1));
        acc.append(tp(0), &rec("b"), 0, 2, t0).unwrap();
        acc.close_due(t0, false);
        let batch = sent.remove(&1).unwrap().remove(0);
        let later = t0 + Duration::from_millis(100);
        acc.retry(batch, later);
        assert!(acc.take_sendable(t0, |_| Some(1)).is_empty(), "backing off");
        assert_eq!(acc.next_deadline(|_| true), Some(later));
        let again = acc.take_sendable(later, |_| Some(1));
        assert_eq!(ids(&again[&1][0]), vec![1]);
        assert_eq!(again[&1][0].attempts, 1);
    }

    #[test]
    fn unknown_leaders_wait_and_old_batches_expire() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(limits(1 << 20, 0));
        acc.append(tp(3), &rec("a"), 0, 1, t0).unwrap();
        acc.close_due(t0, true);
        assert!(acc.take_sendable(t0, |_| None).is_empty());
        // No timer for a partition without a leader (metadata wakes it), but
        // its expiry is known.
        assert_eq!(acc.next_deadline(|_| false), None);
        assert_eq!(acc.next_deadline(|_| true), Some(t0));
        assert_eq!(acc.oldest_ready(), Some(t0));
        assert!(
            acc.take_expired(t0 + Duration::from_secs(1), Duration::from_secs(2))
                .is_empty()
        );
        let expired = acc.take_expired(t0 + Duration::from_secs(2), Duration::from_secs(2));
        assert_eq!(ids(&expired[0]), vec![1]);
        assert!(acc.is_empty());
    }

    #[test]
    fn idempotent_batches_carry_the_producer_and_consecutive_sequences() {
        use sluice_wire::records::{DecodeOptions, RecordDecoder};
        let t0 = Instant::now();
        let mut acc = Accumulator::new(Limits {
            producer: Some((77, 3)),
            ..limits(1 << 20, 0)
        });
        let mut decoder = RecordDecoder::new(DecodeOptions::default());
        let mut seen = Vec::new();
        for round in 0..2 {
            for i in 0..3 {
                acc.append(tp(0), &rec("a"), 0, round * 10 + i, t0).unwrap();
            }
            acc.close_due(t0, true);
            let mut sent = acc.take_sendable(t0, |_| Some(1));
            let batch = sent.remove(&1).unwrap().remove(0);
            let header = decoder.decode_batches(batch.records.clone()).unwrap()[0].header;
            seen.push((
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
            ));
            // A retry resends the same bytes: the same sequence, which the broker deduplicates.
            acc.retry(batch, t0);
            let again = acc
                .take_sendable(t0, |_| Some(1))
                .remove(&1)
                .unwrap()
                .remove(0);
            let h = decoder.decode_batches(again.records.clone()).unwrap()[0].header;
            assert_eq!(h.base_sequence, header.base_sequence);
            acc.done(&tp(0));
        }
        assert_eq!(seen, vec![(77, 3, 0), (77, 3, 3)]);
    }

    #[test]
    fn a_record_over_max_request_size_is_refused() {
        let mut acc = Accumulator::new(Limits {
            max_request_size: 1024,
            ..limits(1 << 20, 0)
        });
        let big = rec(&"x".repeat(2000));
        let (id, err) = acc.append(tp(0), &big, 0, 9, Instant::now()).unwrap_err();
        assert_eq!(id, 9);
        assert!(matches!(
            err,
            ProduceError::RecordTooLarge { max: 1024, .. }
        ));
    }
}
