//! The fetcher's behaviour, driven by hand-made responses: no sockets, no clock.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, FetchResponse, MetadataResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_wire::KafkaCode;
use sluice_wire::records::{BatchBuilder, Compression};
use uuid::Uuid;

use super::*;

const FETCH_VERSION: i16 = 12;

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

fn cluster(leaders: &[(i32, i32)]) -> Cluster {
    let mut c = Cluster::new();
    let response = MetadataResponse::default()
        .with_brokers(
            [1, 2]
                .into_iter()
                .map(|id| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(id))
                        .with_host(StrBytes::from_static_str("h"))
                        .with_port(9000 + id)
                })
                .collect(),
        )
        .with_topics(vec![
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                .with_topic_id(Uuid::from_u128(1))
                .with_partitions(
                    leaders
                        .iter()
                        .map(|&(p, leader)| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_id(BrokerId(leader))
                                .with_leader_epoch(1)
                        })
                        .collect(),
                ),
        ]);
    c.apply(&response, Instant::now());
    c
}

fn config() -> FetchConfig {
    FetchConfig {
        auto_offset_reset: OffsetReset::Earliest,
        ..FetchConfig::default()
    }
}

/// A batch of `n` records at `base`, values "v{offset}".
fn batch(base: i64, n: i64) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None);
    for i in 0..n {
        let value = format!("v{}", base + i);
        b.push(1000 + i, None, Some(value.as_bytes()), &[]);
    }
    b.build(base).unwrap()
}

fn concat(parts: &[Bytes]) -> Bytes {
    parts
        .iter()
        .flat_map(|b| b.iter().copied())
        .collect::<Vec<u8>>()
        .into()
}

fn response(parts: Vec<(i32, i16, Option<Bytes>, i64)>) -> FetchResponse {
    FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(
                parts
                    .into_iter()
                    .map(|(p, code, records, hw)| {
                        PartitionData::default()
                            .with_partition_index(p)
                            .with_error_code(code)
                            .with_high_watermark(hw)
                            .with_last_stable_offset(hw)
                            .with_records(records)
                    })
                    .collect(),
            ),
    ])
}

/// A fetcher with `tp(0)` (leader 1) at `offset`.
fn fetcher_at(config: FetchConfig, offset: i64) -> (Fetcher, Cluster) {
    let mut f = Fetcher::new(config);
    f.assign([tp(0)]);
    f.seek(&tp(0), offset).unwrap();
    (f, cluster(&[(0, 1)]))
}

fn offsets(records: &[ConsumerRecord]) -> Vec<i64> {
    records.iter().map(|r| r.offset).collect()
}

#[test]
fn requests_carry_min_bytes_max_wait_and_size_limits() {
    let config = FetchConfig {
        fetch_min_bytes: 1000,
        fetch_max_wait: Duration::from_millis(250),
        fetch_max_bytes: 5000,
        max_partition_fetch_bytes: 700,
        ..config()
    };
    let (mut f, c) = fetcher_at(config, 3);
    assert_eq!(f.fetch_targets(&c), vec![1]);
    let r = f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    assert_eq!(r.min_bytes, 1000);
    assert_eq!(r.max_wait_ms, 250);
    assert_eq!(r.max_bytes, 5000);
    let p = &r.topics[0].partitions[0];
    assert_eq!(
        (p.partition, p.fetch_offset, p.partition_max_bytes),
        (0, 3, 700)
    );
    // One fetch in flight per broker.
    assert!(f.fetch_targets(&c).is_empty());
    assert!(f.build_fetch(1, FETCH_VERSION, &c).is_none());
}

