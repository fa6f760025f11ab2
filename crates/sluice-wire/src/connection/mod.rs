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

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::Request;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{RwLock, Semaphore, mpsc};
use tracing::Instrument;

use crate::error::{Result, WireError};
use crate::frame::{DEFAULT_RECEIVE_MESSAGE_MAX_BYTES, FrameDecoder};
use crate::protocol::{api_key_of, decode_response, encode_request};
use crate::security::sasl::exchange;
use crate::security::{SecurityConfig, tls};
use crate::versions::ApiVersionsTable;
use shared::{Fault, Pending, Shared};

/// How a connection behaves.
#[derive(Debug, Clone)]
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
    /// `security.protocol` and its TLS and SASL settings.
    pub security: SecurityConfig,
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
            security: SecurityConfig::default(),
        }
    }
}

struct Inner {
    addr: String,
    config: ConnectionConfig,
    versions: ApiVersionsTable,
    shared: Arc<Shared>,
    permits: Semaphore,
    /// Held for writing while the connection re-authenticates: new requests
    /// wait, those in flight are answered.
    gate: RwLock<()>,
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
    /// Connects to `addr` (`host:port`): TCP, TLS when `security.protocol`
    /// says so, the ApiVersions handshake, then SASL authentication. A
    /// security failure (credentials, certificates, the wrong protocol) is
    /// an error that is not retriable and names the broker.
    ///
    /// Cancel-safe: dropping the future drops the half-made connection.
    pub async fn connect(addr: &str, config: ConnectionConfig) -> Result<Connection> {
        let shared = open(addr, &config).await?;
        let versions = match handshake::api_versions(&shared, &config).await {
            Ok(v) => v,
            Err(e) => {
                let e = explain(&shared, e, &config).at(addr);
                shared.poison(format!("ApiVersions handshake failed: {e}"));
                return Err(e);
            }
        };
        tracing::debug!(%addr, apis = ?versions, "connected");
        let permits = Semaphore::new(config.max_in_flight.max(1));
        let conn = Connection {
            inner: Arc::new(Inner {
                addr: addr.to_string(),
                config,
                versions,
                shared,
                permits,
                gate: RwLock::new(()),
            }),
        };
        let security = &conn.inner.config.security;
        if security.protocol.uses_sasl() {
            let result = match security.sasl.mechanism().await {
                Ok(mechanism) => exchange::authenticate(&conn, mechanism).await,
                Err(e) => Err(e.at(addr)),
            };
            match result {
                Ok(done) => {
                    tracing::debug!(%addr, mechanism = security.sasl.mechanism.wire_name(), "authenticated");
                    if let Some(lifetime) = done.session_lifetime {
                        spawn_reauthentication(&conn, lifetime);
                    }
                }
                Err(e) => {
                    let e = explain(&conn.inner.shared, e, &conn.inner.config).at(addr);
                    conn.inner
                        .shared
                        .poison(format!("SASL authentication failed: {e}"));
                    return Err(e);
                }
            }
        }
        conn.inner.shared.mark_ready();
        Ok(conn)
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
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| self.closed())?;
        self.round_trip(request, version, timeout, true).await
    }

    /// Sends a request of the SASL exchange: past the re-authentication
    /// gate and the in-flight limit.
    pub(crate) async fn send_unguarded<R: Request>(
        &self,
        request: R,
        version: i16,
    ) -> Result<R::Response> {
        self.round_trip(request, version, self.inner.config.request_timeout, false)
            .await
    }

    async fn round_trip<R: Request>(
        &self,
        request: R,
        version: i16,
        timeout: Duration,
        gated: bool,
    ) -> Result<R::Response> {
        let api = api_key_of::<R>()?;
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
            let _gate = if gated {
                Some(self.inner.gate.read().await)
            } else {
                None
            };
            let reply = shared.submit(
                frame.freeze(),
                Some(Pending::new(correlation_id, api, version)),
            )?;
            drop(_gate);
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
        let _gate = self.inner.gate.read().await;
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

/// Re-authenticates `conn` before each session runs out (KIP-368), for as
/// long as the connection lives. A failed re-authentication poisons the
/// connection with its error; its owner connects again.
fn spawn_reauthentication(conn: &Connection, lifetime: Duration) {
    let weak: Weak<Inner> = Arc::downgrade(&conn.inner);
    tokio::spawn(async move {
        let mut lifetime = lifetime;
        loop {
            tokio::time::sleep(exchange::reauthenticate_after(lifetime)).await;
            let Some(inner) = weak.upgrade() else { return };
            if inner.shared.is_poisoned() {
                return;
            }
            let conn = Connection { inner };
            // A token provider may take a while: ask it before requests are held.
            let result = match conn.inner.config.security.sasl.mechanism().await {
                Ok(mechanism) => {
                    let _gate = conn.inner.gate.write().await;
                    exchange::authenticate(&conn, mechanism).await
                }
                Err(e) => Err(e.at(&conn.inner.addr)),
            };
            match result {
                Ok(done) => {
                    tracing::debug!(broker = %conn.inner.addr, "re-authenticated");
                    match done.session_lifetime {
                        Some(next) => lifetime = next,
                        None => return,
                    }
                }
                Err(e) => {
                    tracing::warn!(broker = %conn.inner.addr, error = %e, "re-authentication failed");
                    conn.inner
                        .shared
                        .poison(format!("re-authentication failed: {e}"));
                    return;
                }
            }
        }
    });
}

/// A handshake error in the light of what the reader saw: a security fault
/// (TLS bytes on a plaintext connection, a TLS alert) replaces the bare
/// "closed" or "poisoned" it shows up as.
fn explain(shared: &Shared, e: WireError, config: &ConnectionConfig) -> WireError {
    match e {
        WireError::Poisoned { .. } | WireError::ConnectionClosed { .. } => {
            let fault = shared.error();
            if fault.is_security() {
                return fault;
            }
            if let WireError::Poisoned { addr, reason } = e {
                let protocol = config.security.protocol;
                let hint = if protocol.uses_tls() {
                    String::new()
                } else {
                    format!(
                        " (configured: {protocol}; if it is a TLS listener, set \
                         security.protocol=SSL or SASL_SSL)"
                    )
                };
                return WireError::Poisoned {
                    addr,
                    reason: format!("{reason}{hint}"),
                };
            }
            e
        }
        e => e,
    }
}

/// Opens the socket (with TLS when configured) and starts the reader and
/// writer tasks.
async fn open(addr: &str, config: &ConnectionConfig) -> Result<Arc<Shared>> {
    let io = |source| WireError::Io {
        addr: addr.to_string(),
        source,
    };
    let started = tokio::time::Instant::now();
    let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| WireError::ConnectTimeout {
            addr: addr.to_string(),
            timeout_ms: config.connect_timeout.as_millis() as u64,
        })?
        .map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let protocol = config.security.protocol;
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::new(addr.to_string(), tx, protocol));
    let decoder = FrameDecoder::new(config.receive_message_max_bytes);
    let reader = if protocol.uses_tls() {
        // The TLS handshake counts against the setup timeout, and fails
        // within request.timeout.ms too: a plaintext broker may wait for
        // the hundreds of megabytes a ClientHello reads as.
        let left = config
            .connect_timeout
            .saturating_sub(started.elapsed())
            .min(config.request_timeout);
        let stream = tls::handshake(stream, addr, &config.security.tls, protocol, left).await?;
        let (read, write) = tokio::io::split(stream);
        tokio::spawn(write_loop(write, rx, shared.clone()));
        tokio::spawn(read_loop(read, decoder, shared.clone(), true))
    } else {
        let (read, write) = stream.into_split();
        tokio::spawn(write_loop(write, rx, shared.clone()));
        tokio::spawn(read_loop(read, decoder, shared.clone(), false))
    };
    shared.set_reader(reader.abort_handle());
    Ok(shared)
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut socket: W,
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

