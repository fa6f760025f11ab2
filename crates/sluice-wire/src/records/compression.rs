//! Bounded decompression with contexts and buffers reused across batches,
//! and compression for the encoder.
//!
//! Output is sized from what the data says about itself (zstd's frame
//! content size, snappy's preamble, lz4's content size, gzip's ISIZE) and
//! never beyond the limit: a decompression bomb fails after producing at
//! most `limit + 1` bytes.

use std::io::{Read, Write};

use bytes::{Bytes, BytesMut};

use super::Compression;
use super::gzip::{self, GzipError};
use super::lz4_frame::Frame;
use crate::error::{Result, WireError};

const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER: usize = 16;

/// Reusable decompression state for one connection or fetcher.
pub(crate) struct Decompressor {
    limit: usize,
    /// Output buffer; each batch's output is split off and frozen. Once the
    /// application drops a batch's records, the allocation is reused.
    scratch: BytesMut,
    snappy: snap::raw::Decoder,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    inflate: Option<flate2::Decompress>,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("limit", &self.limit)
            .field("scratch", &self.scratch.capacity())
            .finish()
    }
}

fn failed(codec: Compression, e: impl std::fmt::Display) -> WireError {
    WireError::Decompression {
        codec,
        message: e.to_string(),
    }
}

impl Decompressor {
    pub(crate) fn new(limit: usize) -> Self {
        Decompressor {
            limit,
            scratch: BytesMut::new(),
            snappy: snap::raw::Decoder::new(),
            zstd: None,
            inflate: None,
        }
    }

    fn too_big(&self, codec: Compression) -> WireError {
        WireError::DecompressionLimit {
            codec,
            limit: self.limit,
        }
    }

    /// A zeroed output buffer of `len` bytes (reusing the scratch allocation).
    fn buffer(&mut self, len: usize) -> BytesMut {
        self.scratch.clear();
        self.scratch.resize(len, 0);
        self.scratch.split()
    }

    pub(crate) fn decompress(&mut self, codec: Compression, input: &[u8]) -> Result<Bytes> {
        match codec {
            Compression::None => Ok(Bytes::copy_from_slice(input)),
            Compression::Snappy if input.starts_with(XERIAL_MAGIC) => self.xerial(input),
            Compression::Snappy => {
                let len = snap::raw::decompress_len(input).map_err(|e| failed(codec, e))?;
                if len > self.limit {
                    return Err(self.too_big(codec));
                }
                let mut out = self.buffer(len);
                let n = self
                    .snappy
                    .decompress(input, &mut out)
                    .map_err(|e| failed(codec, e))?;
                out.truncate(n);
                Ok(out.freeze())
            }
            Compression::Zstd => self.zstd(input),
            Compression::Gzip => self.gzip(input),
            Compression::Lz4 => self.lz4(input),
        }
    }

    fn gzip(&mut self, input: &[u8]) -> Result<Bytes> {
        let codec = Compression::Gzip;
        // ISIZE (the last 4 bytes) is the size modulo 2^32: a hint only.
        let hint = input.len().checked_sub(4).map_or(0, |i| {
            u32::from_le_bytes([input[i], input[i + 1], input[i + 2], input[i + 3]]) as usize
        });
        let mut out = self.buffer(hint.clamp(64, self.limit.saturating_add(1)));
        let ctx = self
            .inflate
            .get_or_insert_with(|| flate2::Decompress::new(false));
        match gzip::decompress(ctx, input, &mut out, self.limit) {
            Ok(n) => {
                out.truncate(n);
                Ok(out.freeze())
            }
            Err(GzipError::TooBig) => Err(self.too_big(codec)),
            Err(GzipError::Corrupt(message)) => Err(failed(codec, message)),
        }
    }

    fn lz4(&mut self, input: &[u8]) -> Result<Bytes> {
        let codec = Compression::Lz4;
        let frame = Frame::parse(input).map_err(|e| failed(codec, e))?;
        let bound = match frame.content_size {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => frame.output_bound(input),
        };
        let mut out = self.buffer(bound.min(self.limit));
        match frame.decompress_into(input, &mut out) {
            Ok(Some(n)) => {
                out.truncate(n);
                Ok(out.freeze())
            }
            Ok(None) if bound > self.limit => Err(self.too_big(codec)),
            Ok(None) => Err(failed(codec, "the data is larger than the frame says")),
            Err(e) => Err(failed(codec, e)),
        }
    }

