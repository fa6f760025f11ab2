//! The connection's security steps against an in-process fake broker: SASL
//! after ApiVersions, wrong credentials, a mechanism the broker does not
//! enable, re-authentication on a live connection (KIP-368) with requests in
//! flight, and a TLS answer to plaintext.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, MetadataRequest, MetadataResponse, ResponseKind,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::tests::read_frame;
use super::*;
use crate::KafkaCode;
use crate::protocol::{encode_response_body, encode_response_frame, parse_request_frame};
use crate::security::SecurityProtocol;

const PASSWORD: &str = "pw-7f3a9c";

/// A broker enabling PLAIN for alice, with sessions of `lifetime_ms`.
struct SaslBroker {
    lifetime_ms: i64,
    mechanisms: &'static [&'static str],
}

fn versions(version: i16) -> BytesMut {
    let keys = [
        (ApiKey::ApiVersions, 0, 3),
        (ApiKey::Metadata, 0, 9),
        (ApiKey::SaslHandshake, 0, 1),
        (ApiKey::SaslAuthenticate, 0, 2),
    ]
    .into_iter()
    .map(|(k, min, max)| {
        ApiVersion::default()
            .with_api_key(k as i16)
            .with_min_version(min)
            .with_max_version(max)
    })
    .collect();
    let mut body = BytesMut::new();
    ApiVersionsResponse::default()
        .with_api_keys(keys)
        .encode(&mut body, version)
        .unwrap();
    body
}

/// Serves one connection; each successful authentication is reported on
/// `auths`, and requests other than SASL before authentication close it.
async fn sasl_broker(broker: SaslBroker, auths: mpsc::UnboundedSender<usize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut authenticated = 0usize;
        let mut in_exchange = false;
        while let Some(frame) = read_frame(&mut socket).await {
            let req = parse_request_frame(frame).unwrap();
            let (v, corr) = (req.api_version, req.correlation_id);
            let mut body = req.body.clone();
            let out = match req.api_key {
                ApiKey::ApiVersions => {
                    encode_response_frame(corr, ApiKey::ApiVersions, v, &versions(v))
                }
                ApiKey::SaslHandshake => {
                    let asked = SaslHandshakeRequest::decode(&mut body, v).unwrap();
                    let enabled = broker.mechanisms.contains(&asked.mechanism.as_str());
                    in_exchange = enabled;
                    let response = SaslHandshakeResponse::default()
                        .with_error_code(if enabled { 0 } else { 33 })
                        .with_mechanisms(
                            broker
                                .mechanisms
                                .iter()
                                .map(|m| StrBytes::from_static_str(m))
                                .collect(),
                        );
                    let body = encode_response_body(
                        &ResponseKind::SaslHandshake(response),
                        ApiKey::SaslHandshake,
                        v,
                    )
                    .unwrap();
                    encode_response_frame(corr, ApiKey::SaslHandshake, v, &body)
                }
                ApiKey::SaslAuthenticate => {
                    let asked = SaslAuthenticateRequest::decode(&mut body, v).unwrap();
                    let good = in_exchange
                        && asked.auth_bytes.as_ref() == format!("\0alice\0{PASSWORD}").as_bytes();
                    let response = if good {
                        authenticated += 1;
                        let _ = auths.send(authenticated);
                        SaslAuthenticateResponse::default()
                            .with_session_lifetime_ms(broker.lifetime_ms)
                    } else {
                        SaslAuthenticateResponse::default()
                            .with_error_code(KafkaCode::SASL_AUTHENTICATION_FAILED.0)
                            .with_error_message(Some(StrBytes::from_static_str(
                                "Authentication failed: Invalid username or password",
                            )))
                    };
                    in_exchange = false;
                    let body = encode_response_body(
                        &ResponseKind::SaslAuthenticate(response),
                        ApiKey::SaslAuthenticate,
                        v,
                    )
                    .unwrap();
                    encode_response_frame(corr, ApiKey::SaslAuthenticate, v, &body)
                }
                _ if authenticated == 0 => return,
                _ => {
                    let body = encode_response_body(
                        &ResponseKind::Metadata(
                            MetadataResponse::default().with_throttle_time_ms(corr),
                        ),
                        ApiKey::Metadata,
                        v,
                    )
                    .unwrap();
                    encode_response_frame(corr, ApiKey::Metadata, v, &body)
                }
            };
            socket.write_all(&out).await.unwrap();
        }
    });
    addr
}

fn sasl_config(password: &str) -> ConnectionConfig {
    let mut config = ConnectionConfig {
        request_timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    };
    for (k, v) in [
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", password),
    ] {
        assert!(config.security.set(k, v).unwrap());
    }
    config
}

