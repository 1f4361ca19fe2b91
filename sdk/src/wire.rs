//! The packed layout of the hot-path `candidate` and the exit `market-view`.
//!
//! A record per leg and per level would cost several microseconds per call to
//! lift across the component boundary; two flat `list<s64>` cost a fraction of
//! that. The host encodes with [`LegsBuf`]; strategies decode with
//! [`Candidate`] / [`MarketView`], which check every word once and then hand out
//! typed, zero-copy views (book levels are reinterpreted in place as
//! [`Level`]s).
//!
//! `legs` holds [`LEG_WORDS`] words per leg:
//!
//! | word | meaning |
//! |---|---|
//! | 0 | outcome index within the link (legs of one outcome are alternatives) |
//! | 1 | market id |
//! | 2 | venue code ([`Venue::code`]) |
//! | 3 | side code ([`Side::code`]) |
//! | 4 | source kind: 0 = order book, 1 = AMM pool |
//! | 5..=8 | fee schedule: model code and three parameters ([`FeeSchedule`]) |
//! | 9 | tick size, micro-dollars (0 = any price) |
//! | 10 | minimum order quantity, micro-contracts |
//! | 11 | fixed cost per order, micro-dollars (gas for an AMM leg) |
//! | 12 | offset of this leg's data in `data` |
//! | 13 | number of data words |
//! | 14 | pool: index of the outcome token this leg buys or sells |
//! | 15 | when the book or pool last changed, Unix ms |
//!
//! `data` holds, per leg, either book levels as `(price, quantity)` pairs best
//! first (asks in a candidate, bids in a market view, always for the leg's own
//! side), or a pool's outcome-token balances in base units.

use crate::fees::FeeSchedule;
use crate::money::{Money, Price, Qty, SCALE};
use crate::types::{MarketId, Side, TimestampMs, Venue};

/// Words per leg in the packed `legs` list.
pub const LEG_WORDS: usize = 16;

mod word {
    pub const OUTCOME: usize = 0;
    pub const MARKET: usize = 1;
    pub const VENUE: usize = 2;
    pub const SIDE: usize = 3;
    pub const KIND: usize = 4;
    pub const FEE: usize = 5; // 5..=8
    pub const TICK: usize = 9;
    pub const MIN_QTY: usize = 10;
    pub const FIXED_COST: usize = 11;
    pub const DATA_OFF: usize = 12;
    pub const DATA_LEN: usize = 13;
    pub const POOL_OUTCOME: usize = 14;
    pub const UPDATED_AT: usize = 15;
}

const KIND_BOOK: i64 = 0;
const KIND_POOL: i64 = 1;

/// Why a packed list does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("legs list has {0} words, not a multiple of {LEG_WORDS}")]
    Ragged(usize),
    #[error("leg {leg}: bad {field} word {value}")]
    BadWord { leg: usize, field: &'static str, value: i64 },
    #[error("leg {leg}: data slice {off}+{len} outside {total} words")]
    DataOutOfRange { leg: usize, off: i64, len: i64, total: usize },
    #[error("leg {leg}: level {level} is invalid (price {price}, quantity {qty})")]
    BadLevel { leg: usize, level: usize, price: i64, qty: i64 },
}

/// One price level of a book: `qty` contracts available at `price`.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Level {
    pub price: Price,
    pub qty: Qty,
}

impl Level {
    pub const fn new(price: Price, qty: Qty) -> Level {
        Level { price, qty }
    }
}

/// A pool's state as a leg sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PoolView<'a> {
    /// The pool's fee, 1e18 = 100% (the contract's own scale).
    pub fee_wad: u64,
    /// The outcome token this leg trades.
    pub outcome: usize,
    /// Outcome-token balances held by the pool, base units (never negative).
    pub balances: &'a [i64],
}

/// Where a leg's liquidity comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// Levels best first: asks in a candidate, bids in a market view.
    Book(&'a [Level]),
    Pool(PoolView<'a>),
}

/// One leg of a candidate or market view, decoded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Leg<'a> {
    pub outcome: u32,
    pub market: MarketId,
    pub venue: Venue,
    pub side: Side,
    pub fee: FeeSchedule,
    /// Price grid step (zero for pools and unconstrained books).
    pub tick: Price,
    pub min_qty: Qty,
    /// Per-order cost that does not scale with size (gas on-chain).
    pub fixed_cost: Money,
    pub source: Source<'a>,
    pub updated_at: TimestampMs,
}

