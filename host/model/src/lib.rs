//! Arbytron's normalised market model.
//!
//! Every venue connector parses its wire format into these types at the edge;
//! everything downstream (bus, engine, strategies, execution) sees only these.
//! Books are kept in YES terms (YES bids and YES asks, best first): a NO ask at
//! `q` is a YES bid at `1 - q`, which is how both Kalshi (bids-only books) and
//! Polymarket (one unified book for the two tokens) really work.

use serde::{Deserialize, Serialize};

pub mod venue;

pub use arbytron_sdk::{FeeSchedule, Level, MarketId, Money, Price, Qty, Side, TimestampMs, Venue};

/// Time, from the integration layer: `now_ms` reads the system clock; code
/// that runs under replay takes a [`clock::Clock`].
pub use arbytron_integration::clock::{self, now_ms};

/// A market's identity across processes: the venue and the venue's own id
/// (Kalshi ticker, Polymarket condition id, AMM pool address with outcome index).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MarketKey {
    pub venue: Venue,
    pub symbol: String,
}

impl MarketKey {
    pub fn new(venue: Venue, symbol: impl Into<String>) -> MarketKey {
        MarketKey { venue, symbol: symbol.into() }
    }
}

impl std::fmt::Display for MarketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.venue, self.symbol)
    }
}

/// Where a market is in its life.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum MarketStatus {
    /// Listed, not yet trading.
    Unopened,
    #[default]
    Open,
    /// Trading halted; may resume.
    Paused,
    /// No more trading; waiting for the result.
    Closed,
    /// Resolved. `result` is the winning side, or `None` for a void market
    /// (positions returned at cost).
    Settled { result: Option<Side> },
}

impl MarketStatus {
    pub fn is_tradable(self) -> bool {
        matches!(self, MarketStatus::Open)
    }
}

/// How to reach a market on its venue; what execution needs beyond the symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct VenueRefs {
    /// Polymarket: the YES and NO CLOB token ids (decimal strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yes_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_token: Option<String>,
    /// Polymarket: orders must be signed for the neg-risk exchange.
    #[serde(default)]
    pub neg_risk: bool,
    /// AMM: the pool contract address and which outcome token is this market's YES.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(default)]
    pub pool_outcome: u32,
    /// AMM: number of outcomes in the pool.
    #[serde(default)]
    pub pool_outcomes: u32,
}

/// A market's metadata: what matching and risk need to know about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketInfo {
    pub key: MarketKey,
    /// The venue's event id (Kalshi event ticker, Polymarket event slug).
    pub event: String,
    pub title: String,
    /// For one outcome of a multi-outcome event: the outcome's name.
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub rules: String,
    /// When trading closes (Unix ms); resolution is expected at or after it.
    pub closes_at: TimestampMs,
    /// The venue says at most one market of the event resolves YES.
    #[serde(default)]
    pub mutually_exclusive: bool,
    #[serde(default)]
    pub status: MarketStatus,
    #[serde(default)]
    pub fee: FeeSchedule,
    /// Price grid step; zero means any micro-dollar price.
    pub tick: Price,
    /// Smallest order the venue accepts.
    pub min_qty: Qty,
    #[serde(default)]
    pub refs: VenueRefs,
}

impl MarketInfo {
    /// The quantity step the venue accepts (orders must be whole multiples):
    /// Kalshi: one contract, or 0.01 where fractional trading is on (which its
    /// minimum order shows); Polymarket: 0.01 shares; an AMM: one base unit.
    pub fn lot(&self) -> Qty {
        match self.key.venue {
            Venue::Kalshi => self.min_qty.max(Qty::from_hundredths(1)),
            Venue::PolymarketClob => Qty::from_hundredths(1),
            Venue::PolymarketAmm => Qty::from_micros(1),
        }
    }
}

/// A binary market's order book in YES terms, best level first on each side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Book {
    /// Highest price first.
    pub yes_bids: Vec<Level>,
    /// Lowest price first.
    pub yes_asks: Vec<Level>,
}

