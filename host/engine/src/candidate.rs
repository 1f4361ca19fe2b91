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
