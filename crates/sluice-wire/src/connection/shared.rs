//! The state a connection's handle, reader and writer share: requests in
//! flight in send order, the writer's queue, and whether (and why) the
//! connection is poisoned.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::error::{Result, WireError};
use crate::protocol::response_correlation_id;
use crate::security::SecurityProtocol;

/// A request waiting for its response.
pub(crate) struct Pending {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    reply: Option<oneshot::Sender<Result<Bytes>>>,
}

impl Pending {
    pub(crate) fn new(correlation_id: i32, api: ApiKey, version: i16) -> Self {
        Pending {
            correlation_id,
            api,
            version,
            reply: None,
        }
    }
}

/// Why a connection stopped, when it says the security settings are wrong
/// rather than that the network failed: the error it gives is then not
/// retriable.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// TLS failed (certificate, alert) after the handshake started.
    Tls(String),
    /// The peer speaks another security protocol than the one configured.
    Mismatch(String),
}

#[derive(Default)]
struct State {
    in_flight: VecDeque<Pending>,
    writer: Option<mpsc::UnboundedSender<Bytes>>,
    reader: Option<AbortHandle>,
    /// Why the connection stopped; `None` while healthy.
    reason: Option<String>,
    /// Set when the reason is a security fault.
    fault: Option<Fault>,
    closed: bool,
}

