//! Packing current books and pools into the strategy boundary's candidate
//! (asks, to buy) and market view (bids, to sell).

use arbytron_model::TimestampMs;
use arbytron_sdk::wire::{LegHeader, LegsBuf};
use arbytron_sdk::{FeeSchedule, MarketId, Money, Price, Side};

use crate::links::Link;
use crate::markets::{MarketState, Markets};

/// Settings for packing.
#[derive(Clone, Copy, Debug)]
pub struct PackConfig {
    /// Book levels per leg.
    pub depth: usize,
    /// Books older than this are left out (and so never traded).
    pub max_book_age_ms: i64,
    /// Gas (and other fixed) cost of one on-chain swap.
    pub amm_fixed_cost: Money,
}

impl Default for PackConfig {
    fn default() -> PackConfig {
        PackConfig { depth: 10, max_book_age_ms: 5_000, amm_fixed_cost: Money::from_cents(1) }
    }
}

fn header(outcome: usize, market: MarketId, side: Side, s: &MarketState, fee: FeeSchedule, fixed: Money) -> LegHeader {
    LegHeader {
        outcome: outcome as u32,
        market,
        venue: s.key.venue,
        side,
        fee,
        tick: s.tick(),
        min_qty: s.min_qty(),
        fixed_cost: fixed,
        updated_at: s.updated_at,
    }
}

/// Append one leg (book asks or bids, or a pool) for `market`'s `side`.
/// Returns false (and appends nothing) if the leg cannot trade now.
pub fn push_leg(
    buf: &mut LegsBuf,
    markets: &Markets,
    cfg: &PackConfig,
    now: TimestampMs,
    (outcome, market, side): (usize, MarketId, Side),
    buying: bool,
) -> bool {
    if markets.tradable(market, now, cfg.max_book_age_ms).is_err() {
        return false;
    }
    let Some(s) = markets.get(market) else { return false };
    if let Some((address, token)) = s.pool_outcome(side) {
        let Some(pool) = markets.pool(address) else { return false };
        if token >= pool.balances.len() || pool.balances.iter().any(|&b| b > i64::MAX as u128) {
            return false;
        }
        let h = header(outcome, market, side, s, FeeSchedule::Amm { fee_wad: pool.fee_wad }, cfg.amm_fixed_cost);
        buf.push_pool(&h, token, pool.balances.iter().map(|&b| b as i64));
        return true;
    }
    let levels = if buying { s.book.asks(side).next() } else { s.book.bids(side).next() };
    if levels.is_none() {
        return false;
    }
    let h = header(outcome, market, side, s, s.fee(), Money::ZERO);
    if buying {
        buf.push_book(&h, s.book.asks(side), cfg.depth);
    } else {
        buf.push_book(&h, s.book.bids(side), cfg.depth);
    }
    true
}

/// Pack a link's legs that can trade now. Returns false if some outcome has
/// no tradable leg (then there is nothing to score).
pub fn pack_link(buf: &mut LegsBuf, link: &Link, markets: &Markets, cfg: &PackConfig, now: TimestampMs) -> bool {
    buf.clear();
    for (o, legs) in link.outcomes.iter().enumerate() {
        let mut any = false;
        for &(m, side) in legs {
            any |= push_leg(buf, markets, cfg, now, (o, m, side), true);
        }
        if !any {
            return false;
        }
    }
    true
}

/// The most a bundle on `link` can gross per contract: $1 minus the sum, over
/// outcomes, of the cheapest price any tradable leg starts at (micro-dollars).
/// Fees, gas and deeper levels only raise what a bundle costs, so when this
/// is zero or less no size on any choice of legs pays, and the host need not
/// ask a strategy. `None` when some outcome has no tradable leg.
pub fn top_edge(link: &Link, markets: &Markets, cfg: &PackConfig, now: TimestampMs) -> Option<i64> {
    let mut sum = 0i64;
    for legs in &link.outcomes {
        let mut cheapest: Option<i64> = None;
        for &(m, side) in legs {
            if markets.tradable(m, now, cfg.max_book_age_ms).is_err() {
                continue;
            }
            let Some(s) = markets.get(m) else { continue };
            let start = match s.pool_outcome(side) {
                Some((address, token)) => markets.pool(address).map(|p| pool_spot_floor(&p.balances, token)),
                None => s.book.best_ask(side).map(|l| l.price.micros()),
            };
            if let Some(p) = start {
                cheapest = Some(cheapest.map_or(p, |c| c.min(p)));
            }
        }
        sum = sum.saturating_add(cheapest?);
    }
    Some(1_000_000 - sum)
}

/// A lower bound on the price of the first token bought from a fixed-product
/// pool (micro-dollars): exact (floored) for a binary pool, where it is
/// `other / (own + other)`; zero for larger pools, which only makes the
/// bound looser.
fn pool_spot_floor(balances: &[u128], token: usize) -> i64 {
    match balances {
        [a, b] if token < 2 => {
            let (own, other) = if token == 0 { (*a, *b) } else { (*b, *a) };
            let total = own.saturating_add(other);
            if total == 0 {
                return 0;
            }
            // Both below 2^64 in practice; saturate rather than overflow otherwise.
            let scaled = other.checked_mul(1_000_000).map_or(0, |n| n / total);
            i64::try_from(scaled).unwrap_or(0)
        }
        _ => 0,
    }
}

/// When a link resolves: its configured time, else the latest close of its markets.
pub fn resolves_at(link: &Link, markets: &Markets) -> TimestampMs {
    link.spec
        .resolves_at
        .unwrap_or_else(|| link.legs().filter_map(|(_, m, _)| markets.get(m).map(|s| s.closes_at())).max().unwrap_or(0))
}

/// The best price a book leg offers, for slippage checks.
pub fn best_price(markets: &Markets, market: MarketId, side: Side, buying: bool) -> Option<Price> {
    let s = markets.get(market)?;
    if buying { s.book.best_ask(side) } else { s.book.best_bid(side) }.map(|l| l.price)
}

#[cfg(test)]
mod tests {
    use super::pool_spot_floor;

    #[test]
    fn binary_pool_spot_is_the_other_side_share() {
        // Buying token 0 from (600, 400): 400 / 1000 = $0.40.
        assert_eq!(pool_spot_floor(&[600, 400], 0), 400_000);
        assert_eq!(pool_spot_floor(&[600, 400], 1), 600_000);
        // Floored: 1/3 of a dollar.
        assert_eq!(pool_spot_floor(&[2, 1], 0), 333_333);
        // Larger pools and empty ones bound at zero.
        assert_eq!(pool_spot_floor(&[1, 1, 1], 0), 0);
        assert_eq!(pool_spot_floor(&[0, 0], 0), 0);
    }
}
