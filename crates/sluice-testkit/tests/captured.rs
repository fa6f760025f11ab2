//! Every file in `fixtures/captured/` (real bytes from other
//! projects; SOURCES.md there says what each is) decodes, with the values
//! the sources describe. The folder must exist, and a file nobody handles
//! fails the suite instead of being skipped.

mod captured {
    pub mod decode;
}

use std::path::Path;

use bytes::Bytes;
use captured::decode::{self, conversation, expect_decoded, read, root};
use sluice_testkit::pcap::conversations;
use sluice_wire::kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, ConsumerProtocolAssignment, ConsumerProtocolSubscription,
    ResponseKind,
};
use sluice_wire::kafka_protocol::protocol::Decodable;
use sluice_wire::protocol::{decode_response_body, parse_request_frame, parse_response_frame};
use sluice_wire::records::{Compression, DecodeOptions, RecordDecoder};
use sluice_wire::versions::{ApiVersionsTable, supported};
use sluice_wire::{KafkaCode, WireError};

const MAX: usize = sluice_wire::frame::DEFAULT_RECEIVE_MESSAGE_MAX_BYTES;

fn all_files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), &root(), &mut out);
    out.sort();
    out
}

fn api_by_name(name: &str) -> ApiKey {
    match name {
        "api_versions" | "apiVersions" => ApiKey::ApiVersions,
        "fetch" => ApiKey::Fetch,
        "produce" => ApiKey::Produce,
        "metadata" => ApiKey::Metadata,
        "find_coordinator" | "findCoordinator" => ApiKey::FindCoordinator,
        "join_group" | "joinGroup" => ApiKey::JoinGroup,
        "sync_group" | "syncGroup" => ApiKey::SyncGroup,
        "heartbeat" => ApiKey::Heartbeat,
        "leave_group" | "leaveGroup" => ApiKey::LeaveGroup,
        "offset_fetch" | "offsetFetch" => ApiKey::OffsetFetch,
        "offset_commit" | "offsetCommit" => ApiKey::OffsetCommit,
        "list_offsets" | "listOffsets" => ApiKey::ListOffsets,
        "describe_groups" | "describeGroups" => ApiKey::DescribeGroups,
        "list_groups" => ApiKey::ListGroups,
        "init_producer_id" => ApiKey::InitProducerId,
        other => panic!("unknown API name {other}"),
    }
}

fn kafkajs_bytes(path: &str) -> Bytes {
    let v: serde_json::Value = serde_json::from_slice(&read(path)).unwrap();
    Bytes::from(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect::<Vec<u8>>(),
    )
}

