//! Drop redelivered envelopes before they reach the engine.
//!
//! Every bus here delivers at least once: Redis hands a dead consumer's pending
//! entries to another (XAUTOCLAIM), Kafka replays from the last committed offset
//! after a rebalance, and a publisher that lost its connection mid-batch
//! republishes the whole batch with the same envelope ids. The engine must not
//! take a decision twice for one update, so the consumer loop asks a
//! [`Deduplicator`] first.
//!
//! # The bound
//! The window is the last `capacity` distinct envelope ids seen, evicted
//! oldest-first. A redelivery is caught when fewer than `capacity` other
//! envelopes were accepted between its first delivery and its redelivery. The
//! redelivery distances in practice are:
//! - Redis XAUTOCLAIM: everything accepted during `claim_min_idle` (30 s by
//!   default) plus the claim interval;
//! - Kafka: everything since the last commit (`commit_interval`, 500 ms by
//!   default) plus one poll batch;
//! - a publisher retry: one batch.
//!
//! The default capacity (1,048,576 ids, about 50 MB) covers 30 s at 30,000
//! updates/s, well above what the connectors produce; raise it with the rate.
//! Memory is fixed: 16 bytes in a ring plus a hash-set slot per id.
//!
//! The window lives in process memory. A process that crashes loses it; its
//! unacknowledged updates are then processed again by whoever picks them up,
//! which is harmless for state (books travel whole, not as deltas) and is why
//! execution records its intent before sending an order.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::envelope::EnvelopeId;

/// Default window: 2^20 ids.
pub const DEFAULT_DEDUP_CAPACITY: usize = 1 << 20;

/// Bounded set of recently processed envelope ids.
#[derive(Debug)]
pub struct Deduplicator {
    seen: HashSet<EnvelopeId, BuildHasherDefault<IdHasher>>,
    order: VecDeque<EnvelopeId>,
    capacity: usize,
    duplicates: u64,
}

impl Default for Deduplicator {
    fn default() -> Deduplicator {
        Deduplicator::new(DEFAULT_DEDUP_CAPACITY)
    }
}

impl Deduplicator {
    /// A window of `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Deduplicator {
        let capacity = capacity.max(1);
        Deduplicator {
            seen: HashSet::with_capacity_and_hasher(capacity.min(1 << 16), Default::default()),
            order: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity,
            duplicates: 0,
        }
    }

    /// Whether `id` was recorded (and is still inside the window); counts the hit.
    pub fn is_duplicate(&mut self, id: EnvelopeId) -> bool {
        let dup = self.seen.contains(&id);
        if dup {
            self.duplicates += 1;
        }
        dup
    }

    /// Record `id` as processed; returns false if it already was.
    pub fn record(&mut self, id: EnvelopeId) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(id);
        true
    }

    /// Duplicates caught so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Envelope ids are a random instance id and a counter: folding the halves
/// and one multiply spreads them well, at a fraction of SipHash's cost.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(29) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u128(&mut self, v: u128) {
        self.write_u64((v >> 64) as u64);
        self.write_u64(v as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn catches_repeats_and_counts_them() {
        let mut d = Deduplicator::new(8);
        let a = EnvelopeId::new(1, 1);
        assert!(!d.is_duplicate(a));
        assert!(d.record(a));
        assert!(d.is_duplicate(a));
        assert!(!d.record(a));
        assert_eq!(d.duplicates(), 1);
        assert!(!d.is_duplicate(EnvelopeId::new(2, 1)), "other instance, same seq");
    }

    #[test]
    fn window_is_exactly_capacity_ids() {
        let mut d = Deduplicator::new(3);
        for s in 1..=4 {
            d.record(EnvelopeId::new(9, s));
        }
        assert_eq!(d.len(), 3);
        assert!(!d.is_duplicate(EnvelopeId::new(9, 1)), "evicted, oldest first");
        for s in 2..=4 {
            assert!(d.is_duplicate(EnvelopeId::new(9, s)));
        }
    }

    proptest! {
        /// Any redelivery within `capacity` distinct ids is caught; nothing new is ever called a duplicate.
        #[test]
        fn redeliveries_inside_the_window_are_caught(cap in 1usize..64, ids in prop::collection::vec(0u64..200, 1..400)) {
            let mut d = Deduplicator::new(cap);
            let mut history: Vec<u64> = Vec::new();
            for s in ids {
                let id = EnvelopeId::new(7, s);
                let distance = history.iter().rev().position(|&h| h == s);
                let expected_dup = matches!(distance, Some(n) if n < cap);
                prop_assert_eq!(d.is_duplicate(id), expected_dup);
                if !expected_dup {
                    d.record(id);
                    history.retain(|&h| h != s);
                    history.push(s);
                }
            }
        }
    }
}