#[test]
fn new_partitions_look_their_offset_up_first() {
    let mut f = Fetcher::new(config());
    let c = cluster(&[(0, 1), (1, 2)]);
    f.assign([tp(0), tp(1)]);
    assert!(f.fetch_targets(&c).is_empty(), "no position yet");
    let lookups = f.offset_lookups();
    assert_eq!(
        lookups,
        vec![(tp(0), OffsetSpec::Earliest), (tp(1), OffsetSpec::Earliest)]
    );
    assert!(f.offset_lookups().is_empty(), "lookups are in flight");
    f.on_offset_lookup(
        &tp(0),
        OffsetSpec::Earliest,
        Ok(ListedOffset {
            offset: 40,
            leader_epoch: 1,
            timestamp: -1,
        }),
    );
    assert_eq!(f.position(&tp(0)), Some(40));
    assert_eq!(f.fetch_targets(&c), vec![1]);
    // A failed lookup is retried.
    f.on_offset_lookup_failed(&[tp(1)]);
    assert_eq!(f.offset_lookups(), vec![(tp(1), OffsetSpec::Earliest)]);
    // A timestamp with no record at or after it goes to the end.
    f.seek_to(&tp(1), OffsetSpec::Timestamp(99)).unwrap();
    assert_eq!(f.offset_lookups(), vec![(tp(1), OffsetSpec::Timestamp(99))]);
    f.on_offset_lookup(
        &tp(1),
        OffsetSpec::Timestamp(99),
        Ok(ListedOffset {
            offset: -1,
            leader_epoch: -1,
            timestamp: -1,
        }),
    );
    assert_eq!(f.offset_lookups(), vec![(tp(1), OffsetSpec::Latest)]);
}

#[test]
fn max_poll_records_splits_and_the_rest_stays_buffered() {
    let (mut f, c) = fetcher_at(
        FetchConfig {
            max_poll_records: 3,
            ..config()
        },
        0,
    );
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    let outcome = f.on_fetch_response(
        1,
        &response(vec![(0, 0, Some(concat(&[batch(0, 4), batch(4, 3)])), 7)]),
    );
    assert_eq!(outcome.partitions_with_data, 1);
    assert!(f.has_records());
    assert!(
        f.fetch_targets(&c).is_empty(),
        "data still buffered for the partition"
    );
    assert_eq!(offsets(&f.poll().unwrap()), vec![0, 1, 2]);
    assert_eq!(f.position(&tp(0)), Some(3));
    assert_eq!(offsets(&f.poll().unwrap()), vec![3, 4, 5]);
    let last = f.poll().unwrap();
    assert_eq!(offsets(&last), vec![6]);
    assert_eq!(last[0].value.as_deref(), Some(&b"v6"[..]));
    assert_eq!(f.position(&tp(0)), Some(7));
    assert_eq!(f.buffered_bytes(), 0);
    assert!(f.poll().unwrap().is_empty());
    assert_eq!(f.fetch_targets(&c), vec![1], "drained: fetch again");
    assert_eq!(f.state(&tp(0)).unwrap().lag(), Some(0));
}

#[test]
fn records_before_the_fetch_offset_inside_a_batch_are_skipped() {
    let (mut f, c) = fetcher_at(config(), 5);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, Some(batch(0, 10)), 10)]));
    assert_eq!(offsets(&f.poll().unwrap()), vec![5, 6, 7, 8, 9]);
    assert_eq!(f.position(&tp(0)), Some(10));
}

#[test]
fn paused_partitions_are_neither_fetched_nor_returned() {
    let (mut f, c) = fetcher_at(config(), 0);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, Some(batch(0, 2)), 2)]));
    f.pause(&tp(0)).unwrap();
    assert!(f.poll().unwrap().is_empty());
    assert!(!f.has_records());
    assert_eq!(f.position(&tp(0)), Some(0));
    f.resume(&tp(0)).unwrap();
    // Fetched again from the position (the paused data was let go).
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, Some(batch(0, 2)), 2)]));
    assert_eq!(offsets(&f.poll().unwrap()), vec![0, 1]);
    f.pause(&tp(0)).unwrap();
    assert!(f.fetch_targets(&c).is_empty());
    assert!(f.build_fetch(1, FETCH_VERSION, &c).is_none());
}

