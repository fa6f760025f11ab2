//! Choosing a partition: the Java client's default partitioner for keyed
//! records (murmur2 of the key), round robin for records without a key.

use crate::config::Partitioner;

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ len as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java producer (and librdkafka's `murmur2_random`)
/// picks for `key` among `partitions`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    if partitions <= 0 {
        return 0;
    }
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// The partition for a record without an explicit one, among `partitions`
/// (> 0): by key as the Java client; without a key, round robin through
/// `next` (one counter per topic) with `murmur2_random`, the empty key's
/// partition with `murmur2`.
pub fn choose(
    partitioner: Partitioner,
    key: Option<&[u8]>,
    partitions: i32,
    next: &mut u32,
) -> i32 {
    match (key, partitioner) {
        (Some(key), _) => partition_for_key(key, partitions),
        (None, Partitioner::Murmur2) => partition_for_key(&[], partitions),
        (None, Partitioner::Murmur2Random) => {
            let p = (*next % partitions.max(1) as u32) as i32;
            *next = next.wrapping_add(1);
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 11] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
            // Also from the Java implementation (as quoted by Akka's Murmur2Spec).
            (b"1", -1_993_445_489),
            (b"12", 126_087_238),
            (b"123", -267_702_483),
            (b"1234", -1_614_185_708),
            (b"12345", -1_188_365_604),
        ];
        for (data, want) in cases {
            assert_eq!(murmur2(data), want, "{}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn partitions_are_positive_and_in_range() {
        for i in 0..1000 {
            let p = partition_for_key(format!("key-{i}").as_bytes(), 7);
            assert!((0..7).contains(&p));
        }
        assert_eq!(partition_for_key(b"x", 0), 0);
    }

    #[test]
    fn keyless_records_go_round_robin_or_to_the_empty_keys_partition() {
        let mut next = 0;
        let spread: Vec<i32> = (0..7)
            .map(|_| choose(Partitioner::Murmur2Random, None, 3, &mut next))
            .collect();
        assert_eq!(spread, vec![0, 1, 2, 0, 1, 2, 0]);
        let fixed = choose(Partitioner::Murmur2, None, 5, &mut next);
        assert_eq!(fixed, partition_for_key(b"", 5));
        assert_eq!(
            choose(Partitioner::Murmur2, Some(b"21"), 5, &mut next),
            (-973_932_308_i32 & 0x7fff_ffff) % 5
        );
        // The counter wrapping does not leave the range.
        let mut next = u32::MAX;
        assert!((0..3).contains(&choose(Partitioner::Murmur2Random, None, 3, &mut next)));
        assert!((0..3).contains(&choose(Partitioner::Murmur2Random, None, 3, &mut next)));
    }
}
