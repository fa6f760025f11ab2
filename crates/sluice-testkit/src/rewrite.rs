//! Rewriting the broker addresses in Metadata and FindCoordinator responses,
//! so a client keeps talking to a proxy or replay broker instead of the
//! broker behind it.

use std::net::SocketAddr;

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
            // v4+ answers in `coordinators` only: setting the top-level
            // fields would make the answer unencodable at that version.
            if version < 4 && f.node_id.0 >= 0 {
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

/// The bytes to send the client for response `frame` (without size prefix)
/// from a broker that `me` stands in for: for a Metadata or FindCoordinator
/// response (`request` names the API and version it answers), re-encoded
/// with every broker address replaced by `me`; otherwise the frame as it
/// was, with its size prefix.
pub fn for_client(frame: &Bytes, request: Option<(ApiKey, i16)>, me: SocketAddr) -> BytesMut {
    request
        .and_then(|(api, version)| {
            advertise(
                frame,
                api,
                version,
                &me.ip().to_string(),
                i32::from(me.port()),
            )
        })
        .unwrap_or_else(|| {
            let mut whole = BytesMut::with_capacity(frame.len() + 4);
            sluice_wire::frame::encode_frame(&mut whole, frame);
            whole
        })
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::find_coordinator_response::Coordinator;
    use kafka_protocol::messages::{BrokerId, FindCoordinatorResponse};

    use super::*;

    fn find_coordinator_frame(version: i16) -> Bytes {
        let mut response = FindCoordinatorResponse::default();
        if version >= 4 {
            response.coordinators = vec![
                Coordinator::default()
                    .with_key(StrBytes::from_static_str("g"))
                    .with_node_id(BrokerId(3))
                    .with_host(StrBytes::from_static_str("broker-3"))
                    .with_port(9092),
            ];
        } else {
            response.node_id = BrokerId(3);
            response.host = StrBytes::from_static_str("broker-3");
            response.port = 9092;
        }
        let response = ResponseKind::FindCoordinator(response);
        let body = encode_response_body(&response, ApiKey::FindCoordinator, version).unwrap();
        let whole = encode_response_frame(7, ApiKey::FindCoordinator, version, &body).freeze();
        whole.slice(4..)
    }

    /// Every FindCoordinator version is re-addressed: from v4 the answer is
    /// the coordinators list, and the top-level fields must stay unset.
    #[test]
    fn find_coordinator_answers_point_at_the_stand_in_at_every_version() {
        for version in 0..=6 {
            let frame = find_coordinator_frame(version);
            let out = advertise(&frame, ApiKey::FindCoordinator, version, "127.0.0.1", 4242)
                .unwrap_or_else(|| panic!("v{version} not rewritten"));
            let (header, body) =
                parse_response_frame(out.freeze().slice(4..), ApiKey::FindCoordinator, version)
                    .unwrap();
            assert_eq!(header.correlation_id, 7);
            let ResponseKind::FindCoordinator(f) =
                decode_response_body(ApiKey::FindCoordinator, version, body).unwrap()
            else {
                panic!("not FindCoordinator");
            };
            let (host, port) = match f.coordinators.first() {
                Some(c) => (c.host.to_string(), c.port),
                None => (f.host.to_string(), f.port),
            };
            assert_eq!((host.as_str(), port), ("127.0.0.1", 4242), "v{version}");
        }
    }
}
