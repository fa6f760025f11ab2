//! The pipeline's exactly-once mode (`processing.guarantee=exactly_once_v2`,
//! KIP-98 and KIP-447): each batch is finished in one transaction of the
//! results producer.
//!
//! For every batch: `begin_transaction`, run the function, write its
//! results, `send_offsets_to_transaction` with what the batch makes
//! committable and the consumer's group metadata (the group coordinator
//! refuses a member fenced by a rebalance), `commit_transaction`. A
//! read_committed reader of the results therefore sees a batch's result if
//! and only if its input offsets are committed.
//!
//! On a failure the transaction is aborted (its results are invisible), the
//! batcher forgets every record and the consumer is sought back to the
//! first offsets not finished ([`Batcher::rewind_points`](crate::Batcher::rewind_points)):
//! the next polls read them again, nothing skipped, nothing counted twice.
//! The rewound position fails at most `batch.retries + 1` times before the
//! run stops with [`BatchError::Failed`]. A fatal producer error (fenced by
//! a newer instance with the same `transactional.id`, not authorized)
//! stops the run at once with that error.
//!
//! A transaction is open only inside one batch's finishing, never across a
//! poll: the rebalance listener (which runs inside poll) always finds the
//! last transaction committed or aborted, and batches holding revoked
//! partitions lose those records before any later transaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use sluice_fetch::TopicPartition;
use sluice_fetch::config::IsolationLevel;
use sluice_group::{ConsumerGroupMetadata, GroupConsumer};
use sluice_produce::{GroupMetadata, ProduceError, Producer, TxnState};

use super::{BatchFn, Pipeline};
use crate::batcher::Batch;
use crate::error::{BatchError, BoxError};

/// The exactly-once bookkeeping between batches.
#[derive(Debug, Default)]
pub struct TxnProgress {
    /// Where the consumer was rewound to after the last failure, and how
    /// many times in a row the batch starting there failed.
    failures: Option<(Vec<(TopicPartition, i64)>, u32)>,
    /// Where to rewind to if a `run` dropped while a transaction was open
    /// leaves it for the next one to abort.
    open: Option<BTreeMap<TopicPartition, i64>>,
}

impl TxnProgress {
    /// Counts a failure of the batch starting at `at`; returns how many in a row.
    fn failed_at(&mut self, at: &BTreeMap<TopicPartition, i64>) -> u32 {
        let at: Vec<_> = at.iter().map(|(tp, o)| (tp.clone(), *o)).collect();
        match &mut self.failures {
            Some((last, n)) if *last == at => {
                *n += 1;
                *n
            }
            _ => {
                self.failures = Some((at, 1));
                1
            }
        }
    }
}

/// Checks what exactly-once needs of the consumer and the output.
pub(super) fn check(
    consumer: &GroupConsumer,
    output: Option<&(Producer, String)>,
) -> Result<(), BatchError> {
    let refuse = |key: &str, message: &str| {
        Err(BatchError::Config {
            key: key.into(),
            message: format!("{message} with processing.guarantee=exactly_once_v2"),
        })
    };
    if consumer.fetch_client().fetcher().config().isolation_level != IsolationLevel::ReadCommitted {
        return refuse(
            "isolation.level",
            "must be read_committed (an aborted input must not be counted)",
        );
    }
    match output {
        None => refuse(
            "processing.guarantee",
            "needs a results topic: the offsets commit in the results' transaction",
        ),
        Some((producer, _)) if producer.transaction_state().is_none() => refuse(
            "transactional.id",
            "the results producer needs a transactional.id",
        ),
        Some(_) => Ok(()),
    }
}

/// The producer's identity view of the consumer's group metadata.
pub fn to_producer_metadata(m: ConsumerGroupMetadata) -> GroupMetadata {
    GroupMetadata {
        group_id: m.group_id,
        generation_id: m.generation_id,
        member_id: m.member_id,
        group_instance_id: m.group_instance_id,
    }
}

/// A fatal producer error, if `e` is (or wraps) one: the run must stop.
fn fatal(e: &BoxError) -> Option<ProduceError> {
    e.downcast_ref::<ProduceError>()
        .filter(|e| sluice_produce::transaction::is_fatal(e))
        .cloned()
}

impl Pipeline {
    fn producer(&self) -> Result<Producer, BatchError> {
        self.output
            .as_ref()
            .map(|(p, _)| p.clone())
            .ok_or_else(|| BatchError::Config {
                key: "processing.guarantee".into(),
                message: "exactly_once_v2 needs a results topic".into(),
            })
    }

    /// Before the first poll: `init_transactions` if not done (so a broker
    /// without transactions fails the run before anything is consumed),
    /// then ends a transaction a dropped `run` left open.
    pub(super) async fn start_transactions(&mut self) -> Result<(), BatchError> {
        let producer = self.producer()?;
        match producer.transaction_state() {
            Some(TxnState::Uninitialized) => producer.init_transactions().await?,
            Some(TxnState::Committing) => {
                // The commit's outcome is unknown: finishing it is the only
                // move the coordinator allows; the batch was committed.
                producer.commit_transaction().await?;
                self.txn.open = None;
            }
            Some(TxnState::InTransaction | TxnState::Aborting | TxnState::AbortableError(_)) => {
                producer.abort_transaction().await?;
                if let Some(to) = self.txn.open.take() {
                    self.batcher.clear();
                    self.seek_back(&to)?;
                }
            }
            Some(TxnState::FatalError(e)) => {
                return Err(ProduceError::Transaction {
                    fatal: true,
                    code: None,
                    message: e,
                }
                .into());
            }
            Some(TxnState::Ready) | None => {}
        }
        Ok(())
    }

