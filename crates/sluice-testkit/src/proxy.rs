//! A recording proxy: it sits between a real client and a real broker,
//! forwards every byte, and records each request with its response as a
//! [`Fixture`]. Broker addresses in Metadata and FindCoordinator responses
//! are rewritten to the proxy's own, so the client sends everything through
//! it (one broker behind one proxy).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind};
use sluice_wire::frame::{DEFAULT_RECEIVE_MESSAGE_MAX_BYTES, FrameDecoder};
use sluice_wire::protocol::{decode_request_body, parse_request_frame, response_correlation_id};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::fixture::{Exchange, FORMAT, Fixture};
use crate::rewrite::for_client;

/// The exchanges recorded so far.
#[derive(Debug, Default)]
pub struct Recorder {
    exchanges: Mutex<Vec<(u64, Exchange)>>,
    sequence: AtomicU64,
    connections: AtomicU32,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Arc<Self> {
        Arc::new(Recorder::default())
    }

    fn push(&self, seq: u64, exchange: Exchange) {
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((seq, exchange));
    }

    /// How many exchanges are recorded.
    pub fn len(&self) -> usize {
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// True before the first exchange.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The recording as a fixture, exchanges in request order.
    pub fn fixture(&self, client: &str, broker: &str, description: &str) -> Fixture {
        let mut exchanges = self
            .exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        exchanges.sort_by_key(|(seq, _)| *seq);
        Fixture {
            format: FORMAT,
            client: client.into(),
            broker: broker.into(),
            description: description.into(),
            exchanges: exchanges.into_iter().map(|(_, e)| e).collect(),
        }
    }
}

struct InFlight {
    seq: u64,
    api: ApiKey,
    version: i16,
    request: Bytes,
}

/// Accepts clients on `listener` and proxies each to `upstream`, recording
/// into `recorder`, until the task is dropped or aborted.
pub async fn serve(
    listener: TcpListener,
    upstream: String,
    recorder: Arc<Recorder>,
) -> std::io::Result<()> {
    let me = listener.local_addr()?;
    loop {
        let (client, _) = listener.accept().await?;
        let upstream = upstream.clone();
        let recorder = recorder.clone();
        tokio::spawn(async move {
            if let Err(e) = proxy_connection(client, &upstream, me, recorder).await {
                tracing::warn!(error = %e, "proxied connection ended");
            }
        });
    }
}

async fn proxy_connection(
    client: TcpStream,
    upstream: &str,
    me: SocketAddr,
    recorder: Arc<Recorder>,
) -> std::io::Result<()> {
    let broker = TcpStream::connect(upstream).await?;
    let connection = recorder.connections.fetch_add(1, Ordering::Relaxed);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut broker_read, mut broker_write) = broker.into_split();
    let pending: Arc<Mutex<HashMap<i32, InFlight>>> = Arc::default();
    let (to_client_tx, mut to_client_rx) = mpsc::unbounded_channel::<BytesMut>();

    // client -> broker: forward unchanged, remember what each request was.
    let requests = {
        let pending = pending.clone();
        let recorder = recorder.clone();
        async move {
            let mut buf = BytesMut::new();
            let mut frames = FrameDecoder::new(DEFAULT_RECEIVE_MESSAGE_MAX_BYTES);
            loop {
                while let Some(frame) = frames.decode(&mut buf).map_err(std::io::Error::other)? {
                    let mut whole = BytesMut::with_capacity(frame.len() + 4);
                    sluice_wire::frame::encode_frame(&mut whole, &frame);
                    let whole = whole.freeze();
                    broker_write.write_all(&whole).await?;
                    let Ok(req) = parse_request_frame(frame) else {
                        continue;
                    };
                    let seq = recorder.sequence.fetch_add(1, Ordering::Relaxed);
                    let no_response = req.api_key == ApiKey::Produce
                        && matches!(decode_request_body(req.api_key, req.api_version, req.body.clone()), Ok(RequestKind::Produce(p)) if p.acks == 0);
                    if no_response {
                        recorder.push(
                            seq,
                            exchange(
                                &req.api_key,
                                req.api_version,
                                req.correlation_id,
                                connection,
                                whole,
                                None,
                            ),
                        );
                    } else {
                        let entry = InFlight {
                            seq,
                            api: req.api_key,
                            version: req.api_version,
                            request: whole,
                        };
                        pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(req.correlation_id, entry);
                    }
                }
                if client_read.read_buf(&mut buf).await? == 0 {
                    return Ok::<_, std::io::Error>(());
                }
            }
        }
    };

    // broker -> client: rewrite addresses, forward, record.
    let responses = async move {
        let mut buf = BytesMut::new();
        let mut frames = FrameDecoder::new(DEFAULT_RECEIVE_MESSAGE_MAX_BYTES);
        loop {
            while let Some(frame) = frames.decode(&mut buf).map_err(std::io::Error::other)? {
                let corr = response_correlation_id(&frame).map_err(std::io::Error::other)?;
                let entry = pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&corr);
                let out = for_client(&frame, entry.as_ref().map(|e| (e.api, e.version)), me);
                if let Some(e) = entry {
                    recorder.push(
                        e.seq,
                        exchange(
                            &e.api,
                            e.version,
                            corr,
                            connection,
                            e.request,
                            Some(out.clone().freeze()),
                        ),
                    );
                }
                if to_client_tx.send(out).is_err() {
                    return Ok(());
                }
            }
            if broker_read.read_buf(&mut buf).await? == 0 {
                return Ok::<_, std::io::Error>(());
            }
        }
    };
    let writer = async move {
        while let Some(out) = to_client_rx.recv().await {
            client_write.write_all(&out).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let (a, b, c) = tokio::join!(requests, responses, writer);
    a.and(b).and(c)
}

fn exchange(
    api: &ApiKey,
    version: i16,
    correlation_id: i32,
    connection: u32,
    request: Bytes,
    response: Option<Bytes>,
) -> Exchange {
    Exchange {
        api_key: *api as i16,
        api_name: format!("{api:?}"),
        api_version: version,
        correlation_id,
        connection,
        request,
        response,
    }
}
