//! A fault-injecting proxy: it sits between a client and one broker,
//! forwards both directions, and on command cuts connections after a number
//! of bytes, delays traffic, swallows new connections without answering, or
//! stalls one direction.
//!
//! Broker addresses in Metadata and FindCoordinator responses are rewritten
//! to the proxy's own (as the recording proxy does), so every connection the
//! client makes goes through it. Requests are forwarded byte for byte as they
//! arrive (a cut can fall inside a frame); responses are forwarded a read's
//! worth of whole frames at a time, since a rewritten frame changes size. A
//! stream that is not Kafka framing is forwarded unchanged.
//!
//! Faults are shared state, set at any time with [`FaultProxy::set`] and
//! removed with [`FaultProxy::clear`]; each [`Fault`] says whether it
//! applies to live connections, new ones, or both.
//!
//! ```
//! use sluice_testkit::fault_proxy::{Direction, Fault, FaultProxy};
//! use sluice_testkit::fixture::{Fixture, FORMAT};
//! use sluice_testkit::replay::ReplayBroker;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let empty = Fixture { format: FORMAT, client: "none".into(), broker: "none".into(), description: String::new(), exchanges: vec![] };
//! let broker = ReplayBroker::start(empty).await.unwrap();
//! let proxy = FaultProxy::start(&broker.addr()).await.unwrap();
//! // The ApiVersions handshake goes through; then the next response is cut after 10 bytes.
//! let conn = sluice_wire::connection::Connection::connect(&proxy.addr(), Default::default()).await.unwrap();
//! proxy.set(Fault::Cut { direction: Direction::ToClient, after: 10 });
//! assert_eq!(proxy.stats().accepted, 1);
//! # drop(conn);
//! # }
//! ```

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::ApiKey;
use sluice_wire::frame::{DEFAULT_RECEIVE_MESSAGE_MAX_BYTES, FrameDecoder};
use sluice_wire::protocol::{parse_request_frame, response_correlation_id};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use crate::rewrite::for_client;

/// A direction of traffic through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Requests: from the client to the broker.
    ToBroker,
    /// Responses: from the broker to the client.
    ToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToBroker => 0,
            Direction::ToClient => 1,
        }
    }
}

/// A fault the proxy injects; see [`FaultProxy::set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Deliver `after` more bytes in `direction`, counted over all
    /// connections (live and new) from when it is set, then cut the
    /// connection that carried the last of them: both its sockets are closed
    /// and nothing more of it is forwarded. One cut: the fault disarms itself
    /// once it has fired; setting it again re-arms it with the new count.
    /// With `after: 0` the next chunk in that direction is cut before any of
    /// it is delivered.
    Cut {
        /// Which way the bytes are counted.
        direction: Direction,
        /// How many bytes get through before the cut.
        after: u64,
    },
    /// Wait `delay` before forwarding each chunk read in `direction`, on
    /// live and new connections. `Duration::ZERO` removes it.
    Latency {
        /// Which way is delayed.
        direction: Direction,
        /// The delay per chunk.
        delay: Duration,
    },
    /// Accept new connections and never answer: their bytes are read and
    /// discarded, no broker connection is made. Connections accepted while it
    /// is set stay that way; live ones are not affected.
    Blackhole,
    /// Stop forwarding this direction on live and new connections while
    /// keeping the sockets open: what was read waits in the proxy, and the
    /// sender meets TCP back-pressure. [`FaultProxy::resume`] (or
    /// [`FaultProxy::clear`]) lets everything through, in order.
    Stall(Direction),
}

/// The faults in force.
#[derive(Debug, Clone, Default)]
struct Faults {
    /// Bytes left before the cut, per direction.
    cut: [Option<u64>; 2],
    latency: [Duration; 2],
    blackhole: bool,
    stalled: [bool; 2],
}

/// What the proxy has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted (blackholed ones included).
    pub accepted: u64,
    /// Connections accepted while [`Fault::Blackhole`] was set.
    pub blackholed: u64,
    /// Connections open now.
    pub live: usize,
    /// Connections cut, by [`Fault::Cut`] or [`FaultProxy::cut_all`].
    pub cuts: u64,
    /// Bytes delivered to the broker.
    pub to_broker: u64,
    /// Bytes delivered to clients.
    pub to_client: u64,
    /// Bytes read from blackholed connections and dropped.
    pub discarded: u64,
}

#[derive(Debug)]
struct Shared {
    faults: watch::Sender<Faults>,
    live: Mutex<HashMap<u64, AbortHandle>>,
    accepted: AtomicU64,
    blackholed: AtomicU64,
    cuts: AtomicU64,
    delivered: [AtomicU64; 2],
    discarded: AtomicU64,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, HashMap<u64, AbortHandle>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fault-injecting proxy in front of one broker. Dropping it stops
/// it and closes every connection.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_all();
    }
}