    /// Seeks every owned partition of `to` there.
    fn seek_back(&mut self, to: &BTreeMap<TopicPartition, i64>) -> Result<(), BatchError> {
        let owned = self.consumer.assignment();
        for (tp, offset) in to {
            if owned.contains(tp) {
                self.consumer.seek(tp, *offset)?;
            }
        }
        Ok(())
    }

    /// Finishes a batch in a transaction; on an abortable failure aborts,
    /// rewinds and returns `Ok` (the records are read again) unless the
    /// retries are spent.
    pub(super) async fn finish_in_transaction(
        &mut self,
        f: &mut dyn BatchFn,
        batch: Batch,
    ) -> Result<(), BatchError> {
        let started = Instant::now();
        let producer = self.producer()?;
        let batch = Arc::new(batch);
        // What the batch makes committable (nothing of it waits any more).
        let owned = self.consumer.assignment();
        let offsets: Vec<(TopicPartition, i64)> = self
            .batcher
            .committable_at(|tp| self.consumer.position(tp))
            .into_iter()
            .filter(|(tp, o)| owned.contains(tp) && self.committed.get(tp) != Some(o))
            .collect();
        let group = to_producer_metadata(self.consumer.group_metadata());
        // Where to rewind if this future is dropped with the transaction open.
        self.txn.open = Some(self.batcher.rewind_points(&batch));
        let attempt = async {
            producer.begin_transaction()?;
            let outputs = f.call(batch.clone()).await?;
            let n = self.write(outputs).await?;
            if !offsets.is_empty() {
                producer
                    .send_offsets_to_transaction(&offsets, &group)
                    .await?;
            }
            producer.commit_transaction().await?;
            Ok::<u64, BoxError>(n)
        };
        let result = attempt.await;
        self.txn.open = None;
        match result {
            Ok(results) => {
                self.txn.failures = None;
                self.committed.extend(offsets);
                self.progress.batches += 1;
                self.progress.records += batch.len() as u64;
                self.progress.results += results;
                self.stats.finished(batch.len(), results, started.elapsed());
                Ok(())
            }
            Err(e) => self.abort_and_rewind(&producer, &batch, e).await,
        }
    }

    async fn abort_and_rewind(
        &mut self,
        producer: &Producer,
        batch: &Batch,
        e: BoxError,
    ) -> Result<(), BatchError> {
        let ranges = ranges(batch);
        if let Some(fatal) = fatal(&e) {
            self.failed = Some(ranges);
            self.stats.failed();
            return Err(fatal.into());
        }
        if matches!(
            producer.transaction_state(),
            Some(TxnState::InTransaction | TxnState::AbortableError(_))
        ) {
            if let Err(abort) = producer.abort_transaction().await {
                self.failed = Some(ranges);
                self.stats.failed();
                return Err(abort.into());
            }
        }
        let to = self.batcher.rewind_points(batch);
        self.batcher.clear();
        self.seek_back(&to)?;
        let failures = self.txn.failed_at(&to);
        if failures > self.config.max_retries {
            self.failed = Some(ranges.clone());
            self.stats.failed();
            return Err(BatchError::Failed {
                attempts: failures,
                records: batch.len(),
                ranges,
                source: e,
            });
        }
        self.progress.retries += 1;
        self.stats.retried();
        let wait = self.config.backoff(failures);
        tracing::warn!(error = %e, failures, ?wait, "batch transaction aborted; reading its records again");
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// The batch's partitions and offsets, for errors.
fn ranges(batch: &Batch) -> String {
    batch
        .ranges()
        .iter()
        .map(|r| format!("{}/{} {}..={}", r.topic, r.partition, r.first, r.last))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offsets: &[(i32, i64)]) -> BTreeMap<TopicPartition, i64> {
        offsets
            .iter()
            .map(|(p, o)| (TopicPartition::new("t", *p), *o))
            .collect()
    }

    #[test]
    fn failures_count_in_a_row_at_the_same_rewind_point() {
        let mut t = TxnProgress::default();
        assert_eq!(t.failed_at(&at(&[(0, 5)])), 1);
        assert_eq!(t.failed_at(&at(&[(0, 5)])), 2);
        // Progress was made: the count starts again.
        assert_eq!(t.failed_at(&at(&[(0, 9)])), 1);
        t.failures = None;
        assert_eq!(t.failed_at(&at(&[(0, 9)])), 1);
    }

    #[test]
    fn only_fatal_producer_errors_stop_the_run() {
        let fenced: BoxError = Box::new(ProduceError::Transaction {
            fatal: true,
            code: Some(sluice_wire::KafkaCode::PRODUCER_FENCED),
            message: "fenced".into(),
        });
        assert!(fatal(&fenced).is_some());
        let abortable: BoxError = Box::new(ProduceError::Transaction {
            fatal: false,
            code: None,
            message: "a record failed".into(),
        });
        assert!(fatal(&abortable).is_none());
        let app: BoxError = "the function failed".into();
        assert!(fatal(&app).is_none());
    }

    #[test]
    fn the_group_metadata_reaches_the_producer_unchanged() {
        let m = to_producer_metadata(ConsumerGroupMetadata {
            group_id: "g".into(),
            generation_id: 3,
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
        });
        assert_eq!(
            (m.group_id.as_str(), m.generation_id, m.member_id.as_str()),
            ("g", 3, "m")
        );
        assert_eq!(m.group_instance_id.as_deref(), Some("i"));
    }
}
