//! The LZ4 frame format, read straight into one output buffer.
//!
//! `lz4_flex::frame::FrameDecoder` allocates its block buffers for every
//! frame, which for Kafka means every batch. Kafka's frames are small and
//! simple (one frame, 64 KiB to 4 MiB blocks, linked or independent), so we
//! walk the frame ourselves and let `lz4_flex::block` decompress each block
//! in place: no allocation besides the output, whose size comes from the
//! frame's content size or its block sizes.
//!
//! Header, block and content checksums are not verified: the batch CRC32C
//! (v2) or the message CRC (v0/v1) already covers the compressed bytes, and
//! Kafka's own v0 frames carry a wrong header checksum (KAFKA-3160).

/// Frame magic number (little-endian 0x184D2204).
const MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
/// How far back a linked block may refer.
const WINDOW: usize = 64 * 1024;

/// A parsed frame: where blocks start and how big the output can get.
#[derive(Debug)]
pub(crate) struct Frame {
    linked: bool,
    block_checksums: bool,
    /// Offset of the first block header.
    blocks_at: usize,
    /// The content size the header declares, if it does.
    pub content_size: Option<u64>,
    /// Largest decompressed size of one block.
    block_max: usize,
}

/// Why a frame could not be read.
pub(crate) type FrameError = &'static str;

