//! One connection per broker, shared by every component (fetcher, group
//! coordinator, producer). A poisoned or closed connection is replaced on
//! the next use. Requests any broker can answer (Metadata, FindCoordinator)
//! go to [`BrokerPool::least_loaded`]: a broker with a live connection, else
//! any broker the metadata named, and only then the bootstrap list, so the
//! client outlives its bootstrap hosts as the Java client's leastLoadedNode
//! lets it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_wire::WireError;
use sluice_wire::connection::{Connection, ConnectionConfig};
use tokio::sync::Mutex as AsyncMutex;

use crate::backoff::Backoff;
use crate::cluster::BrokerAddr;
use crate::error::{FetchError, Result};

type Slot = Arc<AsyncMutex<Option<(String, Connection)>>>;

/// How long a known broker that could not be reached is tried only after the
/// bootstrap list, doubling while it stays unreachable (the Java client's
/// reconnect.backoff.ms and reconnect.backoff.max.ms defaults).
const UNREACHABLE_BACKOFF: Duration = Duration::from_millis(50);
const UNREACHABLE_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The connections of one client.
#[derive(Debug)]
pub struct BrokerPool {
    config: ConnectionConfig,
    bootstrap: Vec<String>,
    slots: Mutex<HashMap<i32, Slot>>,
    bootstrap_slot: Slot,
    known: Mutex<Vec<BrokerAddr>>,
    unreachable: Mutex<Backoff<i32>>,
}

/// Where [`BrokerPool::least_loaded`] tries to send, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// A known broker with a live connection (as ready as it gets).
    Live(i32),
    /// The live connection to a bootstrap host.
    LiveBootstrap,
    /// A known broker to connect to.
    Known(BrokerAddr),
    /// The bootstrap hosts, each in turn.
    Bootstrap,
}

/// The order in which to try brokers for a request any broker can answer:
/// live connections first (known brokers, then the bootstrap one), then the
/// brokers the metadata named, then the bootstrap list, and last the known
/// brokers that could not be reached a moment ago. Sans-I/O: `live` says
/// whether a broker has a healthy connection now, `backed_off` whether its
/// last connect failed recently.
pub fn candidates(
    known: &[BrokerAddr],
    live: impl Fn(i32) -> bool,
    bootstrap_live: bool,
    backed_off: impl Fn(i32) -> bool,
) -> Vec<Candidate> {
    let (up, down): (Vec<&BrokerAddr>, Vec<&BrokerAddr>) = known.iter().partition(|b| live(b.id));
    let (later, down): (Vec<&BrokerAddr>, Vec<&BrokerAddr>) =
        down.into_iter().partition(|b| backed_off(b.id));
    let mut out: Vec<Candidate> = up.iter().map(|b| Candidate::Live(b.id)).collect();
    if bootstrap_live {
        out.push(Candidate::LiveBootstrap);
    }
    out.extend(down.into_iter().cloned().map(Candidate::Known));
    out.push(Candidate::Bootstrap);
    out.extend(later.into_iter().cloned().map(Candidate::Known));
    out
}

impl BrokerPool {
    /// A pool that learns the cluster from `bootstrap` addresses.
    pub fn new(bootstrap: Vec<String>, config: ConnectionConfig) -> Arc<Self> {
        Arc::new(BrokerPool {
            config,
            bootstrap,
            slots: Mutex::new(HashMap::new()),
            bootstrap_slot: Arc::default(),
            known: Mutex::new(Vec::new()),
            unreachable: Mutex::new(Backoff::new(UNREACHABLE_BACKOFF_MAX)),
        })
    }

