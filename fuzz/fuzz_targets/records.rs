//! The record decoder on arbitrary bytes, with CRC checks off so the fuzzer
//! reaches the record parsing: never a panic, decompression bounded.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice_wire::records::{DecodeOptions, RecordDecoder};

fuzz_target!(|data: &[u8]| {
    let mut decoder = RecordDecoder::new(DecodeOptions { check_crcs: false, max_decompressed_bytes: 1 << 20 });
    if let Ok(batches) = decoder.decode_batches(Bytes::copy_from_slice(data)) {
        for batch in &batches {
            let _ = batch.control_record();
            for record in batch.records().flatten() {
                for header in record.headers.iter() {
                    std::hint::black_box(header);
                }
            }
        }
    }
});
