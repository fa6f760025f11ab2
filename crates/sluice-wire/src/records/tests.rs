//! The record codec: round trips in every codec, each kind of bad input
//! with the error it must give, and real bytes from other projects.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::error::WireError;

fn decoder() -> RecordDecoder {
    RecordDecoder::new(DecodeOptions::default())
}

fn one_batch(codec: Compression, n: usize) -> Bytes {
    let mut b = BatchBuilder::new(codec);
    for i in 0..n {
        let v = format!("value-{i}");
        b.push(
            1000 + i as i64,
            Some(b"k"),
            Some(v.as_bytes()),
            &[(b"h", Some(b"1")), (b"h", None)],
        );
    }
    b.build(100).unwrap()
}

fn all(batches: &[Batch]) -> Vec<Record> {
    batches
        .iter()
        .flat_map(|b| b.records().map(|r| r.unwrap()))
        .collect()
}

#[test]
fn every_codec_round_trips_with_offsets_timestamps_and_duplicate_headers() {
    for codec in Compression::ALL {
        let batches = decoder().decode_batches(one_batch(codec, 50)).unwrap();
        assert_eq!(batches.len(), 1);
        let h = &batches[0].header;
        assert_eq!(
            (h.magic, h.record_count, h.compression(), h.last_offset()),
            (2, 50, codec, 149),
            "{codec}"
        );
        let records = all(&batches);
        assert_eq!(records.len(), 50);
        assert_eq!(records[7].offset, 107);
        assert_eq!(records[7].timestamp, 1007);
        assert_eq!(records[7].value.as_deref(), Some(&b"value-7"[..]));
        let headers: Vec<Header> = records[7].headers.iter().collect();
        assert_eq!(
            headers,
            vec![
                Header {
                    key: Bytes::from_static(b"h"),
                    value: Some(Bytes::from_static(b"1"))
                },
                Header {
                    key: Bytes::from_static(b"h"),
                    value: None
                }
            ]
        );
    }
}

#[test]
fn uncompressed_values_share_the_input_buffer() {
    let data = one_batch(Compression::None, 3);
    let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
    let records = all(&decoder().decode_batches(data.clone()).unwrap());
    let value = records[1].value.as_ref().unwrap();
    assert!(
        range.contains(&(value.as_ptr() as usize)),
        "value is a slice of the fetched bytes, not a copy"
    );
}

#[test]
fn log_append_time_uses_the_batch_max_timestamp() {
    let mut bytes = BytesMut::from(&one_batch(Compression::None, 3)[..]);
    bytes[22] |= 0x08; // attributes low byte: LogAppendTime
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let records = all(&decoder().decode_batches(bytes.freeze()).unwrap());
    assert!(
        records
            .iter()
            .all(|r| r.timestamp == 1002 && r.timestamp_type == TimestampType::LogAppendTime)
    );
}

#[test]
fn control_markers_say_commit_or_abort() {
    for (commit, want) in [(true, ControlRecord::Commit), (false, ControlRecord::Abort)] {
        let batches = decoder()
            .decode_batches(
                BatchBuilder::control_marker(7, 0, commit, 5)
                    .build(10)
                    .unwrap(),
            )
            .unwrap();
        assert!(batches[0].header.is_control() && batches[0].header.is_transactional());
        assert_eq!(batches[0].header.producer_id, 7);
        assert_eq!(batches[0].control_record().unwrap(), Some(want));
    }
}

#[test]
fn a_torn_trailing_batch_is_dropped_but_damage_before_it_is_an_error() {
    let mut data = one_batch(Compression::None, 5).to_vec();
    let second = one_batch(Compression::Lz4, 5);
    data.extend_from_slice(&second[..second.len() - 10]);
    let batches = decoder().decode_batches(Bytes::from(data)).unwrap();
    assert_eq!(batches.len(), 1, "the torn second batch is dropped");
    // Three stray bytes at the end (as tansu's captured batches have) are a torn tail too.
    let mut data = one_batch(Compression::None, 1).to_vec();
    data.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        decoder().decode_batches(Bytes::from(data)).unwrap().len(),
        1
    );
}

#[test]
fn wrong_crc_is_a_crc_mismatch_naming_the_offset() {
    let mut data = one_batch(Compression::None, 2).to_vec();
    let last = data.len() - 1;
    data[last] ^= 1;
    let err = decoder()
        .decode_batches(Bytes::from(data.clone()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::CrcMismatch {
                what: "record batch",
                offset: 100,
                ..
            }
        ),
        "{err}"
    );
    // check.crcs=false lets it through.
    let mut lax = RecordDecoder::new(DecodeOptions {
        check_crcs: false,
        ..DecodeOptions::default()
    });
    assert_eq!(lax.decode_batches(Bytes::from(data)).unwrap().len(), 1);
}

