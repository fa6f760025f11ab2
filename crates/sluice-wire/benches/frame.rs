//! Reading length-prefixed response frames through `FrameDecoder`, the way
//! the connection's read loop does: bytes arrive from a "socket" (a buffer
//! served in reads of up to 256 KiB into the spare capacity, as
//! `read_buf` would), and whole frames are split off and handed on.
//!
//! Two shapes: 64 fetch responses of 1 MiB (frames larger than the read
//! buffer, so the decoder grows it to the frame) and 100k small responses
//! of 200 B (many frames per read). `in_memory` splits frames already in
//! one buffer: the framing alone, without the reads' copy.
//!
//! `cargo bench -p sluice-wire --bench frame`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sluice_wire::frame::{DEFAULT_RECEIVE_MESSAGE_MAX_BYTES, FrameDecoder, encode_frame};

/// Most one simulated socket read returns.
const READ: usize = 256 * 1024;

fn stream(frames: usize, size: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    for _ in 0..frames {
        encode_frame(&mut out, &body);
    }
    out.to_vec()
}

/// The read loop of `connection::read_loop`, with a slice for the socket.
/// Returns the frames read and their total size.
fn read_loop(mut socket: &[u8]) -> (usize, usize) {
    let mut decoder = FrameDecoder::new(DEFAULT_RECEIVE_MESSAGE_MAX_BYTES);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let (mut frames, mut bytes) = (0, 0);
    loop {
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            frames += 1;
            bytes += frame.len();
            black_box(frame);
        }
        if socket.is_empty() {
            return (frames, bytes);
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        let n = (buf.capacity() - buf.len()).min(READ).min(socket.len());
        buf.extend_from_slice(&socket[..n]);
        socket = &socket[n..];
    }
}

fn benches(c: &mut Criterion) {
    for (name, frames, size) in [("fetch_1mib", 64, 1 << 20), ("small_200b", 100_000, 200)] {
        let data = stream(frames, size);
        for (unit, throughput) in [
            ("frames", Throughput::Elements(frames as u64)),
            ("bytes", Throughput::Bytes(data.len() as u64)),
        ] {
            let mut g = c.benchmark_group(format!("frame_read_{unit}"));
            g.sample_size(20)
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(3))
                .throughput(throughput);
            g.bench_function(format!("{name}/socket"), |b| {
                b.iter(|| {
                    let (n, _) = read_loop(&data);
                    assert_eq!(n, frames);
                })
            });
            g.bench_function(format!("{name}/in_memory"), |b| {
                b.iter_batched_ref(
                    || BytesMut::from(&data[..]),
                    |buf| {
                        let mut decoder = FrameDecoder::new(DEFAULT_RECEIVE_MESSAGE_MAX_BYTES);
                        let mut n = 0;
                        while let Some(frame) = decoder.decode(buf).unwrap() {
                            n += 1;
                            black_box(frame);
                        }
                        assert_eq!(n, frames);
                    },
                    BatchSize::LargeInput,
                )
            });
            g.finish();
        }
    }
}

criterion_group!(frame, benches);
criterion_main!(frame);