/// Legs plus the data they point into; shared by candidates and market views.
#[derive(Copy, Clone, Debug)]
pub struct PackedLegs<'a> {
    legs: &'a [i64],
    data: &'a [i64],
}

impl<'a> PackedLegs<'a> {
    /// Check every word once; afterwards [`PackedLegs::leg`] cannot fail.
    pub fn new(legs: &'a [i64], data: &'a [i64]) -> Result<PackedLegs<'a>, WireError> {
        if !legs.len().is_multiple_of(LEG_WORDS) {
            return Err(WireError::Ragged(legs.len()));
        }
        let p = PackedLegs { legs, data };
        for i in 0..p.len() {
            p.decode(i)?;
        }
        Ok(p)
    }

    pub fn len(&self) -> usize {
        self.legs.len() / LEG_WORDS
    }

    pub fn is_empty(&self) -> bool {
        self.legs.is_empty()
    }

    /// The `i`-th leg. Panics only if `i >= len()` (the words were checked in `new`).
    pub fn leg(&self, i: usize) -> Leg<'a> {
        self.decode(i).expect("checked in PackedLegs::new")
    }

    pub fn iter(&self) -> impl Iterator<Item = Leg<'a>> + '_ {
        (0..self.len()).map(|i| self.leg(i))
    }

    /// Number of outcomes: one more than the largest outcome index.
    pub fn outcome_count(&self) -> usize {
        (0..self.len()).map(|i| self.legs[i * LEG_WORDS + word::OUTCOME] as usize + 1).max().unwrap_or(0)
    }

    fn decode(&self, i: usize) -> Result<Leg<'a>, WireError> {
        let w = &self.legs[i * LEG_WORDS..(i + 1) * LEG_WORDS];
        let bad = |field: &'static str, value: i64| WireError::BadWord { leg: i, field, value };
        let outcome = u32::try_from(w[word::OUTCOME]).map_err(|_| bad("outcome", w[word::OUTCOME]))?;
        let market = u32::try_from(w[word::MARKET]).map_err(|_| bad("market", w[word::MARKET]))?;
        let venue = Venue::from_code(w[word::VENUE]).ok_or_else(|| bad("venue", w[word::VENUE]))?;
        let side = Side::from_code(w[word::SIDE]).ok_or_else(|| bad("side", w[word::SIDE]))?;
        let fee = FeeSchedule::from_words([w[word::FEE], w[word::FEE + 1], w[word::FEE + 2], w[word::FEE + 3]])
            .ok_or_else(|| bad("fee", w[word::FEE]))?;
        let tick = Price::from_micros(w[word::TICK]).map_err(|_| bad("tick", w[word::TICK]))?;
        let min_qty = w[word::MIN_QTY];
        if min_qty < 0 {
            return Err(bad("min-qty", min_qty));
        }
        let fixed_cost = w[word::FIXED_COST];
        if fixed_cost < 0 {
            return Err(bad("fixed-cost", fixed_cost));
        }
        let (off, len) = (w[word::DATA_OFF], w[word::DATA_LEN]);
        let range = usize::try_from(off)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(o, l)| Some(o..o.checked_add(l)?))
            .filter(|r| r.end <= self.data.len())
            .ok_or(WireError::DataOutOfRange { leg: i, off, len, total: self.data.len() })?;
        let slice = &self.data[range];
        let source = match w[word::KIND] {
            KIND_BOOK => Source::Book(levels_from_words(i, slice)?),
            KIND_POOL => {
                let fee_wad = match fee {
                    FeeSchedule::Amm { fee_wad } => fee_wad,
                    _ => return Err(bad("pool-fee", w[word::FEE])),
                };
                let outcome_idx = usize::try_from(w[word::POOL_OUTCOME])
                    .ok()
                    .filter(|&o| o < slice.len())
                    .ok_or_else(|| bad("pool-outcome", w[word::POOL_OUTCOME]))?;
                if slice.len() < 2 {
                    return Err(bad("pool-size", slice.len() as i64));
                }
                if let Some(&b) = slice.iter().find(|&&b| b < 0) {
                    return Err(bad("pool-balance", b));
                }
                Source::Pool(PoolView { fee_wad, outcome: outcome_idx, balances: slice })
            }
            k => return Err(bad("kind", k)),
        };
        Ok(Leg {
            outcome,
            market,
            venue,
            side,
            fee,
            tick,
            min_qty: Qty::from_micros(min_qty),
            fixed_cost: Money::from_micros(fixed_cost),
            source,
            updated_at: w[word::UPDATED_AT],
        })
    }
}

