//! Decoding whatever a captured stream or file holds: protocol messages
//! through kafka-protocol where it still speaks the version, the record sets
//! of the Produce and Fetch versions Kafka 4.0 removed by hand, and record
//! batches through sluice's codec.

use bytes::{Buf, Bytes};
use sluice_wire::WireError;
use sluice_wire::kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use sluice_wire::protocol::{
    decode_request_body, decode_response_body, parse_request_frame, parse_response_frame,
};
use sluice_wire::records::{Batch, DecodeOptions, Record, RecordDecoder};
use sluice_wire::versions::supported;

/// The root of the captured fixtures; the tests fail if it is missing.
pub fn root() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/captured"
    ));
    assert!(
        dir.is_dir(),
        "{} is missing: fixtures/captured is part of the repository",
        dir.display()
    );
    dir
}

/// A file under the root.
pub fn read(path: &str) -> Vec<u8> {
    let full = root().join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Everything decoded from one message body.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The API's top-level error code, where it has one.
    pub error_code: Option<i16>,
    /// Record batches in it (Produce requests, Fetch responses).
    pub batches: Vec<Batch>,
}

impl Decoded {
    /// Every record of every batch.
    pub fn records(&self) -> Vec<Record> {
        self.batches
            .iter()
            .flat_map(|b| b.records().map(|r| r.expect("record decodes")))
            .collect()
    }
}

fn batches(data: &Bytes) -> Result<Vec<Batch>, WireError> {
    RecordDecoder::new(DecodeOptions::default()).decode_batches(data.clone())
}

fn string(b: &mut Bytes) -> String {
    let n = b.get_i16();
    String::from_utf8(b.split_to(n.max(0) as usize).to_vec()).expect("UTF-8 topic")
}

fn bytes(b: &mut Bytes) -> Bytes {
    let n = b.get_i32();
    b.split_to(n.max(0) as usize)
}

/// Fetch v0-3 responses: `[throttle (v1+)] [topic [partition error hw records]]`.
pub fn legacy_fetch_response(version: i16, mut b: Bytes) -> Result<Decoded, WireError> {
    if version >= 1 {
        b.get_i32();
    }
    let mut out = Decoded::default();
    for _ in 0..b.get_i32() {
        string(&mut b);
        for _ in 0..b.get_i32() {
            let _partition = b.get_i32();
            let error = b.get_i16();
            let _hw = b.get_i64();
            out.error_code = Some(out.error_code.unwrap_or(0).max(error));
            out.batches.extend(batches(&bytes(&mut b))?);
        }
    }
    assert!(
        b.is_empty(),
        "{} bytes left after a Fetch v{version} response",
        b.len()
    );
    Ok(out)
}

/// Produce v0-2 requests: `acks timeout [topic [partition records]]`.
pub fn legacy_produce_request(mut b: Bytes) -> Result<Decoded, WireError> {
    b.get_i16();
    b.get_i32();
    let mut out = Decoded::default();
    for _ in 0..b.get_i32() {
        string(&mut b);
        for _ in 0..b.get_i32() {
            b.get_i32();
            out.batches.extend(batches(&bytes(&mut b))?);
        }
    }
    Ok(out)
}

fn top_error(r: &ResponseKind) -> Option<i16> {
    Some(match r {
        ResponseKind::JoinGroup(x) => x.error_code,
        ResponseKind::SyncGroup(x) => x.error_code,
        ResponseKind::Heartbeat(x) => x.error_code,
        ResponseKind::LeaveGroup(x) => x.error_code,
        ResponseKind::FindCoordinator(x) => x.error_code,
        ResponseKind::ApiVersions(x) => x.error_code,
        ResponseKind::Fetch(x) => x.error_code,
        _ => return None,
    })
}

/// Decodes a request body, by kafka-protocol or (Produce v0-2) by hand. A
/// version neither handles is a decode error naming the version.
pub fn request(api: ApiKey, version: i16, body: Bytes) -> Result<Decoded, WireError> {
    if api == ApiKey::Produce && version < 3 {
        return legacy_produce_request(body);
    }
    let r = decode_request_body(api, version, body)?;
    let mut out = Decoded::default();
    if let RequestKind::Produce(p) = &r {
        for t in &p.topic_data {
            for part in &t.partition_data {
                out.batches
                    .extend(batches(part.records.as_ref().expect("records"))?);
            }
        }
    }
    Ok(out)
}

