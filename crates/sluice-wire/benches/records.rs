//! Decoding 1M records of 100 B (1000 batches of 1000) in each codec, beside
//! the physical bounds on the same machine: memcpy and crc32c of the same
//! uncompressed bytes, and raw lz4/zstd decompression of the same
//! compressed record sections. Every record is touched (value lengths summed).
//!
//! Per codec, `decode_<codec>` iterates owned [`Record`]s (`Batch::records`)
//! and `refs_<codec>` borrowed views (`Batch::record_refs`); `cursor_none`
//! reads the uncompressed batches through a `RecordCursor` held apart from
//! the batch, as the fetcher's poll does (a poll cut mid-batch resumes it). The bounds:
//! `raw_lz4_frame` is lz4_flex's frame decoder (allocating per frame, as a
//! user would call it), `raw_lz4_block` lz4_flex's block decoder into a
//! reused buffer (the codec's floor), `raw_zstd` zstd into a reused buffer.
//!
//! `cargo bench -p sluice-wire --bench records`; the "records" group reports
//! records/s, the "bytes" group GB/s of uncompressed batch bytes.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_wire::records::{BatchBuilder, Compression, DecodeOptions, RecordDecoder};

const BATCHES: usize = 1000;
const PER_BATCH: usize = 1000;
const RECORDS: u64 = (BATCHES * PER_BATCH) as u64;

/// A 100-byte JSON-ish value, like the order events sluice's users batch.
fn value(i: usize) -> Vec<u8> {
    let mut v = format!(
        "{{\"order\":{i},\"user\":\"u{:05}\",\"amount\":{}.{:02},\"sku\":\"SKU-{:04}\",\"ok\":true",
        i % 9973,
        i % 500,
        i % 100,
        i % 1234
    )
    .into_bytes();
    v.resize(99, b' ');
    v.push(b'}');
    v
}

struct Data {
    /// All batches of one codec, concatenated as a fetch response holds them.
    batches: Bytes,
    /// Each batch's records section, uncompressed (for the raw codec baselines).
    sections: Vec<Vec<u8>>,
}

fn data(codec: Compression) -> Data {
    let mut all = Vec::new();
    let mut sections = Vec::new();
    for b in 0..BATCHES {
        let mut builder = BatchBuilder::new(codec);
        for r in 0..PER_BATCH {
            let i = b * PER_BATCH + r;
            let key = format!("k{:06}", i % 100_000);
            builder.push(
                1_700_000_000_000 + i as i64,
                Some(key.as_bytes()),
                Some(&value(i)),
                &[],
            );
        }
        let batch = builder.build((b * PER_BATCH) as i64).unwrap();
        if codec == Compression::None {
            sections.push(batch[61..].to_vec());
        }
        all.extend_from_slice(&batch);
    }
    Data {
        batches: Bytes::from(all),
        sections,
    }
}

fn decode_all(decoder: &mut RecordDecoder, data: &Bytes) -> usize {
    let mut total = 0;
    for batch in decoder.decode_batches(data.clone()).unwrap() {
        for record in batch.records() {
            total += record.unwrap().value.map_or(0, |v| v.len());
        }
    }
    total
}

fn refs_all(decoder: &mut RecordDecoder, data: &Bytes) -> usize {
    let mut total = 0;
    for batch in decoder.decode_batches(data.clone()).unwrap() {
        for record in batch.record_refs() {
            total += record.unwrap().value.map_or(0, |v| v.len());
        }
    }
    total
}

fn cursor_all(decoder: &mut RecordDecoder, data: &Bytes) -> usize {
    let mut total = 0;
    let mut data = data.clone();
    while let Some(batch) = decoder.next_batch(&mut data).unwrap() {
        let mut cursor = batch.cursor();
        while let Some(record) = cursor.next(&batch) {
            total += record.unwrap().value.map_or(0, |v| v.len());
        }
    }
    total
}