    /// The Java producer's snappy framing: a header, then
    /// `[int32 length][raw snappy block]` chunks.
    fn xerial(&mut self, input: &[u8]) -> Result<Bytes> {
        let codec = Compression::Snappy;
        if input.len() < XERIAL_HEADER {
            return Err(failed(codec, "truncated xerial header"));
        }
        let mut chunks = Vec::new();
        let mut total = 0usize;
        let mut pos = XERIAL_HEADER;
        while pos < input.len() {
            let Some(len) = input.get(pos..pos + 4) else {
                return Err(failed(codec, "truncated xerial chunk length"));
            };
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            pos += 4;
            let Some(chunk) = input.get(pos..pos.saturating_add(len)) else {
                return Err(failed(codec, "truncated xerial chunk"));
            };
            pos += len;
            total = total
                .saturating_add(snap::raw::decompress_len(chunk).map_err(|e| failed(codec, e))?);
            if total > self.limit {
                return Err(self.too_big(codec));
            }
            chunks.push(chunk);
        }
        let mut out = self.buffer(total);
        let mut at = 0;
        for chunk in chunks {
            at += self
                .snappy
                .decompress(chunk, &mut out[at..])
                .map_err(|e| failed(codec, e))?;
        }
        out.truncate(at);
        Ok(out.freeze())
    }

    fn zstd(&mut self, input: &[u8]) -> Result<Bytes> {
        let codec = Compression::Zstd;
        match zstd::zstd_safe::get_frame_content_size(input) {
            Ok(Some(size)) if input.len() >= 4 => {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if size > self.limit {
                    return Err(self.too_big(codec));
                }
                let mut out = self.buffer(size);
                if self.zstd.is_none() {
                    self.zstd =
                        Some(zstd::bulk::Decompressor::new().map_err(|e| failed(codec, e))?);
                }
                let ctx = self.zstd.as_mut().expect("just created");
                let n = ctx
                    .decompress_to_buffer(input, &mut out[..])
                    .map_err(|e| failed(codec, e))?;
                out.truncate(n);
                Ok(out.freeze())
            }
            // Streaming frames (zstd-jni's output stream) do not state their size.
            _ => {
                let reader = zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(|e| failed(codec, e))?;
                self.read_bounded(codec, reader, input.len() * 4)
            }
        }
    }

    /// Reads a decompressing reader into the scratch buffer, growing it
    /// from `hint` as needed, failing once output passes the limit.
    fn read_bounded(
        &mut self,
        codec: Compression,
        mut reader: impl Read,
        hint: usize,
    ) -> Result<Bytes> {
        let mut out = self.buffer(hint.clamp(64, self.limit.saturating_add(1)));
        let mut len = 0;
        loop {
            if len == out.len() {
                if len > self.limit {
                    return Err(self.too_big(codec));
                }
                let grow = out.len().max(64 * 1024).min(self.limit + 1 - len);
                out.resize(len + grow, 0);
            }
            match reader.read(&mut out[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(failed(codec, e)),
            }
        }
        if len > self.limit {
            return Err(self.too_big(codec));
        }
        out.truncate(len);
        Ok(out.freeze())
    }
}

/// Compresses `data` with `codec` (snappy raw, as librdkafka writes it).
pub(crate) fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>> {
    let fail = |e: std::io::Error| failed(codec, e);
    Ok(match codec {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 2),
                flate2::Compression::default(),
            );
            enc.write_all(data).map_err(fail)?;
            enc.finish().map_err(fail)?
        }
        Compression::Snappy => snap::raw::Encoder::new()
            .compress_vec(data)
            .map_err(|e| failed(codec, e))?,
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new().content_size(Some(data.len() as u64));
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(
                info,
                Vec::with_capacity(data.len() / 2),
            );
            enc.write_all(data).map_err(fail)?;
            enc.finish().map_err(|e| failed(codec, e))?
        }
        Compression::Zstd => zstd::bulk::compress(data, 3).map_err(fail)?,
    })
}
