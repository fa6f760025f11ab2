//! Frame splitting and protocol decoding on arbitrary bytes: never a panic,
//! never an allocation the frame limit does not allow.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sluice_wire::frame::FrameDecoder;
use sluice_wire::kafka_protocol::messages::{ApiKey, ApiVersionsRequest, FetchRequest, JoinGroupRequest, MetadataRequest};
use sluice_wire::protocol::{decode_request_body, decode_response, decode_response_body, parse_request_frame};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let mut frames = FrameDecoder::new(64 * 1024);
    while let Ok(Some(frame)) = frames.decode(&mut buf) {
        if let Ok(req) = parse_request_frame(frame.clone()) {
            let _ = decode_request_body(req.api_key, req.api_version, req.body);
        }
        for version in [4, 11, 12, 17] {
            let _ = decode_response::<FetchRequest>(frame.clone(), version);
        }
        for version in [0, 9, 12] {
            let _ = decode_response::<MetadataRequest>(frame.clone(), version);
        }
        for version in [0, 3] {
            let _ = decode_response::<ApiVersionsRequest>(frame.clone(), version);
        }
        let _ = decode_response::<JoinGroupRequest>(frame.clone(), 7);
    }
    // The whole input as one body of each consumer API's response.
    let body = Bytes::copy_from_slice(data);
    for api in [ApiKey::Fetch, ApiKey::Metadata, ApiKey::ListOffsets, ApiKey::OffsetFetch, ApiKey::SyncGroup] {
        let _ = decode_response_body(api, 12.min(api.valid_versions().max), body.clone());
    }
});
