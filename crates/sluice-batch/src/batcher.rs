//! Cutting a record stream into batches (sans-I/O).
//!
//! Records go in as a consumer returns them; a batch is ready once it holds
//! `batch.size` records or `batch.bytes` bytes of keys and values, or once
//! `linger.ms` has passed since its first record. With [`GroupBy::Partition`]
//! or [`GroupBy::Key`] each partition or key fills a batch of its own.
//!
//! The batcher also says what may be committed: for each partition, the
//! first offset not yet handed out and finished. With batches per key, a
//! partition's records sit in several open batches, so a partition's commit
//! stops at the oldest record still waiting in any of them: committing past
//! it would lose it on a crash.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use sluice_fetch::record::ConsumerRecord;
use sluice_fetch::{PolledBatch, TopicPartition};

use crate::batch::record_bytes;
pub use crate::batch::{Batch, PartitionRange};
use crate::config::{BatchConfig, GroupBy};

/// What a batch is open for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Group {
    All,
    Partition(TopicPartition),
    Key(Option<Bytes>),
}

/// Cuts records into batches and tracks what may be committed.
#[derive(Debug)]
pub struct Batcher {
    config: BatchConfig,
    open: HashMap<Group, Batch>,
    ready: VecDeque<Batch>,
    /// Per partition, the offset after the last record pushed.
    next: BTreeMap<TopicPartition, i64>,
}

impl Batcher {
    /// An empty batcher.
    pub fn new(config: BatchConfig) -> Self {
        Batcher {
            config,
            open: HashMap::new(),
            ready: VecDeque::new(),
            next: BTreeMap::new(),
        }
    }

    /// Adds a record; a batch it fills becomes ready.
    pub fn push(&mut self, record: ConsumerRecord, now: Instant) {
        let group = match self.config.group_by {
            GroupBy::None => Group::All,
            GroupBy::Partition => Group::Partition(record.topic_partition()),
            GroupBy::Key => Group::Key(record.key.clone()),
        };
        self.next
            .insert(record.topic_partition(), record.offset + 1);
        let batch = self
            .open
            .entry(group.clone())
            .or_insert_with(|| Batch::new(now));
        batch.push_owned(record);
        if batch.len() >= self.config.max_records || batch.bytes >= self.config.max_bytes {
            let batch = self.open.remove(&group).expect("just filled");
            self.ready.push_back(batch);
        }
    }

    /// Adds a poll's records, in order; the batches they fill become ready.
    /// With `batch.group.by=none` the batches share the poll's buffers (no
    /// copy and no reference count per record: see [`Batch`]); per key or
    /// per partition each record is picked out owned, as [`Batcher::push`]
    /// takes it.
    pub fn push_polled(&mut self, polled: PolledBatch, now: Instant) {
        if polled.is_empty() {
            return;
        }
        if self.config.group_by != GroupBy::None {
            for r in polled.iter() {
                self.push(r.to_owned(), now);
            }
            return;
        }
        for (tp, next) in polled.next_offsets() {
            self.next.insert(tp, next);
        }
        let polled = Arc::new(polled);
        let mut batch = self
            .open
            .remove(&Group::All)
            .unwrap_or_else(|| Batch::new(now));
        let (mut from, mut len, mut bytes) = (0, batch.len(), 0);
        for (i, r) in polled.iter().enumerate() {
            len += 1;
            bytes += record_bytes(&r);
            if len >= self.config.max_records || batch.bytes + bytes >= self.config.max_bytes {
                batch.push_polled(&polled, from, i + 1, bytes);
                self.ready
                    .push_back(std::mem::replace(&mut batch, Batch::new(now)));
                (from, len, bytes) = (i + 1, 0, 0);
            }
        }
        if from < polled.len() {
            batch.push_polled(&polled, from, polled.len(), bytes);
        }
        if !batch.is_empty() {
            self.open.insert(Group::All, batch);
        }
    }

    /// Moves batches open for `linger.ms` or longer to ready.
    pub fn expire(&mut self, now: Instant) {
        let linger = self.config.linger;
        let mut expired: Vec<Batch> = Vec::new();
        self.open.retain(|_, b| {
            if now.saturating_duration_since(b.opened) >= linger {
                expired.push(b.clone());
                false
            } else {
                true
            }
        });
        expired.sort_by_key(|b| b.opened);
        self.ready.extend(expired);
    }

