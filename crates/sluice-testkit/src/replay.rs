//! A replay broker: serves a recorded [`Fixture`] back to a client.
//!
//! It answers ApiVersions itself, announcing for each API exactly the
//! versions the fixture holds, so a client negotiates the recorded versions.
//! Every other request gets the next unused recorded response of the same
//! API and version, with the client's correlation id and with broker
//! addresses pointing at the replay broker. Metadata and FindCoordinator
//! answers may be served again once used up; anything unmatched is recorded
//! as a mismatch and the connection is closed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseKind};
use sluice_wire::frame::{DEFAULT_RECEIVE_MESSAGE_MAX_BYTES, FrameDecoder};
use sluice_wire::protocol::{encode_response_body, encode_response_frame, parse_request_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::fixture::{Exchange, Fixture};
use crate::rewrite::for_client;

#[derive(Debug, Default)]
struct State {
    exchanges: Vec<Exchange>,
    used: Vec<bool>,
    served: usize,
    mismatches: Vec<String>,
}

/// A running replay broker. Dropping it stops it.
#[derive(Debug)]
pub struct ReplayBroker {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for ReplayBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ReplayBroker {
    /// Starts serving `fixture` on 127.0.0.1 (an ephemeral port).
    pub async fn start(fixture: Fixture) -> std::io::Result<ReplayBroker> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let used = vec![false; fixture.exchanges.len()];
        let state = Arc::new(Mutex::new(State {
            exchanges: fixture.exchanges,
            used,
            ..State::default()
        }));
        let task = {
            let state = state.clone();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    let state = state.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(socket, addr, state).await {
                            tracing::debug!(error = %e, "replay connection ended");
                        }
                    });
                }
            })
        };
        Ok(ReplayBroker { addr, state, task })
    }

    /// `host:port` to bootstrap from.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Requests that had no recorded answer.
    pub fn mismatches(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .mismatches
            .clone()
    }

    /// How many recorded responses were served.
    pub fn served(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).served
    }
}

/// The ApiVersions answer: the recorded versions of each API.
fn api_versions(exchanges: &[Exchange], version: i16) -> Option<BytesMut> {
    let mut ranges: BTreeMap<i16, (i16, i16)> = BTreeMap::new();
    for e in exchanges {
        let r = ranges
            .entry(e.api_key)
            .or_insert((e.api_version, e.api_version));
        r.0 = r.0.min(e.api_version);
        r.1 = r.1.max(e.api_version);
    }
    ranges.insert(ApiKey::ApiVersions as i16, (0, 4));
    let keys = ranges
        .into_iter()
        .map(|(k, (min, max))| {
            ApiVersion::default()
                .with_api_key(k)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    let response = ResponseKind::ApiVersions(ApiVersionsResponse::default().with_api_keys(keys));
    encode_response_body(&response, ApiKey::ApiVersions, version).ok()
}

fn answer(state: &Mutex<State>, frame: Bytes, me: SocketAddr) -> Result<BytesMut, String> {
    let req = parse_request_frame(frame).map_err(|e| e.to_string())?;
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    if req.api_key == ApiKey::ApiVersions {
        let body =
            api_versions(&state.exchanges, req.api_version).ok_or("cannot encode ApiVersions")?;
        return Ok(encode_response_frame(
            req.correlation_id,
            ApiKey::ApiVersions,
            req.api_version,
            &body,
        ));
    }
    let matches = |e: &Exchange| {
        e.api_key == req.api_key as i16 && e.api_version == req.api_version && e.response.is_some()
    };
    let next = (0..state.exchanges.len()).find(|&i| !state.used[i] && matches(&state.exchanges[i]));
    let reusable = matches!(req.api_key, ApiKey::Metadata | ApiKey::FindCoordinator);
    let index = next.or_else(|| {
        if reusable {
            state.exchanges.iter().rposition(matches)
        } else {
            None
        }
    });
    let Some(index) = index else {
        let miss = format!(
            "{:?} v{} (correlation id {})",
            req.api_key, req.api_version, req.correlation_id
        );
        state.mismatches.push(miss.clone());
        return Err(format!("no recorded answer for {miss}"));
    };
    state.used[index] = true;
    state.served += 1;
    let recorded = state.exchanges[index]
        .response_frame()
        .ok_or("no response recorded")?;
    let mut frame = BytesMut::from(&recorded[..]);
    frame[..4].copy_from_slice(&req.correlation_id.to_be_bytes());
    let frame = frame.freeze();
    Ok(for_client(&frame, Some((req.api_key, req.api_version)), me))
}

async fn serve(
    mut socket: TcpStream,
    me: SocketAddr,
    state: Arc<Mutex<State>>,
) -> std::io::Result<()> {
    let mut buf = BytesMut::new();
    let mut frames = FrameDecoder::new(DEFAULT_RECEIVE_MESSAGE_MAX_BYTES);
    loop {
        while let Some(frame) = frames.decode(&mut buf).map_err(std::io::Error::other)? {
            match answer(&state, frame, me) {
                Ok(out) => socket.write_all(&out).await?,
                Err(reason) => {
                    tracing::warn!(%reason, "replay broker closes the connection");
                    return Ok(());
                }
            }
        }
        if socket.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}
