//! The connection against an in-process fake broker: handshake, pipelining,
//! poisoning on lost frame sync or a dead socket, timeouts, oversized frames.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, MetadataRequest, MetadataResponse, ResponseKind,
};
use kafka_protocol::protocol::Encodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::protocol::{encode_response_body, encode_response_frame, parse_request_frame};

/// What the fake broker does with each request after the handshake.
#[derive(Clone, Copy)]
enum Script {
    /// Answer every request correctly, in order.
    Echo,
    /// Answer the second request with a wrong correlation id.
    WrongCorrelation,
    /// Close the socket on the first request.
    Hangup,
    /// Never answer.
    Silent,
    /// Send a frame header declaring 2 GiB.
    Oversized,
    /// Answer ApiVersions above its v2 with UNSUPPORTED_VERSION (a v0 body), as old brokers do.
    OldBroker,
}

fn api_versions_body(version: i16, error: i16) -> BytesMut {
    let keys = [
        (ApiKey::ApiVersions, 0, 2),
        (ApiKey::Metadata, 0, 9),
        (ApiKey::Fetch, 0, 11),
    ]
    .into_iter()
    .map(|(k, min, max)| {
        ApiVersion::default()
            .with_api_key(k as i16)
            .with_min_version(min)
            .with_max_version(max)
    })
    .collect();
    let response = ApiVersionsResponse::default()
        .with_error_code(error)
        .with_api_keys(keys);
    let mut body = BytesMut::new();
    response.encode(&mut body, version).unwrap();
    body
}

/// One request frame (without its size) as the fake broker reads it.
pub(super) async fn read_frame(socket: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    socket.read_exact(&mut size).await.ok()?;
    let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
    socket.read_exact(&mut frame).await.ok()?;
    Some(frame.into())
}

/// Starts a fake broker serving one connection; returns its address.
async fn fake_broker(script: Script) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut n = 0;
        while let Some(frame) = read_frame(&mut socket).await {
            let req = parse_request_frame(frame).unwrap();
            let out = if req.api_key == ApiKey::ApiVersions {
                if matches!(script, Script::OldBroker) && req.api_version > 2 {
                    encode_response_frame(
                        req.correlation_id,
                        ApiKey::ApiVersions,
                        0,
                        &api_versions_body(0, 35),
                    )
                } else {
                    encode_response_frame(
                        req.correlation_id,
                        ApiKey::ApiVersions,
                        req.api_version,
                        &api_versions_body(req.api_version, 0),
                    )
                }
            } else {
                n += 1;
                match script {
                    Script::Hangup => return,
                    Script::Silent => continue,
                    Script::Oversized => {
                        socket.write_all(&[0x7f, 0xff, 0xff, 0xff]).await.unwrap();
                        continue;
                    }
                    _ => {}
                }
                let corr = if matches!(script, Script::WrongCorrelation) && n == 2 {
                    req.correlation_id + 100
                } else {
                    req.correlation_id
                };
                let body = encode_response_body(
                    &ResponseKind::Metadata(
                        MetadataResponse::default().with_throttle_time_ms(corr),
                    ),
                    ApiKey::Metadata,
                    req.api_version,
                )
                .unwrap();
                encode_response_frame(corr, ApiKey::Metadata, req.api_version, &body)
            };
            socket.write_all(&out).await.unwrap();
        }
    });
    addr
}

fn config() -> ConnectionConfig {
    ConnectionConfig {
        request_timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    }
}

#[tokio::test]
async fn handshake_negotiates_versions() {
    let conn = Connection::connect(&fake_broker(Script::Echo).await, config())
        .await
        .unwrap();
    assert_eq!(conn.versions().negotiate(ApiKey::Metadata).unwrap(), 9);
    assert_eq!(conn.versions().negotiate(ApiKey::Fetch).unwrap(), 11);
    let err = conn.versions().negotiate(ApiKey::JoinGroup).unwrap_err();
    assert!(err.to_string().contains("JoinGroup"), "{err}");
}

