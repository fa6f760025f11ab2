//! A connection to one broker: pipelined requests matched to responses by
//! correlation id, a bounded number in flight, a timeout per request, and
//! the ApiVersions handshake on connect.
//!
//! A writer task sends frames in the order requests were queued; a reader
//! task splits the socket into frames and hands each to the oldest waiter
//! (Kafka answers in order on a connection). A response with another
//! correlation id means frame sync is lost: the connection is **poisoned**,
//! every waiter and every later request gets the error, and the owner makes
//! a fresh connection.

mod handshake;
mod shared;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Semaphore, mpsc};
use tracing::Instrument;

use crate::error::{Result, WireError};
use crate::frame::{DEFAULT_RECEIVE_MESSAGE_MAX_BYTES, FrameDecoder};
use crate::protocol::{api_key_of, decode_response, encode_request};
use crate::versions::ApiVersionsTable;
use shared::{Pending, Shared};

/// How a connection behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// `client.id`, sent in every request header.
    pub client_id: String,
    /// `request.timeout.ms`: how long to wait for each response.
    pub request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub connect_timeout: Duration,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: usize,
    /// `receive.message.max.bytes`: the largest response frame accepted.
    pub receive_message_max_bytes: usize,
    /// Sent in ApiVersions v3+ (KIP-511).
    pub client_software_name: String,
    /// Sent in ApiVersions v3+ (KIP-511).
    pub client_software_version: String,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: "sluice".into(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_in_flight: 5,
            receive_message_max_bytes: DEFAULT_RECEIVE_MESSAGE_MAX_BYTES,
            client_software_name: "sluice".into(),
            client_software_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

struct Inner {
    addr: String,
    config: ConnectionConfig,
    versions: ApiVersionsTable,
    shared: Arc<Shared>,
    permits: Semaphore,
}

/// A connection to one broker. Cheap to clone; clones share the socket.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.inner.addr)
            .field("poisoned", &self.is_poisoned())
            .finish()
    }
}

impl Connection {
    /// Connects to `addr` (`host:port`) and negotiates API versions.
    pub async fn connect(addr: &str, config: ConnectionConfig) -> Result<Connection> {
        let shared = open(addr, &config).await?;
        let versions = match handshake::api_versions(&shared, &config).await {
            Ok(v) => v,
            Err(e) => {
                shared.poison(format!("ApiVersions handshake failed: {e}"));
                return Err(e);
            }
        };
        tracing::debug!(%addr, apis = ?versions, "connected");
        let permits = Semaphore::new(config.max_in_flight.max(1));
        Ok(Connection {
            inner: Arc::new(Inner {
                addr: addr.to_string(),
                config,
                versions,
                shared,
                permits,
            }),
        })
    }

    /// The broker's announced API versions.
    pub fn versions(&self) -> &ApiVersionsTable {
        &self.inner.versions
    }

    /// The broker's address.
    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// Whether the connection has failed (it serves no more requests).
    pub fn is_poisoned(&self) -> bool {
        self.inner.shared.is_poisoned()
    }

    /// Sends `request` at the negotiated version and waits for its response.
    pub async fn send<R: Request>(&self, request: R) -> Result<R::Response> {
        let version = self.inner.versions.negotiate(api_key_of::<R>()?)?;
        self.send_version(request, version).await
    }

    /// Sends `request` at `version` and waits for its response.
    pub async fn send_version<R: Request>(&self, request: R, version: i16) -> Result<R::Response> {
        self.send_with_timeout(request, version, self.inner.config.request_timeout)
            .await
    }

