//! The ApiVersions fallback against the exact bytes brokers send when they
//! do not know the version asked.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{Answer, read_answer};
use crate::KafkaCode;
use crate::error::WireError;
use crate::versions::supported;

/// librdkafka 2.12.1's mock cluster (rdkafka_mock_handlers.c,
/// `rd_kafka_mock_handle_ApiVersion`) answering an ApiVersions v4 request
/// (it speaks v0-v3): error 35, a one-byte count (it writes the request's
/// flexible flag but not the flexible layout), the ApiVersions key alone
/// (18, 0..3), throttle time 0. Neither v0 nor v4 parses it whole.
const MOCK_CLUSTER_V4: [u8; 13] = [
    0x00, 0x23, // error_code UNSUPPORTED_VERSION
    0x01, // count, one byte
    0x00, 0x12, 0x00, 0x00, 0x00, 0x03, // ApiVersions v0..v3
    0x00, 0x00, 0x00, 0x00, // throttle_time_ms
];

/// Apache Kafka 2.4 to 3.8 answering a version it does not know (KIP-511):
/// a v0 body, error 35, listing only its ApiVersions range (0..3).
const KAFKA_2_4_V4: [u8; 12] = [
    0x00, 0x23, // error_code
    0x00, 0x00, 0x00, 0x01, // one key
    0x00, 0x12, 0x00, 0x00, 0x00, 0x03, // ApiVersions v0..v3
];

/// Apache Kafka 2.0 to 2.3 (ApiVersions v0..v2) answering v3 or v4: a v0
/// body, error 35, with every key it knows (the first three here).
const KAFKA_2_0_V4: [u8; 24] = [
    0x00, 0x23, // error_code
    0x00, 0x00, 0x00, 0x03, // three keys
    0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // Produce v0..v7
    0x00, 0x01, 0x00, 0x00, 0x00, 0x0a, // Fetch v0..v10
    0x00, 0x12, 0x00, 0x00, 0x00, 0x02, // ApiVersions v0..v2
];

fn answer(bytes: &[u8], version: i16) -> Answer {
    read_answer(Bytes::copy_from_slice(bytes), version).expect("an answer")
}

#[test]
fn the_mock_clusters_unsupported_answer_falls_back_to_v0() {
    let newest = supported(ApiKey::ApiVersions).max;
    assert!(newest >= 4, "we ask at v{newest}");
    assert_eq!(answer(&MOCK_CLUSTER_V4, newest), Answer::Retry(0));
}

#[test]
fn kafka_2_4_and_later_get_retried_at_their_highest_version() {
    assert_eq!(answer(&KAFKA_2_4_V4, 4), Answer::Retry(3));
}

#[test]
fn kafka_2_0_lists_every_key_and_gets_its_highest_version() {
    assert_eq!(answer(&KAFKA_2_0_V4, 4), Answer::Retry(2));
    assert_eq!(answer(&KAFKA_2_0_V4, 3), Answer::Retry(2));
}

#[test]
fn a_listed_version_not_below_the_one_asked_falls_back_to_v0() {
    // A broker that says v3 is unsupported yet lists v0..v3: do not loop.
    assert_eq!(answer(&KAFKA_2_4_V4, 3), Answer::Retry(0));
}

#[test]
fn unsupported_at_v0_is_an_error_naming_it() {
    let err = read_answer(Bytes::copy_from_slice(&KAFKA_2_4_V4), 0).unwrap_err();
    assert!(
        matches!(&err, WireError::Kafka { code, .. } if *code == KafkaCode::UNSUPPORTED_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("ApiVersions v0"), "{err}");
}

#[test]
fn a_truncated_answer_is_a_typed_error() {
    let err = read_answer(Bytes::from_static(&[0x00]), 4).unwrap_err();
    assert!(matches!(err, WireError::Truncated { .. }), "{err}");
}

#[test]
fn a_v0_answer_gives_the_table() {
    // Kafka 2.0 answering v0: no error, its keys.
    let mut ok = KAFKA_2_0_V4;
    ok[1] = 0;
    let Answer::Table(table) = answer(&ok, 0) else {
        panic!("a table")
    };
    let fetch = table.broker_range(ApiKey::Fetch).expect("Fetch listed");
    assert_eq!((fetch.min, fetch.max), (0, 10));
}
