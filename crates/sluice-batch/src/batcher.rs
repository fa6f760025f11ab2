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
use sluice_fetch::TopicPartition;
use sluice_fetch::record::ConsumerRecord;

use crate::config::{BatchConfig, GroupBy};

/// The offsets a batch covers in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRange {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The first offset in the batch.
    pub first: i64,
    /// The last offset in the batch.
    pub last: i64,
    /// How many of the batch's records are from this partition.
    pub records: usize,
}

/// Records handed to the batch function together.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The records, in the order the consumer returned them.
    pub records: Vec<ConsumerRecord>,
    /// Bytes of keys and values.
    pub bytes: usize,
    opened: Instant,
}

impl Batch {
    fn new(opened: Instant) -> Self {
        Batch {
            records: Vec::new(),
            bytes: 0,
            opened,
        }
    }

    /// The partitions the batch covers, with their offset ranges, sorted.
    pub fn ranges(&self) -> Vec<PartitionRange> {
        let mut ranges: BTreeMap<(Arc<str>, i32), PartitionRange> = BTreeMap::new();
        for r in &self.records {
            ranges
                .entry((r.topic.clone(), r.partition))
                .and_modify(|x| {
                    x.first = x.first.min(r.offset);
                    x.last = x.last.max(r.offset);
                    x.records += 1;
                })
                .or_insert_with(|| PartitionRange {
                    topic: r.topic.clone(),
                    partition: r.partition,
                    first: r.offset,
                    last: r.offset,
                    records: 1,
                });
        }
        ranges.into_values().collect()
    }

    /// The first offset of each partition in the batch.
    fn firsts(&self) -> impl Iterator<Item = (TopicPartition, i64)> + '_ {
        self.ranges()
            .into_iter()
            .map(|r| (TopicPartition::new(r.topic, r.partition), r.first))
    }
}

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
        let size =
            record.key.as_ref().map_or(0, Bytes::len) + record.value.as_ref().map_or(0, Bytes::len);
        let batch = self
            .open
            .entry(group.clone())
            .or_insert_with(|| Batch::new(now));
        batch.records.push(record);
        batch.bytes += size;
        if batch.records.len() >= self.config.max_records || batch.bytes >= self.config.max_bytes {
            let batch = self.open.remove(&group).expect("just filled");
            self.ready.push_back(batch);
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
        self.open
            .values()
            .chain(&self.ready)
            .map(|b| b.records.len())
            .sum()
    }

    /// Forgets the records of partitions taken away by a rebalance: they are
    /// not committed, so their next owner reads them again.
    pub fn drop_partitions(&mut self, tps: &[TopicPartition]) {
        let keep = |r: &ConsumerRecord| {
            !tps.iter()
                .any(|tp| tp.partition == r.partition && tp.topic == r.topic)
        };
        for batch in self.open.values_mut().chain(self.ready.iter_mut()) {
            batch.records.retain(keep);
            batch.bytes = batch
                .records
                .iter()
                .map(|r| {
                    r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len)
                })
                .sum();
        }
        self.open.retain(|_, b| !b.records.is_empty());
        self.ready.retain(|b| !b.records.is_empty());
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
        b.records.iter().map(|r| (r.partition, r.offset)).collect()
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
        assert_eq!(b.take_ready().unwrap().records.len(), 2);
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
}
