//! The strategy boundary's types, as plain Rust.
//!
//! They mirror `wit/strategy.wit` one to one. Strategies and the host both use
//! these (the guest macro and the host runtime convert from and to the
//! generated bindings), so a strategy's logic runs unchanged under `cargo test`
//! natively, inside WebAssembly, and in the host's native benchmarks.

use crate::money::{Money, Price, Qty};

/// Dense id the host assigns to a market; stable for the life of a host process.
pub type MarketId = u32;
/// Unix milliseconds, always from the host.
pub type TimestampMs = i64;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Venue {
    Kalshi,
    PolymarketClob,
    PolymarketAmm,
}

impl Venue {
    pub const ALL: [Venue; 3] = [Venue::Kalshi, Venue::PolymarketClob, Venue::PolymarketAmm];

    pub const fn as_str(self) -> &'static str {
        match self {
            Venue::Kalshi => "kalshi",
            Venue::PolymarketClob => "polymarket-clob",
            Venue::PolymarketAmm => "polymarket-amm",
        }
    }

    pub const fn code(self) -> i64 {
        self as i64
    }

    pub const fn from_code(code: i64) -> Option<Venue> {
        match code {
            0 => Some(Venue::Kalshi),
            1 => Some(Venue::PolymarketClob),
            2 => Some(Venue::PolymarketAmm),
            _ => None,
        }
    }
}

impl core::fmt::Display for Venue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for Venue {
    type Err = String;
    fn from_str(s: &str) -> Result<Venue, String> {
        Venue::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown venue {s:?} (expected kalshi, polymarket-clob or polymarket-amm)"))
    }
}

/// Which side of a binary market.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Side {
    Yes,
    No,
}

impl Side {
    pub const fn opposite(self) -> Side {
        match self {
            Side::Yes => Side::No,
            Side::No => Side::Yes,
        }
    }

    pub const fn code(self) -> i64 {
        self as i64
    }

    pub const fn from_code(code: i64) -> Option<Side> {
        match code {
            0 => Some(Side::Yes),
            1 => Some(Side::No),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Yes => "yes",
            Side::No => "no",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Which optional exports a strategy implements.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub match_markets: bool,
    pub score: bool,
    pub decide_exit: bool,
    pub snapshot: bool,
}

impl Capabilities {
    pub const NONE: Capabilities =
        Capabilities { match_markets: false, score: false, decide_exit: false, snapshot: false };
    pub const ALL: Capabilities = Capabilities { match_markets: true, score: true, decide_exit: true, snapshot: true };

    /// Names of the implemented exports, for `strategy check` and logs.
    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.match_markets {
            v.push("match-markets");
        }
        if self.score {
            v.push("score");
        }
        if self.decide_exit {
            v.push("decide-exit");
        }
        if self.snapshot {
            v.push("snapshot");
        }
        v
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrategyInfo {
    pub name: String,
    pub version: String,
    pub capabilities: Capabilities,
}

/// Configuration handed to `init`: the `[strategies.NAME.params]` table, as strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Parse a parameter with `FromStr`, falling back to `default` when absent.
    /// The error names the key, so `init` can return it as is.
    pub fn parse_or<T: core::str::FromStr>(&self, key: &str, default: T) -> Result<T, String>
    where
        T::Err: core::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| format!("parameter {key}={v:?}: {e}")),
        }
    }
}

/// A market as a venue lists it (slow-path input to matching).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Listing {
    pub market: MarketId,
    pub venue: Venue,
    pub event: String,
    pub symbol: String,
    pub title: String,
    pub outcome: String,
    pub rules: String,
    pub closes_at: TimestampMs,
    pub mutually_exclusive: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LegRef {
    pub market: MarketId,
    pub side: Side,
}

/// Outcomes of which exactly one pays $1; each lists the legs that buy it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Link {
    pub outcomes: Vec<Vec<LegRef>>,
    pub confidence_ppm: u32,
    pub reasons: Vec<String>,
}

/// One order: buy (or, in an exit, sell) `quantity` of `side` of `market`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Order {
    pub market: MarketId,
    pub side: Side,
    pub quantity: Qty,
    /// Worst acceptable price per contract (a pool's average price, fee included).
    pub limit_price: Price,
    /// Expected cash: cost when buying, proceeds when selling; fee included.
    pub amount: Money,
    pub fee: Money,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Opportunity {
    pub link: u32,
    /// Contracts per outcome; the bundle pays exactly this many dollars.
    pub quantity: Qty,
    pub orders: Vec<Order>,
    pub cost: Money,
    pub fees: Money,
    pub payout: Money,
    pub profit: Money,
    pub return_ppm: i64,
    pub annualized_ppm: i64,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HeldLeg {
    pub market: MarketId,
    pub side: Side,
    pub quantity: Qty,
    pub cost: Money,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Position {
    pub bundle: u64,
    pub link: u32,
    pub quantity: Qty,
    pub legs: Vec<HeldLeg>,
    pub cost: Money,
    pub opened_at: TimestampMs,
    pub resolves_at: TimestampMs,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ExitDecision {
    Hold,
    Exit(Vec<Order>),
}
