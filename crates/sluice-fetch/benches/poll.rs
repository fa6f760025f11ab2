//! The poll hand-off: what it costs to turn a fetched partition's batches
//! into the `ConsumerRecord`s `Fetcher::poll` returns. The fetcher is driven
//! without sockets: a canned Fetch response of 100k records of 100 B (100
//! batches of 1000, uncompressed) is taken in, then polled dry
//! (`max.poll.records` 500, the default), with `Fetcher::poll` (owned
//! `ConsumerRecord`s, `poll_hand_off`), with `Fetcher::poll_batch` (a fresh
//! `PolledBatch` of views each poll, `poll_batch`) and with
//! `Fetcher::poll_batch_into` (one batch handed back each poll,
//! `poll_batch_reused`); every record's value is touched. Beside them,
//! `decode_only` decodes the same bytes into owned records with
//! `RecordDecoder` and `Batch::records`, and `decode_refs` into borrowed
//! views with `Batch::record_refs`: the differences are the hand-off itself.
//!
//! `cargo bench -p sluice-fetch --bench poll`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, FetchResponse, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_fetch::cluster::Cluster;
use sluice_fetch::fetcher::Fetcher;
use sluice_fetch::{FetchConfig, PolledBatch, TopicPartition};
use sluice_wire::records::{BatchBuilder, Compression, RecordDecoder};

const BATCHES: usize = 100;
const PER_BATCH: usize = 1000;
const RECORDS: u64 = (BATCHES * PER_BATCH) as u64;
const FETCH_VERSION: i16 = 12;

fn records() -> Bytes {
    let mut all = Vec::new();
    for b in 0..BATCHES {
        let mut builder = BatchBuilder::new(Compression::None);
        for r in 0..PER_BATCH {
            let i = b * PER_BATCH + r;
            let key = format!("k{:06}", i % 100_000);
            let mut value = format!("{{\"order\":{i},\"user\":\"u{:05}\"", i % 9973).into_bytes();
            value.resize(100, b' ');
            builder.push(
                1_700_000_000_000 + i as i64,
                Some(key.as_bytes()),
                Some(&value),
                &[],
            );
        }
        all.extend_from_slice(&builder.build((b * PER_BATCH) as i64).unwrap());
    }
    all.into()
}

fn cluster() -> Cluster {
    let mut cluster = Cluster::new();
    let metadata = MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("h"))
                .with_port(9092),
        ])
        .with_topics(vec![
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("events"))))
                .with_topic_id(uuid::Uuid::from_u128(1))
                .with_partitions(vec![
                    MetadataResponsePartition::default()
                        .with_partition_index(0)
                        .with_leader_id(BrokerId(1))
                        .with_leader_epoch(1),
                ]),
        ]);
    cluster.apply(&metadata, Instant::now());
    cluster
}

fn response(records: &Bytes) -> FetchResponse {
    FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("events")))
            .with_partitions(vec![
                PartitionData::default()
                    .with_partition_index(0)
                    .with_high_watermark(RECORDS as i64)
                    .with_last_stable_offset(RECORDS as i64)
                    .with_records(Some(records.clone())),
            ]),
    ])
}

/// Takes in the canned response at offset 0.
fn take_in(fetcher: &mut Fetcher, cluster: &Cluster, response: &FetchResponse) {
    let tp = TopicPartition::new("events", 0);
    fetcher.seek(&tp, 0).unwrap();
    fetcher.build_fetch(1, FETCH_VERSION, cluster).unwrap();
    fetcher.on_fetch_response(1, response);
}

/// Takes in the canned response and polls it dry with `poll`.
fn poll_all(fetcher: &mut Fetcher, cluster: &Cluster, response: &FetchResponse) -> usize {
    take_in(fetcher, cluster, response);
    let (mut count, mut total) = (0, 0);
    loop {
        let polled = fetcher.poll().unwrap();
        if polled.is_empty() {
            break;
        }
        count += polled.len();
        total += polled
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len()))
            .sum::<usize>();
    }
    assert_eq!(count as u64, RECORDS);
    total
}

/// The same with `poll_batch` (`reuse`: `poll_batch_into` one batch).
fn poll_batch_all(
    fetcher: &mut Fetcher,
    cluster: &Cluster,
    response: &FetchResponse,
    reuse: Option<&mut PolledBatch>,
) -> usize {
    take_in(fetcher, cluster, response);
    let (mut count, mut total) = (0, 0);
    let mut fresh = PolledBatch::new();
    let reused = reuse.is_some();
    let batch = reuse.unwrap_or(&mut fresh);
    loop {
        if reused {
            fetcher.poll_batch_into(batch).unwrap();
        } else {
            *batch = fetcher.poll_batch().unwrap();
        }
        if batch.is_empty() {
            break;
        }
        count += batch.len();
        total += batch
            .iter()
            .map(|r| r.value.map_or(0, |v| v.len()))
            .sum::<usize>();
    }
    assert_eq!(count as u64, RECORDS);
    total
}

fn benches(c: &mut Criterion) {
    let records = records();
    let cluster = cluster();
    let response = response(&records);
    let mut fetcher = Fetcher::new(FetchConfig::default());
    fetcher.assign([TopicPartition::new("events", 0)]);

    let mut g = c.benchmark_group("poll");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(RECORDS));
    g.bench_function("poll_hand_off", |b| {
        b.iter(|| black_box(poll_all(&mut fetcher, &cluster, &response)))
    });
    g.bench_function("poll_batch", |b| {
        b.iter(|| black_box(poll_batch_all(&mut fetcher, &cluster, &response, None)))
    });
    let mut batch = PolledBatch::new();
    g.bench_function("poll_batch_reused", |b| {
        b.iter(|| {
            black_box(poll_batch_all(
                &mut fetcher,
                &cluster,
                &response,
                Some(&mut batch),
            ))
        })
    });
    let mut decoder = RecordDecoder::new(FetchConfig::default().decode_options());
    g.bench_function("decode_only", |b| {
        b.iter(|| {
            let mut total = 0;
            for batch in decoder.decode_batches(records.clone()).unwrap() {
                for record in batch.records() {
                    total += record.unwrap().value.map_or(0, |v| v.len());
                }
            }
            black_box(total)
        })
    });
    g.bench_function("decode_refs", |b| {
        b.iter(|| {
            let mut total = 0;
            for batch in decoder.decode_batches(records.clone()).unwrap() {
                for record in batch.record_refs() {
                    total += record.unwrap().value.map_or(0, |v| v.len());
                }
            }
            black_box(total)
        })
    });
    g.finish();
}

criterion_group!(poll, benches);
criterion_main!(poll);
