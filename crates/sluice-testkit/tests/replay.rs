//! The replay broker serves a recorded librdkafka session to sluice's own
//! connection: versions negotiate to the recorded ones, and the recorded
//! Metadata and Fetch answers decode to what the session produced.

use std::path::PathBuf;

use sluice_testkit::fixture::Fixture;
use sluice_testkit::replay::ReplayBroker;
use sluice_wire::connection::{Connection, ConnectionConfig};
use sluice_wire::kafka_protocol::messages::{ApiKey, FetchRequest, MetadataRequest, RequestKind};
use sluice_wire::protocol::{decode_request_body, parse_request_frame};
use sluice_wire::records::{DecodeOptions, RecordDecoder};

fn librdkafka() -> Fixture {
    Fixture::load(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/librdkafka-tansu.json"
    )))
    .unwrap()
}

#[tokio::test]
async fn a_recorded_session_replays_to_our_connection() {
    let fixture = librdkafka();
    let fetches: Vec<FetchRequest> = fixture
        .exchanges
        .iter()
        .filter(|e| e.api_key == ApiKey::Fetch as i16)
        .map(|e| {
            let req = parse_request_frame(e.request_frame()).unwrap();
            match decode_request_body(req.api_key, req.api_version, req.body).unwrap() {
                RequestKind::Fetch(f) => f,
                _ => unreachable!(),
            }
        })
        .collect();
    let recorded_fetch_version = fixture
        .exchanges
        .iter()
        .find(|e| e.api_key == ApiKey::Fetch as i16)
        .unwrap()
        .api_version;
    let broker = ReplayBroker::start(fixture).await.unwrap();
    let conn = Connection::connect(&broker.addr(), ConnectionConfig::default())
        .await
        .unwrap();
    assert_eq!(
        conn.versions().negotiate(ApiKey::Fetch).unwrap(),
        recorded_fetch_version
    );

    let metadata = conn.send(MetadataRequest::default()).await.unwrap();
    assert!(!metadata.brokers.is_empty());
    let (host, port) = broker
        .addr()
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.parse::<i32>().unwrap()))
        .unwrap();
    assert!(
        metadata
            .brokers
            .iter()
            .all(|b| b.host.as_str() == host && b.port == port),
        "brokers point at the replay broker"
    );

    let mut records = 0;
    let mut decoder = RecordDecoder::new(DecodeOptions::default());
    for fetch in fetches {
        let response = conn.send(fetch).await.unwrap();
        for t in &response.responses {
            for p in &t.partitions {
                for batch in decoder
                    .decode_batches(p.records.clone().unwrap_or_default())
                    .unwrap()
                {
                    records += batch.records().count();
                }
            }
        }
    }
    assert_eq!(
        records, 30,
        "the session consumed 6 records in each of 5 codecs"
    );
    assert!(broker.mismatches().is_empty(), "{:?}", broker.mismatches());
    // Something never recorded is refused and reported.
    let _ = conn
        .send_version(
            sluice_wire::kafka_protocol::messages::HeartbeatRequest::default(),
            0,
        )
        .await;
    assert_eq!(broker.mismatches().len(), 1);
}