/// `tp(0)` (leader 1) and `tp(1)` (leader 2) at 0, queued.max.bytes 10,
/// and a fetch from broker 1 buffered: the buffer is full.
fn buffer_full() -> (Fetcher, Cluster) {
    let mut f = Fetcher::new(FetchConfig {
        queued_max_bytes: 10,
        ..config()
    });
    let c = cluster(&[(0, 1), (1, 2)]);
    f.assign([tp(0), tp(1)]);
    f.seek(&tp(0), 0).unwrap();
    f.seek(&tp(1), 0).unwrap();
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, Some(batch(0, 2)), 2)]));
    assert!(f.buffered_bytes() > 10);
    (f, c)
}

#[test]
fn a_paused_partitions_buffered_data_neither_counts_nor_blocks_the_others() {
    // queued.max.bytes is for what the application will be handed: data of a
    // paused partition is let go (its position stays where the application
    // is, so it is fetched again on resume), as librdkafka purges a paused
    // partition's queue.
    let (mut f, c) = buffer_full();
    f.pause(&tp(0)).unwrap();
    assert_eq!(
        f.buffered_bytes(),
        0,
        "the paused partition's data is let go"
    );
    assert_eq!(f.fetch_targets(&c), vec![2], "broker 2 is fetched");
    assert_eq!(f.position(&tp(0)), Some(0));
    f.resume(&tp(0)).unwrap();
    let again = f.build_fetch(1, FETCH_VERSION, &c).expect("fetched again");
    assert_eq!(again.topics[0].partitions[0].fetch_offset, 0);
}

#[test]
fn out_of_range_resets_by_policy() {
    let (mut f, c) = fetcher_at(config(), 100);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(
        1,
        &response(vec![(0, KafkaCode::OFFSET_OUT_OF_RANGE.0, None, 10)]),
    );
    assert_eq!(f.position(&tp(0)), None);
    assert_eq!(f.offset_lookups(), vec![(tp(0), OffsetSpec::Earliest)]);

    let (mut f, c) = fetcher_at(
        FetchConfig {
            auto_offset_reset: OffsetReset::None,
            ..config()
        },
        100,
    );
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(
        1,
        &response(vec![(0, KafkaCode::OFFSET_OUT_OF_RANGE.0, None, 10)]),
    );
    // The bounds are checked first (the position may be inside after all)...
    assert_eq!(f.offset_lookups(), vec![(tp(0), OffsetSpec::Earliest)]);
    f.on_offset_lookup(&tp(0), OffsetSpec::Earliest, listed_at(0));
    assert_eq!(f.offset_lookups(), vec![(tp(0), OffsetSpec::Latest)]);
    f.on_offset_lookup(&tp(0), OffsetSpec::Latest, listed_at(10));
    // ...and it is not: with no reset policy that is an error.
    let err = f.poll().unwrap_err();
    assert!(
        matches!(&err, FetchError::NoOffsetForPartition { tp: p, offset: Some(100) } if *p == tp(0)),
        "{err}"
    );
    // It stays an error until the application seeks.
    assert!(matches!(
        f.poll(),
        Err(FetchError::NoOffsetForPartition { offset: None, .. })
    ));
    f.seek(&tp(0), 0).unwrap();
    assert!(f.poll().unwrap().is_empty());
}

#[test]
fn out_of_range_for_a_position_inside_the_log_keeps_it() {
    // OFFSET_OUT_OF_RANGE for 100 while the log is 0..150 (a lagging leader's answer): the
    // lookups show 100 is inside, so it is kept, under either policy. Resetting at once
    // rewound to 0 (earliest) or skipped to 150 (latest).
    for reset in [OffsetReset::Earliest, OffsetReset::Latest] {
        let (mut f, c) = fetcher_at(
            FetchConfig {
                auto_offset_reset: reset,
                ..config()
            },
            100,
        );
        f.build_fetch(1, FETCH_VERSION, &c).unwrap();
        f.on_fetch_response(
            1,
            &response(vec![(0, KafkaCode::OFFSET_OUT_OF_RANGE.0, None, -1)]),
        );
        assert_eq!(f.position(&tp(0)), None);
        assert_eq!(f.offset_lookups(), vec![(tp(0), OffsetSpec::Earliest)]);
        f.on_offset_lookup(&tp(0), OffsetSpec::Earliest, listed_at(0));
        assert_eq!(f.offset_lookups(), vec![(tp(0), OffsetSpec::Latest)]);
        f.on_offset_lookup(&tp(0), OffsetSpec::Latest, listed_at(150));
        assert_eq!(f.position(&tp(0)), Some(100), "{reset:?}");
        assert!(f.poll().unwrap().is_empty());
    }
}