impl Book {
    /// Levels at which `side` can be bought, best (cheapest) first.
    pub fn asks(&self, side: Side) -> impl Iterator<Item = Level> + '_ {
        let (levels, flip) = match side {
            Side::Yes => (&self.yes_asks, false),
            Side::No => (&self.yes_bids, true),
        };
        levels.iter().map(move |l| if flip { Level::new(l.price.complement(), l.qty) } else { *l })
    }

    /// Levels at which `side` can be sold, best (dearest) first.
    pub fn bids(&self, side: Side) -> impl Iterator<Item = Level> + '_ {
        let (levels, flip) = match side {
            Side::Yes => (&self.yes_bids, false),
            Side::No => (&self.yes_asks, true),
        };
        levels.iter().map(move |l| if flip { Level::new(l.price.complement(), l.qty) } else { *l })
    }

    pub fn best_ask(&self, side: Side) -> Option<Level> {
        self.asks(side).next()
    }

    pub fn best_bid(&self, side: Side) -> Option<Level> {
        self.bids(side).next()
    }

    /// Check the invariants every producer must keep: sorted, no empty or
    /// duplicate levels, prices strictly inside (0, 1), bids below asks.
    pub fn validate(&self) -> Result<(), ModelError> {
        fn side(levels: &[Level], ascending: bool, name: &'static str) -> Result<(), ModelError> {
            for l in levels {
                if !l.qty.is_positive() {
                    return Err(ModelError::Book(format!("{name} level at {} has quantity {}", l.price, l.qty)));
                }
            }
            for w in levels.windows(2) {
                let ok = if ascending { w[0].price < w[1].price } else { w[0].price > w[1].price };
                if !ok {
                    return Err(ModelError::Book(format!("{name} not sorted best first at {}", w[1].price)));
                }
            }
            Ok(())
        }
        side(&self.yes_bids, false, "bids")?;
        side(&self.yes_asks, true, "asks")?;
        if let (Some(b), Some(a)) = (self.yes_bids.first(), self.yes_asks.first())
            && b.price >= a.price
        {
            return Err(ModelError::Book(format!("crossed book: bid {} >= ask {}", b.price, a.price)));
        }
        Ok(())
    }

    /// Keep at most `depth` levels a side.
    pub fn truncate(&mut self, depth: usize) {
        self.yes_bids.truncate(depth);
        self.yes_asks.truncate(depth);
    }
}

/// A fixed-product AMM pool's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolState {
    /// Contract address, 0x-prefixed.
    pub address: String,
    /// Fee, 1e18 = 100% (the contract's scale).
    pub fee_wad: u64,
    /// Outcome-token balances the pool holds, base units (6 decimals).
    pub balances: Vec<u128>,
    /// LP shares outstanding.
    pub total_shares: u128,
    /// The block this state was read at.
    pub block: u64,
}

/// A feed's health for a market; stale books are never traded on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedState {
    Fresh,
    /// The connector lost sync (sequence gap, disconnect, silence) and is resyncing.
    Stale,
}

/// One normalised change, as connectors publish it onto the bus.
///
/// Books travel whole (top levels), not as deltas: an update then means the
/// same thing however often it is redelivered, and a consumer never has to
/// replay history to know the current book.
///
/// Serialised externally tagged (`{"book": {...}}`), not internally: serde
/// decodes internally tagged enums through a buffer that claims to be
/// human-readable, which would make a binary format's integer prices look like
/// whole dollars.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketUpdate {
    /// A market appeared or its metadata changed.
    Listing(MarketInfo),
    /// The current book of a market.
    Book { market: MarketKey, book: Book, venue_ts: TimestampMs },
    /// The current state of a pool; `market` is the pool's market (outcome 0 as YES).
    Pool { market: MarketKey, pool: PoolState, venue_ts: TimestampMs },
    /// The market's trading status changed (including settlement).
    Status { market: MarketKey, status: MarketStatus, venue_ts: TimestampMs },
    /// The connector's view of the market's feed changed.
    Feed { market: MarketKey, state: FeedState, venue_ts: TimestampMs },
}

impl MarketUpdate {
    /// The market this update is about.
    pub fn market(&self) -> &MarketKey {
        match self {
            MarketUpdate::Listing(info) => &info.key,
            MarketUpdate::Book { market, .. }
            | MarketUpdate::Pool { market, .. }
            | MarketUpdate::Status { market, .. }
            | MarketUpdate::Feed { market, .. } => market,
        }
    }

    /// The market's result if this update says it resolved (a status update,
    /// or a listing, which is how a host that was down at the time learns it):
    /// the winning side, or `None` for a void market.
    pub fn resolution(&self) -> Option<Option<Side>> {
        match self {
            MarketUpdate::Status { status: MarketStatus::Settled { result }, .. }
            | MarketUpdate::Listing(MarketInfo { status: MarketStatus::Settled { result }, .. }) => Some(*result),
            _ => None,
        }
    }