impl Frame {
    /// Parses the frame header.
    pub fn parse(input: &[u8]) -> Result<Frame, FrameError> {
        if input.len() < 7 {
            return Err("truncated frame header");
        }
        if input[..4] != MAGIC {
            return Err("not an LZ4 frame (bad magic)");
        }
        let flg = input[4];
        if flg >> 6 != 0b01 {
            return Err("unsupported LZ4 frame version");
        }
        let block_max = match (input[5] >> 4) & 0x7 {
            4 => 64 * 1024,
            5 => 256 * 1024,
            6 => 1024 * 1024,
            7 => 4 * 1024 * 1024,
            _ => return Err("bad LZ4 block maximum size"),
        };
        let mut at = 6;
        let content_size = if flg & 0x08 != 0 {
            let bytes = input.get(at..at + 8).ok_or("truncated frame header")?;
            at += 8;
            Some(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
        } else {
            None
        };
        if flg & 0x01 != 0 {
            return Err("LZ4 dictionary ids are not supported");
        }
        at += 1; // header checksum
        if at > input.len() {
            return Err("truncated frame header");
        }
        Ok(Frame {
            linked: flg & 0x20 == 0,
            block_checksums: flg & 0x10 != 0,
            blocks_at: at,
            content_size,
            block_max,
        })
    }

    /// The most the frame can decompress to, from its block headers (used
    /// when the header states no content size); saturates.
    pub fn output_bound(&self, input: &[u8]) -> usize {
        let mut bound = 0usize;
        for block in self.blocks(input) {
            match block {
                Ok((data, compressed)) => {
                    bound = bound.saturating_add(if compressed {
                        self.block_max
                    } else {
                        data.len()
                    })
                }
                Err(_) => break,
            }
        }
        bound
    }

    /// The blocks: `(data, compressed)` each.
    fn blocks<'a>(
        &'a self,
        input: &'a [u8],
    ) -> impl Iterator<Item = Result<(&'a [u8], bool), FrameError>> + 'a {
        let mut at = self.blocks_at;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let Some(h) = input.get(at..at + 4) else {
                done = true;
                return Some(Err("truncated LZ4 block header"));
            };
            let word = u32::from_le_bytes(h.try_into().expect("4 bytes"));
            at += 4;
            if word == 0 {
                done = true; // end mark (a content checksum may follow)
                return None;
            }
            let len = (word & 0x7fff_ffff) as usize;
            let end = at.saturating_add(len);
            let Some(data) = input.get(at..end) else {
                done = true;
                return Some(Err("truncated LZ4 block"));
            };
            at = end + if self.block_checksums { 4 } else { 0 };
            Some(Ok((data, word & 0x8000_0000 == 0)))
        })
    }

    /// Decompresses every block into `out` (sized by the caller); returns
    /// the bytes written, or `Ok(None)` when `out` is too small.
    pub fn decompress_into(
        &self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<Option<usize>, FrameError> {
        let mut len = 0;
        for block in self.blocks(input) {
            let (data, compressed) = block?;
            if !compressed {
                let Some(dst) = out.get_mut(len..len + data.len()) else {
                    return Ok(None);
                };
                dst.copy_from_slice(data);
                len += data.len();
                continue;
            }
            let (before, rest) = out.split_at_mut(len);
            let room = rest.len().min(self.block_max);
            let result = if self.linked && !before.is_empty() {
                let dict = &before[before.len().saturating_sub(WINDOW)..];
                lz4_flex::block::decompress_into_with_dict(data, &mut rest[..room], dict)
            } else {
                lz4_flex::block::decompress_into(data, &mut rest[..room])
            };
            match result {
                Ok(n) => len += n,
                Err(lz4_flex::block::DecompressError::OutputTooSmall { .. })
                    if room < self.block_max =>
                {
                    return Ok(None);
                }
                Err(_) => return Err("corrupt LZ4 block"),
            }
        }
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn frame(data: &[u8], info: lz4_flex::frame::FrameInfo) -> Vec<u8> {
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn data() -> Vec<u8> {
        (0..300_000u32)
            .flat_map(|i| format!("record {} {}\n", i % 977, i % 13).into_bytes())
            .collect()
    }

    fn roundtrip(info: lz4_flex::frame::FrameInfo) {
        let data = data();
        let input = frame(&data, info);
        let frame = Frame::parse(&input).unwrap();
        let bound = frame
            .content_size
            .map_or_else(|| frame.output_bound(&input), |n| n as usize);
        assert!(bound >= data.len());
        let mut out = vec![0; bound];
        let n = frame.decompress_into(&input, &mut out).unwrap().unwrap();
        assert_eq!(&out[..n], &data[..]);
    }

    #[test]
    fn linked_and_independent_blocks_of_every_size_decode() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
        for size in [BlockSize::Max64KB, BlockSize::Max256KB, BlockSize::Max4MB] {
            for mode in [BlockMode::Linked, BlockMode::Independent] {
                roundtrip(FrameInfo::new().block_size(size).block_mode(mode));
                roundtrip(
                    FrameInfo::new()
                        .block_size(size)
                        .block_mode(mode)
                        .block_checksums(true)
                        .content_checksum(true)
                        .content_size(Some(data().len() as u64)),
                );
            }
        }
    }

    #[test]
    fn a_small_output_buffer_is_reported_not_overrun() {
        let input = frame(&data(), lz4_flex::frame::FrameInfo::new());
        let frame = Frame::parse(&input).unwrap();
        let mut out = vec![0; 1000];
        assert_eq!(frame.decompress_into(&input, &mut out), Ok(None));
    }

    #[test]
    fn bad_frames_are_errors() {
        let input = frame(&data(), lz4_flex::frame::FrameInfo::new());
        assert_eq!(
            Frame::parse(b"\0\0\0\0xyz").unwrap_err(),
            "not an LZ4 frame (bad magic)"
        );
        assert_eq!(
            Frame::parse(&input[..5]).unwrap_err(),
            "truncated frame header"
        );
        let frame = Frame::parse(&input).unwrap();
        let mut out = vec![0; 10 << 20];
        assert_eq!(
            frame.decompress_into(&input[..input.len() / 2], &mut out),
            Err("truncated LZ4 block")
        );
        let mut corrupt = input.clone();
        for b in &mut corrupt[20..60] {
            *b = 0xff;
        }
        assert!(frame.decompress_into(&corrupt, &mut out).is_err());
    }
}
