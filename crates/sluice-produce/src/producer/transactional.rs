//! The transactional API of [`Producer`] (`transactional.id`): init, begin,
//! send offsets, commit, abort. The state machine is
//! [`crate::transaction`]; the requests are `txn_client`.

use tokio::sync::oneshot;

use super::Producer;
use super::*;

impl Producer {
    fn txn(&self) -> Result<&SharedTxn, ProduceError> {
        self.txn.as_ref().ok_or_else(|| ProduceError::Config {
            key: "transactional.id".into(),
            message: "the producer is not transactional: set transactional.id".into(),
        })
    }

    /// Whether the transactions run version 2 (KIP-890: no
    /// AddPartitionsToTxn or AddOffsetsToTxn, an epoch bump per
    /// transaction), as decided by `init_transactions` (`None` without
    /// `transactional.id`).
    pub fn transaction_v2(&self) -> Option<bool> {
        self.txn.as_ref().map(|t| t.lock().tv2)
    }

    /// Hands the epoch a TV2 EndTxn bumped to to the task (its sequences
    /// start again at 0).
    async fn use_bumped_epoch(&self, bumped: Option<(i64, i16)>) -> Result<(), ProduceError> {
        let Some(producer) = bumped else {
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::SetProducer(producer, tx))
            .map_err(|_| ProduceError::Closed)?;
        rx.await.map_err(|_| ProduceError::Closed)
    }

    /// Where the transaction is (`None` without `transactional.id`).
    pub fn transaction_state(&self) -> Option<TxnState> {
        self.txn.as_ref().map(|t| t.lock().machine.state().clone())
    }

    /// Registers the `transactional.id` with its coordinator
    /// (FindCoordinator type TRANSACTION, then InitProducerId): older
    /// producers with the same id are fenced and their open transaction
    /// aborted. Fails at once with [`ProduceError::TransactionsUnsupported`]
    /// naming the API when the broker lacks one transactions need (tansu 0.6
    /// has no EndTxn). Retries coordinator errors until `request.timeout.ms`.
    ///
    /// Cancel safety: dropped midway, the producer stays uninitialized (a
    /// broker may have bumped the epoch already); call it again.
    pub async fn init_transactions(&self) -> Result<(), ProduceError> {
        let txn = self.txn()?;
        txn.lock().machine.check_init()?;
        let result = async {
            let conn = self.pool.least_loaded().await?;
            txn_client::check_apis(&conn)?;
            let tv2 = txn_client::transaction_v2(&conn).await?;
            txn.lock().tv2 = tv2;
            txn.init(&self.pool).await
        }
        .await;
        let producer = match result {
            Ok(p) => p,
            Err(e) => {
                txn.lock().machine.fail(&e);
                return Err(e);
            }
        };
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::SetProducer(producer, tx))
            .map_err(|_| ProduceError::Closed)?;
        rx.await.map_err(|_| ProduceError::Closed)?;
        let mut inner = txn.lock();
        inner.producer = Some(producer);
        inner.machine.initialized()
    }

    /// Opens a transaction: sends from now on belong to it. Local only (the
    /// broker learns of it with the first partition or offsets).
    pub fn begin_transaction(&self) -> Result<(), ProduceError> {
        self.txn()?.lock().machine.begin()
    }

    /// Adds a consumer group's offsets to the transaction (AddOffsetsToTxn,
    /// then TxnOffsetCommit to the group's coordinator with the member's
    /// generation, member id and instance id, KIP-447): they are committed
    /// if and only if the transaction commits. `offsets` are the next
    /// offsets to read (the position), per partition.
    ///
    /// Cancel safety: dropped midway, the offsets may or may not be in the
    /// transaction; abort it (or call again: the commit is idempotent).
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(TopicPartition, i64)],
        group: &GroupMetadata,
    ) -> Result<(), ProduceError> {
        let txn = self.txn()?;
        let result = txn.send_offsets(&self.pool, offsets, group).await;
        if let Err(e) = &result {
            txn.lock().machine.fail(e);
        }
        result
    }

    /// Flushes, waits for every record of the transaction to be
    /// acknowledged, then commits it (EndTxn). If a record failed, the
    /// transaction cannot commit: the error is abortable (abort, then retry
    /// the work) or fatal (the producer is done).
    ///
    /// Cancel safety: dropped midway, the transaction stays open or
    /// committing; call it again to finish, or abort.
    pub async fn commit_transaction(&self) -> Result<(), ProduceError> {
        let txn = self.txn()?;
        txn.lock().machine.start_commit()?;
        self.flush().await;
        // A record failed while flushing: the machine says abortable or fatal.
        txn.lock().machine.start_commit()?;
        match txn.end(&self.pool, true).await {
            Ok(bumped) => {
                self.use_bumped_epoch(bumped).await?;
                txn.lock().machine.completed()
            }
            Err(e) => {
                txn.lock().machine.fail(&e);
                Err(e)
            }
        }
    }

    /// Aborts the transaction (EndTxn abort): nothing it wrote is visible
    /// to read_committed consumers and its offsets are not committed.
    /// Records not yet sent are dropped (they fail); ones in flight are
    /// awaited first.
    ///
    /// Cancel safety: dropped midway, the transaction is aborting; call it
    /// again to finish (the coordinator also aborts it after
    /// `transaction.timeout.ms`).
    pub async fn abort_transaction(&self) -> Result<(), ProduceError> {
        let txn = self.txn()?;
        txn.lock().machine.start_abort()?;
        self.flush().await;
        match txn.end(&self.pool, false).await {
            Ok(bumped) => {
                self.use_bumped_epoch(bumped).await?;
                txn.lock().machine.completed()
            }
            Err(e) => {
                txn.lock().machine.fail(&e);
                Err(e)
            }
        }
    }
}
