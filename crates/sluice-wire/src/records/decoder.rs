//! Splitting a fetched record set into batches, whatever their format.

use bytes::{Buf, Bytes};

use super::batch::{Batch, BatchHeader, V2_HEADER_LEN};
use super::compression::Decompressor;
use super::{Compression, legacy};
use crate::error::{Result, WireError};

/// How batches are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// `check.crcs`: verify each batch's (or message's) CRC.
    pub check_crcs: bool,
    /// The most bytes one batch may decompress to.
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            check_crcs: true,
            max_decompressed_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Decodes record sets. Create one per connection (or fetcher) and reuse
/// it: it keeps decompression contexts and buffers across batches.
#[derive(Debug)]
pub struct RecordDecoder {
    options: DecodeOptions,
    decompressor: Decompressor,
}

impl RecordDecoder {
    /// A decoder with `options`.
    pub fn new(options: DecodeOptions) -> Self {
        RecordDecoder {
            options,
            decompressor: Decompressor::new(options.max_decompressed_bytes),
        }
    }

    /// Splits a record set (a fetch response's `records`, a produce
    /// request's) into batches; compressed batches are decompressed here.
    /// A torn batch at the very end is dropped, as brokers cut responses at
    /// the byte limit; any other damage is an error naming the offset.
    pub fn decode_batches(&mut self, mut data: Bytes) -> Result<Vec<Batch>> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next_batch(&mut data)? {
            batches.push(batch);
        }
        Ok(batches)
    }

    /// Takes the first batch off `data` and decodes (decompresses) it, so a
    /// record set can be decoded one batch at a time as its records are
    /// needed: only one batch's output is live at once, and the output
    /// buffer is reused once the application drops the previous batch's
    /// records. `None` once `data` holds no whole batch (a torn tail, as
    /// brokers cut responses at the byte limit, is dropped and `data` left
    /// empty). On an error `data` still starts at the damaged batch.
    pub fn next_batch(&mut self, data: &mut Bytes) -> Result<Option<Batch>> {
        let Some(size) = whole_batch_len(data)? else {
            data.clear(); // nothing, or a torn tail
            return Ok(None);
        };
        let magic = data[16] as i8;
        let batch = data.slice(..size);
        let batch = match magic {
            2 => self.decode_v2(batch)?,
            0 | 1 => legacy::decode(batch, self.options.check_crcs, &mut self.decompressor)?,
            m => return Err(WireError::UnsupportedMagic(m)),
        };
        data.advance(size);
        Ok(Some(batch))
    }

    fn decode_v2(&mut self, batch: Bytes) -> Result<Batch> {
        if batch.len() < V2_HEADER_LEN {
            return Err(WireError::Truncated {
                what: "record batch header",
                needed: V2_HEADER_LEN,
                available: batch.len(),
            });
        }
        let header = BatchHeader::parse_v2(&batch);
        if self.options.check_crcs {
            header.verify_crc(&batch)?;
        }
        let codec = Compression::from_id((header.attributes & 0x07) as u8)?;
        if header.record_count < 0 {
            return Err(WireError::Corrupt {
                what: "record batch",
                offset: header.base_offset,
                reason: format!("record count {}", header.record_count),
            });
        }
        let body = batch.slice(V2_HEADER_LEN..);
        let records = match codec {
            Compression::None => body,
            codec => self.decompressor.decompress(codec, &body)?,
        };
        // Every record takes at least 7 bytes: a count beyond that is a lie.
        let most = records.len() / 7;
        if header.record_count as usize > most {
            return Err(WireError::Truncated {
                what: "records",
                needed: header.record_count as usize * 7,
                available: records.len(),
            });
        }
        Ok(Batch::v2(header, records))
    }
}

/// The size of the batch (or legacy message) `data` starts with, if `data`
/// holds all of it; `None` for fewer bytes than a batch's framing, or a torn
/// tail. A negative length is an error naming the batch's offset.
pub fn whole_batch_len(data: &[u8]) -> Result<Option<usize>> {
    // base offset (8), length (4), partition leader epoch or CRC (4), magic (1)
    if data.len() < 17 {
        return Ok(None);
    }
    let base_offset = i64::from_be_bytes(data[..8].try_into().unwrap_or_default());
    let length = i32::from_be_bytes([data[8], data[9], data[10], data[11]]);
    let length = usize::try_from(length).map_err(|_| WireError::Corrupt {
        what: "record batch",
        offset: base_offset,
        reason: format!("negative length {length}"),
    })?;
    let size = 12 + length;
    Ok((size <= data.len()).then_some(size))
}
