//! Which offsets may be committed: only the contiguous prefix of processed ones.
//!
//! Kafka commits a single position per partition ("everything before this is
//! done"), so committing the highest acked offset while an earlier one is still
//! being processed would skip it after a crash. Per assigned partition we keep
//! the offsets handed out but not yet acked; the committable position is the
//! oldest of them, or one past the last delivered when none is outstanding.
//!
//! A rebalance bumps the generation: acks carrying an older generation refer
//! to partitions this consumer no longer owns (their new owner reprocesses
//! them from the committed position) and are ignored.

use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug)]
struct Partition {
    generation: u64,
    /// Delivered, not yet acked.
    outstanding: BTreeSet<i64>,
    /// One past the highest offset delivered in this assignment.
    next: Option<i64>,
    /// The last position committed (or being committed).
    committed: Option<i64>,
}

impl Partition {
    /// Where a new owner should start: the oldest unprocessed delivery, or one past the last.
    fn position(&self) -> Option<i64> {
        self.outstanding.first().copied().or(self.next)
    }

    fn committable(&self) -> Option<i64> {
        let pos = self.position()?;
        (self.committed.is_none_or(|c| pos > c)).then_some(pos)
    }
}

/// Offset bookkeeping of one consumer.
#[derive(Debug, Default)]
pub struct Offsets {
    generation: u64,
    parts: BTreeMap<i32, Partition>,
    /// Highest offset ever delivered per partition in this process, across
    /// assignments: a delivery at or below it is a redelivery.
    high: HashMap<i32, i64>,
}

impl Offsets {
    /// Partitions assigned (eager protocol: the whole new assignment; cooperative: the increment).
    pub fn assign(&mut self, partitions: &[i32]) {
        self.generation += 1;
        for &p in partitions {
            self.parts.insert(
                p,
                Partition { generation: self.generation, outstanding: BTreeSet::new(), next: None, committed: None },
            );
        }
    }

    /// Partitions taken away: returns their positions (commit them before
    /// letting go, even if an earlier asynchronous commit claimed to cover
    /// them: it may have been refused by a coordinator already rebalancing)
    /// and forgets them.
    pub fn revoke(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        self.generation += 1;
        let mut out = Vec::new();
        for p in partitions {
            if let Some(state) = self.parts.remove(p)
                && let Some(pos) = state.position()
            {
                out.push((*p, pos));
            }
        }
        out
    }

    /// A commit of these partitions failed: make them committable again.
    pub fn commit_failed(&mut self, partitions: &[i32]) {
        for p in partitions {
            if let Some(s) = self.parts.get_mut(p) {
                s.committed = None;
            }
        }
    }

    /// Record a delivery. `done` marks it processed at once (a rejected message).
    /// Returns the generation to put in the ack token and whether this offset
    /// was delivered before, or `None` if the partition is not assigned.
    pub fn delivered(&mut self, partition: i32, offset: i64, done: bool) -> Option<(u64, bool)> {
        let state = self.parts.get_mut(&partition)?;
        if !done {
            state.outstanding.insert(offset);
        }
        state.next = Some(state.next.map_or(offset + 1, |n| n.max(offset + 1)));
        let high = self.high.entry(partition).or_insert(-1);
        let redelivered = offset <= *high;
        *high = (*high).max(offset);
        Some((state.generation, redelivered))
    }

    /// Mark a delivery processed; false when the token is stale (partition revoked since).
    pub fn ack(&mut self, partition: i32, offset: i64, generation: u64) -> bool {
        match self.parts.get_mut(&partition) {
            Some(state) if state.generation == generation => {
                state.outstanding.remove(&offset);
                true
            }
            _ => false,
        }
    }

    /// Whether a delivery made under `generation` is still ours.
    pub fn is_current(&self, partition: i32, generation: u64) -> bool {
        self.parts.get(&partition).is_some_and(|s| s.generation == generation)
    }

    /// Positions that moved since the last commit.
    pub fn committable(&self) -> Vec<(i32, i64)> {
        self.parts.iter().filter_map(|(p, s)| s.committable().map(|pos| (*p, pos))).collect()
    }

    /// Every position we could commit now, moved or not (for the final commit on close).
    pub fn positions(&self) -> Vec<(i32, i64)> {
        self.parts.iter().filter_map(|(p, s)| s.position().map(|pos| (*p, pos))).collect()
    }

    /// Remember what was sent for commit.
    pub fn committed(&mut self, positions: &[(i32, i64)]) {
        for (p, pos) in positions {
            if let Some(s) = self.parts.get_mut(p) {
                s.committed = Some(s.committed.map_or(*pos, |c| c.max(*pos)));
            }
        }
    }

    /// The assigned partitions.
    pub fn assigned(&self) -> Vec<i32> {
        self.parts.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_the_contiguous_processed_prefix() {
        let mut o = Offsets::default();
        o.assign(&[0]);
        let g = o.delivered(0, 10, false).unwrap().0;
        o.delivered(0, 11, false);
        o.delivered(0, 12, false);
        assert!(o.ack(0, 12, g));
        assert!(o.ack(0, 11, g));
        // 10 is still being processed: committing 13 would skip it after a crash.
        assert_eq!(o.committable(), vec![(0, 10)]);
        o.committed(&[(0, 10)]);
        assert_eq!(o.committable(), vec![], "nothing moved since");
        assert!(o.ack(0, 10, g));
        assert_eq!(o.committable(), vec![(0, 13)]);
    }

    #[test]
    fn a_failed_commit_is_retried() {
        let mut o = Offsets::default();
        o.assign(&[0]);
        o.delivered(0, 0, true);
        o.committed(&[(0, 1)]);
        assert_eq!(o.committable(), vec![]);
        o.commit_failed(&[0]);
        assert_eq!(o.committable(), vec![(0, 1)]);
    }

    #[test]
    fn rejected_messages_advance_the_position() {
        let mut o = Offsets::default();
        o.assign(&[3]);
        o.delivered(3, 0, true);
        assert_eq!(o.committable(), vec![(3, 1)]);
    }

    #[test]
    fn revocation_returns_positions_and_invalidates_old_tokens() {
        let mut o = Offsets::default();
        o.assign(&[0, 1]);
        let (g, _) = o.delivered(0, 5, false).unwrap();
        o.delivered(1, 7, false);
        assert!(o.ack(1, 7, g));
        o.committed(&[(1, 8)]);
        let to_commit = o.revoke(&[0, 1]);
        assert_eq!(to_commit, vec![(0, 5), (1, 8)], "revocation commits even what was sent before");
        assert!(!o.is_current(0, g));
        o.assign(&[0]);
        assert!(!o.ack(0, 5, g), "a token from before the rebalance is stale");
        assert_eq!(o.delivered(9, 0, false), None, "not assigned");
    }

    #[test]
    fn flags_offsets_seen_before_as_redelivered() {
        let mut o = Offsets::default();
        o.assign(&[0]);
        assert_eq!(o.delivered(0, 4, false).map(|d| d.1), Some(false));
        o.revoke(&[0]);
        o.assign(&[0]);
        assert_eq!(o.delivered(0, 3, false).map(|d| d.1), Some(true));
        assert_eq!(o.delivered(0, 5, false).map(|d| d.1), Some(false));
    }
}