#[tokio::test]
async fn an_old_broker_gets_the_api_versions_version_it_offers() {
    let conn = Connection::connect(&fake_broker(Script::OldBroker).await, config())
        .await
        .unwrap();
    assert_eq!(conn.versions().negotiate(ApiKey::Metadata).unwrap(), 9);
}

#[tokio::test]
async fn pipelined_requests_get_their_own_responses() {
    let conn = Connection::connect(&fake_broker(Script::Echo).await, config())
        .await
        .unwrap();
    let sends = (0..20).map(|_| conn.send(MetadataRequest::default()));
    let responses = futures_join_all(sends).await;
    let mut ids: Vec<i32> = responses
        .into_iter()
        .map(|r| r.unwrap().throttle_time_ms)
        .collect();
    // The fake broker echoes each request's correlation id in throttle_time_ms.
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "every request got its own response");
}

async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await);
    }
    out
}

#[tokio::test]
async fn a_wrong_correlation_id_poisons_the_connection() {
    let conn = Connection::connect(&fake_broker(Script::WrongCorrelation).await, config())
        .await
        .unwrap();
    conn.send(MetadataRequest::default()).await.unwrap();
    let (a, b) = tokio::join!(
        conn.send(MetadataRequest::default()),
        conn.send(MetadataRequest::default())
    );
    for r in [a, b] {
        let err = r.unwrap_err();
        assert!(
            matches!(&err, WireError::Poisoned { reason, .. } if reason.contains("correlation id mismatch")),
            "{err}"
        );
    }
    assert!(conn.is_poisoned());
    let later = conn.send(MetadataRequest::default()).await.unwrap_err();
    assert!(matches!(later, WireError::Poisoned { .. }), "{later}");
}

#[tokio::test]
async fn the_peer_closing_fails_every_waiter() {
    let conn = Connection::connect(&fake_broker(Script::Hangup).await, config())
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        conn.send(MetadataRequest::default()),
        conn.send(MetadataRequest::default())
    );
    assert!(a.is_err() && b.is_err());
    let err = a.unwrap_err();
    assert!(err.is_retriable());
    // Closed at the first request after ApiVersions: what a SASL listener does.
    assert!(
        err.to_string().contains("security.protocol=SASL_PLAINTEXT"),
        "{err}"
    );
    assert!(conn.is_poisoned());
}

#[tokio::test]
async fn a_request_without_answer_times_out_and_poisons() {
    let config = ConnectionConfig {
        request_timeout: Duration::from_millis(200),
        ..config()
    };
    let conn = Connection::connect(&fake_broker(Script::Silent).await, config)
        .await
        .unwrap();
    let err = conn.send(MetadataRequest::default()).await.unwrap_err();
    assert!(
        matches!(
            err,
            WireError::RequestTimeout {
                api: ApiKey::Metadata,
                timeout_ms: 200,
                ..
            }
        ),
        "{err}"
    );
    assert!(conn.is_poisoned());
}

#[tokio::test]
async fn an_oversized_frame_poisons_without_allocating_it() {
    let conn = Connection::connect(&fake_broker(Script::Oversized).await, config())
        .await
        .unwrap();
    let err = conn.send(MetadataRequest::default()).await.unwrap_err();
    assert!(
        matches!(&err, WireError::Poisoned { reason, .. } if reason.contains("receive.message.max.bytes")),
        "{err}"
    );
}

#[tokio::test]
async fn close_fails_later_requests_cleanly() {
    let conn = Connection::connect(&fake_broker(Script::Echo).await, config())
        .await
        .unwrap();
    conn.close().await;
    let err = conn.send(MetadataRequest::default()).await.unwrap_err();
    assert!(matches!(err, WireError::ConnectionClosed { .. }), "{err}");
}

#[tokio::test]
async fn connecting_to_nothing_is_an_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Connection::connect(&addr, config()).await.unwrap_err();
    assert!(matches!(err, WireError::Io { .. }), "{err}");
}
