//! The ApiVersions handshake every connection starts with.

use bytes::Buf;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::ConnectionConfig;
use super::shared::{Pending, Shared};
use crate::KafkaCode;
use crate::error::{Result, WireError};
use crate::protocol::encode_request;
use crate::versions::{ApiVersionsTable, supported};

/// Asks the broker which versions it speaks, starting at the newest
/// ApiVersions we know. A broker that does not know that version answers
/// UNSUPPORTED_VERSION with a v0 body listing its own ApiVersions range;
/// we retry at the highest version it offers.
pub(super) async fn api_versions(
    shared: &Shared,
    config: &ConnectionConfig,
) -> Result<ApiVersionsTable> {
    let mut version = supported(ApiKey::ApiVersions).max;
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
        let mut body = frame.slice(4.min(frame.len())..);
        if body.len() < 2 {
            return Err(WireError::Truncated {
                what: "ApiVersions response",
                needed: 2,
                available: body.len(),
            });
        }
        let code = KafkaCode((&body[..2]).get_i16());
        if code == KafkaCode::UNSUPPORTED_VERSION && version > 0 {
            let v0 = ApiVersionsResponse::decode(&mut body, 0).map_err(|e| decode_error(0, e))?;
            let table = ApiVersionsTable::from_response(&v0);
            let next = table.negotiate(ApiKey::ApiVersions)?;
            if next >= version {
                return Err(WireError::Kafka {
                    code,
                    context: format!("ApiVersions v{version}"),
                });
            }
            version = next;
            continue;
        }
        let response = ApiVersionsResponse::decode(&mut body, version)
            .map_err(|e| decode_error(version, e))?;
        let code = KafkaCode(response.error_code);
        if !code.is_ok() {
            return Err(WireError::Kafka {
                code,
                context: format!("ApiVersions v{version}"),
            });
        }
        return Ok(ApiVersionsTable::from_response(&response));
    }
    Err(WireError::Kafka {
        code: KafkaCode::UNSUPPORTED_VERSION,
        context: "ApiVersions negotiation".into(),
    })
}

fn decode_error(version: i16, e: impl std::fmt::Display) -> WireError {
    WireError::Decode {
        what: format!("ApiVersions v{version} response"),
        message: e.to_string(),
    }
}