/// Reinterpret `(price, qty)` word pairs as levels after checking each one.
#[allow(unsafe_code)] // a zero-copy view of the hot-path input; see SAFETY below
fn levels_from_words(leg: usize, words: &[i64]) -> Result<&[Level], WireError> {
    if !words.len().is_multiple_of(2) {
        return Err(WireError::BadWord { leg, field: "levels-length", value: words.len() as i64 });
    }
    for (level, pair) in words.chunks_exact(2).enumerate() {
        let (price, qty) = (pair[0], pair[1]);
        if !(0..=SCALE).contains(&price) || qty < 0 {
            return Err(WireError::BadLevel { leg, level, price, qty });
        }
    }
    // SAFETY: `Level` is `repr(C)` of two `repr(transparent)` i64 newtypes, so it
    // has the size and alignment of `[i64; 2]`; the length is even and every
    // price was checked to be in range, so each pair is a valid `Level`.
    Ok(unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<Level>(), words.len() / 2) })
}

/// The hot-path input, decoded.
#[derive(Copy, Clone, Debug)]
pub struct Candidate<'a> {
    pub link: u32,
    pub now: TimestampMs,
    pub resolves_at: TimestampMs,
    pub legs: PackedLegs<'a>,
}

impl<'a> Candidate<'a> {
    pub fn new(
        link: u32,
        now: TimestampMs,
        resolves_at: TimestampMs,
        legs: &'a [i64],
        data: &'a [i64],
    ) -> Result<Candidate<'a>, WireError> {
        Ok(Candidate { link, now, resolves_at, legs: PackedLegs::new(legs, data)? })
    }

    /// Days from now to resolution, in milliseconds (never below one millisecond).
    pub fn millis_to_resolution(&self) -> i64 {
        (self.resolves_at - self.now).max(1)
    }
}

/// What held legs could be sold for now, decoded.
#[derive(Copy, Clone, Debug)]
pub struct MarketView<'a> {
    pub now: TimestampMs,
    pub legs: PackedLegs<'a>,
}

impl<'a> MarketView<'a> {
    pub fn new(now: TimestampMs, legs: &'a [i64], data: &'a [i64]) -> Result<MarketView<'a>, WireError> {
        Ok(MarketView { now, legs: PackedLegs::new(legs, data)? })
    }

    /// The leg for a held market and side, if the view has it.
    pub fn find(&self, market: MarketId, side: Side) -> Option<Leg<'a>> {
        self.legs.iter().find(|l| l.market == market && l.side == side)
    }
}

/// Everything about a leg but its liquidity; the encoder's input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LegHeader {
    pub outcome: u32,
    pub market: MarketId,
    pub venue: Venue,
    pub side: Side,
    pub fee: FeeSchedule,
    pub tick: Price,
    pub min_qty: Qty,
    pub fixed_cost: Money,
    pub updated_at: TimestampMs,
}

impl LegHeader {
    /// A leg with the common venue terms: a one-cent tick, a lot of a
    /// hundredth of a contract, no fixed cost, no timestamp. Set the fields
    /// that differ (`LegHeader { tick, ..LegHeader::new(..) }`).
    pub fn new(outcome: u32, market: MarketId, venue: Venue, side: Side, fee: FeeSchedule) -> LegHeader {
        LegHeader {
            outcome,
            market,
            venue,
            side,
            fee,
            tick: Price::from_micros_const(10_000),
            min_qty: Qty::from_hundredths(1),
            fixed_cost: Money::ZERO,
            updated_at: 0,
        }
    }
}

/// Reusable encoder for the packed lists; `clear` keeps the allocations.
#[derive(Clone, Debug, Default)]
pub struct LegsBuf {
    pub legs: Vec<i64>,
    pub data: Vec<i64>,
}

impl LegsBuf {
    pub fn clear(&mut self) {
        self.legs.clear();
        self.data.clear();
    }

    pub fn len(&self) -> usize {
        self.legs.len() / LEG_WORDS
    }

    pub fn is_empty(&self) -> bool {
        self.legs.is_empty()
    }

