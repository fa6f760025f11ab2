//! `poll_batch` hands out exactly what `poll` does: two fetchers fed the
//! same responses, one polled each way, give the same records (offsets,
//! keys, values, headers, timestamps), errors and positions, poll for poll.

use sluice_wire::records::TimestampType;

use super::*;
use crate::polled::PolledBatch;
use crate::record::ConsumerRecordRef;

/// Everything a record carries, comparable.
type Flat = (
    String,
    i32,
    i64,
    i64,
    TimestampType,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
);

fn flat(r: ConsumerRecordRef<'_>) -> Flat {
    (
        r.topic.to_string(),
        r.partition,
        r.offset,
        r.timestamp,
        r.timestamp_type,
        r.key.map(<[u8]>::to_vec),
        r.value.map(<[u8]>::to_vec),
        r.headers
            .iter()
            .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
            .collect(),
    )
}

/// One poll's outcome: the records, or the error's text.
fn owned(result: Result<Vec<ConsumerRecord>>) -> std::result::Result<Vec<Flat>, String> {
    result
        .map(|rs| rs.iter().map(|r| flat(r.view())).collect())
        .map_err(|e| e.to_string())
}

fn viewed(result: Result<()>, batch: &PolledBatch) -> std::result::Result<Vec<Flat>, String> {
    result.map_err(|e| e.to_string())?;
    let views: Vec<Flat> = batch.iter().map(flat).collect();
    assert_eq!(views.len(), batch.len());
    assert_eq!(batch.is_empty(), views.is_empty());
    // The owned forms say the same.
    let to_owned: Vec<Flat> = batch.to_owned().iter().map(|r| flat(r.view())).collect();
    assert_eq!(to_owned, views);
    // Skipping (nth jumps whole segments) lands where iterating does.
    for k in 0..=views.len() {
        let skipped: Vec<Flat> = batch.iter().skip(k).map(flat).collect();
        assert_eq!(skipped, views[k..], "skip({k})");
        assert_eq!(
            batch.iter().nth(k).map(flat),
            views.get(k).cloned(),
            "nth({k})"
        );
        let mut it = batch.iter();
        if k > 0 {
            it.nth(k - 1);
        }
        assert_eq!(it.len(), views.len() - k, "len after nth({k})");
    }
    Ok(views)
}

/// Feeds `responses` (partition 0 of "t", leader 1, from `start`) to a
/// fetcher polled with `poll` and one polled with `poll_batch_into` (one
/// batch reused throughout), polls both until both are dry after the last
/// response, and checks every poll's outcome and the positions are equal.
/// Returns the offsets handed out and the errors, in order.
fn same_both_ways(
    config: FetchConfig,
    start: i64,
    responses: &[FetchResponse],
) -> Vec<std::result::Result<Vec<i64>, String>> {
    let (mut a, c) = fetcher_at(config.clone(), start);
    let (mut b, _) = fetcher_at(config, start);
    let mut batch = PolledBatch::new();
    let mut log = Vec::new();
    for response in responses {
        for f in [&mut a, &mut b] {
            if f.build_fetch(1, FETCH_VERSION, &c).is_some() {
                f.on_fetch_response(1, response);
            }
        }
        loop {
            let x = owned(a.poll());
            let y = viewed(b.poll_batch_into(&mut batch), &batch);
            assert_eq!(x, y, "poll and poll_batch differ");
            assert_eq!(a.position(&tp(0)), b.position(&tp(0)));
            if matches!(&y, Ok(v) if v.is_empty()) {
                break;
            }
            if let Ok(v) = &y {
                let last = v.last().map(|r| r.2 + 1).unwrap();
                assert_eq!(batch.next_offsets(), vec![(tp(0), last)]);
            }
            log.push(y.map(|v| v.iter().map(|r| r.2).collect()));
        }
    }
    log
}

fn one(records: Bytes, hw: i64) -> FetchResponse {
    response(vec![(0, 0, Some(records), hw)])
}

/// A batch with keys (some null, some empty), values (a tombstone, an
/// empty one) and headers with duplicate keys and a null value.
fn rich_batch(base: i64, n: i64, codec: Compression) -> Bytes {
    let mut b = BatchBuilder::new(codec);
    for i in 0..n {
        let o = base + i;
        let key = format!("k{o}");
        let value = format!("value {o} {}", "x".repeat((o % 7) as usize));
        let key = match o % 4 {
            0 => None,
            1 => Some(&b""[..]),
            _ => Some(key.as_bytes()),
        };
        let value = match o % 5 {
            0 => None,
            1 => Some(&b""[..]),
            _ => Some(value.as_bytes()),
        };
        let headers: &[(&[u8], Option<&[u8]>)] = match o % 3 {
            0 => &[],
            1 => &[(b"h", Some(b"1")), (b"h", Some(b"2")), (b"n", None)],
            _ => &[(b"trace", Some(b"abc"))],
        };
        b.push(1_700_000_000_000 + o * 3 - (o % 2) * 5, key, value, headers);
    }
    b.build(base).unwrap()
}