fn listed_at(offset: i64) -> std::result::Result<ListedOffset, KafkaCode> {
    Ok(ListedOffset {
        offset,
        timestamp: -1,
        leader_epoch: -1,
    })
}

#[test]
fn a_position_past_the_high_watermark_is_checked_then_reset_by_policy() {
    // Earliest policy (config()): the answer shows 1000 past the end without an error.
    let (mut f, c) = fetcher_at(config(), 1000);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, None, 100)]));
    assert_eq!(f.position(&tp(0)), None);
    assert_eq!(f.offset_lookups(), vec![(tp(0), OffsetSpec::Earliest)]);
    f.on_offset_lookup(&tp(0), OffsetSpec::Earliest, listed_at(3));
    assert_eq!(f.offset_lookups(), vec![(tp(0), OffsetSpec::Latest)]);
    f.on_offset_lookup(&tp(0), OffsetSpec::Latest, listed_at(100));
    assert_eq!(
        f.position(&tp(0)),
        Some(3),
        "out of range: reset to the earliest"
    );
    // At the high watermark is simply caught up.
    let (mut f, c) = fetcher_at(config(), 100);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, None, 100)]));
    assert_eq!(f.position(&tp(0)), Some(100));
}

#[test]
fn a_stale_watermark_after_a_broker_restart_does_not_move_the_position() {
    // The answer says the log ends at 0 (a restarted broker that has not loaded it yet),
    // but ListOffsets finds 0..200: the position 150 stays, nothing is skipped.
    let latest = FetchConfig {
        auto_offset_reset: OffsetReset::Latest,
        ..config()
    };
    let (mut f, c) = fetcher_at(latest, 150);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, None, 0)]));
    assert_eq!(f.offset_lookups(), vec![(tp(0), OffsetSpec::Earliest)]);
    f.on_offset_lookup(&tp(0), OffsetSpec::Earliest, listed_at(0));
    assert_eq!(f.offset_lookups(), vec![(tp(0), OffsetSpec::Latest)]);
    f.on_offset_lookup(&tp(0), OffsetSpec::Latest, listed_at(200));
    assert_eq!(f.position(&tp(0)), Some(150));
    assert!(f.offset_lookups().is_empty());
}

#[test]
fn leader_moves_refresh_metadata_then_fetch_from_the_new_leader() {
    let (mut f, c) = fetcher_at(config(), 0);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    for code in [
        KafkaCode::NOT_LEADER_OR_FOLLOWER,
        KafkaCode::FENCED_LEADER_EPOCH,
        KafkaCode::UNKNOWN_TOPIC_OR_PARTITION,
    ] {
        let outcome = f.on_fetch_response(1, &response(vec![(0, code.0, None, -1)]));
        assert!(outcome.refresh_metadata, "{code}");
        assert_eq!(f.position(&tp(0)), Some(0), "{code}: position kept");
        f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    }
    f.on_fetch_failed(1);
    let moved = cluster(&[(0, 2)]);
    assert_eq!(f.fetch_targets(&moved), vec![2]);
    assert!(f.build_fetch(2, FETCH_VERSION, &moved).is_some());
}

