//! Framing: every Kafka message is a 4-byte big-endian size and that many
//! bytes. The decoder is sans-I/O and checks the size against
//! `receive.message.max.bytes` before reserving any memory.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Result, WireError};

/// The default `receive.message.max.bytes` (100 MiB, librdkafka's default).
pub const DEFAULT_RECEIVE_MESSAGE_MAX_BYTES: usize = 100 * 1024 * 1024;

/// Splits a byte stream into frames.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame: usize,
}

impl FrameDecoder {
    /// A decoder that rejects frames larger than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder { max_frame }
    }

    /// Takes one complete frame (without its size prefix) off the front of
    /// `buf`, or `Ok(None)` when more bytes are needed. A negative or
    /// oversized size is an error before anything is reserved; while a frame
    /// is incomplete, `buf` is grown to hold exactly that frame.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let size = usize::try_from(size).map_err(|_| WireError::NegativeFrameSize(size))?;
        if size > self.max_frame {
            return Err(WireError::FrameTooLarge {
                size,
                max: self.max_frame,
            });
        }
        if buf.len() < 4 + size {
            buf.reserve(4 + size - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        Ok(Some(buf.split_to(size).freeze()))
    }
}

/// Appends `body` to `dst` with its size prefix.
pub fn encode_frame(dst: &mut BytesMut, body: &[u8]) {
    dst.reserve(4 + body.len());
    dst.put_i32(body.len() as i32);
    dst.put_slice(body);
}

/// Splits a whole captured stream of `[size][frame]...` into frames; a
/// trailing partial frame is an error (captures hold complete frames).
pub fn split_frames(stream: &[u8], max_frame: usize) -> Result<Vec<Bytes>> {
    let mut buf = BytesMut::from(stream);
    let mut decoder = FrameDecoder::new(max_frame);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf)? {
        frames.push(frame);
    }
    if !buf.is_empty() {
        return Err(WireError::Truncated {
            what: "frame",
            needed: 4,
            available: buf.len(),
        });
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(bodies: &[&[u8]]) -> BytesMut {
        let mut b = BytesMut::new();
        for body in bodies {
            encode_frame(&mut b, body);
        }
        b
    }

    #[test]
    fn frames_come_out_whole_and_in_order() {
        let mut buf = framed(&[b"one", b"", b"three"]);
        let mut d = FrameDecoder::new(16);
        assert_eq!(d.decode(&mut buf).unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(d.decode(&mut buf).unwrap().as_deref(), Some(&b""[..]));
        assert_eq!(d.decode(&mut buf).unwrap().as_deref(), Some(&b"three"[..]));
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let whole = framed(&[b"hello"]);
        let mut d = FrameDecoder::new(16);
        let mut buf = BytesMut::new();
        for (i, byte) in whole.iter().enumerate() {
            assert_eq!(d.decode(&mut buf).unwrap(), None, "after {i} bytes");
            buf.put_u8(*byte);
        }
        assert_eq!(d.decode(&mut buf).unwrap().as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn exactly_the_limit_is_accepted() {
        let mut buf = framed(&[&[7u8; 16]]);
        assert_eq!(
            FrameDecoder::new(16)
                .decode(&mut buf)
                .unwrap()
                .map(|f| f.len()),
            Some(16)
        );
    }

    #[test]
    fn oversized_frames_are_rejected_before_any_allocation() {
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        let cap = buf.capacity();
        let err = FrameDecoder::new(DEFAULT_RECEIVE_MESSAGE_MAX_BYTES)
            .decode(&mut buf)
            .unwrap_err();
        assert!(
            matches!(
                err,
                WireError::FrameTooLarge {
                    size: 0x7fff_ffff,
                    max: DEFAULT_RECEIVE_MESSAGE_MAX_BYTES
                }
            ),
            "{err}"
        );
        assert_eq!(buf.capacity(), cap, "nothing reserved");
        let mut buf = framed(&[&[0u8; 17]]);
        assert!(matches!(
            FrameDecoder::new(16).decode(&mut buf),
            Err(WireError::FrameTooLarge { size: 17, max: 16 })
        ));
    }

    #[test]
    fn negative_sizes_are_errors() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe, 1, 2][..]);
        assert!(matches!(
            FrameDecoder::new(16).decode(&mut buf),
            Err(WireError::NegativeFrameSize(-2))
        ));
    }

    #[test]
    fn split_frames_rejects_a_torn_tail() {
        let mut stream = framed(&[b"a", b"bc"]).to_vec();
        assert_eq!(split_frames(&stream, 16).unwrap().len(), 2);
        stream.extend_from_slice(&[0, 0, 0, 5, 1]);
        assert!(matches!(
            split_frames(&stream, 16),
            Err(WireError::Truncated { .. })
        ));
    }
}