/// Decodes one file by what it is; returns how many records it held.
fn check(path: &str) -> usize {
    let name = path.rsplit('/').next().unwrap();
    if name == "SOURCES.md" || name.ends_with(".txt") {
        return 0; // provenance and the plaintext inputs of kafka-rust's captures
    }
    if path.starts_with("derived-streams/") {
        if !name.ends_with(".client.bin") {
            return 0; // read together with its .client.bin
        }
        let client = read(path);
        let broker = read(&path.replace(".client.bin", ".broker.bin"));
        return conversation(path, &client, &broker)
            .iter()
            .map(|x| {
                x.request.as_ref().map_or(0, |r| r.records().len())
                    + x.response.as_ref().map_or(0, |r| r.records().len())
            })
            .sum();
    }
    if name.ends_with(".pcap") || name.ends_with(".pcapng") {
        let convs = conversations(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!convs.is_empty(), "{path}: no TCP conversation");
        let mut n = 0;
        for (i, c) in convs.iter().enumerate() {
            let derived = format!("derived-streams/{path}/conn{i}");
            assert_eq!(
                c.client_bytes,
                read(&format!("{derived}.client.bin")),
                "{path} conn{i}: client stream"
            );
            assert_eq!(
                c.server_bytes,
                read(&format!("{derived}.broker.bin")),
                "{path} conn{i}: broker stream"
            );
            n += conversation(path, &c.client_bytes, &c.server_bytes)
                .iter()
                .map(|x| x.response.as_ref().map_or(0, |r| r.records().len()))
                .sum::<usize>();
        }
        return n;
    }
    if name.ends_with(".hex") {
        let text = String::from_utf8(read(path)).unwrap();
        let raw: Vec<u8> = (0..text.trim().len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text.trim()[i..i + 2], 16).unwrap())
            .collect();
        let frame = sluice_wire::frame::split_frames(&raw, MAX)
            .unwrap()
            .remove(0);
        let (_, body) = parse_response_frame(frame, ApiKey::Fetch, 10).unwrap();
        return decode::response(ApiKey::Fetch, 10, body)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .records()
            .len();
    }
    if path.starts_with("kafka-rust/") {
        if name == "fetch1.snappy.chunked.4k" {
            let text =
                sluice_wire::records::decompress(Compression::Snappy, &read(path), MAX).unwrap();
            assert_eq!(
                &text[..],
                &read("kafka-rust/fetch1.txt")[..],
                "snappy-java stream decompresses to fetch1.txt"
            );
            return 0;
        }
        let (_, body) = parse_response_frame(Bytes::from(read(path)), ApiKey::Fetch, 0).unwrap();
        return match decode::legacy_fetch_response(0, body) {
            Ok(d) => d.records().len(),
            Err(e) => {
                assert!(name.contains("invalid_crc"), "{path}: {e}");
                assert!(
                    matches!(
                        e,
                        WireError::CrcMismatch {
                            what: "message",
                            ..
                        }
                    ),
                    "{path}: {e}"
                );
                0
            }
        };
    }
    if path.starts_with("kafkajs/") {
        let data = kafkajs_bytes(path);
        if path.contains("recordBatch") {
            return RecordDecoder::new(DecodeOptions::default())
                .decode_batches(data)
                .unwrap()
                .iter()
                .map(|b| b.records().count())
                .sum();
        }
        let stem = name.trim_end_matches(".json").trim_end_matches(".json");
        let api = api_by_name(path.split('/').nth(4).unwrap());
        let version: i16 = stem[1..stem.find('_').unwrap()].parse().unwrap();
        let kind = &stem[stem.find('_').unwrap() + 1..];
        let what = format!("{path} ({api:?} v{version})");
        if kind.contains("Metadata") {
            let mut b = data.slice(2..);
            ConsumerProtocolSubscription::decode(&mut b, 0)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            return 0;
        }
        if kind.contains("Assignment") {
            let mut b = data.slice(2..);
            ConsumerProtocolAssignment::decode(&mut b, 0).unwrap_or_else(|e| panic!("{what}: {e}"));
            return 0;
        }
        if kind == "response_missing_throttle_time" {
            // A broker that answered v1 in v0's layout (KafkaJS issue #491): at v1 it is a
            // decode error, and read as v0 it is a valid answer.
            assert!(
                decode_response_body(api, 1, data.clone()).is_err(),
                "{what}"
            );
            assert!(
                matches!(
                    decode_response_body(api, 0, data).unwrap(),
                    ResponseKind::ApiVersions(_)
                ),
                "{what}"
            );
            return 0;
        }
        let result = if kind.starts_with("request") {
            decode::request(api, version, data)
        } else {
            decode::response(api, version, data)
        };
        return expect_decoded(&what, api, version, result).map_or(0, |d| d.records().len());
    }
    if path.starts_with("tansu/")
        && (name.contains("_request_")
            || name.contains("_response_")
            || name.starts_with("snappy_rs"))
    {
        let frame = sluice_wire::frame::split_frames(&read(path), MAX)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .remove(0);
        if name.contains("_response_") {
            let api = api_by_name(&name[..name.find("_response_").unwrap()]);
            let after = &name[name.find("_response_v").unwrap() + "_response_v".len()..];
            let version: i16 = after.split('_').next().unwrap().parse().unwrap();
            let (_, body) = parse_response_frame(frame, api, version).unwrap();
            return expect_decoded(path, api, version, decode::response(api, version, body))
                .map_or(0, |d| d.records().len());
        }
        let req = parse_request_frame(frame).unwrap_or_else(|e| panic!("{path}: {e}"));
        let what = format!("{path} ({:?} v{})", req.api_key, req.api_version);
        return expect_decoded(
            &what,
            req.api_key,
            req.api_version,
            decode::request(req.api_key, req.api_version, req.body),
        )
        .map_or(0, |d| d.records().len());
    }
    if name.ends_with(".bin") {
        // Bare record sets: rskafka, kafka-python, tansu's deflated batches.
        let batches = RecordDecoder::new(DecodeOptions::default())
            .decode_batches(Bytes::from(read(path)))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        return batches
            .iter()
            .map(|b| {
                b.records()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap_or_else(|e| panic!("{path}: {e}"))
                    .len()
            })
            .sum();
    }
    panic!("{path}: no test handles this file; add it to captured.rs");
}

