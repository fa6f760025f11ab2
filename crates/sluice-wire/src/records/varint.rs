//! Zigzag varints as RecordBatch v2 uses them, read from a slice with a
//! cursor; a varint longer than its type or past the end is an error.

use crate::error::{Result, WireError};

/// Reads a zigzag varint (at most 5 bytes) at `*pos`. One- and two-byte
/// varints (lengths and deltas under 8192, nearly all of them in a batch)
/// take the inlined fast path.
#[inline(always)]
pub(crate) fn read_varint(data: &[u8], pos: &mut usize, context: &'static str) -> Result<i32> {
    match short(data, pos) {
        Some(value) => Ok(((value >> 1) as i32) ^ -((value & 1) as i32)),
        None => read_varint_slow(data, pos, context),
    }
}

/// A one- or two-byte varint's raw value at `*pos`, advancing past it;
/// `None` (and `*pos` unchanged) for anything else.
#[inline(always)]
fn short(data: &[u8], pos: &mut usize) -> Option<u32> {
    match data.get(*pos..)? {
        [b0, ..] if *b0 < 0x80 => {
            *pos += 1;
            Some(u32::from(*b0))
        }
        [b0, b1, ..] if *b1 < 0x80 => {
            *pos += 2;
            Some(u32::from(*b0 & 0x7f) | (u32::from(*b1) << 7))
        }
        _ => None,
    }
}

#[inline(never)]
fn read_varint_slow(data: &[u8], pos: &mut usize, context: &'static str) -> Result<i32> {
    let mut value: u32 = 0;
    let mut shift = 0;
    loop {
        let Some(&byte) = data.get(*pos) else {
            return Err(WireError::BadVarint { context });
        };
        *pos += 1;
        if shift == 28 && byte & 0xf0 != 0 {
            return Err(WireError::BadVarint { context });
        }
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((value >> 1) as i32) ^ -((value & 1) as i32));
        }
        shift += 7;
    }
}

/// Reads a zigzag varlong (at most 10 bytes) at `*pos`, short values
/// inlined as in [`read_varint`].
#[inline(always)]
pub(crate) fn read_varlong(data: &[u8], pos: &mut usize, context: &'static str) -> Result<i64> {
    match short(data, pos) {
        Some(value) => {
            let value = u64::from(value);
            Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
        }
        None => read_varlong_slow(data, pos, context),
    }
}

#[inline(never)]
fn read_varlong_slow(data: &[u8], pos: &mut usize, context: &'static str) -> Result<i64> {
    let mut value: u64 = 0;
    let mut shift = 0;
    loop {
        let Some(&byte) = data.get(*pos) else {
            return Err(WireError::BadVarint { context });
        };
        *pos += 1;
        if shift == 63 && byte & 0xfe != 0 {
            return Err(WireError::BadVarint { context });
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
        shift += 7;
    }
}

/// Appends a zigzag varint.
pub(crate) fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_varlong(out, i64::from(value));
}

/// Appends a zigzag varlong.
pub(crate) fn write_varlong(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The encoded size of a zigzag varlong.
pub(crate) fn varlong_len(value: i64) -> usize {
    let v = ((value << 1) ^ (value >> 63)) as u64;
    (64 - v.leading_zeros() as usize).max(1).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        for (value, bytes) in [
            (0i64, &[0u8][..]),
            (-1, &[1]),
            (1, &[2]),
            (-64, &[0x7f]),
            (64, &[0x80, 1]),
            (300, &[0xd8, 0x04]),
        ] {
            let mut out = Vec::new();
            write_varlong(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(varlong_len(value), bytes.len());
            let mut pos = 0;
            assert_eq!(read_varlong(bytes, &mut pos, "t").unwrap(), value);
            assert_eq!(pos, bytes.len());
        }
    }

    #[test]
    fn overlong_and_truncated_varints_are_errors() {
        let mut pos = 0;
        assert!(matches!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], &mut pos, "k"),
            Err(WireError::BadVarint { context: "k" })
        ));
        let mut pos = 0;
        assert!(matches!(
            read_varint(&[0x80, 0x80], &mut pos, "k"),
            Err(WireError::BadVarint { .. })
        ));
        let mut pos = 0;
        assert!(read_varlong(&[0xff; 11], &mut pos, "k").is_err());
    }

    proptest! {
        #[test]
        fn fast_paths_agree_with_the_general_loop(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let (mut a, mut b) = (0, 0);
            let fast = read_varint(&bytes, &mut a, "t").ok();
            let slow = read_varint_slow(&bytes, &mut b, "t").ok();
            prop_assert_eq!(fast, slow);
            if fast.is_some() { prop_assert_eq!(a, b); }
            let (mut a, mut b) = (0, 0);
            let fast = read_varlong(&bytes, &mut a, "t").ok();
            let slow = read_varlong_slow(&bytes, &mut b, "t").ok();
            prop_assert_eq!(fast, slow);
            if fast.is_some() { prop_assert_eq!(a, b); }
        }

        #[test]
        fn varints_round_trip(v in any::<i32>()) {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            let mut pos = 0;
            prop_assert_eq!(read_varint(&out, &mut pos, "t").unwrap(), v);
            prop_assert_eq!(pos, out.len());
        }

        #[test]
        fn varlongs_round_trip(v in any::<i64>()) {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            prop_assert_eq!(out.len(), varlong_len(v));
            let mut pos = 0;
            prop_assert_eq!(read_varlong(&out, &mut pos, "t").unwrap(), v);
        }
    }
}
