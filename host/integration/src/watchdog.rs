//! A staleness watchdog per subscription: when each key (a market, an asset)
//! last delivered, and which keys have been silent for longer than their
//! activity says they should be.
//!
//! A busy book that goes quiet for a few seconds is suspicious; a sleepy one
//! quiet for minutes is normal. So each key's bound is learned from its own
//! rhythm: `factor` times a running average of its gaps between updates,
//! clamped to `[floor, ceiling]`. With `floor == ceiling` it is a fixed bound.
//! A key is reported once when it becomes overdue and again only after it
//! has delivered since.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// Bounds of a [`Watchdog`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Never flag a key quieter than this.
    pub floor: Duration,
    /// Always flag a key quieter than this.
    pub ceiling: Duration,
    /// Overdue after `factor` times its typical gap.
    pub factor: u32,
}

impl Bounds {
    /// One fixed bound for every key.
    pub const fn fixed(bound: Duration) -> Bounds {
        Bounds { floor: bound, ceiling: bound, factor: 1 }
    }
}

#[derive(Debug)]
struct Entry {
    last: Instant,
    /// Running average gap, in microseconds (None until two updates).
    avg_gap_us: Option<u64>,
    reported: bool,
}

/// Per-key silence detection.
#[derive(Debug)]
pub struct Watchdog<K> {
    bounds: Bounds,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Watchdog<K> {
    pub fn new(bounds: Bounds) -> Watchdog<K> {
        Watchdog { bounds, entries: HashMap::new() }
    }

    /// Start (or restart) watching `key` from `now`, forgetting its rhythm.
    pub fn watch(&mut self, key: K, now: Instant) {
        self.entries.insert(key, Entry { last: now, avg_gap_us: None, reported: false });
    }

    pub fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// `key` delivered at `now`. Unwatched keys are ignored.
    pub fn touch(&mut self, key: &K, now: Instant) {
        let Some(e) = self.entries.get_mut(key) else { return };
        let gap = u64::try_from(now.saturating_duration_since(e.last).as_micros()).unwrap_or(u64::MAX);
        // An exponential average (weight 1/8) follows a market's pace without
        // letting one burst or one lull decide the bound.
        e.avg_gap_us = Some(match e.avg_gap_us {
            None => gap,
            Some(avg) => avg - avg / 8 + gap / 8,
        });
        e.last = now;
        e.reported = false;
    }

    /// How long `key` may stay silent.
    pub fn bound(&self, key: &K) -> Option<Duration> {
        self.entries.get(key).map(|e| self.bound_of(e))
    }

    fn bound_of(&self, e: &Entry) -> Duration {
        let learned = e
            .avg_gap_us
            .map(|g| Duration::from_micros(g.saturating_mul(u64::from(self.bounds.factor))))
            .unwrap_or(self.bounds.ceiling);
        learned.clamp(self.bounds.floor, self.bounds.ceiling.max(self.bounds.floor))
    }

    /// Since when `key` has been silent.
    pub fn silent_for(&self, key: &K, now: Instant) -> Option<Duration> {
        self.entries.get(key).map(|e| now.saturating_duration_since(e.last))
    }

    /// Keys silent past their bound that have not been reported since they last delivered.
    pub fn overdue(&mut self, now: Instant) -> Vec<K> {
        let mut out = Vec::new();
        for (k, e) in &self.entries {
            if !e.reported && now.saturating_duration_since(e.last) > self.bound_of(e) {
                out.push(k.clone());
            }
        }
        for k in &out {
            if let Some(e) = self.entries.get_mut(k) {
                e.reported = true;
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_fixed_bound_flags_silence_once_until_the_key_delivers_again() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(Bounds::fixed(10 * S));
        w.watch("a", t0);
        w.watch("b", t0);
        assert!(w.overdue(t0 + 9 * S).is_empty());
        w.touch(&"b", t0 + 9 * S);
        assert_eq!(w.overdue(t0 + 11 * S), vec!["a"]);
        assert!(w.overdue(t0 + 12 * S).is_empty(), "reported once");
        w.touch(&"a", t0 + 13 * S);
        assert_eq!(w.overdue(t0 + 20 * S), vec!["b"]);
        assert_eq!(w.overdue(t0 + 24 * S), vec!["a"], "a delivered, so it can be overdue again");
    }

    #[test]
    fn a_busy_key_gets_a_tighter_bound_than_a_sleepy_one() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(Bounds { floor: 2 * S, ceiling: 120 * S, factor: 10 });
        w.watch("busy", t0);
        w.watch("sleepy", t0);
        // Busy: every 100 ms from 85 s to 90 s. Sleepy: every 30 s.
        for i in 1..=50u32 {
            w.touch(&"busy", t0 + 85 * S + Duration::from_millis(100) * i);
        }
        for i in 1..=3u32 {
            w.touch(&"sleepy", t0 + 30 * S * i);
        }
        let busy = w.bound(&"busy").unwrap();
        assert!(busy >= 2 * S && busy < 3 * S, "about 10 x its ~0.2 s average gap, at least the floor: {busy:?}");
        assert!(w.bound(&"sleepy").unwrap() >= 100 * S, "{:?}", w.bound(&"sleepy"));
        // Both quiet for 3 s: the busy one is overdue, the sleepy one is not.
        let now = t0 + 93 * S;
        assert_eq!(w.overdue(now), vec!["busy"]);
        w.forget(&"busy");
        assert_eq!(w.len(), 1);
        assert_eq!(w.silent_for(&"sleepy", now), Some(3 * S));
    }
}