#[test]
fn the_same_records_cut_at_max_poll_records_in_the_middle_of_batches() {
    let config = FetchConfig {
        max_poll_records: 3,
        ..config()
    };
    let data = concat(&[
        rich_batch(0, 4, Compression::None),
        rich_batch(4, 5, Compression::None),
    ]);
    let log = same_both_ways(config, 0, &[one(data, 9)]);
    assert_eq!(
        log,
        vec![Ok(vec![0, 1, 2]), Ok(vec![3, 4, 5]), Ok(vec![6, 7, 8])]
    );
}

#[test]
fn the_same_records_from_compressed_batches() {
    for codec in Compression::ALL {
        let config = FetchConfig {
            max_poll_records: 4,
            ..config()
        };
        let data = concat(&[
            rich_batch(0, 6, codec),
            rich_batch(6, 1, Compression::None),
            rich_batch(7, 5, codec),
        ]);
        let log = same_both_ways(config, 2, &[one(data, 12)]);
        assert_eq!(
            log,
            vec![Ok(vec![2, 3, 4, 5]), Ok(vec![6, 7, 8, 9]), Ok(vec![10, 11])],
            "{codec}: fetched from offset 2, the batch's first records are skipped"
        );
    }
}

#[test]
fn a_batch_made_of_owned_records_reads_like_one_made_of_spans() {
    let (mut a, c) = fetcher_at(config(), 0);
    let (mut b, _) = fetcher_at(config(), 0);
    let data = concat(&[
        rich_batch(0, 5, Compression::Lz4),
        rich_batch(5, 5, Compression::None),
    ]);
    for f in [&mut a, &mut b] {
        f.build_fetch(1, FETCH_VERSION, &c).unwrap();
        f.on_fetch_response(1, &one(data.clone(), 10));
    }
    let owned = PolledBatch::from_records(a.poll().unwrap());
    let spans = b.poll_batch().unwrap();
    let flat_all = |p: &PolledBatch| p.iter().map(flat).collect::<Vec<_>>();
    assert_eq!(flat_all(&owned), flat_all(&spans));
    assert_eq!(owned.next_offsets(), spans.next_offsets());
    assert_eq!(owned.next_offsets(), vec![(tp(0), 10)]);
    let into: Vec<Flat> = spans
        .into_records()
        .iter()
        .map(|r| flat(r.view()))
        .collect();
    assert_eq!(into, flat_all(&owned));
    // A view's owned copy shares the buffer and outlives the batch.
    let kept = owned.iter().nth(2).unwrap().to_owned();
    drop(owned);
    assert_eq!(kept.offset, 2);
    assert_eq!(kept.topic_partition(), tp(0));
}

/// A legacy message (magic 0 or 1, uncompressed) with its CRC32.
fn legacy(
    magic: u8,
    offset: i64,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic, 0];
    if magic == 1 {
        body.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                body.extend_from_slice(b);
            }
        }
    }
    let mut out = offset.to_be_bytes().to_vec();
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// CRC-32 (IEEE), bit by bit: the legacy format's checksum.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn the_same_records_from_legacy_message_sets_and_v2_batches_after_them() {
    let mut set = legacy(0, 0, -1, Some(b"a"), Some(b"old"));
    set.extend(legacy(1, 1, 10, None, Some(b"x")));
    set.extend(legacy(1, 2, 11, Some(b"b"), None));
    set.extend_from_slice(&rich_batch(3, 3, Compression::None));
    let config = FetchConfig {
        max_poll_records: 2,
        ..config()
    };
    let log = same_both_ways(config, 0, &[one(Bytes::from(set), 6)]);
    assert_eq!(log, vec![Ok(vec![0, 1]), Ok(vec![2, 3]), Ok(vec![4, 5])]);
}

#[test]
fn the_same_records_under_read_committed_and_read_uncommitted() {
    let data = concat(&[
        txn_batch(0, 2, 1),
        txn_batch(2, 2, 2),
        marker(4, 1, false),
        marker(5, 2, true),
        rich_batch(6, 3, Compression::Zstd),
    ]);
    let mut r = one(data, 9);
    r.responses[0].partitions[0].aborted_transactions = Some(vec![
        AbortedTransaction::default()
            .with_producer_id(ProducerId(1))
            .with_first_offset(0),
    ]);
    let committed = FetchConfig {
        isolation_level: IsolationLevel::ReadCommitted,
        max_poll_records: 2,
        ..config()
    };
    let log = same_both_ways(committed, 0, std::slice::from_ref(&r));
    assert_eq!(log, vec![Ok(vec![2, 3]), Ok(vec![6, 7]), Ok(vec![8])]);
    let uncommitted = FetchConfig {
        max_poll_records: 2,
        ..config()
    };
    let log = same_both_ways(uncommitted, 0, &[r]);
    assert_eq!(
        log,
        vec![Ok(vec![0, 1]), Ok(vec![2, 3]), Ok(vec![6, 7]), Ok(vec![8])],
        "markers never go out"
    );
}