    /// The connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Remembers the brokers the latest metadata named, for
    /// [`BrokerPool::least_loaded`].
    pub fn learn<'a>(&self, brokers: impl IntoIterator<Item = &'a BrokerAddr>) {
        let mut known: Vec<BrokerAddr> = brokers.into_iter().cloned().collect();
        known.sort_by_key(|b| b.id);
        *self.known.lock().unwrap_or_else(|e| e.into_inner()) = known;
    }

    /// The brokers last [learned](BrokerPool::learn).
    pub fn known(&self) -> Vec<BrokerAddr> {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A connection for a request any broker can answer (Metadata,
    /// FindCoordinator), tried in the order of [`candidates`]: a live
    /// connection, else a known broker, else the bootstrap list. When the
    /// bootstrap hosts are down the brokers the metadata named still answer.
    pub async fn least_loaded(&self) -> Result<Connection> {
        let known = self.known();
        let bootstrap_live = self
            .bootstrap_slot
            .try_lock()
            .ok()
            .and_then(|slot| slot.as_ref().map(|(_, c)| !c.is_poisoned()))
            .unwrap_or(false);
        let mut tried: Vec<String> = Vec::new();
        let mut last = String::from("no broker known");
        let order = {
            let unreachable = self.unreachable.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            candidates(
                &known,
                |id| self.cached(id).is_some(),
                bootstrap_live,
                |id| unreachable.waiting(&id, now),
            )
        };
        for candidate in order {
            let (result, target) = match candidate {
                Candidate::Live(id) => match self.cached(id) {
                    Some(conn) => return Ok(conn),
                    None => continue,
                },
                Candidate::LiveBootstrap | Candidate::Bootstrap => {
                    (self.bootstrap().await, self.bootstrap.join(","))
                }
                Candidate::Known(broker) => {
                    let result = self.get(&broker).await;
                    let mut unreachable =
                        self.unreachable.lock().unwrap_or_else(|e| e.into_inner());
                    match &result {
                        Ok(_) => unreachable.succeeded(&broker.id, Instant::now()),
                        Err(_) => {
                            unreachable.failed(broker.id, UNREACHABLE_BACKOFF, Instant::now());
                        }
                    }
                    (result, broker.addr())
                }
            };
            match result {
                Ok(conn) => return Ok(conn),
                // Wrong credentials or TLS settings fail at every broker alike.
                Err(e) if e.is_security() => return Err(e),
                Err(e) => {
                    tracing::warn!(%target, error = %e, "broker unreachable; trying the next");
                    last = match e {
                        FetchError::NoBrokerReachable { last, .. } => last,
                        e => e.to_string(),
                    };
                    if !tried.contains(&target) {
                        tried.push(target);
                    }
                }
            }
        }
        Err(FetchError::NoBrokerReachable {
            tried: tried.join(","),
            last,
        })
    }

    /// A connection to any bootstrap broker, trying each address in turn.
    /// Use [`BrokerPool::least_loaded`] unless the bootstrap hosts are meant.
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
                Err(e) if e.is_security() => return Err(e.into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(id: i32) -> BrokerAddr {
        BrokerAddr {
            id,
            host: format!("b{id}"),
            port: 9092,
        }
    }

    #[test]
    fn before_any_metadata_only_the_bootstrap_list_is_tried() {
        assert_eq!(
            candidates(&[], |_| false, false, |_| false),
            vec![Candidate::Bootstrap]
        );
        assert_eq!(
            candidates(&[], |_| false, true, |_| false),
            vec![Candidate::LiveBootstrap, Candidate::Bootstrap]
        );
    }

    #[test]
    fn known_brokers_come_before_the_bootstrap_list_live_ones_first() {
        let known = [broker(0), broker(1), broker(2)];
        assert_eq!(
            candidates(&known, |id| id == 2, false, |_| false),
            vec![
                Candidate::Live(2),
                Candidate::Known(broker(0)),
                Candidate::Known(broker(1)),
                Candidate::Bootstrap,
            ]
        );
        assert_eq!(
            candidates(&known, |id| id == 1, true, |_| false),
            vec![
                Candidate::Live(1),
                Candidate::LiveBootstrap,
                Candidate::Known(broker(0)),
                Candidate::Known(broker(2)),
                Candidate::Bootstrap,
            ]
        );
    }

    #[test]
    fn a_known_broker_that_just_failed_comes_after_the_bootstrap_list() {
        let known = [broker(0), broker(1), broker(2)];
        assert_eq!(
            candidates(&known, |id| id == 2, false, |id| id == 0),
            vec![
                Candidate::Live(2),
                Candidate::Known(broker(1)),
                Candidate::Bootstrap,
                Candidate::Known(broker(0)),
            ]
        );
    }

    #[tokio::test]
    async fn with_the_bootstrap_host_down_a_known_broker_is_asked() {
        // Nothing listens on either address: the known broker was tried
        // first, then the bootstrap host.
        let dead = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let (boot, other) = (dead(), dead());
        let pool = BrokerPool::new(vec![boot.to_string()], ConnectionConfig::default());
        pool.learn(&[BrokerAddr {
            id: 1,
            host: other.ip().to_string(),
            port: i32::from(other.port()),
        }]);
        let err = pool.least_loaded().await.expect_err("nothing listens");
        let want = format!("{other},{boot}");
        assert!(
            matches!(&err, FetchError::NoBrokerReachable { tried, .. } if *tried == want),
            "{err}"
        );
        // Just failed, the known broker waits behind the bootstrap list.
        let err = pool.least_loaded().await.expect_err("nothing listens");
        let want = format!("{boot},{other}");
        assert!(
            matches!(&err, FetchError::NoBrokerReachable { tried, .. } if *tried == want),
            "{err}"
        );
    }
}