/// Whether `bytes` start like a TLS record (handshake or alert, TLS 1.x):
/// what a TLS listener answers to plaintext.
fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, 0x00..=0x04, ..])
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut socket: R,
    mut decoder: FrameDecoder,
    shared: Arc<Shared>,
    tls: bool,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // On plaintext, the first bytes are checked for a TLS record before
    // they are read as a frame.
    let mut sniff = !tls;
    loop {
        if sniff && buf.len() >= 3 {
            sniff = false;
            if looks_like_tls(&buf) {
                shared.fail(Fault::Mismatch(
                    "the broker answered with TLS: it is a TLS listener".into(),
                ));
                return;
            }
        }
        if !sniff && !deliver_frames(&mut decoder, &mut buf, &shared) {
            return;
        }
        if shared.is_poisoned() {
            return;
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        match socket.read_buf(&mut buf).await {
            Ok(0) => {
                // A SASL listener closes the connection at the first request
                // after ApiVersions when it is spoken to without SASL. A
                // broker going down looks the same, so this stays retriable
                // (callers give up after request.timeout.ms), with the hint.
                if !shared.protocol().uses_sasl() && shared.first_request_unanswered() {
                    shared.poison(closed_after_api_versions(&shared));
                } else {
                    shared.poison("the broker closed the connection".into());
                }
                return;
            }
            Ok(_) => {}
            Err(e) => {
                if let Some(message) = tls.then(|| tls::failure(&e)).flatten() {
                    shared.fail(Fault::Tls(message));
                    return;
                }
                if e.kind() == std::io::ErrorKind::ConnectionReset
                    && !shared.protocol().uses_sasl()
                    && shared.first_request_unanswered()
                {
                    shared.poison(format!(
                        "read failed: {e}; {}",
                        closed_after_api_versions(&shared)
                    ));
                } else {
                    shared.poison(format!("read failed: {e}"));
                }
                return;
            }
        }
    }
}

/// Hands every whole frame in `buf` to its waiter; `false` when the
/// connection is poisoned (lost frame sync, a bad frame).
fn deliver_frames(decoder: &mut FrameDecoder, buf: &mut BytesMut, shared: &Shared) -> bool {
    loop {
        match decoder.decode(buf) {
            Ok(Some(frame)) => {
                if let Err(reason) = shared.deliver(frame) {
                    shared.poison(reason);
                    return false;
                }
            }
            Ok(None) => return true,
            Err(e) => {
                shared.poison(e.to_string());
                return false;
            }
        }
    }
}

/// What a close at the first request after the handshake may mean.
fn closed_after_api_versions(shared: &Shared) -> String {
    format!(
        "the broker closed the connection at the first request after ApiVersions \
         (configured: {}): if it is a SASL listener, set security.protocol=SASL_PLAINTEXT \
         or SASL_SSL",
        shared.protocol()
    )
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "security_tests.rs"]
mod security_tests;
