//! [`Batch`]: the records handed to the batch function together, as views.
//!
//! A batch does not copy or own its records one by one. Its records are
//! runs of the polls they came from: each poll's [`PolledBatch`] (views of
//! the fetched buffers, no reference count per record) is shared by the
//! batches it fills, and a batch holds, per run, the poll and the range of
//! its records it covers. Iterating builds a [`ConsumerRecordRef`] per
//! record from its span, as iterating the poll does. Records that had to be
//! owned (batches per key or per partition, which pick records one by one,
//! or records pushed owned) sit in runs of their own; the views are the
//! same. A rebalance that takes partitions away marks them dropped in the
//! runs, which then skip their records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use sluice_fetch::record::{ConsumerRecord, ConsumerRecordRef};
use sluice_fetch::{PolledBatch, TopicPartition};

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

/// Records handed to the batch function together, in the order the
/// consumer returned them: iterate them as views with [`Batch::iter`], keep
/// them with [`Batch::to_owned`]. Cloning a batch shares its buffers.
#[derive(Debug, Clone)]
pub struct Batch {
    runs: Vec<Run>,
    len: usize,
    /// Bytes of keys and values.
    pub bytes: usize,
    pub(crate) opened: Instant,
}

/// Consecutive records of a batch.
#[derive(Debug, Clone)]
enum Run {
    /// Records `from..to` of a poll (in its order), without those of the
    /// `dropped` partitions.
    Polled {
        polled: Arc<PolledBatch>,
        from: usize,
        to: usize,
        dropped: Vec<TopicPartition>,
    },
    /// Records held owned.
    Owned(Vec<ConsumerRecord>),
}

/// The bytes of a record's key and value, as `batch.bytes` counts them.
pub(crate) fn record_bytes(r: &ConsumerRecordRef<'_>) -> usize {
    r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len)
}

fn is_in(tps: &[TopicPartition], r: &ConsumerRecordRef<'_>) -> bool {
    tps.iter()
        .any(|tp| tp.partition == r.partition && *tp.topic == *r.topic)
}

impl Batch {
    pub(crate) fn new(opened: Instant) -> Self {
        Batch {
            runs: Vec::new(),
            len: 0,
            bytes: 0,
            opened,
        }
    }

    /// A batch of owned records (tests, and applications that build their
    /// own), opened now.
    pub fn from_records(records: Vec<ConsumerRecord>) -> Self {
        let mut batch = Batch::new(Instant::now());
        for r in records {
            batch.push_owned(r);
        }
        batch
    }

    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The records, in order, as views of the batch's buffers.
    pub fn iter(&self) -> impl Iterator<Item = ConsumerRecordRef<'_>> + Clone + '_ {
        self.runs.iter().flat_map(Run::iter)
    }

    /// The records, owned (sharing the buffers: a reference count for each
    /// of topic, key, value and headers).
    pub fn to_owned(&self) -> Vec<ConsumerRecord> {
        self.iter().map(|r| r.to_owned()).collect()
    }

    /// The partitions the batch covers, with their offset ranges, sorted.
    pub fn ranges(&self) -> Vec<PartitionRange> {
        let mut ranges: BTreeMap<(&str, i32), PartitionRange> = BTreeMap::new();
        for r in self.iter() {
            ranges
                .entry((r.topic, r.partition))
                .and_modify(|x| {
                    x.first = x.first.min(r.offset);
                    x.last = x.last.max(r.offset);
                    x.records += 1;
                })
                .or_insert_with(|| PartitionRange {
                    topic: r.topic.into(),
                    partition: r.partition,
                    first: r.offset,
                    last: r.offset,
                    records: 1,
                });
        }
        ranges.into_values().collect()
    }

    /// The first offset of each partition in the batch.
    pub(crate) fn firsts(&self) -> impl Iterator<Item = (TopicPartition, i64)> + '_ {
        self.ranges()
            .into_iter()
            .map(|r| (TopicPartition::new(r.topic, r.partition), r.first))
    }

    /// Adds an owned record.
    pub(crate) fn push_owned(&mut self, record: ConsumerRecord) {
        self.bytes += record_bytes(&record.view());
        self.len += 1;
        if let Some(Run::Owned(records)) = self.runs.last_mut() {
            records.push(record);
        } else {
            self.runs.push(Run::Owned(vec![record]));
        }
    }

    /// Adds records `from..to` of `polled`, holding `len` records of `bytes`
    /// bytes.
    pub(crate) fn push_polled(
        &mut self,
        polled: &Arc<PolledBatch>,
        from: usize,
        to: usize,
        bytes: usize,
    ) {
        self.len += to - from;
        self.bytes += bytes;
        self.runs.push(Run::Polled {
            polled: polled.clone(),
            from,
            to,
            dropped: Vec::new(),
        });
    }

    /// Forgets the records of `tps`.
    pub(crate) fn drop_partitions(&mut self, tps: &[TopicPartition]) {
        for run in &mut self.runs {
            match run {
                Run::Polled { dropped, .. } => dropped.extend(tps.iter().cloned()),
                Run::Owned(records) => records.retain(|r| !is_in(tps, &r.view())),
            }
        }
        self.runs.retain(|run| run.iter().next().is_some());
        self.len = self.iter().count();
        self.bytes = self.iter().map(|r| record_bytes(&r)).sum();
    }
}

impl Run {
    fn iter(&self) -> RunIter<'_> {
        match self {
            Run::Polled {
                polled,
                from,
                to,
                dropped,
            } => RunIter::Polled {
                records: polled.iter().skip(*from).take(to - from),
                dropped,
            },
            Run::Owned(records) => RunIter::Owned(records.iter()),
        }
    }
}

/// The records of a run.
#[derive(Clone)]
enum RunIter<'a> {
    Polled {
        records: std::iter::Take<std::iter::Skip<sluice_fetch::polled::Iter<'a>>>,
        dropped: &'a [TopicPartition],
    },
    Owned(std::slice::Iter<'a, ConsumerRecord>),
}

impl<'a> Iterator for RunIter<'a> {
    type Item = ConsumerRecordRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<ConsumerRecordRef<'a>> {
        match self {
            RunIter::Polled {
                records,
                dropped: [],
            } => records.next(),
            RunIter::Polled { records, dropped } => records.find(|r| !is_in(dropped, r)),
            RunIter::Owned(records) => records.next().map(ConsumerRecord::view),
        }
    }
}