    /// Moves every open batch to ready (at the end of the input).
    pub fn flush(&mut self) {
        let mut all: Vec<Batch> = self.open.drain().map(|(_, b)| b).collect();
        all.sort_by_key(|b| b.opened);
        self.ready.extend(all);
    }

    /// The next ready batch, oldest first.
    pub fn take_ready(&mut self) -> Option<Batch> {
        self.ready.pop_front()
    }

    /// When the oldest open batch's linger ends.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.open
            .values()
            .map(|b| b.opened + self.config.linger)
            .min()
    }

    /// Whether no record is waiting.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.ready.is_empty()
    }

    /// Records waiting, open or ready.
    pub fn pending_records(&self) -> usize {
        self.open.values().chain(&self.ready).map(Batch::len).sum()
    }

    /// Forgets the records of partitions taken away by a rebalance: they are
    /// not committed, so their next owner reads them again.
    pub fn drop_partitions(&mut self, tps: &[TopicPartition]) {
        for batch in self.open.values_mut().chain(self.ready.iter_mut()) {
            batch.drop_partitions(tps);
        }
        self.open.retain(|_, b| !b.is_empty());
        self.ready.retain(|b| !b.is_empty());
        self.next.retain(|tp, _| !tps.contains(tp));
    }

    /// For each partition seen, the offset to commit once every batch handed
    /// out so far is finished: the oldest record still waiting, or the offset
    /// after the last record pushed.
    pub fn committable(&self) -> BTreeMap<TopicPartition, i64> {
        let mut out = self.next.clone();
        for batch in self.open.values().chain(&self.ready) {
            for (tp, first) in batch.firsts() {
                if let Some(o) = out.get_mut(&tp) {
                    *o = (*o).min(first);
                }
            }
        }
        out
    }
}

impl Batcher {
    /// [`Batcher::committable`], raised to `position` for partitions with
    /// no record waiting: the consumer's position is past the last record
    /// returned and any transaction markers or aborted records after it, so
    /// committing it lets lag reach 0 on a transactional input.
    pub fn committable_at(
        &self,
        position: impl Fn(&TopicPartition) -> Option<i64>,
    ) -> BTreeMap<TopicPartition, i64> {
        let mut out = self.committable();
        for (tp, o) in out.iter_mut() {
            if self.next.get(tp) == Some(o) {
                if let Some(p) = position(tp) {
                    *o = (*o).max(p);
                }
            }
        }
        out
    }

    /// After `failed` (a batch taken out) could not be finished: per
    /// partition, where the consumer must seek to read again what was not
    /// finished (the failed batch's first offsets, else the oldest record
    /// still waiting, else the offset after the last pushed). Finished
    /// records are not read again, unfinished ones are not skipped. Call
    /// [`Batcher::clear`] before reading again.
    pub fn rewind_points(&self, failed: &Batch) -> BTreeMap<TopicPartition, i64> {
        let mut to = self.committable();
        for (tp, first) in failed.firsts() {
            to.entry(tp)
                .and_modify(|o| *o = (*o).min(first))
                .or_insert(first);
        }
        to
    }