#[test]
fn a_response_with_a_top_level_error_is_dropped_and_retried_as_java_does() {
    // librdkafka's mock cluster puts an injected error both at the top and in
    // every partition. Java's FetchSessionHandler drops such a response, closes
    // the session and fetches again; only an error that can never pass is the
    // application's.
    for (code, refresh) in [
        (KafkaCode::NOT_LEADER_OR_FOLLOWER, true),
        (KafkaCode::UNKNOWN_LEADER_EPOCH, true),
        (KafkaCode::OFFSET_OUT_OF_RANGE, false),
    ] {
        let (mut f, c) = fetcher_at(config(), 5);
        f.build_fetch(1, FETCH_VERSION, &c).unwrap();
        f.on_fetch_response(1, &response(vec![(0, 0, None, 10)]).with_session_id(9));
        f.build_fetch(1, FETCH_VERSION, &c).unwrap();
        let outcome = f.on_fetch_response(
            1,
            &response(vec![(0, code.0, Some(batch(5, 2)), 10)]).with_error_code(code.0),
        );
        assert_eq!(outcome.refresh_metadata, refresh, "{code}");
        assert!(f.poll().unwrap().is_empty(), "{code}: no error, no data");
        assert_eq!(f.position(&tp(0)), Some(5), "{code}: position kept");
        let next = f.build_fetch(1, FETCH_VERSION, &c).expect("fetched again");
        assert_eq!(
            (next.session_id, next.session_epoch),
            (0, 0),
            "{code}: full"
        );
    }
    // One that can never pass reaches the application.
    let (mut f, c) = fetcher_at(config(), 5);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    let code = KafkaCode::CLUSTER_AUTHORIZATION_FAILED;
    f.on_fetch_response(1, &response(vec![]).with_error_code(code.0));
    assert!(f.poll().is_err(), "{code} is surfaced");
}

#[test]
fn a_failed_fetch_restarts_the_session_with_a_full_request() {
    let (mut f, c) = fetcher_at(config(), 0);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, None, 0)]).with_session_id(9));
    let incremental = f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    assert_eq!((incremental.session_id, incremental.session_epoch), (9, 1));
    assert!(incremental.topics.is_empty(), "nothing changed");
    f.on_fetch_failed(1);
    let full = f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    assert_eq!((full.session_id, full.session_epoch), (0, 0));
    assert_eq!(full.topics[0].partitions.len(), 1);
}

#[test]
fn a_seek_while_a_fetch_is_in_flight_discards_its_data() {
    let (mut f, c) = fetcher_at(config(), 0);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.seek(&tp(0), 50).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, Some(batch(0, 3)), 3)]));
    assert!(f.poll().unwrap().is_empty());
    assert_eq!(f.position(&tp(0)), Some(50));
}

#[test]
fn buffered_bytes_put_back_pressure_on_fetching() {
    let (mut f, c) = buffer_full();
    assert!(
        f.fetch_targets(&c).is_empty(),
        "broker 2 waits while the buffer is full"
    );
    assert!(f.build_fetch(2, FETCH_VERSION, &c).is_none());
    f.poll().unwrap();
    assert_eq!(f.buffered_bytes(), 0);
    assert_eq!(f.fetch_targets(&c), vec![1, 2]);
}

#[test]
fn a_torn_tail_does_not_hold_the_partition_once_the_last_whole_batch_is_out() {
    // Brokers cut a response at the byte limit, so it often ends in part of a batch. A poll
    // that ends exactly at the last whole batch's last record must leave the partition
    // drained and fetchable, not wait for another poll to find only the torn tail.
    let (mut f, c) = fetcher_at(
        FetchConfig {
            max_poll_records: 2,
            ..config()
        },
        0,
    );
    let next = batch(2, 2);
    let torn = next.slice(..next.len() - 5);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(
        1,
        &response(vec![(0, 0, Some(concat(&[batch(0, 2), torn])), 4)]),
    );
    assert_eq!(offsets(&f.poll().unwrap()), vec![0, 1]);
    assert_eq!(f.position(&tp(0)), Some(2));
    assert_eq!(f.buffered_bytes(), 0);
    assert_eq!(f.fetch_targets(&c), vec![1], "drained: fetch again");
}