/// Decodes a response body, by kafka-protocol or (Fetch v0-3) by hand.
pub fn response(api: ApiKey, version: i16, body: Bytes) -> Result<Decoded, WireError> {
    if api == ApiKey::Fetch && version < 4 {
        return legacy_fetch_response(version, body);
    }
    let r = decode_response_body(api, version, body)?;
    let mut out = Decoded {
        error_code: top_error(&r),
        ..Decoded::default()
    };
    if let ResponseKind::Fetch(f) = &r {
        for t in &f.responses {
            for p in &t.partitions {
                out.batches
                    .extend(batches(&p.records.clone().unwrap_or_default())?);
            }
        }
    }
    Ok(out)
}

/// A version kafka-protocol dropped (Kafka 4.0 removed them too, KIP-896)
/// must fail as a decode error naming the version, never panic; any other
/// must decode. `None` for the dropped ones.
pub fn expect_decoded(
    what: &str,
    api: ApiKey,
    version: i16,
    result: Result<Decoded, WireError>,
) -> Option<Decoded> {
    let by_hand = matches!(
        (api, version),
        (ApiKey::Fetch, 0..=3) | (ApiKey::Produce, 0..=2)
    );
    if version < supported(api).min && !(by_hand && result.is_ok()) {
        let err = result.expect_err(what);
        assert!(
            matches!(&err, WireError::Decode { what, .. } if what.contains(&format!("v{version}"))),
            "{what}: {err}"
        );
        return None;
    }
    Some(result.unwrap_or_else(|e| panic!("{what}: {e}")))
}

/// One request with its response, from a byte stream.
#[derive(Debug)]
pub struct Exchange {
    /// The API.
    pub api: ApiKey,
    /// Its version.
    pub version: i16,
    /// The request (`None`: a version Kafka 4.0 removed).
    pub request: Option<Decoded>,
    /// The response, if the stream has it and its version is still spoken.
    pub response: Option<Decoded>,
}

/// Splits a connection's two streams into frames, pairs responses with
/// requests by correlation id, and decodes both sides.
pub fn conversation(what: &str, client: &[u8], broker: &[u8]) -> Vec<Exchange> {
    let max = sluice_wire::frame::DEFAULT_RECEIVE_MESSAGE_MAX_BYTES;
    let requests = sluice_wire::frame::split_frames(client, max)
        .unwrap_or_else(|e| panic!("{what}: client stream: {e}"));
    let responses = sluice_wire::frame::split_frames(broker, max)
        .unwrap_or_else(|e| panic!("{what}: broker stream: {e}"));
    let mut out = Vec::new();
    let mut by_corr = std::collections::HashMap::new();
    for frame in requests {
        let req =
            parse_request_frame(frame).unwrap_or_else(|e| panic!("{what}: request header: {e}"));
        let label = format!("{what}: {:?} v{} request", req.api_key, req.api_version);
        let decoded = expect_decoded(
            &label,
            req.api_key,
            req.api_version,
            request(req.api_key, req.api_version, req.body),
        );
        by_corr.insert(req.correlation_id, out.len());
        out.push(Exchange {
            api: req.api_key,
            version: req.api_version,
            request: decoded,
            response: None,
        });
    }
    for frame in responses {
        let corr = sluice_wire::protocol::response_correlation_id(&frame).unwrap();
        let &i = by_corr
            .get(&corr)
            .unwrap_or_else(|| panic!("{what}: response {corr} answers no request"));
        let (api, version) = (out[i].api, out[i].version);
        let (_, body) =
            parse_response_frame(frame, api, version).unwrap_or_else(|e| panic!("{what}: {e}"));
        let label = format!("{what}: {api:?} v{version} response");
        out[i].response = expect_decoded(&label, api, version, response(api, version, body));
    }
    out
}