#[test]
fn a_corrupt_record_mid_batch_ends_both_polls_at_it_and_errs_on_the_next() {
    // Record 2's header count says 1 where there are none; the CRC is made
    // to match, so only the record parse can notice.
    let mut bytes = batch(0, 4).to_vec();
    let at = bytes.windows(2).position(|w| w == b"v2").unwrap() + 2;
    assert_eq!(bytes[at], 0, "header count follows the value");
    bytes[at] = 2; // zigzag varint 1
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let log = same_both_ways(config(), 0, &[one(Bytes::from(bytes), 4)]);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0], Ok(vec![0, 1]), "the records before the bad one");
    let err = log[1].as_ref().unwrap_err();
    assert!(err.contains("offset 2"), "the error names it: {err}");
}

#[test]
fn a_corrupt_batch_after_good_ones_is_the_next_polls_error_both_ways() {
    let mut bad = rich_batch(3, 2, Compression::None).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff; // breaks the CRC
    let data = concat(&[rich_batch(0, 3, Compression::Snappy), Bytes::from(bad)]);
    let log = same_both_ways(config(), 0, &[one(data, 5)]);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0], Ok(vec![0, 1, 2]));
    assert!(log[1].is_err());
}

/// A tiny deterministic generator (no dependency for a property test).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn random_batches_cuts_and_starts_hand_out_the_same_records_both_ways() {
    let (mut handed_out, mut errors) = (0, 0);
    for seed in 0..200 {
        let mut rng = Lcg(seed);
        let mut parts = Vec::new();
        let mut next = 0;
        for _ in 0..1 + rng.below(6) {
            let n = 1 + rng.below(9) as i64;
            let codec = Compression::ALL[rng.below(5) as usize];
            let (part, count) = match rng.below(6) {
                0 => (txn_batch(next, n, 1 + rng.below(2) as i64), n),
                1 => (marker(next, 1 + rng.below(2) as i64, rng.below(2) == 0), 1),
                _ => (rich_batch(next, n, codec), n),
            };
            parts.push(part);
            next += count;
        }
        let data = concat(&parts);
        // Sometimes a torn tail, as brokers cut responses at the byte limit.
        let data = if rng.below(3) == 0 {
            data.slice(..data.len() - 1 - rng.below(20) as usize)
        } else {
            data
        };
        let mut r = one(data, next);
        r.responses[0].partitions[0].aborted_transactions = Some(vec![
            AbortedTransaction::default()
                .with_producer_id(ProducerId(1))
                .with_first_offset(rng.below(next as u64) as i64),
        ]);
        let config = FetchConfig {
            max_poll_records: 1 + rng.below(10) as usize,
            isolation_level: if rng.below(2) == 0 {
                IsolationLevel::ReadCommitted
            } else {
                IsolationLevel::ReadUncommitted
            },
            ..config()
        };
        let start = rng.below(next as u64) as i64;
        let log = same_both_ways(config, start, &[r]);
        handed_out += log.iter().flatten().map(Vec::len).sum::<usize>();
        errors += log.iter().filter(|l| l.is_err()).count();
    }
    assert!(handed_out > 1000, "{handed_out} records");
    assert_eq!(errors, 0, "no corrupt input was made");
}

#[test]
fn records_of_several_partitions_in_one_poll_keep_their_partitions() {
    let mut f = Fetcher::new(config());
    f.assign([tp(0), tp(1)]);
    f.seek(&tp(0), 0).unwrap();
    f.seek(&tp(1), 10).unwrap();
    let c = cluster(&[(0, 1), (1, 1)]);
    f.build_fetch(1, FETCH_VERSION, &c).unwrap();
    f.on_fetch_response(
        1,
        &response(vec![
            (
                0,
                0,
                Some(concat(&[
                    rich_batch(0, 2, Compression::None),
                    rich_batch(2, 2, Compression::Gzip),
                ])),
                4,
            ),
            (1, 0, Some(rich_batch(10, 3, Compression::None)), 13),
        ]),
    );
    let polled = f.poll_batch().unwrap();
    let got: Vec<(i32, i64)> = polled.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(
        got,
        vec![(0, 0), (0, 1), (0, 2), (0, 3), (1, 10), (1, 11), (1, 12)]
    );
    assert_eq!(polled.next_offsets(), vec![(tp(0), 4), (tp(1), 13)]);
    assert_eq!(polled.iter().len(), 7);
    let views: Vec<TopicPartition> = polled.iter().map(|r| r.topic_partition()).collect();
    assert_eq!(views[3], tp(0));
    assert_eq!(views[4], tp(1));
    assert_eq!(
        (f.position(&tp(0)), f.position(&tp(1))),
        (Some(4), Some(13))
    );
    // Debug names the records, not the buffers they lie in.
    assert_eq!(
        format!("{polled:?}"),
        "PolledBatch { len: 7, next_offsets: [(t-0, 4), (t-1, 13)] }"
    );
    let view = format!("{:?}", polled.iter().nth(2).unwrap());
    assert!(view.contains("value: Some(b\"value 2 xx\")"), "{view}");
    assert!(!view.contains("value 3"), "{view}");
}
