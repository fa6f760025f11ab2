//! The ApiVersions handshake every connection starts with.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::ConnectionConfig;
use super::shared::{Pending, Shared};
use crate::KafkaCode;
use crate::error::{Result, WireError};
use crate::protocol::encode_request;
use crate::versions::{ApiVersionsTable, supported};

/// Asks the broker which versions it speaks, starting at the newest
/// ApiVersions we know, and falling back as [`read_answer`] says when the
/// broker does not know that version.
pub(super) async fn api_versions(
    shared: &Shared,
    config: &ConnectionConfig,
) -> Result<ApiVersionsTable> {
    let mut version = supported(ApiKey::ApiVersions).max;
    // At most: the newest, the broker's highest, v0.
    for _ in 0..3 {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_string(config.client_software_name.clone()))
            .with_client_software_version(StrBytes::from_string(
                config.client_software_version.clone(),
            ));
        let correlation_id = shared.next_correlation_id();
        let frame = encode_request(correlation_id, Some(&config.client_id), version, &request)?;
        let reply = shared
            .submit(
                frame.freeze(),
                Some(Pending::new(correlation_id, ApiKey::ApiVersions, version)),
            )?
            .expect("a pending request gets a reply channel");
        let frame = match tokio::time::timeout(config.request_timeout, reply).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(shared.error()),
            Err(_) => {
                return Err(WireError::RequestTimeout {
                    addr: String::new(),
                    api: ApiKey::ApiVersions,
                    version,
                    correlation_id,
                    timeout_ms: config.request_timeout.as_millis() as u64,
                });
            }
        };
        // ApiVersions responses always carry header v0: just the correlation id.
        match read_answer(frame.slice(4.min(frame.len())..), version)? {
            Answer::Table(table) => return Ok(table),
            Answer::Retry(next) => version = next,
        }
    }
    Err(WireError::Kafka {
        code: KafkaCode::UNSUPPORTED_VERSION,
        context: "ApiVersions negotiation".into(),
    })
}

/// What one ApiVersions answer tells the handshake.
#[derive(Debug, PartialEq)]
pub(super) enum Answer {
    /// The broker's versions: the handshake is done.
    Table(ApiVersionsTable),
    /// The broker does not speak the version asked: ask again at this one.
    Retry(i16),
}

/// Reads the body of an ApiVersions response to a request sent at `version`.
///
/// A broker that does not know `version` answers UNSUPPORTED_VERSION, and
/// what the rest of the body holds depends on the broker: Apache Kafka sends
/// a v0 body listing its ApiVersions range (2.4 and later only that key,
/// older ones every key); librdkafka's mock cluster sends a hand-made body
/// with a one-byte count that is neither v0 nor flexible. As the Java
/// client does, we take the broker's ApiVersions range from a body that
/// parses (whole, as v0 or as the version asked) and retry at the highest
/// version both sides speak; when none parses or none is listed, we retry at
/// v0, which every broker answers.
pub(super) fn read_answer(body: Bytes, version: i16) -> Result<Answer> {
    if body.len() < 2 {
        return Err(WireError::Truncated {
            what: "ApiVersions response",
            needed: 2,
            available: body.len(),
        });
    }
    let code = KafkaCode((&body[..2]).get_i16());
    if code == KafkaCode::UNSUPPORTED_VERSION {
        if version == 0 {
            return Err(WireError::Kafka {
                code,
                context: "ApiVersions v0 (the oldest there is)".into(),
            });
        }
        let listed = [0, version]
            .into_iter()
            .find_map(|v| decode_whole(body.clone(), v))
            .map(|r| ApiVersionsTable::from_response(&r))
            .and_then(|t| t.negotiate(ApiKey::ApiVersions).ok());
        let next = match listed {
            Some(v) if v < version => v,
            _ => 0,
        };
        return Ok(Answer::Retry(next));
    }
    let mut body = body;
    let response =
        ApiVersionsResponse::decode(&mut body, version).map_err(|e| WireError::Decode {
            what: format!("ApiVersions v{version} response"),
            message: e.to_string(),
        })?;
    let code = KafkaCode(response.error_code);
    if !code.is_ok() {
        return Err(WireError::Kafka {
            code,
            context: format!("ApiVersions v{version}"),
        });
    }
    Ok(Answer::Table(ApiVersionsTable::from_response(&response)))
}

/// `body` decoded as an ApiVersions response at `version`, if that uses it all.
fn decode_whole(mut body: Bytes, version: i16) -> Option<ApiVersionsResponse> {
    let response = ApiVersionsResponse::decode(&mut body, version).ok()?;
    (!body.has_remaining()).then_some(response)
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
