//! The application's handle: `Producer` sends records over a channel to the
//! background task (`driver`) that batches and writes them.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, ProducerId};
use sluice_fetch::pool::BrokerPool;
use sluice_wire::KafkaCode;
use tokio::sync::{mpsc, oneshot};

use crate::config::ProducerConfig;
use crate::driver::{Command, Driver};
use crate::error::ProduceError;
use crate::record::{DeliveryFuture, ProducerRecord};
use crate::stats::{ProducerStats, ProducerStatsSnapshot};
use crate::transaction::TxnState;
use crate::txn_client::{self, GroupMetadata, SharedTxn, Txn};
use sluice_fetch::TopicPartition;

mod transactional;

/// A Kafka producer. Cheap to clone, `Send` and `Sync`; every clone feeds
/// the same background task, which stops once the last clone is dropped or
/// closed (after delivering what was sent).
#[derive(Debug, Clone)]
pub struct Producer {
    commands: mpsc::UnboundedSender<Command>,
    producer: Option<(i64, i16)>,
    stats: Arc<ProducerStats>,
    pool: Arc<BrokerPool>,
    /// With `transactional.id`.
    txn: Option<SharedTxn>,
}

impl Producer {
    /// Checks the configuration, connects to a bootstrap broker (and with
    /// `enable.idempotence` gets a producer id), then starts the task. Must
    /// be called within a tokio runtime. With `transactional.id`, call
    /// [`Producer::init_transactions`] next.
    pub async fn connect(config: ProducerConfig) -> Result<Producer, ProduceError> {
        if config.bootstrap_servers.is_empty() {
            return Err(ProduceError::Config {
                key: "bootstrap.servers".into(),
                message: "required".into(),
            });
        }
        config.validate()?;
        let pool = BrokerPool::new(config.bootstrap_servers.clone(), config.connection());
        let conn = pool.least_loaded().await?;
        let txn = config.transactional_id.clone().map(|id| {
            Arc::new(Txn::new(
                id,
                config.transaction_timeout.as_millis() as i32,
                config.retry_backoff,
                config.request_timeout,
            ))
        });
        let producer = if config.enable_idempotence && txn.is_none() {
            let response = conn
                .send(
                    InitProducerIdRequest::default()
                        .with_transactional_id(None)
                        .with_transaction_timeout_ms(i32::MAX)
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1),
                )
                .await?;
            let code = KafkaCode(response.error_code);
            if !code.is_ok() {
                return Err(ProduceError::Client(format!("InitProducerId: {code}")));
            }
            Some((response.producer_id.0, response.producer_epoch))
        } else {
            None
        };
        let (commands, rx) = mpsc::unbounded_channel();
        let driver = Driver::new(config, pool.clone(), producer, txn.clone());
        let stats = driver.stats();
        tokio::spawn(driver.run(rx));
        Ok(Producer {
            commands,
            producer,
            stats,
            pool,
            txn,
        })
    }

    /// The producer id and epoch the broker assigned (with idempotence, or
    /// after `init_transactions`).
    pub fn producer_id(&self) -> Option<(i64, i16)> {
        match &self.txn {
            Some(txn) => txn.lock().producer,
            None => self.producer,
        }
    }

    /// The counters so far (records and bytes written, requests, failed
    /// records), across every clone of this producer. Cheap: atomics are
    /// copied.
    pub fn stats(&self) -> ProducerStatsSnapshot {
        self.stats.snapshot()
    }

    /// Queues a record; the future resolves when it is acknowledged (per
    /// `acks`; at once after sending with `acks=0`, offset -1) or failed for
    /// good. The record is sent whether or not the future is polled.
    ///
    /// With `transactional.id` the record joins the open transaction; outside
    /// one (or after a failure) the future fails at once.
    pub fn send(&self, record: ProducerRecord) -> DeliveryFuture {
        let (tx, rx) = oneshot::channel();
        if let Some(txn) = &self.txn {
            if let Err(e) = txn.lock().machine.check_send() {
                let _ = tx.send(Err(e));
                return DeliveryFuture(rx);
            }
        }
        if let Err(mpsc::error::SendError(Command::Send(_, tx))) =
            self.commands.send(Command::Send(record, tx))
        {
            let _ = tx.send(Err(ProduceError::Closed));
        }
        DeliveryFuture(rx)
    }

    /// Sends every record queued so far (through any clone) at once and
    /// waits until each is acknowledged or failed. Records sent while it
    /// waits do not hold it up.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Flushes, then drops this handle: the task stops once no other clone
    /// is left.
    pub async fn close(self) {
        self.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Producer>();
        fn send<T: Send + 'static>() {}
        send::<DeliveryFuture>();
    }

    #[tokio::test]
    async fn connect_needs_bootstrap_servers_and_a_valid_config() {
        let err = Producer::connect(ProducerConfig::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ProduceError::Config { key, .. } if key == "bootstrap.servers"));
        let config = ProducerConfig::default()
            .bootstrap_servers(["127.0.0.1:1"])
            .enable_idempotence(true)
            .acks(crate::Acks::Leader);
        let err = Producer::connect(config).await.unwrap_err();
        assert!(matches!(err, ProduceError::Config { key, .. } if key == "acks"));
    }
}
