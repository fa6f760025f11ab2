//! gzip (RFC 1952) with one reused inflate context.
//!
//! `flate2::read::GzDecoder` allocates a fresh inflate state (its 32 KiB
//! window included) per stream, which for Kafka means per batch. We parse
//! the small gzip header ourselves and keep one raw-deflate
//! [`flate2::Decompress`] per decoder, reset between members.
//!
//! The member CRC32 is not checked (the batch CRC32C or message CRC already
//! covers the compressed bytes); ISIZE is, as a cheap length check.

use bytes::BytesMut;
use flate2::{Decompress, FlushDecompress, Status};

/// Why a gzip stream could not be read, or that the output would pass the
/// limit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GzipError {
    /// Malformed input, with what was wrong.
    Corrupt(String),
    /// The output would pass the limit.
    TooBig,
}

fn corrupt(what: impl Into<String>) -> GzipError {
    GzipError::Corrupt(what.into())
}

/// Length of the member header at the start of `input`.
fn header_len(input: &[u8]) -> Result<usize, GzipError> {
    if input.len() < 10 {
        return Err(corrupt("truncated gzip header"));
    }
    if input[0] != 0x1f || input[1] != 0x8b {
        return Err(corrupt("not gzip (bad magic)"));
    }
    if input[2] != 8 {
        return Err(corrupt("gzip method is not deflate"));
    }
    let flags = input[3];
    let mut at = 10;
    if flags & 0x04 != 0 {
        let len = input
            .get(at..at + 2)
            .ok_or_else(|| corrupt("truncated gzip extra field"))?;
        at += 2 + u16::from_le_bytes([len[0], len[1]]) as usize;
    }
    for flag in [0x08, 0x10] {
        // file name, comment: zero-terminated
        if flags & flag != 0 {
            let rest = input
                .get(at..)
                .ok_or_else(|| corrupt("truncated gzip header"))?;
            let end = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| corrupt("unterminated gzip header string"))?;
            at += end + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    if at > input.len() {
        return Err(corrupt("truncated gzip header"));
    }
    Ok(at)
}

/// Inflates every gzip member of `input` into `out` starting at length 0,
/// growing `out` from its current length (the caller's size hint) up to
/// `limit` bytes. Returns the bytes written.
pub(crate) fn decompress(
    ctx: &mut Decompress,
    input: &[u8],
    out: &mut BytesMut,
    limit: usize,
) -> Result<usize, GzipError> {
    let mut at = 0;
    let mut len = 0;
    loop {
        at += header_len(&input[at..])?;
        ctx.reset(false);
        let member_start = len;
        loop {
            if len == out.len() {
                if len > limit {
                    return Err(GzipError::TooBig);
                }
                let grow = out.len().max(64 * 1024).min(limit + 1 - len);
                out.resize(len + grow, 0);
            }
            let (in0, out0) = (ctx.total_in(), ctx.total_out());
            let status = ctx
                .decompress(&input[at..], &mut out[len..], FlushDecompress::None)
                .map_err(|e| corrupt(format!("bad deflate data: {e}")))?;
            let consumed = (ctx.total_in() - in0) as usize;
            let produced = (ctx.total_out() - out0) as usize;
            at += consumed;
            len += produced;
            match status {
                Status::StreamEnd => break,
                _ if consumed == 0 && produced == 0 && len < out.len() => {
                    return Err(corrupt("truncated deflate data"));
                }
                _ => {}
            }
        }
        if len > limit {
            return Err(GzipError::TooBig);
        }
        let trailer = input
            .get(at..at + 8)
            .ok_or_else(|| corrupt("truncated gzip trailer"))?;
        let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if isize != (len - member_start) as u32 {
            return Err(corrupt("gzip length (ISIZE) does not match the data"));
        }
        at += 8;
        // Another member may follow (concatenated gzip); padding zeros end it.
        if input[at..].iter().all(|&b| b == 0) {
            return Ok(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn run(input: &[u8], hint: usize, limit: usize) -> Result<Vec<u8>, GzipError> {
        let mut ctx = Decompress::new(false);
        let mut out = BytesMut::zeroed(hint);
        let n = decompress(&mut ctx, input, &mut out, limit)?;
        out.truncate(n);
        Ok(out.to_vec())
    }

    #[test]
    fn members_decode_whatever_the_size_hint() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut two = gz(&data);
        two.extend(gz(b"second member"));
        let mut want = data.clone();
        want.extend_from_slice(b"second member");
        for hint in [0, 10, want.len(), want.len() * 2] {
            assert_eq!(run(&two, hint, 10 << 20).unwrap(), want);
        }
    }

    #[test]
    fn a_header_with_name_extra_and_comment_is_skipped() {
        let mut enc = flate2::GzBuilder::new()
            .filename("f.txt")
            .comment("c")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"payload").unwrap();
        assert_eq!(run(&enc.finish().unwrap(), 0, 100).unwrap(), b"payload");
    }

    #[test]
    fn bad_streams_are_typed_errors() {
        let input = gz(&[7u8; 100_000]);
        assert_eq!(run(&input, 0, 1000), Err(GzipError::TooBig));
        assert_eq!(
            run(&input[..3], 0, 1 << 20),
            Err(corrupt("truncated gzip header"))
        );
        assert_eq!(
            run(b"PK\x03\x04zzzzzzzz", 0, 1 << 20),
            Err(corrupt("not gzip (bad magic)"))
        );
        assert!(matches!(
            run(&input[..input.len() - 6], 0, 1 << 20),
            Err(GzipError::Corrupt(_))
        ));
        let mut wrong_len = input.clone();
        let n = wrong_len.len();
        wrong_len[n - 1] ^= 1;
        assert_eq!(
            run(&wrong_len, 0, 1 << 20),
            Err(corrupt("gzip length (ISIZE) does not match the data"))
        );
    }
}