#[test]
fn a_corrupt_batch_is_an_error_naming_partition_and_offset_never_a_skip() {
    let (mut f, c) = fetcher_at(config(), 0);
    let good = batch(0, 2);
    let mut bad = batch(2, 2).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff; // breaks the CRC
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(
        1,
        &response(vec![(
            0,
            0,
            Some(concat(&[good, Bytes::from(bad.clone())])),
            4,
        )]),
    );
    // Batches decode as their records go out: the good batch before the bad one is handed
    // out, then the poll stops at the bad one and the next names it; the position stays
    // before it, so nothing is skipped.
    let got = f.poll().unwrap();
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1]);
    let err = f.poll().unwrap_err();
    assert!(
        matches!(&err, FetchError::Corrupt { tp: p, offset: 2, .. } if *p == tp(0)),
        "{err}"
    );
    assert_eq!(f.position(&tp(0)), Some(2));
    // The same data fetched again fails again, and nothing comes out of it.
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, Some(Bytes::from(bad)), 4)]));
    assert!(matches!(
        f.poll(),
        Err(FetchError::Corrupt { offset: 2, .. })
    ));
    assert_eq!(f.position(&tp(0)), Some(2));
}

#[test]
fn a_record_that_does_not_parse_ends_the_poll_at_it_after_the_ones_before() {
    let (mut f, c) = fetcher_at(config(), 0);
    // Record 1's header count says 1 where there are none; the CRC is made
    // to match, so only the record parse can notice.
    let mut bytes = batch(0, 3).to_vec();
    let at = bytes.windows(2).position(|w| w == b"v1").unwrap() + 2;
    assert_eq!(bytes[at], 0, "header count follows the value");
    bytes[at] = 2; // zigzag varint 1
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, Some(Bytes::from(bytes)), 3)]));
    let first = f.poll().unwrap();
    assert_eq!(
        first.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0],
        "the record before the bad one is handed out"
    );
    let err = f.poll().unwrap_err();
    assert!(
        matches!(&err, FetchError::Corrupt { offset: 1, .. }),
        "{err}"
    );
    assert_eq!(f.position(&tp(0)), Some(1), "nothing past it is skipped");
}

fn txn_batch(base: i64, n: i64, pid: i64) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None);
    b.transactional(pid, 0, 0);
    for i in 0..n {
        let value = format!("v{}", base + i);
        b.push(1000, None, Some(value.as_bytes()), &[]);
    }
    b.build(base).unwrap()
}

fn marker(offset: i64, pid: i64, commit: bool) -> Bytes {
    BatchBuilder::control_marker(pid, 0, commit, 1000)
        .build(offset)
        .unwrap()
}

#[test]
fn read_committed_skips_aborted_transactions_and_control_records() {
    let data = concat(&[
        txn_batch(0, 2, 1),
        txn_batch(2, 2, 2),
        marker(4, 1, false),
        marker(5, 2, true),
        batch(6, 1),
    ]);
    let aborted = vec![
        AbortedTransaction::default()
            .with_producer_id(ProducerId(1))
            .with_first_offset(0),
    ];
    let respond = |f: &mut Fetcher, c: &Cluster| {
        f.build_fetch(1, FETCH_VERSION, c).unwrap();
        let mut r = response(vec![(0, 0, Some(data.clone()), 7)]);
        r.responses[0].partitions[0].aborted_transactions = Some(aborted.clone());
        f.on_fetch_response(1, &r);
    };

    let (mut f, c) = fetcher_at(
        FetchConfig {
            isolation_level: IsolationLevel::ReadCommitted,
            ..config()
        },
        0,
    );
    respond(&mut f, &c);
    assert_eq!(offsets(&f.poll().unwrap()), vec![2, 3, 6]);
    assert_eq!(f.position(&tp(0)), Some(7));

    let (mut f, c) = fetcher_at(config(), 0);
    respond(&mut f, &c);
    assert_eq!(
        offsets(&f.poll().unwrap()),
        vec![0, 1, 2, 3, 6],
        "read_uncommitted: aborted data too, never markers"
    );
    assert_eq!(f.position(&tp(0)), Some(7));
}

#[test]
fn unassigning_drops_buffered_data() {
    let (mut f, c) = fetcher_at(config(), 0);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(1, &response(vec![(0, 0, Some(batch(0, 2)), 2)]));
    assert!(f.buffered_bytes() > 0);
    f.assign([tp(1)]);
    assert_eq!(f.buffered_bytes(), 0);
    assert!(f.poll().unwrap().is_empty());
    assert!(matches!(f.seek(&tp(0), 1), Err(FetchError::NotAssigned(_))));
}

mod batch;