    /// Forgets every record (open, ready and what was pushed): the caller
    /// seeks the consumer back to read them again.
    pub fn clear(&mut self) {
        self.open.clear();
        self.ready.clear();
        self.next.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sluice_wire::records::{Headers, TimestampType};

    use super::*;

    fn rec(partition: i32, offset: i64, key: &str) -> ConsumerRecord {
        ConsumerRecord {
            topic: "t".into(),
            partition,
            offset,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: Some(Bytes::from_static(b"0123456789")),
            headers: Headers::default(),
        }
    }

    fn config(records: usize, bytes: usize, linger_ms: u64, group_by: GroupBy) -> BatchConfig {
        BatchConfig {
            max_records: records,
            max_bytes: bytes,
            linger: Duration::from_millis(linger_ms),
            group_by,
            ..BatchConfig::default()
        }
    }

    fn offsets(b: &Batch) -> Vec<(i32, i64)> {
        b.iter().map(|r| (r.partition, r.offset)).collect()
    }

    #[test]
    fn a_batch_is_ready_at_its_record_count_or_its_bytes() {
        let now = Instant::now();
        let mut b = Batcher::new(config(3, 1 << 20, 1000, GroupBy::None));
        for o in 0..7 {
            b.push(rec(0, o, "k"), now);
        }
        assert_eq!(
            offsets(&b.take_ready().unwrap()),
            vec![(0, 0), (0, 1), (0, 2)]
        );
        assert_eq!(
            offsets(&b.take_ready().unwrap()),
            vec![(0, 3), (0, 4), (0, 5)]
        );
        assert!(b.take_ready().is_none());
        assert_eq!(b.pending_records(), 1);

        let mut b = Batcher::new(config(100, 25, 1000, GroupBy::None));
        for o in 0..3 {
            b.push(rec(0, o, "k"), now); // 11 bytes each
        }
        assert_eq!(b.take_ready().unwrap().bytes, 33);
    }

    #[test]
    fn linger_closes_a_partial_batch_and_sets_the_next_wake() {
        let t0 = Instant::now();
        let mut b = Batcher::new(config(100, 1 << 20, 50, GroupBy::None));
        assert_eq!(b.next_deadline(), None);
        b.push(rec(0, 0, "k"), t0);
        b.push(rec(0, 1, "k"), t0 + Duration::from_millis(30));
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_millis(50)));
        b.expire(t0 + Duration::from_millis(49));
        assert!(b.take_ready().is_none());
        b.expire(t0 + Duration::from_millis(50));
        assert_eq!(b.take_ready().unwrap().len(), 2);
        assert!(b.is_empty());
    }

    #[test]
    fn per_partition_and_per_key_batches_fill_apart() {
        let now = Instant::now();
        let mut b = Batcher::new(config(2, 1 << 20, 1000, GroupBy::Partition));
        for (p, o) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            b.push(rec(p, o, "k"), now);
        }
        assert_eq!(offsets(&b.take_ready().unwrap()), vec![(0, 0), (0, 1)]);
        assert_eq!(offsets(&b.take_ready().unwrap()), vec![(1, 0), (1, 1)]);

        let mut b = Batcher::new(config(2, 1 << 20, 1000, GroupBy::Key));
        for (o, k) in [(0, "a"), (1, "b"), (2, "a")] {
            b.push(rec(0, o, k), now);
        }
        let ready = b.take_ready().unwrap();
        assert_eq!(offsets(&ready), vec![(0, 0), (0, 2)]);
        assert_eq!(ready.ranges()[0].first, 0);
    }

    #[test]
    fn commits_stop_at_the_oldest_record_still_waiting() {
        let now = Instant::now();
        let mut b = Batcher::new(config(2, 1 << 20, 1000, GroupBy::Key));
        for (o, k) in [(0, "a"), (1, "b"), (2, "a"), (3, "c")] {
            b.push(rec(0, o, k), now);
        }
        // "a" (0, 2) is ready; "b" at 1 and "c" at 3 still wait.
        let done = b.take_ready().unwrap();
        assert_eq!(offsets(&done), vec![(0, 0), (0, 2)]);
        let tp = TopicPartition::new("t", 0);
        assert_eq!(b.committable()[&tp], 1, "not past offset 1, which waits");
        b.flush();
        while b.take_ready().is_some() {}
        assert_eq!(b.committable()[&tp], 4);
    }

    #[test]
    fn revoked_partitions_are_dropped_and_not_committed() {
        let now = Instant::now();
        let mut b = Batcher::new(config(10, 1 << 20, 1000, GroupBy::None));
        for (p, o) in [(0, 5), (1, 7), (0, 6)] {
            b.push(rec(p, o, "k"), now);
        }
        b.drop_partitions(&[TopicPartition::new("t", 0)]);
        assert_eq!(b.pending_records(), 1);
        let c = b.committable();
        assert_eq!(c.len(), 1);
        assert_eq!(c[&TopicPartition::new("t", 1)], 7);
    }

    #[test]
    fn a_failed_batch_rewinds_to_its_first_offsets_and_what_still_waits() {
        let now = Instant::now();
        let mut b = Batcher::new(config(2, 1 << 20, 1000, GroupBy::Partition));
        for (p, o) in [(0, 10), (0, 11), (1, 20), (0, 12), (1, 21), (1, 22), (2, 5)] {
            b.push(rec(p, o, "k"), now);
        }
        let first = b.take_ready().unwrap(); // p0 10..=11
        assert_eq!(offsets(&first), vec![(0, 10), (0, 11)]);
        let second = b.take_ready().unwrap(); // p1 20..=21: fails
        assert_eq!(offsets(&second), vec![(1, 20), (1, 21)]);
        let to = b.rewind_points(&second);
        b.clear();
        let to: Vec<(i32, i64)> = to.into_iter().map(|(tp, o)| (tp.partition, o)).collect();
        // p0: 12 still waited (10 and 11 were finished); p1: the failed
        // batch's first; p2: its waiting record.
        assert_eq!(to, vec![(0, 12), (1, 20), (2, 5)]);
        assert!(b.is_empty());
        assert!(b.committable().is_empty());
    }

    #[test]
    fn a_partition_with_nothing_waiting_commits_at_the_position() {
        let now = Instant::now();
        let mut b = Batcher::new(config(2, 1 << 20, 1000, GroupBy::None));
        for (p, o) in [(0, 0), (0, 1), (1, 7)] {
            b.push(rec(p, o, "k"), now);
        }
        b.take_ready().unwrap();
        // p0's position is past a commit marker at 2; p1 still waits at 7.
        let at = b.committable_at(|tp| Some(if tp.partition == 0 { 3 } else { 9 }));
        let at: Vec<(i32, i64)> = at.into_iter().map(|(tp, o)| (tp.partition, o)).collect();
        assert_eq!(at, vec![(0, 3), (1, 7)]);
    }

    /// The batches and commit points a batcher gives, pushed record by
    /// record or poll by poll.
    fn cut(
        b: &mut Batcher,
        records: &[ConsumerRecord],
        poll: Option<usize>,
    ) -> Vec<Vec<(i32, i64)>> {
        let now = Instant::now();
        match poll {
            None => records.iter().for_each(|r| b.push(r.clone(), now)),
            Some(n) => records
                .chunks(n)
                .for_each(|c| b.push_polled(PolledBatch::from_records(c.to_vec()), now)),
        }
        let mut out = Vec::new();
        while let Some(batch) = b.take_ready() {
            assert_eq!(batch.len(), batch.iter().count());
            let bytes: usize = batch.iter().map(|r| record_bytes(&r)).sum();
            assert_eq!(batch.bytes, bytes);
            out.push(offsets(&batch));
        }
        out
    }

    #[test]
    fn a_poll_pushed_whole_is_cut_as_its_records_pushed_one_by_one() {
        // Two partitions interleaved, values of 10 bytes and keys of 1 to 3.
        let records: Vec<ConsumerRecord> = (0..40)
            .map(|i| rec(i % 2, i as i64 / 2, &"k".repeat(1 + i as usize % 3)))
            .collect();
        for (max_records, max_bytes) in [
            (7, 1 << 20),
            (100, 60),
            (5, 40),
            (1, 1 << 20),
            (100, 1 << 20),
        ] {
            for poll in [1, 3, 7, 16, 40] {
                for group_by in [GroupBy::None, GroupBy::Partition] {
                    let config = config(max_records, max_bytes, 1000, group_by);
                    let mut one = Batcher::new(config.clone());
                    let mut polled = Batcher::new(config);
                    let what = format!("{max_records}/{max_bytes} poll {poll} {group_by:?}");
                    assert_eq!(
                        cut(&mut one, &records, None),
                        cut(&mut polled, &records, Some(poll)),
                        "{what}"
                    );
                    assert_eq!(one.pending_records(), polled.pending_records(), "{what}");
                    assert_eq!(one.committable(), polled.committable(), "{what}");
                    one.flush();
                    polled.flush();
                    // Batches opened at the same instant flush in no set order.
                    let (mut a, mut b) = (cut(&mut one, &[], None), cut(&mut polled, &[], None));
                    a.sort();
                    b.sort();
                    assert_eq!(a, b, "{what}");
                }
            }
        }
    }

    #[test]
    fn revoked_partitions_are_dropped_from_batches_sharing_a_poll() {
        let now = Instant::now();
        let mut b = Batcher::new(config(3, 1 << 20, 1000, GroupBy::None));
        let records: Vec<ConsumerRecord> = (0..8).map(|i| rec(i % 2, i as i64, "k")).collect();
        b.push_polled(PolledBatch::from_records(records), now);
        // Ready: 0..3 and 3..6; open: 6, 7.
        b.drop_partitions(&[TopicPartition::new("t", 1)]);
        assert_eq!(b.pending_records(), 4);
        let first = b.take_ready().unwrap();
        assert_eq!(offsets(&first), vec![(0, 0), (0, 2)]);
        assert_eq!(first.bytes, 22);
        assert_eq!(offsets(&b.take_ready().unwrap()), vec![(0, 4)]);
        b.flush();
        assert_eq!(offsets(&b.take_ready().unwrap()), vec![(0, 6)]);
        let c = b.committable();
        assert_eq!(c.len(), 1);
        assert_eq!(c[&TopicPartition::new("t", 0)], 7);
    }
}
