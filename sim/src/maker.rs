//! Simulated market makers: ladders of resting quotes around a fair value.
//!
//! The venue servers own the books; a maker only says which quotes it wants,
//! and the server cancels and replaces its resting orders to match.

use arbytron_sdk::{Price, Qty};

use crate::matching::BookSide;

/// How one market maker quotes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MakerConfig {
    /// Full spread between its best bid and best ask, in micro-dollars.
    pub spread: i64,
    /// Price distance between successive levels, in micro-dollars.
    pub step: i64,
    /// Levels per side.
    pub levels: u32,
    /// Contracts per level.
    pub size: Qty,
}

impl Default for MakerConfig {
    fn default() -> MakerConfig {
        MakerConfig { spread: 20_000, step: 10_000, levels: 5, size: Qty::from_contracts(100) }
    }
}

/// The quotes a maker wants around `fair`, snapped onto `tick` (bids down,
/// asks up, so a maker never quotes inside its own spread) and kept strictly
/// inside (0, 1).
pub fn quotes(cfg: &MakerConfig, fair: Price, tick: i64) -> Vec<(BookSide, Price, Qty)> {
    let tick = tick.max(1);
    let half = cfg.spread / 2;
    let mut out = Vec::with_capacity(cfg.levels as usize * 2);
    for i in 0..cfg.levels as i64 {
        let bid = (fair.micros() - half - i * cfg.step).div_euclid(tick) * tick;
        let ask = -((-(fair.micros() + half + i * cfg.step)).div_euclid(tick)) * tick;
        if bid > 0 && bid < 1_000_000 {
            out.push((BookSide::Bid, Price::from_micros_const(bid), cfg.size));
        }
        if ask > 0 && ask < 1_000_000 {
            out.push((BookSide::Ask, Price::from_micros_const(ask), cfg.size));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_snap_outward_and_stay_in_range() {
        let cfg = MakerConfig { spread: 20_000, step: 10_000, levels: 3, size: Qty::from_contracts(10) };
        let q = quotes(&cfg, Price::parse("0.505").unwrap(), 10_000);
        let bids: Vec<i64> = q.iter().filter(|x| x.0 == BookSide::Bid).map(|x| x.1.micros()).collect();
        let asks: Vec<i64> = q.iter().filter(|x| x.0 == BookSide::Ask).map(|x| x.1.micros()).collect();
        assert_eq!(bids, vec![490_000, 480_000, 470_000]);
        assert_eq!(asks, vec![520_000, 530_000, 540_000]);
        let edge = quotes(&cfg, Price::parse("0.995").unwrap(), 10_000);
        assert!(edge.iter().all(|x| x.1 > Price::ZERO && x.1 < Price::ONE));
    }
}