#[tokio::test]
async fn sasl_plain_authenticates_after_api_versions() {
    let (tx, mut auths) = mpsc::unbounded_channel();
    let broker = SaslBroker {
        lifetime_ms: 0,
        mechanisms: &["PLAIN", "SCRAM-SHA-512"],
    };
    let conn = Connection::connect(&sasl_broker(broker, tx).await, sasl_config(PASSWORD))
        .await
        .unwrap();
    assert_eq!(auths.recv().await, Some(1));
    let answer = conn.send(MetadataRequest::default()).await.unwrap();
    assert!(answer.throttle_time_ms >= 0);
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error_with_the_brokers_words() {
    let (tx, _auths) = mpsc::unbounded_channel();
    let broker = SaslBroker {
        lifetime_ms: 0,
        mechanisms: &["PLAIN"],
    };
    let addr = sasl_broker(broker, tx).await;
    let err = Connection::connect(&addr, sasl_config("wrong-9d2e"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, WireError::SaslAuthenticationFailed { .. }),
        "{err:?}"
    );
    assert!(
        text.contains(&addr) && text.contains("Invalid username or password"),
        "{text}"
    );
    assert!(!text.contains("wrong-9d2e") && !format!("{err:?}").contains("wrong-9d2e"));
    assert!(!err.is_retriable() && err.is_security());
}

#[tokio::test]
async fn a_mechanism_the_broker_does_not_enable_lists_the_ones_it_does() {
    let (tx, _auths) = mpsc::unbounded_channel();
    let broker = SaslBroker {
        lifetime_ms: 0,
        mechanisms: &["SCRAM-SHA-256", "SCRAM-SHA-512"],
    };
    let err = Connection::connect(&sasl_broker(broker, tx).await, sasl_config(PASSWORD))
        .await
        .unwrap_err();
    match &err {
        WireError::SaslMechanismNotEnabled {
            mechanism, enabled, ..
        } => {
            assert_eq!(mechanism, "PLAIN");
            assert_eq!(enabled, &["SCRAM-SHA-256", "SCRAM-SHA-512"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("it enables: SCRAM-SHA-256, SCRAM-SHA-512"),
        "{err}"
    );
}

/// KIP-368: with a session of 1.5 s the connection re-authenticates by
/// itself while requests keep going; none of them fails.
#[tokio::test]
async fn the_connection_reauthenticates_before_the_session_ends_without_losing_requests() {
    let (tx, mut auths) = mpsc::unbounded_channel();
    let broker = SaslBroker {
        lifetime_ms: 1500,
        mechanisms: &["PLAIN"],
    };
    let conn = Connection::connect(&sasl_broker(broker, tx).await, sasl_config(PASSWORD))
        .await
        .unwrap();
    assert_eq!(auths.recv().await, Some(1));
    let answered = Arc::new(AtomicUsize::new(0));
    let load = {
        let (conn, answered) = (conn.clone(), answered.clone());
        tokio::spawn(async move {
            loop {
                let (a, b) = tokio::join!(
                    conn.send(MetadataRequest::default()),
                    conn.send(MetadataRequest::default())
                );
                a.unwrap();
                b.unwrap();
                answered.fetch_add(2, Ordering::Relaxed);
            }
        })
    };
    // Twice re-authenticated, with requests answered all along.
    assert_eq!(auths.recv().await, Some(2));
    let before = answered.load(Ordering::Relaxed);
    assert_eq!(auths.recv().await, Some(3));
    assert!(answered.load(Ordering::Relaxed) > before);
    assert!(
        !load.is_finished(),
        "a request failed during re-authentication"
    );
    load.abort();
    assert!(!conn.is_poisoned());
}

/// A TLS listener answers plaintext with a TLS alert record: that is told
/// apart from a network failure, and not retried.
#[tokio::test]
async fn plaintext_to_a_tls_listener_says_so() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let _ = socket.read(&mut buf).await;
        // alert(21), TLS 1.2, length 2, fatal(2) protocol_version(70)
        socket
            .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46])
            .await
            .unwrap();
    });
    let config = ConnectionConfig {
        request_timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    };
    assert_eq!(config.security.protocol, SecurityProtocol::Plaintext);
    let err = Connection::connect(&addr, config).await.unwrap_err();
    assert!(
        matches!(err, WireError::SecurityProtocolMismatch { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("TLS listener") && text.contains("security.protocol"),
        "{text}"
    );
    assert!(!err.is_retriable());
}
