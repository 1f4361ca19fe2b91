//! Which partition a market's updates go to.
//!
//! The mapping must be the same in every process and every version, or a
//! market's updates would be split across partitions and lose their order:
//! FNV-1a (64-bit) is fixed by its spec, unlike `std`'s randomly seeded hasher.
//! Kafka uses librdkafka's own partitioner on the message key instead (murmur2,
//! as Java clients do), so other Kafka tools agree with us.

/// FNV-1a, 64-bit.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The partition of `key` among `partitions` (at least 1).
pub fn partition_of(key: &str, partitions: u32) -> u32 {
    (fnv1a(key.as_bytes()) % u64::from(partitions.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_fnv1a_vectors() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn spreads_keys_over_every_partition() {
        let mut hits = [0u32; 8];
        for i in 0..800 {
            hits[partition_of(&format!("kalshi:MKT-{i}"), 8) as usize] += 1;
        }
        assert!(hits.iter().all(|&h| h > 50), "{hits:?}");
        assert_eq!(partition_of("anything", 1), 0);
    }
}