/// Shared by a connection's handles and tasks.
pub(crate) struct Shared {
    addr: String,
    state: Mutex<State>,
    poisoned: AtomicBool,
    next_id: AtomicI32,
    /// The configured `security.protocol`.
    protocol: SecurityProtocol,
    /// Responses delivered so far.
    answered: AtomicU64,
    /// `answered` when the handshake (ApiVersions, SASL) finished;
    /// `u64::MAX` before.
    ready_at: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        addr: String,
        writer: mpsc::UnboundedSender<Bytes>,
        protocol: SecurityProtocol,
    ) -> Self {
        Shared {
            protocol,
            answered: AtomicU64::new(0),
            ready_at: AtomicU64::new(u64::MAX),
            addr,
            state: Mutex::new(State {
                writer: Some(writer),
                ..State::default()
            }),
            poisoned: AtomicBool::new(false),
            next_id: AtomicI32::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_reader(&self, reader: AbortHandle) {
        let mut state = self.lock();
        if state.reason.is_some() {
            reader.abort();
        } else {
            state.reader = Some(reader);
        }
    }

    /// The next correlation id (non-negative, wrapping).
    pub(crate) fn next_correlation_id(&self) -> i32 {
        self.next_id.fetch_add(1, Ordering::Relaxed) & i32::MAX
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// The error a request gets on this connection now.
    pub(crate) fn error(&self) -> WireError {
        let state = self.lock();
        self.error_in(&state)
    }

    fn error_in(&self, state: &State) -> WireError {
        match (&state.fault, state.closed) {
            (Some(Fault::Tls(message)), false) => {
                return WireError::Tls {
                    addr: self.addr.clone(),
                    message: message.clone(),
                };
            }
            (Some(Fault::Mismatch(message)), false) => {
                return WireError::SecurityProtocolMismatch {
                    addr: self.addr.clone(),
                    configured: self.protocol.to_string(),
                    message: message.clone(),
                };
            }
            _ => {}
        }
        match (&state.reason, state.closed) {
            (_, true) | (None, false) => WireError::ConnectionClosed {
                addr: self.addr.clone(),
            },
            (Some(reason), false) => WireError::Poisoned {
                addr: self.addr.clone(),
                reason: reason.clone(),
            },
        }
    }

    /// Queues `frame` for the writer. With `pending`, the request waits for
    /// a response and the receiver of it is returned. Queueing and
    /// registering happen under one lock, so responses match send order.
    pub(crate) fn submit(
        &self,
        frame: Bytes,
        pending: Option<Pending>,
    ) -> Result<Option<oneshot::Receiver<Result<Bytes>>>> {
        let mut state = self.lock();
        if state.reason.is_some() {
            return Err(self.error_in(&state));
        }
        let Some(writer) = state.writer.clone() else {
            return Err(self.error_in(&state));
        };
        let receiver = pending.map(|mut p| {
            let (tx, rx) = oneshot::channel();
            p.reply = Some(tx);
            state.in_flight.push_back(p);
            rx
        });
        if writer.send(frame).is_err() {
            drop(state);
            self.poison("the writer stopped".into());
            return Err(self.error());
        }
        Ok(receiver)
    }

    /// Hands a response frame to the oldest request in flight. An error
    /// (a correlation id that is not the oldest's, or no request waiting)
    /// means frame sync is lost: the caller poisons the connection.
    pub(crate) fn deliver(&self, frame: Bytes) -> std::result::Result<(), String> {
        let actual = response_correlation_id(&frame).map_err(|e| e.to_string())?;
        let mut state = self.lock();
        let Some(mut pending) = state.in_flight.pop_front() else {
            return Err(format!(
                "unexpected response with correlation id {actual}: no request in flight"
            ));
        };
        if pending.correlation_id != actual {
            let reason = WireError::CorrelationMismatch {
                expected: pending.correlation_id,
                actual,
            }
            .to_string();
            state.in_flight.push_front(pending);
            return Err(format!(
                "{reason} ({:?} v{} in flight)",
                state.in_flight[0].api, state.in_flight[0].version
            ));
        }
        self.answered.fetch_add(1, Ordering::Relaxed);
        if let Some(reply) = pending.reply.take() {
            // The waiter may have timed out and gone; then nobody needs it.
            let _ = reply.send(Ok(frame));
        }
        Ok(())
    }

    /// The configured `security.protocol`.
    pub(crate) fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// Marks the handshake done: what the broker does to the next request
    /// tells whether it expected another security protocol.
    pub(crate) fn mark_ready(&self) {
        self.ready_at
            .store(self.answered.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Whether the first request after the handshake is in flight with no
    /// answer yet (a SASL listener closes the connection right there).
    pub(crate) fn first_request_unanswered(&self) -> bool {
        let ready_at = self.ready_at.load(Ordering::Relaxed);
        ready_at != u64::MAX
            && self.answered.load(Ordering::Relaxed) == ready_at
            && !self.lock().in_flight.is_empty()
    }

    /// Stops the connection for a security fault: requests get
    /// [`WireError::Tls`] or [`WireError::SecurityProtocolMismatch`].
    pub(crate) fn fail(&self, fault: Fault) {
        let reason = match &fault {
            Fault::Tls(m) | Fault::Mismatch(m) => m.clone(),
        };
        self.stop(reason, false, Some(fault));
    }

    /// Stops the connection for `reason`: every request in flight and every
    /// later one gets the error. The first reason sticks.
    pub(crate) fn poison(&self, reason: String) {
        self.stop(reason, false, None);
    }

    /// Closes the connection cleanly: requests in flight get `ConnectionClosed`.
    pub(crate) fn close(&self) {
        self.stop("closed by the client".into(), true, None);
    }

    fn stop(&self, reason: String, closed: bool, fault: Option<Fault>) {
        let mut state = self.lock();
        if state.reason.is_some() {
            return;
        }
        state.fault = fault;
        if !closed {
            tracing::warn!(broker = %self.addr, %reason, "connection poisoned");
        }
        state.reason = Some(reason);
        state.closed = closed;
        self.poisoned.store(true, Ordering::Release);
        state.writer = None; // the writer drains what it has, then shuts the socket down
        if let Some(reader) = state.reader.take() {
            reader.abort();
        }
        let waiting: Vec<Pending> = state.in_flight.drain(..).collect();
        for mut p in waiting {
            if let Some(reply) = p.reply.take() {
                let _ = reply.send(Err(self.error_in(&state)));
            }
        }
    }
}