#[test]
fn every_captured_file_decodes() {
    let files = all_files();
    assert!(
        files.len() > 200,
        "expected the whole captured set, found {} files",
        files.len()
    );
    let mut records = 0;
    for f in &files {
        records += check(f);
    }
    println!("{} files, {records} records", files.len());
    assert!(records > 400, "{records} records decoded");
}

#[test]
fn kafka_go_fetch_responses_hold_what_sources_md_describes() {
    // (file, batches by magic and codec, records)
    type Case = (&'static str, &'static [(i8, Compression)], usize);
    let cases: &[Case] = &[
        ("v1-v1", &[(1, Compression::None); 4], 4),
        ("v1c-v1c", &[(1, Compression::Gzip); 3], 4),
        (
            "v1c-v1-v1c",
            &[
                (1, Compression::Gzip),
                (1, Compression::None),
                (1, Compression::None),
                (1, Compression::Gzip),
                (1, Compression::Gzip),
            ],
            6,
        ),
        ("v2-v2", &[(2, Compression::None); 2], 4),
        ("v2c-v2c", &[(2, Compression::Gzip); 2], 4),
        (
            "v2c-v2-v2c",
            &[
                (2, Compression::Gzip),
                (2, Compression::None),
                (2, Compression::Gzip),
            ],
            6,
        ),
        (
            "v2b-v1",
            &[
                (2, Compression::None),
                (1, Compression::None),
                (1, Compression::None),
            ],
            4,
        ),
        (
            "v2bc-v1",
            &[
                (2, Compression::Gzip),
                (1, Compression::None),
                (1, Compression::None),
            ],
            4,
        ),
        (
            "v2bc-v1c",
            &[(2, Compression::Gzip), (1, Compression::Gzip)],
            4,
        ),
        (
            "v2bc-v1-v1c",
            &[
                (2, Compression::Gzip),
                (1, Compression::None),
                (1, Compression::None),
                (1, Compression::Gzip),
            ],
            6,
        ),
    ];
    for (file, shape, count) in cases {
        let text = String::from_utf8(read(&format!("kafka-go/{file}.hex"))).unwrap();
        let raw: Vec<u8> = (0..text.trim().len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text.trim()[i..i + 2], 16).unwrap())
            .collect();
        let frame = sluice_wire::frame::split_frames(&raw, MAX)
            .unwrap()
            .remove(0);
        let (_, body) = parse_response_frame(frame, ApiKey::Fetch, 10).unwrap();
        let d = decode::response(ApiKey::Fetch, 10, body).unwrap();
        let got: Vec<(i8, Compression)> = d
            .batches
            .iter()
            .map(|b| (b.header.magic, b.header.compression()))
            .collect();
        assert_eq!(&got[..], *shape, "{file}: batches");
        let records = d.records();
        assert_eq!(records.len(), *count, "{file}: records");
        let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
        assert!(
            offsets.windows(2).all(|w| w[1] == w[0] + 1),
            "{file}: offsets run on: {offsets:?}"
        );
    }
    let big = "kafka-go/v1-v1c-v2-v2c-v2b-v2b-v2b-v2bc-v1b-v1bc.hex";
    let text = String::from_utf8(read(big)).unwrap();
    let raw: Vec<u8> = (0..text.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text.trim()[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(raw.len(), 4 + 1716, "a 1716-byte response and its size");
    let frame = sluice_wire::frame::split_frames(&raw, MAX)
        .unwrap()
        .remove(0);
    let (_, body) = parse_response_frame(frame, ApiKey::Fetch, 10).unwrap();
    let offsets: Vec<i64> = decode::response(ApiKey::Fetch, 10, body)
        .unwrap()
        .records()
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(
        offsets,
        (0..20).collect::<Vec<i64>>(),
        "20 offsets mixing every format"
    );
}

#[test]
fn kafka_go_sessions_include_the_kip_394_rejoin() {
    let convs = conversations(&read("kafka-go/v2-v2.pcapng")).unwrap();
    let exchanges: Vec<_> = convs
        .iter()
        .flat_map(|c| conversation("v2-v2", &c.client_bytes, &c.server_bytes))
        .collect();
    let joins: Vec<Option<i16>> = exchanges
        .iter()
        .filter(|x| x.api == ApiKey::JoinGroup)
        .map(|x| x.response.as_ref().and_then(|r| r.error_code))
        .collect();
    assert_eq!(joins, vec![Some(KafkaCode::MEMBER_ID_REQUIRED.0), Some(0)]);
    let apis: std::collections::BTreeSet<String> = exchanges
        .iter()
        .map(|x| format!("{:?} v{}", x.api, x.version))
        .collect();
    for want in [
        "ApiVersions v2",
        "Metadata v7",
        "FindCoordinator v2",
        "JoinGroup v4",
        "SyncGroup v2",
        "OffsetFetch v5",
        "ListOffsets v5",
        "Fetch v10",
        "OffsetCommit v6",
        "LeaveGroup v2",
    ] {
        assert!(apis.contains(want), "{want} in {apis:?}");
    }
}

#[test]
fn kafka_rust_fetch_v0_values_equal_the_plaintext_inputs() {
    let lines: Vec<String> = String::from_utf8(read("kafka-rust/fetch1.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 42);
    for (file, codec) in [
        (
            "fetch1.mytopic.1p.nocompression.kafka.0821",
            Compression::None,
        ),
        ("fetch1.mytopic.1p.gzip.kafka.0821", Compression::Gzip),
        ("fetch1.mytopic.1p.snappy.kafka.0821", Compression::Snappy),
        ("fetch1.mytopic.1p.snappy.kafka.0822", Compression::Snappy),
    ] {
        let (_, body) = parse_response_frame(
            Bytes::from(read(&format!("kafka-rust/{file}"))),
            ApiKey::Fetch,
            0,
        )
        .unwrap();
        let d = decode::legacy_fetch_response(0, body).unwrap();
        assert!(
            d.batches
                .iter()
                .all(|b| b.header.magic == 0 && b.header.compression() == codec),
            "{file}"
        );
        let values: Vec<String> = d
            .records()
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(values, lines, "{file}");
        assert_eq!(
            d.records().iter().map(|r| r.offset).collect::<Vec<_>>(),
            (0..42).collect::<Vec<i64>>(),
            "{file}"
        );
    }
    let (_, body) = parse_response_frame(
        Bytes::from(read("kafka-rust/fetch2.mytopic.nocompression.kafka.0900")),
        ApiKey::Fetch,
        0,
    )
    .unwrap();
    let one = decode::legacy_fetch_response(0, body).unwrap().records();
    assert_eq!(one.len(), 1);
    let text = read("kafka-rust/fetch2.txt");
    assert_eq!(
        one[0].value.as_deref(),
        Some(text.strip_suffix(b"\n").unwrap_or(&text)),
        "fetch2.txt without its final newline"
    );
    let (_, body) = parse_response_frame(
        Bytes::from(read(
            "kafka-rust/fetch2.mytopic.nocompression.invalid_crc.kafka.0900",
        )),
        ApiKey::Fetch,
        0,
    )
    .unwrap();
    assert!(matches!(
        decode::legacy_fetch_response(0, body),
        Err(WireError::CrcMismatch {
            what: "message",
            offset: 0,
            ..
        })
    ));
}

#[test]
fn deepflow_captures_decode_including_an_unknown_error_code() {
    let d = conversations(&read("deepflow/01-fetch-v12-unknown.pcap")).unwrap();
    let x = conversation("unknown", &d[0].client_bytes, &d[0].server_bytes);
    let code = KafkaCode(x[0].response.as_ref().unwrap().error_code.unwrap());
    assert_eq!(code.code(), 5120);
    assert_eq!(code.name(), "UNKNOWN_CODE");
    assert!(!code.is_retriable());
    let sw8 = conversations(&read("deepflow/00-produce-v7-sw8.pcap")).unwrap();
    let x = conversation("sw8", &sw8[0].client_bytes, &sw8[0].server_bytes);
    let record = &x[0].request.as_ref().unwrap().records()[0];
    assert_eq!(record.headers.iter().next().unwrap().key_str(), Some("sw8"));
    let v2 = conversations(&read("deepflow/00-produce-v2.pcap")).unwrap();
    let x = conversation("v2", &v2[0].client_bytes, &v2[0].server_bytes);
    assert_eq!((x[0].api, x[0].version), (ApiKey::Produce, 2));
    assert_eq!(x[0].request.as_ref().unwrap().batches[0].header.magic, 1);
}

fn table(path: &str, conn: usize) -> ApiVersionsTable {
    let convs = conversations(&read(path)).unwrap();
    let c = &convs[conn];
    let req = sluice_wire::frame::split_frames(&c.client_bytes, MAX)
        .unwrap()
        .remove(0);
    let req = parse_request_frame(req).unwrap();
    assert_eq!(req.api_key, ApiKey::ApiVersions);
    let resp = sluice_wire::frame::split_frames(&c.server_bytes, MAX)
        .unwrap()
        .remove(0);
    let (_, mut body) = parse_response_frame(resp, ApiKey::ApiVersions, req.api_version).unwrap();
    ApiVersionsTable::from_response(
        &ApiVersionsResponse::decode(&mut body, req.api_version).unwrap(),
    )
}

#[test]
fn versions_negotiate_against_kafka_2_3_and_3_0_and_never_below_kafka_4_minimums() {
    let kip_896 = [
        (ApiKey::Produce, 3),
        (ApiKey::Fetch, 4),
        (ApiKey::ListOffsets, 1),
        (ApiKey::Metadata, 0),
        (ApiKey::OffsetCommit, 2),
        (ApiKey::OffsetFetch, 1),
        (ApiKey::FindCoordinator, 0),
        (ApiKey::JoinGroup, 2),
        (ApiKey::SyncGroup, 0),
        (ApiKey::Heartbeat, 0),
        (ApiKey::LeaveGroup, 0),
    ];
    // Kafka 2.3 (kafka-go's broker) and Kafka 3.0 (deepflow's ApiVersions capture).
    let cases = [
        (
            "kafka-go/v2-v2.pcapng",
            [
                (ApiKey::Fetch, 11),
                (ApiKey::Produce, 7),
                (ApiKey::Metadata, 8),
            ],
        ),
        (
            "deepflow/18-api-versions-v3.pcap",
            [
                (ApiKey::Fetch, 12),
                (ApiKey::Produce, 9),
                (ApiKey::Metadata, 11),
            ],
        ),
    ];
    for (path, expected) in cases {
        let t = table(path, 0);
        for (api, v) in expected {
            assert_eq!(t.negotiate(api).unwrap(), v, "{path}: {api:?}");
        }
        for (api, min) in kip_896 {
            let v = t.negotiate(api).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                v,
                t.broker_range(api).unwrap().max.min(supported(api).max),
                "{path}: {api:?} is the highest common version"
            );
            assert!(
                v >= min,
                "{path}: {api:?} v{v} is below what Kafka 4.0 accepts"
            );
        }
    }
}
