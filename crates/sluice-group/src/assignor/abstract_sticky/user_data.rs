//! The sticky assignors' subscription user data, byte-compatible with the
//! Java client and librdkafka.
//!
//! `StickyAssignorUserData` (the `sticky` assignor), no version prefix:
//! ```text
//! v0: [previous_assignment]            previous_assignment => topic [partition]
//! v1: [previous_assignment] generation   topic => STRING (int16 length + UTF-8)
//!                                         partition, generation => INT32
//! ```
//! Arrays are an int32 count then the elements. A reader takes v1 when four
//! bytes follow the array, else v0 (as Java's fallback does).
//!
//! `CooperativeStickyAssignorUserData` (`cooperative-sticky`): the int32
//! generation alone.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use sluice_fetch::TopicPartition;
use sluice_wire::WireError;

use super::MemberData;

fn error(what: &str, message: impl std::fmt::Display) -> WireError {
    WireError::Decode {
        what: what.to_string(),
        message: message.to_string(),
    }
}

const STICKY: &str = "sticky assignor user data";
const COOPERATIVE: &str = "cooperative-sticky assignor user data";

/// Encodes `StickyAssignorUserData` v1: `partitions` grouped by topic (in
/// order of first appearance) and `generation`.
pub(crate) fn encode_sticky(partitions: &[TopicPartition], generation: i32) -> Bytes {
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match topics.iter_mut().find(|(t, _)| *t == &*tp.topic) {
            Some((_, ps)) => ps.push(tp.partition),
            None => topics.push((&tp.topic, vec![tp.partition])),
        }
    }
    let mut buf = BytesMut::new();
    buf.put_i32(topics.len() as i32);
    for (topic, ps) in topics {
        // Topic names are at most 249 bytes, far below i16::MAX.
        buf.put_i16(topic.len() as i16);
        buf.put_slice(topic.as_bytes());
        buf.put_i32(ps.len() as i32);
        for p in ps {
            buf.put_i32(p);
        }
    }
    buf.put_i32(generation);
    buf.freeze()
}

fn count(buf: &mut &[u8], element_size: usize, what: &str) -> Result<usize, WireError> {
    if buf.remaining() < 4 {
        return Err(error(STICKY, format!("truncated before the {what} count")));
    }
    let n = buf.get_i32();
    let n = usize::try_from(n).map_err(|_| error(STICKY, format!("negative {what} count {n}")))?;
    if n.saturating_mul(element_size) > buf.remaining() {
        return Err(error(
            STICKY,
            format!("{n} {what}s do not fit in {} bytes", buf.remaining()),
        ));
    }
    Ok(n)
}

/// Decodes `StickyAssignorUserData` v1 or v0 (generation `None`).
pub(crate) fn decode_sticky(data: &[u8]) -> Result<MemberData, WireError> {
    let mut buf = data;
    // A topic entry is at least a string length and a partition count.
    let topics = count(&mut buf, 6, "topic")?;
    let mut partitions = Vec::new();
    for _ in 0..topics {
        if buf.remaining() < 2 {
            return Err(error(STICKY, "truncated topic name"));
        }
        let len = buf.get_i16();
        let len =
            usize::try_from(len).map_err(|_| error(STICKY, format!("topic name length {len}")))?;
        if buf.remaining() < len {
            return Err(error(STICKY, "truncated topic name"));
        }
        let topic = std::str::from_utf8(&buf[..len]).map_err(|e| error(STICKY, e))?;
        let topic: std::sync::Arc<str> = topic.into();
        buf.advance(len);
        let n = count(&mut buf, 4, "partition")?;
        partitions.reserve(n);
        for _ in 0..n {
            partitions.push(TopicPartition::new(topic.clone(), buf.get_i32()));
        }
    }
    let generation = (buf.remaining() >= 4).then(|| buf.get_i32());
    Ok(MemberData {
        partitions,
        generation,
    })
}

/// Encodes `CooperativeStickyAssignorUserData`: the generation.
pub(crate) fn encode_generation(generation: i32) -> Bytes {
    Bytes::copy_from_slice(&generation.to_be_bytes())
}

/// Decodes `CooperativeStickyAssignorUserData` (extra bytes are ignored, as
/// Java's reader does).
pub(crate) fn decode_generation(data: &[u8]) -> Result<i32, WireError> {
    let mut buf = data;
    if buf.remaining() < 4 {
        return Err(error(COOPERATIVE, format!("{} bytes, need 4", data.len())));
    }
    Ok(buf.get_i32())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// StickyAssignorUserData v1 as the Java client's
    /// `StickyAssignor.serializeTopicPartitionAssignment` and librdkafka's
    /// `rd_kafka_sticky_assignor_get_metadata` write it for t1-0, t1-2 and
    /// t2-1 in generation 7.
    const JAVA_V1: &[u8] = &[
        0, 0, 0, 2, // two topics
        0, 2, b't', b'1', // "t1"
        0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // [0, 2]
        0, 2, b't', b'2', // "t2"
        0, 0, 0, 1, 0, 0, 0, 1, // [1]
        0, 0, 0, 7, // generation 7
    ];

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter()
            .map(|&(t, p)| TopicPartition::new(t, p))
            .collect()
    }

    #[test]
    fn sticky_v1_matches_the_java_layout() {
        let owned = tps(&[("t1", 0), ("t1", 2), ("t2", 1)]);
        assert_eq!(&encode_sticky(&owned, 7)[..], JAVA_V1);
        assert_eq!(
            decode_sticky(JAVA_V1).unwrap(),
            MemberData {
                partitions: owned,
                generation: Some(7)
            }
        );
    }

    #[test]
    fn sticky_v0_has_no_generation() {
        let v0 = &JAVA_V1[..JAVA_V1.len() - 4];
        let data = decode_sticky(v0).unwrap();
        assert_eq!(data.partitions, tps(&[("t1", 0), ("t1", 2), ("t2", 1)]));
        assert_eq!(data.generation, None);
        // An empty assignment: zero topics, generation -1.
        let empty = encode_sticky(&[], -1);
        assert_eq!(&empty[..], &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode_sticky(&empty).unwrap().generation, Some(-1));
    }

    #[test]
    fn sticky_garbage_is_an_error_not_a_panic_or_a_huge_allocation() {
        // Every truncation of a valid blob either decodes (a v0 reading) or errs.
        for len in 0..JAVA_V1.len() {
            let _ = decode_sticky(&JAVA_V1[..len]);
        }
        assert!(decode_sticky(&[]).is_err());
        // 2^31-1 topics in 4 bytes.
        assert!(decode_sticky(&[0x7f, 0xff, 0xff, 0xff]).is_err());
        // Negative topic count.
        assert!(decode_sticky(&[0xff, 0xff, 0xff, 0xfe]).is_err());
        // One topic, null name.
        assert!(decode_sticky(&[0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        // One topic "t", a billion partitions.
        assert!(decode_sticky(&[0, 0, 0, 1, 0, 1, b't', 0x40, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // Not UTF-8.
        assert!(decode_sticky(&[0, 0, 0, 1, 0, 1, 0xff, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn cooperative_generation_is_four_bytes() {
        // Java's CooperativeStickyAssignor.subscriptionUserData for generation 10.
        assert_eq!(&encode_generation(10)[..], &[0, 0, 0, 10]);
        assert_eq!(&encode_generation(-1)[..], &[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode_generation(&[0, 0, 1, 0]).unwrap(), 256);
        assert!(decode_generation(&[0, 0, 1]).is_err());
        assert!(decode_generation(&[]).is_err());
    }
}