impl FaultProxy {
    /// Starts proxying to `upstream` (`host:port`) on 127.0.0.1 (an
    /// ephemeral port), with no faults.
    pub async fn start(upstream: &str) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            faults: watch::Sender::new(Faults::default()),
            live: Mutex::default(),
            accepted: AtomicU64::new(0),
            blackholed: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            delivered: [AtomicU64::new(0), AtomicU64::new(0)],
            discarded: AtomicU64::new(0),
        });
        let upstream = upstream.to_string();
        let task = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut next_id = 0u64;
                while let Ok((client, _)) = listener.accept().await {
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                    let id = next_id;
                    next_id += 1;
                    // Registered under the lock the task takes to deregister,
                    // so a quick connection cannot leave a stale entry.
                    let mut live = shared.live();
                    let task = tokio::spawn(connection(
                        shared.clone(),
                        id,
                        client,
                        upstream.clone(),
                        addr,
                    ));
                    live.insert(id, task.abort_handle());
                }
            })
        };
        Ok(FaultProxy { addr, shared, task })
    }

    /// `host:port` to bootstrap from.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Adds `fault` to those in force (replacing one of the same kind and
    /// direction).
    pub fn set(&self, fault: Fault) {
        self.shared.faults.send_modify(|f| match fault {
            Fault::Cut { direction, after } => f.cut[direction.index()] = Some(after),
            Fault::Latency { direction, delay } => f.latency[direction.index()] = delay,
            Fault::Blackhole => f.blackhole = true,
            Fault::Stall(direction) => f.stalled[direction.index()] = true,
        });
    }

    /// Ends a [`Fault::Stall`] of `direction`: what waited is forwarded.
    pub fn resume(&self, direction: Direction) {
        self.shared
            .faults
            .send_modify(|f| f.stalled[direction.index()] = false);
    }

    /// Removes every fault: armed cuts are disarmed, latency and blackhole
    /// end (blackholed connections stay so), stalls resume.
    pub fn clear(&self) {
        self.shared.faults.send_replace(Faults::default());
    }

    /// Cuts every live connection now (both sockets closed); returns how
    /// many.
    pub fn cut_all(&self) -> usize {
        let handles: Vec<AbortHandle> = self.shared.live().drain().map(|(_, h)| h).collect();
        for h in &handles {
            h.abort();
        }
        self.shared
            .cuts
            .fetch_add(handles.len() as u64, Ordering::Relaxed);
        handles.len()
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        Stats {
            accepted: s.accepted.load(Ordering::Relaxed),
            blackholed: s.blackholed.load(Ordering::Relaxed),
            live: s.live().len(),
            cuts: s.cuts.load(Ordering::Relaxed),
            to_broker: s.delivered[0].load(Ordering::Relaxed),
            to_client: s.delivered[1].load(Ordering::Relaxed),
            discarded: s.discarded.load(Ordering::Relaxed),
        }
    }
}

/// Removes a connection from the live set when its task ends or is aborted.
struct Deregister(Arc<Shared>, u64);

impl Drop for Deregister {
    fn drop(&mut self) {
        self.0.live().remove(&self.1);
    }
}

/// How one direction of a connection ended.
enum End {
    /// The sender closed; the close was passed on.
    Eof,
    /// A [`Fault::Cut`] fired.
    Cut,
}

/// Metadata and FindCoordinator requests in flight, by correlation id: their
/// responses get the proxy's address.
type Tracked = Arc<Mutex<HashMap<i32, (ApiKey, i16)>>>;