/// Builds a batch whose records section is exactly `records` (no CRC check needed).
fn raw_batch(count: i32, attributes: i16, records: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i64(0);
    out.put_i32(49 + records.len() as i32);
    out.put_i32(0);
    out.put_i8(2);
    out.put_u32(0);
    out.put_i16(attributes);
    out.put_i32(count - 1);
    out.put_i64(0);
    out.put_i64(0);
    out.put_i64(-1);
    out.put_i16(-1);
    out.put_i32(-1);
    out.put_i32(count);
    out.put_slice(records);
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out.freeze()
}

#[test]
fn a_bad_varint_is_a_bad_varint_error() {
    // Record length varint that never ends.
    let data = raw_batch(1, 0, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    let batches = decoder().decode_batches(data).unwrap();
    let err = batches[0].records().next().unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            WireError::BadVarint {
                context: "record length"
            }
        ),
        "{err}"
    );
}

#[test]
fn a_truncated_record_is_truncated() {
    // Declares a 20-byte record but holds 10.
    let mut rec = vec![40u8]; // zigzag 20
    rec.extend_from_slice(&[0; 9]);
    let batches = decoder().decode_batches(raw_batch(1, 0, &rec)).unwrap();
    let err = batches[0].records().next().unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Truncated {
                what: "record",
                needed: 20,
                available: 9
            }
        ),
        "{err}"
    );
}