    /// Like [`Connection::send_version`] with a timeout of its own (JoinGroup
    /// waits up to the rebalance timeout; Fetch up to its max wait).
    pub async fn send_with_timeout<R: Request>(
        &self,
        request: R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        let api = api_key_of::<R>()?;
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| self.closed())?;
        let shared = &self.inner.shared;
        let correlation_id = shared.next_correlation_id();
        let frame = encode_request(
            correlation_id,
            Some(&self.inner.config.client_id),
            version,
            &request,
        )?;
        let span = tracing::debug_span!(
            "kafka_request",
            api = ?api,
            version,
            correlation_id,
            broker = %self.inner.addr,
            bytes_out = frame.len(),
            bytes_in = tracing::field::Empty,
            latency_us = tracing::field::Empty,
        );
        async move {
            let started = Instant::now();
            let reply = shared.submit(
                frame.freeze(),
                Some(Pending::new(correlation_id, api, version)),
            )?;
            let Some(reply) = reply else {
                unreachable!("a pending request gets a reply channel")
            };
            let frame = match tokio::time::timeout(timeout, reply).await {
                Ok(Ok(result)) => result?,
                Ok(Err(_)) => return Err(shared.error()),
                Err(_) => {
                    let err = WireError::RequestTimeout {
                        addr: self.inner.addr.clone(),
                        api,
                        version,
                        correlation_id,
                        timeout_ms: timeout.as_millis() as u64,
                    };
                    // Like the Java client: a timed-out connection is closed,
                    // since its late answer could not be told from the next.
                    shared.poison(err.to_string());
                    return Err(err);
                }
            };
            let span = tracing::Span::current();
            span.record("bytes_in", frame.len());
            span.record("latency_us", started.elapsed().as_micros() as u64);
            let (_, response) = decode_response::<R>(frame, version)?;
            Ok(response)
        }
        .instrument(span)
        .await
    }

    /// Sends a request that gets no response (Produce with acks=0).
    pub async fn send_no_response<R: Request>(&self, request: R, version: i16) -> Result<()> {
        let shared = &self.inner.shared;
        let correlation_id = shared.next_correlation_id();
        let frame = encode_request(
            correlation_id,
            Some(&self.inner.config.client_id),
            version,
            &request,
        )?;
        shared.submit(frame.freeze(), None)?;
        Ok(())
    }

    /// Closes the connection: requests in flight get `ConnectionClosed`.
    pub async fn close(&self) {
        self.inner.shared.close();
    }

    fn closed(&self) -> WireError {
        WireError::ConnectionClosed {
            addr: self.inner.addr.clone(),
        }
    }
}

/// Opens the socket and starts the reader and writer tasks.
async fn open(addr: &str, config: &ConnectionConfig) -> Result<Arc<Shared>> {
    let io = |source| WireError::Io {
        addr: addr.to_string(),
        source,
    };
    let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| WireError::ConnectTimeout {
            addr: addr.to_string(),
            timeout_ms: config.connect_timeout.as_millis() as u64,
        })?
        .map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let (read, write) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::new(addr.to_string(), tx));
    tokio::spawn(write_loop(write, rx, shared.clone()));
    let reader = tokio::spawn(read_loop(
        read,
        FrameDecoder::new(config.receive_message_max_bytes),
        shared.clone(),
    ));
    shared.set_reader(reader.abort_handle());
    Ok(shared)
}

async fn write_loop(
    mut socket: OwnedWriteHalf,
    mut frames: mpsc::UnboundedReceiver<Bytes>,
    shared: Arc<Shared>,
) {
    while let Some(frame) = frames.recv().await {
        if let Err(e) = socket.write_all(&frame).await {
            shared.poison(format!("write failed: {e}"));
            return;
        }
    }
    let _ = socket.shutdown().await;
}

async fn read_loop(mut socket: OwnedReadHalf, mut decoder: FrameDecoder, shared: Arc<Shared>) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if let Err(reason) = shared.deliver(frame) {
                        shared.poison(reason);
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    shared.poison(e.to_string());
                    return;
                }
            }
        }
        if shared.is_poisoned() {
            return;
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        match socket.read_buf(&mut buf).await {
            Ok(0) => {
                shared.poison("the broker closed the connection".into());
                return;
            }
            Ok(_) => {}
            Err(e) => {
                shared.poison(format!("read failed: {e}"));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
