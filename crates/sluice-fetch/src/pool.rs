//! One connection per broker, shared by every component (fetcher, group
//! coordinator, producer). A poisoned or closed connection is replaced on
//! the next use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_wire::WireError;
use sluice_wire::connection::{Connection, ConnectionConfig};
use tokio::sync::Mutex as AsyncMutex;

use crate::cluster::BrokerAddr;
use crate::error::{FetchError, Result};

type Slot = Arc<AsyncMutex<Option<(String, Connection)>>>;

/// The connections of one client.
#[derive(Debug)]
pub struct BrokerPool {
    config: ConnectionConfig,
    bootstrap: Vec<String>,
    slots: Mutex<HashMap<i32, Slot>>,
    bootstrap_slot: Slot,
}

impl BrokerPool {
    /// A pool that learns the cluster from `bootstrap` addresses.
    pub fn new(bootstrap: Vec<String>, config: ConnectionConfig) -> Arc<Self> {
        Arc::new(BrokerPool {
            config,
            bootstrap,
            slots: Mutex::new(HashMap::new()),
            bootstrap_slot: Arc::default(),
        })
    }

    /// The connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// A connection to any bootstrap broker (for the first Metadata request),
    /// trying each address in turn.
    pub async fn bootstrap(&self) -> Result<Connection> {
        let mut slot = self.bootstrap_slot.lock().await;
        if let Some((_, conn)) = slot.as_ref().filter(|(_, c)| !c.is_poisoned()) {
            return Ok(conn.clone());
        }
        let mut last = String::from("no bootstrap servers configured");
        for addr in &self.bootstrap {
            match connect(addr, &self.config).await {
                Ok(conn) => {
                    *slot = Some((addr.clone(), conn.clone()));
                    return Ok(conn);
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "bootstrap broker unreachable");
                    last = e.to_string();
                }
            }
        }
        Err(FetchError::NoBrokerReachable {
            tried: self.bootstrap.join(","),
            last,
        })
    }

    /// The connection to a broker, connecting (or reconnecting, if the old
    /// one is poisoned or the broker's address changed) as needed.
    pub async fn get(&self, broker: &BrokerAddr) -> Result<Connection> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(broker.id).or_default().clone()
        };
        let mut slot = slot.lock().await;
        let addr = broker.addr();
        if let Some((known, conn)) = slot.as_ref() {
            if *known == addr && !conn.is_poisoned() {
                return Ok(conn.clone());
            }
            conn.close().await;
        }
        let conn = connect(&addr, &self.config).await?;
        *slot = Some((addr, conn.clone()));
        Ok(conn)
    }

    /// The open, healthy connection to a broker, if there is one right now
    /// (without waiting or connecting).
    pub fn cached(&self, broker: i32) -> Option<Connection> {
        let slot = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.get(&broker)?.clone()
        };
        let slot = slot.try_lock().ok()?;
        slot.as_ref()
            .filter(|(_, c)| !c.is_poisoned())
            .map(|(_, c)| c.clone())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        let slots: Vec<Slot> = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.values().cloned().collect()
        };
        for slot in slots.iter().chain(std::iter::once(&self.bootstrap_slot)) {
            if let Some((_, conn)) = slot.lock().await.take() {
                conn.close().await;
            }
        }
    }
}

/// Connects to `addr`. A connection that was made but broke during the
/// ApiVersions handshake (its answer cut off or reset) is made again, until
/// `socket.connection.setup.timeout.ms` has passed; a broker that cannot be
/// reached at all fails at once, as before.
async fn connect(addr: &str, config: &ConnectionConfig) -> sluice_wire::Result<Connection> {
    let deadline = tokio::time::Instant::now() + config.connect_timeout;
    let mut backoff = Duration::from_millis(20);
    loop {
        match Connection::connect(addr, config.clone()).await {
            Err(e @ (WireError::Poisoned { .. } | WireError::ConnectionClosed { .. }))
                if tokio::time::Instant::now() + backoff < deadline =>
            {
                tracing::warn!(%addr, error = %e, "connection broke during its handshake; reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            result => return result,
        }
    }
}