async fn connection(
    shared: Arc<Shared>,
    id: u64,
    client: TcpStream,
    upstream: String,
    me: SocketAddr,
) {
    let _registered = Deregister(shared.clone(), id);
    if shared.faults.borrow().blackhole {
        shared.blackholed.fetch_add(1, Ordering::Relaxed);
        discard(&shared, client).await;
        return;
    }
    let broker = match TcpStream::connect(&upstream).await {
        Ok(broker) => broker,
        Err(e) => {
            tracing::warn!(%upstream, error = %e, "fault proxy cannot reach the broker");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (broker_read, broker_write) = broker.into_split();
    let tracked = Tracked::default();
    let up = requests(&shared, client_read, broker_write, tracked.clone());
    let down = responses(&shared, me, broker_read, client_write, tracked);
    tokio::pin!(up, down);
    // A cut or an error ends both directions (dropping every socket half);
    // a close in one direction lets the other run until it closes too.
    tokio::select! {
        r = &mut up => if let Ok(End::Eof) = r { let _ = down.await; },
        r = &mut down => if let Ok(End::Eof) = r { let _ = up.await; },
    }
}

/// Reads a blackholed connection until the client closes it.
async fn discard(shared: &Shared, mut client: TcpStream) {
    let mut chunk = vec![0u8; 16 * 1024];
    while let Ok(n @ 1..) = client.read(&mut chunk).await {
        shared.discarded.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Client to broker: forwards bytes as they come, noting which requests'
/// responses need rewriting.
async fn requests(
    shared: &Shared,
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    tracked: Tracked,
) -> io::Result<End> {
    let mut faults = shared.faults.subscribe();
    let mut frames = FrameDecoder::new(DEFAULT_RECEIVE_MESSAGE_MAX_BYTES);
    // `None` once the stream turns out not to be Kafka framing.
    let mut pending = Some(BytesMut::new());
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut chunk).await?;
        if n == 0 {
            to.shutdown().await?;
            return Ok(End::Eof);
        }
        if let Some(buf) = &mut pending {
            buf.extend_from_slice(&chunk[..n]);
            if !track(&mut frames, buf, &tracked) {
                pending = None;
            }
        }
        if !deliver(
            shared,
            &mut faults,
            Direction::ToBroker,
            &mut to,
            &chunk[..n],
        )
        .await?
        {
            return Ok(End::Cut);
        }
    }
}

/// Notes the Metadata and FindCoordinator requests among the whole frames in
/// `buf`; false when `buf` is not Kafka framing.
fn track(frames: &mut FrameDecoder, buf: &mut BytesMut, tracked: &Tracked) -> bool {
    loop {
        match frames.decode(buf) {
            Ok(Some(frame)) => {
                let Ok(req) = parse_request_frame(frame) else {
                    continue;
                };
                if matches!(req.api_key, ApiKey::Metadata | ApiKey::FindCoordinator) {
                    tracked
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(req.correlation_id, (req.api_key, req.api_version));
                }
            }
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

/// Broker to client: forwards whole frames, broker addresses rewritten.
async fn responses(
    shared: &Shared,
    me: SocketAddr,
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    tracked: Tracked,
) -> io::Result<End> {
    let mut faults = shared.faults.subscribe();
    let mut frames = FrameDecoder::new(DEFAULT_RECEIVE_MESSAGE_MAX_BYTES);
    let mut framed = true;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        let n = from.read_buf(&mut buf).await?;
        // At the end, a torn frame is passed on as it is.
        let out = if n == 0 || !framed {
            buf.split()
        } else {
            let mut out = BytesMut::new();
            loop {
                match frames.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        let request = response_correlation_id(&frame).ok().and_then(|c| {
                            tracked.lock().unwrap_or_else(|e| e.into_inner()).remove(&c)
                        });
                        out.extend_from_slice(&for_client(&frame, request, me));
                    }
                    Ok(None) => break,
                    Err(_) => {
                        framed = false;
                        out.extend_from_slice(&buf.split());
                        break;
                    }
                }
            }
            out
        };
        if !out.is_empty()
            && !deliver(shared, &mut faults, Direction::ToClient, &mut to, &out).await?
        {
            return Ok(End::Cut);
        }
        if n == 0 {
            to.shutdown().await?;
            return Ok(End::Eof);
        }
    }
}

/// Writes `data` to `to` under the faults on `direction`: waits the latency,
/// then while stalled, then delivers no more than an armed cut allows.
/// False when the connection is to be cut.
async fn deliver(
    shared: &Shared,
    faults: &mut watch::Receiver<Faults>,
    direction: Direction,
    to: &mut OwnedWriteHalf,
    data: &[u8],
) -> io::Result<bool> {
    let i = direction.index();
    let delay = faults.borrow_and_update().latency[i];
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    faults
        .wait_for(|f| !f.stalled[i])
        .await
        .map_err(|_| io::Error::other("the fault proxy stopped"))?;
    let mut take = data.len();
    let mut cut = false;
    shared.faults.send_if_modified(|f| {
        if let Some(left) = f.cut[i] {
            take = take.min(usize::try_from(left).unwrap_or(usize::MAX));
            let left = left - take as u64;
            f.cut[i] = (left > 0).then_some(left);
            cut = left == 0;
        }
        false // nobody waits for the cut budget
    });
    to.write_all(&data[..take]).await?;
    shared.delivered[i].fetch_add(take as u64, Ordering::Relaxed);
    if cut {
        shared.cuts.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(?direction, "fault proxy cuts a connection");
    }
    Ok(!cut)
}

#[cfg(test)]
mod tests;
