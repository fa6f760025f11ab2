//! The transactional producer's state machine, sans I/O: which call is legal
//! in which state, and which errors stick. `txn_client` does the
//! requests; `Producer` drives both.
//!
//! ```text
//! Uninitialized --init--> Ready --begin--> InTransaction --commit--> Committing --> Ready
//!                                           |  ^abort from AbortableError too
//!                                           +--abort--> Aborting --> Ready
//! any --abortable error--> AbortableError (only abort is allowed)
//! any --fatal error--> FatalError (nothing is allowed, for good)
//! ```

use sluice_wire::KafkaCode;

use crate::error::ProduceError;

/// Where a transactional producer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnState {
    /// `init_transactions` has not succeeded yet.
    Uninitialized,
    /// No transaction is open.
    Ready,
    /// `begin_transaction` was called: sends belong to the transaction.
    InTransaction,
    /// `commit_transaction` is flushing and ending the transaction.
    Committing,
    /// `abort_transaction` is ending the transaction.
    Aborting,
    /// Something in the transaction failed: only an abort is allowed.
    AbortableError(String),
    /// The producer cannot go on (fenced, unauthorized...): nothing is allowed.
    FatalError(String),
}

/// Whether a broker's error code means the producer is done for good:
/// another instance with the same `transactional.id` fenced it, or it may
/// not use the id.
pub fn is_fatal_code(code: KafkaCode) -> bool {
    [
        KafkaCode::PRODUCER_FENCED,
        KafkaCode::INVALID_PRODUCER_EPOCH,
        KafkaCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        KafkaCode::INVALID_TXN_STATE,
    ]
    .contains(&code)
}

/// The state and its transitions.
#[derive(Debug, Clone)]
pub struct TransactionState {
    state: TxnState,
}

impl Default for TransactionState {
    fn default() -> Self {
        TransactionState {
            state: TxnState::Uninitialized,
        }
    }
}

fn illegal(call: &str, state: &TxnState) -> ProduceError {
    ProduceError::Transaction {
        fatal: false,
        code: None,
        message: format!("{call} is not allowed in state {state:?}"),
    }
}

impl TransactionState {
    /// The current state.
    pub fn state(&self) -> &TxnState {
        &self.state
    }

    /// The error a fatal state answers every call with.
    fn sticky(&self) -> Option<ProduceError> {
        match &self.state {
            TxnState::FatalError(m) => Some(ProduceError::Transaction {
                fatal: true,
                code: None,
                message: m.clone(),
            }),
            _ => None,
        }
    }

    fn expect(&self, call: &str, ok: &[TxnState]) -> Result<(), ProduceError> {
        if let Some(e) = self.sticky() {
            return Err(e);
        }
        if ok.contains(&self.state) {
            Ok(())
        } else if let TxnState::AbortableError(m) = &self.state {
            Err(ProduceError::Transaction {
                fatal: false,
                code: None,
                message: format!("{call}: the transaction must be aborted: {m}"),
            })
        } else {
            Err(illegal(call, &self.state))
        }
    }

    /// `init_transactions` may run (before it succeeded, or to re-init when ready).
    pub fn check_init(&self) -> Result<(), ProduceError> {
        self.expect(
            "init_transactions",
            &[TxnState::Uninitialized, TxnState::Ready],
        )
    }

    /// `init_transactions` succeeded.
    pub fn initialized(&mut self) -> Result<(), ProduceError> {
        self.check_init()?;
        self.state = TxnState::Ready;
        Ok(())
    }

    /// `begin_transaction`.
    pub fn begin(&mut self) -> Result<(), ProduceError> {
        self.expect("begin_transaction", &[TxnState::Ready])?;
        self.state = TxnState::InTransaction;
        Ok(())
    }

    /// A send (or `send_offsets_to_transaction`) may join the transaction.
    pub fn check_send(&self) -> Result<(), ProduceError> {
        self.expect("send", &[TxnState::InTransaction])
    }

    /// A batch may be produced: in the open transaction, or while the
    /// commit flushes it (an abort drops what is not yet sent).
    pub fn check_produce(&self) -> Result<(), ProduceError> {
        self.expect("produce", &[TxnState::InTransaction, TxnState::Committing])
    }

    /// `commit_transaction` starts (a failed commit may be retried).
    pub fn start_commit(&mut self) -> Result<(), ProduceError> {
        self.expect(
            "commit_transaction",
            &[TxnState::InTransaction, TxnState::Committing],
        )?;
        self.state = TxnState::Committing;
        Ok(())
    }