    /// The bus partition key: the event for listings, the market otherwise.
    ///
    /// Books carry no event, and what must stay in order is the updates of one
    /// market; a listing is keyed by market too, so it is ordered before that
    /// market's books.
    pub fn partition_key(&self) -> String {
        self.market().to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("invalid book: {0}")]
    Book(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lvl(p: &str, q: i64) -> Level {
        Level::new(Price::parse(p).unwrap(), Qty::from_contracts(q))
    }

    #[test]
    fn resolutions_come_from_status_updates_and_listings() {
        let key = MarketKey::new(Venue::Kalshi, "M");
        let status = |status| MarketUpdate::Status { market: key.clone(), status, venue_ts: 0 };
        assert_eq!(status(MarketStatus::Settled { result: Some(Side::No) }).resolution(), Some(Some(Side::No)));
        assert_eq!(status(MarketStatus::Settled { result: None }).resolution(), Some(None), "void");
        assert_eq!(status(MarketStatus::Closed).resolution(), None);
        let mut info = MarketInfo {
            key: key.clone(),
            event: "E".into(),
            title: String::new(),
            outcome: String::new(),
            rules: String::new(),
            closes_at: 0,
            mutually_exclusive: false,
            status: MarketStatus::Open,
            fee: FeeSchedule::Amm { fee_wad: 0 },
            tick: Price::ZERO,
            min_qty: Qty::ONE,
            refs: VenueRefs::default(),
        };
        assert_eq!(MarketUpdate::Listing(info.clone()).resolution(), None);
        info.status = MarketStatus::Settled { result: Some(Side::Yes) };
        assert_eq!(MarketUpdate::Listing(info).resolution(), Some(Some(Side::Yes)));
        let book = MarketUpdate::Book { market: key, book: Book::default(), venue_ts: 0 };
        assert_eq!(book.resolution(), None);
    }

    #[test]
    fn no_side_is_the_mirror_of_yes() {
        let book = Book { yes_bids: vec![lvl("0.40", 5), lvl("0.39", 7)], yes_asks: vec![lvl("0.42", 3)] };
        book.validate().unwrap();
        // Buying NO crosses YES bids: NO ask = 1 - YES bid.
        assert_eq!(book.asks(Side::No).collect::<Vec<_>>(), vec![lvl("0.60", 5), lvl("0.61", 7)]);
        // Selling NO crosses YES asks: NO bid = 1 - YES ask.
        assert_eq!(book.best_bid(Side::No), Some(lvl("0.58", 3)));
        assert_eq!(book.best_ask(Side::Yes), Some(lvl("0.42", 3)));
    }

    #[test]
    fn validate_catches_bad_books() {
        let crossed = Book { yes_bids: vec![lvl("0.50", 1)], yes_asks: vec![lvl("0.50", 1)] };
        assert!(crossed.validate().is_err());
        let unsorted = Book { yes_bids: vec![lvl("0.30", 1), lvl("0.40", 1)], yes_asks: vec![] };
        assert!(unsorted.validate().is_err());
        let empty_level = Book { yes_bids: vec![lvl("0.30", 0)], yes_asks: vec![] };
        assert!(empty_level.validate().is_err());
    }

    #[test]
    fn updates_round_trip_through_binary_formats_exactly() {
        let u = MarketUpdate::Book {
            market: MarketKey::new(Venue::PolymarketClob, "0xabc"),
            book: Book {
                yes_bids: vec![Level::new(Price::from_micros_const(41), Qty::from_micros(7))],
                yes_asks: vec![],
            },
            venue_ts: 5,
        };
        let bytes = rmp_serde::to_vec(&u).unwrap();
        assert_eq!(rmp_serde::from_slice::<MarketUpdate>(&bytes).unwrap(), u, "41 micro-dollars stay 41");
    }

    #[test]
    fn updates_round_trip_through_json() {
        let u = MarketUpdate::Book {
            market: MarketKey::new(Venue::Kalshi, "KXFED-26DEC-T4.00"),
            book: Book { yes_bids: vec![lvl("0.4", 2)], yes_asks: vec![] },
            venue_ts: 1,
        };
        let s = serde_json::to_string(&u).unwrap();
        assert_eq!(serde_json::from_str::<MarketUpdate>(&s).unwrap(), u);
        assert_eq!(u.partition_key(), "kalshi:KXFED-26DEC-T4.00");
    }
}
