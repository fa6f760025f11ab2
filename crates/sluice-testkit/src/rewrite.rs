//! Rewriting the broker addresses in Metadata and FindCoordinator responses,
//! so a client keeps talking to a proxy or replay broker instead of the
//! broker behind it.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use sluice_wire::protocol::{
    decode_response_body, encode_response_body, encode_response_frame, parse_response_frame,
};

/// If `frame` (a response without size prefix) is a Metadata or
/// FindCoordinator response, returns it re-encoded (with size prefix) with
/// every broker address replaced by `host:port`; otherwise `None`.
pub fn advertise(
    frame: &Bytes,
    api: ApiKey,
    version: i16,
    host: &str,
    port: i32,
) -> Option<BytesMut> {
    if !matches!(api, ApiKey::Metadata | ApiKey::FindCoordinator) {
        return None;
    }
    let (header, body) = parse_response_frame(frame.clone(), api, version).ok()?;
    let mut response = decode_response_body(api, version, body).ok()?;
    let host = StrBytes::from_string(host.to_string());
    match &mut response {
        ResponseKind::Metadata(m) => {
            for b in &mut m.brokers {
                b.host = host.clone();
                b.port = port;
            }
        }
        ResponseKind::FindCoordinator(f) => {
            if f.node_id.0 >= 0 {
                f.host = host.clone();
                f.port = port;
            }
            for c in &mut f.coordinators {
                c.host = host.clone();
                c.port = port;
            }
        }
        _ => return None,
    }
    let body = encode_response_body(&response, api, version).ok()?;
    Some(encode_response_frame(
        header.correlation_id,
        api,
        version,
        &body,
    ))
}