    /// `abort_transaction` starts: from an open, failed or aborting transaction.
    pub fn start_abort(&mut self) -> Result<(), ProduceError> {
        if let Some(e) = self.sticky() {
            return Err(e);
        }
        match self.state {
            TxnState::InTransaction | TxnState::AbortableError(_) | TxnState::Aborting => {
                self.state = TxnState::Aborting;
                Ok(())
            }
            _ => Err(illegal("abort_transaction", &self.state)),
        }
    }

    /// The commit or abort completed: ready for the next transaction.
    pub fn completed(&mut self) -> Result<(), ProduceError> {
        self.expect("completing", &[TxnState::Committing, TxnState::Aborting])?;
        self.state = TxnState::Ready;
        Ok(())
    }

    /// Records an error: fatal ones stick, others make the open or
    /// committing transaction abortable (outside a transaction, or while
    /// aborting, they change nothing).
    pub fn fail(&mut self, e: &ProduceError) {
        if matches!(self.state, TxnState::FatalError(_)) {
            return;
        }
        if is_fatal(e) {
            self.state = TxnState::FatalError(e.to_string());
        } else if matches!(self.state, TxnState::InTransaction | TxnState::Committing) {
            // While aborting, failures of what is dropped are expected.
            self.state = TxnState::AbortableError(e.to_string());
        }
    }
}

/// Whether an error ends the producer for good.
pub fn is_fatal(e: &ProduceError) -> bool {
    match e {
        ProduceError::Transaction { fatal, .. } => *fatal,
        ProduceError::Partition { code, .. } => is_fatal_code(*code),
        ProduceError::TransactionsUnsupported { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fenced() -> ProduceError {
        ProduceError::Transaction {
            fatal: true,
            code: Some(KafkaCode::PRODUCER_FENCED),
            message: "fenced".into(),
        }
    }

    #[test]
    fn a_transaction_goes_begin_commit_begin_abort() {
        let mut t = TransactionState::default();
        assert!(t.begin().is_err(), "begin before init");
        assert!(t.check_send().is_err(), "send before init");
        t.initialized().unwrap();
        assert_eq!(t.state(), &TxnState::Ready);
        assert!(t.check_send().is_err(), "send outside a transaction");
        assert!(t.start_commit().is_err(), "commit outside a transaction");
        assert!(t.start_abort().is_err(), "abort outside a transaction");
        t.begin().unwrap();
        assert!(t.begin().is_err(), "nested begin");
        t.check_send().unwrap();
        t.check_produce().unwrap();
        t.start_commit().unwrap();
        assert_eq!(t.state(), &TxnState::Committing);
        assert!(t.check_send().is_err(), "no new records while committing");
        t.check_produce().unwrap();
        t.completed().unwrap();
        assert_eq!(t.state(), &TxnState::Ready);
        assert!(t.completed().is_err(), "completing twice");
        t.begin().unwrap();
        t.start_abort().unwrap();
        assert!(t.check_produce().is_err(), "an abort drops unsent batches");
        t.completed().unwrap();
        assert_eq!(t.state(), &TxnState::Ready);
    }

    #[test]
    fn abortable_errors_allow_only_an_abort() {
        let mut t = TransactionState::default();
        t.initialized().unwrap();
        t.begin().unwrap();
        let e = ProduceError::Partition {
            tp: sluice_fetch::TopicPartition::new("t", 0),
            code: KafkaCode(2),
            message: None,
        };
        t.fail(&e);
        assert!(matches!(t.state(), TxnState::AbortableError(_)));
        let err = t.check_send().unwrap_err();
        assert!(!is_fatal(&err), "{err}");
        assert!(err.to_string().contains("must be aborted"), "{err}");
        assert!(t.start_commit().is_err());
        t.start_abort().unwrap();
        t.completed().unwrap();
        t.begin().unwrap();
        t.check_send().unwrap();
    }

    #[test]
    fn fatal_errors_stick() {
        let mut t = TransactionState::default();
        t.initialized().unwrap();
        t.begin().unwrap();
        t.fail(&fenced());
        for result in [
            t.check_send(),
            t.clone().start_commit(),
            t.clone().start_abort(),
            t.clone().begin(),
            t.check_init(),
        ] {
            let e = result.unwrap_err();
            assert!(is_fatal(&e) && e.to_string().contains("fenced"), "{e}");
        }
        t.fail(&ProduceError::Client("later".into()));
        assert_eq!(t.state(), &TxnState::FatalError(fenced().to_string()));
        let produced = ProduceError::Partition {
            tp: sluice_fetch::TopicPartition::new("t", 0),
            code: KafkaCode::INVALID_PRODUCER_EPOCH,
            message: None,
        };
        let mut u = TransactionState::default();
        u.initialized().unwrap();
        u.fail(&produced);
        assert!(matches!(u.state(), TxnState::FatalError(_)));
    }
}