    /// Append a book leg with its levels, best first, at most `max_levels` of them.
    pub fn push_book(&mut self, h: &LegHeader, levels: impl IntoIterator<Item = Level>, max_levels: usize) {
        let off = self.data.len();
        for l in levels.into_iter().take(max_levels) {
            self.data.push(l.price.micros());
            self.data.push(l.qty.micros());
        }
        self.push_header(h, KIND_BOOK, off, 0);
    }

    /// Append a pool leg trading outcome `outcome` of a pool with these balances.
    pub fn push_pool(&mut self, h: &LegHeader, outcome: usize, balances: impl IntoIterator<Item = i64>) {
        let off = self.data.len();
        self.data.extend(balances);
        self.push_header(h, KIND_POOL, off, outcome as i64);
    }

    fn push_header(&mut self, h: &LegHeader, kind: i64, off: usize, pool_outcome: i64) {
        let fee = h.fee.to_words();
        self.legs.extend_from_slice(&[
            h.outcome as i64,
            h.market as i64,
            h.venue.code(),
            h.side.code(),
            kind,
            fee[0],
            fee[1],
            fee[2],
            fee[3],
            h.tick.micros(),
            h.min_qty.micros(),
            h.fixed_cost.micros(),
            off as i64,
            (self.data.len() - off) as i64,
            pool_outcome,
            h.updated_at,
        ]);
    }

    /// Decode what was encoded (host-side re-checks and tests).
    pub fn view(&self) -> Result<PackedLegs<'_>, WireError> {
        PackedLegs::new(&self.legs, &self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(outcome: u32, market: u32, venue: Venue, side: Side, fee: FeeSchedule) -> LegHeader {
        LegHeader { updated_at: 1_700_000_000_000, ..LegHeader::new(outcome, market, venue, side, fee) }
    }

    #[test]
    fn round_trips_books_and_pools() {
        let mut buf = LegsBuf::default();
        let asks = [
            Level::new(Price::from_micros_const(400_000), Qty::from_contracts(10)),
            Level::new(Price::from_micros_const(410_000), Qty::from_contracts(5)),
        ];
        let kalshi = FeeSchedule::Kalshi { taker_ppm: 70_000, maker_ppm: 0, multiplier_ppm: 1_000_000 };
        buf.push_book(&header(0, 7, Venue::Kalshi, Side::Yes, kalshi), asks, 10);
        let amm = FeeSchedule::Amm { fee_wad: 20_000_000_000_000_000 };
        buf.push_pool(&header(1, 9, Venue::PolymarketAmm, Side::No, amm), 1, [5_000_000, 7_000_000]);

        let view = buf.view().unwrap();
        assert_eq!(view.len(), 2);
        assert_eq!(view.outcome_count(), 2);
        let a = view.leg(0);
        assert_eq!((a.market, a.venue, a.side, a.fee), (7, Venue::Kalshi, Side::Yes, kalshi));
        assert_eq!(a.source, Source::Book(&asks[..]));
        let b = view.leg(1);
        match b.source {
            Source::Pool(p) => {
                assert_eq!(p.fee_wad, 20_000_000_000_000_000);
                assert_eq!(p.outcome, 1);
                assert_eq!(p.balances, &[5_000_000, 7_000_000]);
            }
            other => panic!("expected a pool, got {other:?}"),
        }
    }

    #[test]
    fn rejects_malformed_words() {
        assert_eq!(PackedLegs::new(&[0; 15], &[]).unwrap_err(), WireError::Ragged(15));
        let mut buf = LegsBuf::default();
        buf.push_book(&header(0, 1, Venue::Kalshi, Side::Yes, FeeSchedule::None), [], 10);
        let mut legs = buf.legs.clone();
        legs[word::VENUE] = 9;
        assert!(matches!(PackedLegs::new(&legs, &[]), Err(WireError::BadWord { field: "venue", .. })));
        let mut legs = buf.legs.clone();
        legs[word::DATA_LEN] = 4;
        assert!(matches!(PackedLegs::new(&legs, &[1, 2]), Err(WireError::DataOutOfRange { .. })));
        let mut legs = buf.legs.clone();
        legs[word::DATA_LEN] = 2;
        assert!(matches!(PackedLegs::new(&legs, &[2_000_000, 1]), Err(WireError::BadLevel { .. })));
        legs[word::DATA_OFF] = i64::MAX;
        assert!(matches!(PackedLegs::new(&legs, &[1, 1]), Err(WireError::DataOutOfRange { .. })));
    }
}
