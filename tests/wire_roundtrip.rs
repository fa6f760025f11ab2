//! sluice-wire against a real broker: connect, negotiate ApiVersions, create a
//! topic, produce a batch in every codec with our encoder and fetch it back.

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchRequest, ProduceRequest};
use sluice_integration::{TempTopic, connect};
use sluice_wire::KafkaCode;
use sluice_wire::records::{BatchBuilder, Compression, DecodeOptions, Record, RecordDecoder};

/// The lowest version of each API that Kafka 4.0 still accepts (KIP-896).
const KIP_896_MINIMUM: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 3),
    (ApiKey::Fetch, 4),
    (ApiKey::ListOffsets, 1),
    (ApiKey::Metadata, 0),
    (ApiKey::OffsetCommit, 2),
    (ApiKey::OffsetFetch, 1),
    (ApiKey::FindCoordinator, 0),
    (ApiKey::JoinGroup, 2),
    (ApiKey::Heartbeat, 0),
    (ApiKey::LeaveGroup, 0),
    (ApiKey::SyncGroup, 0),
    (ApiKey::ApiVersions, 0),
];

#[tokio::test]
async fn negotiates_versions_no_older_than_kafka_4_accepts() {
    let conn = connect("sluice-it-versions").await;
    for &(api, min) in KIP_896_MINIMUM {
        let version = conn
            .versions()
            .negotiate(api)
            .unwrap_or_else(|e| panic!("{api:?}: {e}"));
        assert!(
            version >= min,
            "{api:?} negotiated v{version}, below Kafka 4.0's minimum v{min}"
        );
        let broker_max = conn.versions().broker_range(api).expect("broker range").max;
        let ours_max = sluice_wire::versions::supported(api).max;
        assert_eq!(
            version,
            broker_max.min(ours_max),
            "{api:?}: not the highest common version"
        );
    }
    conn.close().await;
}

struct Sample {
    key: Option<&'static [u8]>,
    value: Option<&'static [u8]>,
    headers: &'static [(&'static [u8], Option<&'static [u8]>)],
}

const SAMPLES: &[Sample] = &[
    Sample {
        key: Some(b"user-1"),
        value: Some(b"{\"amount\": 12.5}"),
        headers: &[],
    },
    Sample {
        key: None,
        value: Some("d\u{e9}j\u{e0} vu \u{1f600}".as_bytes()),
        headers: &[(b"trace", Some(b"abc"))],
    },
    Sample {
        key: Some(b"k"),
        value: None,
        headers: &[(b"dup", Some(b"1")), (b"dup", Some(b"2")), (b"nil", None)],
    },
    Sample {
        key: Some(b""),
        value: Some(b""),
        headers: &[],
    },
];

fn build_batch(codec: Compression, base_timestamp: i64) -> Bytes {
    let mut builder = BatchBuilder::new(codec);
    for (i, s) in SAMPLES.iter().enumerate() {
        builder.push(base_timestamp + i as i64, s.key, s.value, s.headers);
    }
    builder.build(0).expect("encode batch")
}

fn assert_sample(record: &Record, sample: &Sample, codec: Compression) {
    assert_eq!(
        record.key.as_deref(),
        sample.key,
        "{codec}: key at offset {}",
        record.offset
    );
    assert_eq!(
        record.value.as_deref(),
        sample.value,
        "{codec}: value at offset {}",
        record.offset
    );
    let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = record
        .headers
        .iter()
        .map(|h| (h.key.to_vec(), h.value.map(|v| v.to_vec())))
        .collect();
    let expected: Vec<(Vec<u8>, Option<Vec<u8>>)> = sample
        .headers
        .iter()
        .map(|(k, v)| (k.to_vec(), v.map(|v| v.to_vec())))
        .collect();
    assert_eq!(
        headers, expected,
        "{codec}: headers at offset {}",
        record.offset
    );
}

#[tokio::test]
async fn produce_with_our_encoder_and_fetch_back_in_every_codec() {
    let conn = connect("sluice-it-roundtrip").await;
    let topic = TempTopic::create(&conn, "sluice-it-roundtrip", 1).await;
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let base_timestamp = 1_700_000_000_000;

    let mut base_offsets = Vec::new();
    for codec in codecs {
        let partition = PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(build_batch(codec, base_timestamp)));
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic.topic_name())
                    .with_topic_id(topic.id)
                    .with_partition_data(vec![partition]),
            ]);
        let response = conn.send(request).await.expect("Produce");
        let p = &response.responses[0].partition_responses[0];
        assert_eq!(
            KafkaCode(p.error_code),
            KafkaCode::NONE,
            "{codec}: produce error {:?}",
            p.error_message
        );
        base_offsets.push(p.base_offset);
    }
    let expected_offsets: Vec<i64> = (0..codecs.len() as i64)
        .map(|i| i * SAMPLES.len() as i64)
        .collect();
    assert_eq!(
        base_offsets, expected_offsets,
        "each batch lands right after the previous one"
    );

    let mut decoder = RecordDecoder::new(DecodeOptions::default());
    let mut next = 0i64;
    let total = (codecs.len() * SAMPLES.len()) as i64;
    let mut records = Vec::new();
    // A fetch may return fewer batches than we wrote; keep fetching from the next offset.
    for _ in 0..20 {
        if next >= total {
            break;
        }
        let request = FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(topic.topic_name())
                    .with_topic_id(topic.id)
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(next)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]);
        let response = conn.send(request).await.expect("Fetch");
        assert_eq!(KafkaCode(response.error_code), KafkaCode::NONE);
        let partition = &response.responses[0].partitions[0];
        assert_eq!(
            KafkaCode(partition.error_code),
            KafkaCode::NONE,
            "fetch partition error"
        );
        assert_eq!(partition.high_watermark, total, "high watermark");
        let data = partition.records.clone().unwrap_or_default();
        for batch in decoder
            .decode_batches(data)
            .expect("decode fetched batches")
        {
            for record in batch.records() {
                let record = record.expect("decode record");
                if record.offset >= next {
                    next = record.offset + 1;
                    records.push((batch.header.compression(), record));
                }
            }
        }
    }
    assert_eq!(records.len() as i64, total, "fetched every produced record");
    for (i, (codec, record)) in records.iter().enumerate() {
        assert_eq!(record.offset, i as i64);
        assert_eq!(*codec, codecs[i / SAMPLES.len()], "batch codec as produced");
        let sample = &SAMPLES[i % SAMPLES.len()];
        assert_eq!(
            record.timestamp,
            base_timestamp + (i % SAMPLES.len()) as i64,
            "timestamp"
        );
        assert_sample(record, sample, *codec);
    }

    topic.delete().await;
    conn.close().await;
}