#[test]
fn a_record_count_beyond_the_bytes_is_rejected_before_allocating() {
    let err = decoder()
        .decode_batches(raw_batch(i32::MAX, 0, &[0; 14]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Truncated {
                what: "records",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unknown_compression_ids_are_named() {
    for id in [5i16, 6, 7] {
        let err = decoder()
            .decode_batches(raw_batch(1, id, &[0; 14]))
            .unwrap_err();
        assert!(
            matches!(err, WireError::UnknownCompression(c) if i16::from(c) == id),
            "{err}"
        );
    }
}

#[test]
fn an_unsupported_magic_is_named() {
    let mut data = one_batch(Compression::None, 1).to_vec();
    data[16] = 3;
    assert!(matches!(
        decoder().decode_batches(Bytes::from(data)),
        Err(WireError::UnsupportedMagic(3))
    ));
}

#[test]
fn decompression_bombs_fail_at_the_limit_in_every_codec() {
    let zeros = vec![0u8; 64 * 1024 * 1024];
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut b = BatchBuilder::new(codec);
        b.push(0, None, Some(&zeros), &[]);
        let bomb = b.build(0).unwrap();
        assert!(
            bomb.len() < 4 * 1024 * 1024,
            "{codec}: the bomb is small ({} bytes)",
            bomb.len()
        );
        let mut small = RecordDecoder::new(DecodeOptions {
            max_decompressed_bytes: 1024 * 1024,
            ..DecodeOptions::default()
        });
        let err = small.decode_batches(bomb).unwrap_err();
        assert!(
            matches!(err, WireError::DecompressionLimit { codec: c, limit: 1_048_576 } if c == codec),
            "{codec}: {err}"
        );
    }
}

#[test]
fn corrupt_compressed_data_is_a_decompression_error() {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let err = decoder()
            .decode_batches(raw_batch(1, i16::from(codec.id()), &[9; 40]))
            .unwrap_err();
        assert!(
            matches!(err, WireError::Decompression { codec: c, .. } if c == codec),
            "{codec}: {err}"
        );
    }
}

#[test]
fn the_decoder_reuses_its_output_buffer_once_records_are_dropped() {
    let mut d = decoder();
    let batch = one_batch(Compression::Zstd, 100);
    let first = d.decode_batches(batch.clone()).unwrap();
    let ptr = all(&first)[0].value.as_ref().unwrap().as_ptr();
    drop(first);
    let second = d.decode_batches(batch).unwrap();
    let again = all(&second)[0].value.as_ref().unwrap().as_ptr();
    assert_eq!(ptr, again, "the decompression buffer was reused");
}

#[test]
fn next_batch_decodes_one_batch_at_a_time_reusing_the_output_and_stops_at_damage() {
    let mut d = decoder();
    let mut bad = one_batch(Compression::Lz4, 3).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut data = Vec::new();
    data.extend_from_slice(&one_batch(Compression::Zstd, 100));
    data.extend_from_slice(&one_batch(Compression::Zstd, 100));
    data.extend_from_slice(&bad);
    let mut data = Bytes::from(data);
    let value_at = |b: &Batch| b.records().next().unwrap().unwrap().value.unwrap().as_ptr();
    let first = d.next_batch(&mut data).unwrap().unwrap();
    let ptr = value_at(&first);
    assert_eq!(first.records().count(), 100);
    drop(first);
    // The second batch of the same record set decompresses into the first one's
    // buffer, now that nothing holds it.
    let second = d.next_batch(&mut data).unwrap().unwrap();
    let again = value_at(&second);
    assert_eq!(ptr, again, "the output buffer was reused");
    assert_eq!(data.len(), bad.len(), "two batches taken off the front");
    // The damaged batch is an error and stays where it was.
    assert!(matches!(
        d.next_batch(&mut data),
        Err(WireError::CrcMismatch { offset: 100, .. })
    ));
    assert_eq!(data.len(), bad.len());
    // A torn tail ends the set and is dropped.
    let mut torn = Bytes::from(bad[..bad.len() - 5].to_vec());
    assert!(d.next_batch(&mut torn).unwrap().is_none());
    assert!(torn.is_empty());
}

fn legacy_message(
    magic: i8,
    offset: i64,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
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
    let crc = crc32fast::hash(&body);
    let mut out = offset.to_be_bytes().to_vec();
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[test]
fn legacy_messages_and_compressed_wrappers_decode_into_records() {
    let mut inner = legacy_message(1, 0, 0, 10, Some(b"a"), Some(b"x"));
    inner.extend(legacy_message(1, 1, 0, 11, None, Some(b"y")));
    let wrapped = super::compression::compress(Compression::Gzip, &inner).unwrap();
    let mut set = legacy_message(0, 5, 0, -1, None, Some(b"old"));
    set.extend(legacy_message(1, 7, 1, 99, None, Some(&wrapped)));
    let batches = decoder().decode_batches(Bytes::from(set)).unwrap();
    let records = all(&batches);
    let got: Vec<(i64, i64, Option<&[u8]>)> = records
        .iter()
        .map(|r| (r.offset, r.timestamp, r.value.as_deref()))
        .collect();
    // Magic-1 wrapper at offset 7 with relative inner offsets 0,1: absolute 6 and 7.
    assert_eq!(
        got,
        vec![
            (5, -1, Some(&b"old"[..])),
            (6, 10, Some(&b"x"[..])),
            (7, 11, Some(&b"y"[..]))
        ]
    );
    assert_eq!(records[0].timestamp_type, TimestampType::NoTimestamp);
    assert_eq!(batches[1].header.compression(), Compression::Gzip);
    assert_eq!(batches[1].header.record_count, 2);
}

#[test]
fn legacy_crc_errors_and_nested_compression_are_rejected() {
    let mut m = legacy_message(1, 0, 0, 1, None, Some(b"v"));
    let last = m.len() - 1;
    m[last] ^= 1;
    assert!(matches!(
        decoder().decode_batches(Bytes::from(m)),
        Err(WireError::CrcMismatch {
            what: "message",
            ..
        })
    ));
    let inner = legacy_message(
        1,
        0,
        1,
        0,
        None,
        Some(&super::compression::compress(Compression::Gzip, b"zz").unwrap()),
    );
    let outer = legacy_message(
        1,
        0,
        1,
        0,
        None,
        Some(&super::compression::compress(Compression::Gzip, &inner).unwrap()),
    );
    let err = decoder().decode_batches(Bytes::from(outer)).unwrap_err();
    assert!(
        matches!(&err, WireError::Corrupt { what: "message", reason, .. } if reason.contains("inside a compressed")),
        "{err}"
    );
}

fn captured(path: &str) -> Bytes {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/captured");
    let full = format!("{dir}/{path}");
    Bytes::from(
        std::fs::read(&full).unwrap_or_else(|e| {
            panic!("{full}: {e} (fixtures/captured is part of the repository)")
        }),
    )
}

#[test]
fn rskafka_batches_from_librdkafka_and_the_java_producer() {
    for (file, codec) in [
        ("rskafka/record_batch_nocompression.bin", Compression::None),
        ("rskafka/record_batch_gzip.bin", Compression::Gzip),
        ("rskafka/record_batch_lz4.bin", Compression::Lz4),
        ("rskafka/record_batch_snappy.bin", Compression::Snappy),
        ("rskafka/record_batch_zstd.bin", Compression::Zstd),
    ] {
        let batches = decoder().decode_batches(captured(file)).unwrap();
        assert_eq!(batches[0].header.compression(), codec, "{file}");
        let records = all(&batches);
        assert_eq!(records.len(), 1, "{file}");
        assert_eq!(
            records[0].value.as_deref(),
            Some(&b"hello kafka"[..]),
            "{file}"
        );
        assert_eq!(
            records[0].headers.get(b"foo"),
            Some(Some(Bytes::from_static(b"bar"))),
            "{file}"
        );
    }
    let java = all(&decoder()
        .decode_batches(captured("rskafka/record_batch_snappy_java.bin"))
        .unwrap());
    assert_eq!(java.len(), 2, "xerial-framed snappy from the Java producer");
    let null_key = all(&decoder()
        .decode_batches(captured("rskafka/record_batch_null_key.bin"))
        .unwrap());
    assert_eq!(null_key[0].key, None);
    assert_eq!(null_key[0].headers.len(), 2);
}

#[test]
fn kafka_python_broker_batches_and_legacy_message_sets() {
    let v2 = all(&decoder()
        .decode_batches(captured(
            "kafka-python/record_batch_data_v2_broker_0.11.bin",
        ))
        .unwrap());
    let values: Vec<Option<&[u8]>> = v2.iter().map(|r| r.value.as_deref()).collect();
    assert_eq!(
        values,
        vec![
            Some(&b"123"[..]),
            Some(&b""[..]),
            Some(&b""[..]),
            Some(&b"123"[..])
        ]
    );
    assert_eq!(
        v2.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    let hdr = all(&decoder()
        .decode_batches(captured(
            "kafka-python/record_batch_data_v2_header_batch.bin",
        ))
        .unwrap());
    assert_eq!(
        hdr[0].headers.get(b"hkey"),
        Some(Some(Bytes::from_static(b"hval")))
    );
    for (file, magic) in [
        ("kafka-python/message_set_v1.bin", 1),
        ("kafka-python/message_set_v0_broker_0.10.bin", 0),
    ] {
        let batches = decoder().decode_batches(captured(file)).unwrap();
        assert_eq!(batches.len(), 4, "{file}");
        assert!(batches.iter().all(|b| b.header.magic == magic), "{file}");
    }
}

#[test]
fn tansu_deflated_batches_in_every_codec_with_their_trailing_zeros() {
    let mut texts = Vec::new();
    for file in ["gzip", "zstd", "lz4", "snappy"] {
        let records = all(&decoder()
            .decode_batches(captured(&format!("tansu/deflated_rs_decode_{file}.bin")))
            .unwrap());
        assert_eq!(records.len(), 1, "{file}");
        texts.push(records[0].value.clone());
    }
    assert!(
        texts.windows(2).all(|w| w[0] == w[1]),
        "the same Lorem record in every codec"
    );
    assert!(texts[0].as_deref().unwrap().starts_with(b"Lorem"));
    let txn = decoder()
        .decode_batches(captured(
            "tansu/deflated_rs_is_transactional_reconstructed.bin",
        ))
        .unwrap();
    assert_eq!(txn.len(), 2);
    assert!(txn[0].header.is_transactional() && !txn[0].header.is_control());
    assert_eq!(
        txn[1].control_record().unwrap(),
        Some(ControlRecord::Commit)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_records_round_trip_in_any_codec(
        codec in prop::sample::select(Compression::ALL.to_vec()),
        records in prop::collection::vec((
            any::<i32>(),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
            prop::collection::vec((prop::collection::vec(any::<u8>(), 0..8), prop::option::of(prop::collection::vec(any::<u8>(), 0..8))), 0..4),
        ), 0..30),
        base in 0i64..1_000_000,
    ) {
        let mut b = BatchBuilder::new(codec);
        for (ts, key, value, headers) in &records {
            let hs: Vec<(&[u8], Option<&[u8]>)> = headers.iter().map(|(k, v)| (k.as_slice(), v.as_deref())).collect();
            b.push(i64::from(*ts), key.as_deref(), value.as_deref(), &hs);
        }
        let decoded = all(&decoder().decode_batches(b.build(base).unwrap()).unwrap());
        prop_assert_eq!(decoded.len(), records.len());
        for (i, (r, (ts, key, value, headers))) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(r.offset, base + i as i64);
            prop_assert_eq!(r.timestamp, i64::from(*ts));
            prop_assert_eq!(r.key.as_deref(), key.as_deref());
            prop_assert_eq!(r.value.as_deref(), value.as_deref());
            let got: Vec<(Vec<u8>, Option<Vec<u8>>)> = r.headers.iter().map(|h| (h.key.to_vec(), h.value.map(|v| v.to_vec()))).collect();
            prop_assert_eq!(&got, headers);
        }
        for batch in &decoder().decode_batches(b.build(base).unwrap()).unwrap() {
            let owned: Vec<Record> = batch.records().map(Result::unwrap).collect();
            let views: Vec<RecordRef<'_>> = batch.record_refs().map(Result::unwrap).collect();
            prop_assert_eq!(owned.len(), views.len());
            for (o, v) in owned.iter().zip(&views) {
                prop_assert_eq!(&v.to_record(batch.buffer()), o);
                prop_assert_eq!(v.headers.len(), o.headers.len());
                let hv: Vec<(&[u8], Option<&[u8]>)> = v.headers.iter().map(|h| (h.key, h.value)).collect();
                let ho: Vec<Header> = o.headers.iter().collect();
                let ho: Vec<(&[u8], Option<&[u8]>)> = ho.iter().map(|h| (&h.key[..], h.value.as_deref())).collect();
                prop_assert_eq!(hv, ho);
                if let Some(value) = o.value.as_deref().filter(|v| !v.is_empty()) {
                    let buffer = batch.buffer().as_ptr_range();
                    prop_assert!(buffer.contains(&value.as_ptr()), "the value is shared, not copied");
                }
            }
        }
    }

    #[test]
    fn damaged_batches_are_errors_never_panics_in_both_views(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut b = BatchBuilder::new(Compression::None);
        for i in 0..6u8 {
            b.push(i64::from(i), Some(&[i; 3]), Some(&[i; 20]), &[(b"h", Some(b"v")), (b"n", None)]);
        }
        let mut bytes = b.build(7).unwrap().to_vec();
        for (at, byte) in flips {
            // The record count (57..61) and the records.
            let at = 57 + at.index(bytes.len() - 57);
            bytes[at] = byte;
        }
        let mut d = RecordDecoder::new(DecodeOptions { max_decompressed_bytes: 1 << 20, check_crcs: false });
        if let Ok(batches) = d.decode_batches(Bytes::from(bytes)) {
            for batch in &batches {
                let owned: Vec<Option<Record>> = batch.records().map(Result::ok).collect();
                let views: Vec<Option<Record>> = batch.record_refs().map(|r| r.ok().map(|r| r.to_record(batch.buffer()))).collect();
                prop_assert_eq!(&owned, &views);
                for r in owned.iter().flatten() {
                    let _ = r.headers.iter().count();
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut d = RecordDecoder::new(DecodeOptions { max_decompressed_bytes: 1 << 20, check_crcs: false });
        if let Ok(batches) = d.decode_batches(Bytes::from(data)) {
            for b in &batches {
                for r in b.records().flatten() {
                    let _ = r.headers.iter().count();
                }
                for r in b.record_refs().flatten() {
                    let _ = r.headers.iter().count();
                }
            }
        }
    }
}

#[test]
fn a_cursor_reads_what_record_refs_read_and_header_parts_round_trip() {
    let mut b = BatchBuilder::new(Compression::Lz4);
    b.push(
        5,
        Some(b"k"),
        Some(b"v"),
        &[(b"h", Some(b"1")), (b"h", None)],
    );
    b.push(6, None, None, &[]);
    let mut set = b.build(3).unwrap().to_vec();
    set.extend(legacy_message(1, 5, 0, 9, None, Some(b"old")));
    let batches = decoder().decode_batches(Bytes::from(set)).unwrap();
    for batch in &batches {
        let mut cursor = batch.cursor();
        let mut refs = batch.record_refs();
        assert_eq!(cursor.remaining(), batch.header.record_count as usize);
        while let Some(r) = cursor.next(batch) {
            let (r, want) = (r.unwrap(), refs.next().unwrap().unwrap());
            assert_eq!(r.to_record(batch.buffer()), want.to_record(batch.buffer()));
            let (raw, count) = r.headers.raw_parts().unwrap();
            let again = HeadersRef::from_raw_parts(raw, count);
            assert_eq!(
                again.iter().collect::<Vec<_>>(),
                r.headers.iter().collect::<Vec<_>>()
            );
        }
        assert!(refs.next().is_none());
        assert_eq!(cursor.remaining(), 0);
        // Another batch's cursor reads nothing from this one.
        let other = batches
            .iter()
            .find(|o| o.header.magic != batch.header.magic);
        assert!(other.unwrap().cursor().next(batch).is_none());
    }
    let first = batches[0].cursor().next(&batches[0]).unwrap().unwrap();
    assert_eq!(first.headers.raw_parts().unwrap().1, 2);
}
