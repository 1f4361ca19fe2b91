//! Client order ids: unique across restarts, and telling a human what an order was for.
//!
//! `{run}-{bundle}-{kind}{leg}-{attempt}-{created_ms}`: `run` is unique per host
//! process, so a restarted host never reuses an id; the creation time at the
//! end lets venues without client ids (Polymarket) sign the same order bytes
//! again from the id alone, and so find the order after a crash.

use std::sync::atomic::{AtomicU64, Ordering};

/// What an order is for (one letter in the id).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    Entry,
    Repair,
    Unwind,
    Exit,
}

impl Purpose {
    fn letter(self) -> char {
        match self {
            Purpose::Entry => 'e',
            Purpose::Repair => 'r',
            Purpose::Unwind => 'u',
            Purpose::Exit => 'x',
        }
    }
}

/// Issues client order ids for one host process.
pub struct OrderIds {
    run: String,
    seq: AtomicU64,
}

impl OrderIds {
    /// `run_started_ms` and `nonce` make the run prefix unique.
    pub fn new(run_started_ms: i64, nonce: u32) -> OrderIds {
        OrderIds { run: format!("a{}{:02x}", base36(run_started_ms as u64), nonce & 0xff), seq: AtomicU64::new(0) }
    }

    pub fn run(&self) -> &str {
        &self.run
    }

    pub fn next(&self, bundle: u64, purpose: Purpose, leg: usize, now_ms: i64) -> String {
        let attempt = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{}-{}-{}{}-{}-{}", self.run, base36(bundle), purpose.letter(), leg, base36(attempt), now_ms)
    }
}

fn base36(mut n: u64) -> String {
    const D: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut s = Vec::new();
    while n > 0 {
        s.push(D[(n % 36) as usize]);
        n /= 36;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// The creation time a client order id carries, if it is one of ours.
pub fn created_ms(client_order_id: &str) -> Option<i64> {
    client_order_id.rsplit_once('-').and_then(|(_, t)| t.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_short_and_carry_their_time() {
        let ids = OrderIds::new(1_767_225_600_000, 7);
        let a = ids.next(4_611_686_018_427_387_904, Purpose::Entry, 0, 1_767_225_600_123);
        let b = ids.next(4_611_686_018_427_387_904, Purpose::Entry, 0, 1_767_225_600_123);
        assert_ne!(a, b);
        assert!(a.len() <= 48, "{a}");
        assert_eq!(created_ms(&a), Some(1_767_225_600_123));
        assert_ne!(OrderIds::new(1_767_225_600_001, 7).run(), ids.run());
    }
}