fn benches(c: &mut Criterion) {
    let plain = data(Compression::None);
    let raw_bytes = plain.batches.len() as u64;
    let codecs: Vec<(Compression, Bytes)> = Compression::ALL
        .iter()
        .map(|&codec| {
            (
                codec,
                if codec == Compression::None {
                    plain.batches.clone()
                } else {
                    data(codec).batches
                },
            )
        })
        .collect();
    let lz4: Vec<Vec<u8>> = plain
        .sections
        .iter()
        .map(|s| {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            std::io::Write::write_all(&mut enc, s).unwrap();
            enc.finish().unwrap()
        })
        .collect();
    let lz4_blocks: Vec<Vec<u8>> = plain
        .sections
        .iter()
        .map(|s| lz4_flex::block::compress(s))
        .collect();
    let zstd: Vec<Vec<u8>> = plain
        .sections
        .iter()
        .map(|s| zstd::bulk::compress(s, 3).unwrap())
        .collect();
    for (codec, bytes) in &codecs {
        println!(
            "{codec}: {} bytes for {RECORDS} records ({:.2} B/record on the wire)",
            bytes.len(),
            bytes.len() as f64 / RECORDS as f64
        );
    }

    for (name, throughput) in [
        ("records", Throughput::Elements(RECORDS)),
        ("bytes", Throughput::Bytes(raw_bytes)),
    ] {
        let mut g = c.benchmark_group(name);
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
            .throughput(throughput);
        for (codec, bytes) in &codecs {
            let mut decoder = RecordDecoder::new(DecodeOptions::default());
            g.bench_function(format!("decode_{codec}"), |b| {
                b.iter(|| black_box(decode_all(&mut decoder, bytes)))
            });
            g.bench_function(format!("refs_{codec}"), |b| {
                b.iter(|| black_box(refs_all(&mut decoder, bytes)))
            });
        }
        let mut decoder = RecordDecoder::new(DecodeOptions::default());
        g.bench_function("cursor_none", |b| {
            b.iter(|| black_box(cursor_all(&mut decoder, &plain.batches)))
        });
        let mut decoder = RecordDecoder::new(DecodeOptions {
            check_crcs: false,
            ..DecodeOptions::default()
        });
        g.bench_function("decode_none_no_crc", |b| {
            b.iter(|| black_box(decode_all(&mut decoder, &plain.batches)))
        });
        g.bench_function("refs_none_no_crc", |b| {
            b.iter(|| black_box(refs_all(&mut decoder, &plain.batches)))
        });
        let mut dst = vec![0u8; plain.batches.len()];
        g.bench_function("memcpy", |b| {
            b.iter(|| {
                dst.copy_from_slice(&plain.batches);
                black_box(&dst);
            })
        });
        g.bench_function("crc32c", |b| {
            b.iter(|| black_box(crc32c::crc32c(&plain.batches)))
        });
        let mut out = vec![0u8; 2 * 1024 * 1024];
        g.bench_function("raw_lz4_frame", |b| {
            b.iter(|| {
                for s in &lz4 {
                    let mut d = lz4_flex::frame::FrameDecoder::new(&s[..]);
                    black_box(
                        std::io::Read::read_to_end(
                            &mut d,
                            &mut Vec::with_capacity(PER_BATCH * 110),
                        )
                        .unwrap(),
                    );
                }
            })
        });
        g.bench_function("raw_lz4_block", |b| {
            b.iter(|| {
                for (s, plain) in lz4_blocks.iter().zip(&plain.sections) {
                    let n = &mut out[..plain.len()];
                    black_box(lz4_flex::block::decompress_into(s, n).unwrap());
                }
            })
        });
        let mut ctx = zstd::bulk::Decompressor::new().unwrap();
        g.bench_function("raw_zstd", |b| {
            b.iter(|| {
                for s in &zstd {
                    black_box(ctx.decompress_to_buffer(s, &mut out[..]).unwrap());
                }
            })
        });
        g.finish();
    }
}

criterion_group!(records, benches);
criterion_main!(records);
