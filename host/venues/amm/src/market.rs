//! How pools map onto the model's markets.
//!
//! A pool with N outcomes is N markets, symbol `"<pool address>:<outcome index>"` (address in
//! lowercase hex, `0x`-prefixed), each with YES = that outcome's token. In a binary pool the
//! NO side of market `i` is the other outcome's token, so `"<pool>:0"` NO and `"<pool>:1"`
//! YES are the same token; in a pool with more than two outcomes there is no single NO token
//! and NO orders are refused.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::Address;
use arbytron_model::{MarketKey, Side, Venue};

use crate::Error;

/// One outcome of one pool: the model's market for that outcome's token.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolMarket {
    pub pool: Address,
    pub outcome: usize,
}

impl PoolMarket {
    pub fn new(pool: Address, outcome: usize) -> PoolMarket {
        PoolMarket { pool, outcome }
    }

    pub fn key(&self) -> MarketKey {
        MarketKey::new(Venue::PolymarketAmm, self.to_string())
    }

    /// Parse a model market key of the AMM venue.
    pub fn from_key(key: &MarketKey) -> Result<PoolMarket, Error> {
        if key.venue != Venue::PolymarketAmm {
            return Err(Error::Invalid(format!("market {key} is not on the AMM venue")));
        }
        key.symbol.parse()
    }

    /// The outcome index whose token `side` of this market is, in a pool of `outcomes`.
    pub fn token_outcome(&self, side: Side, outcomes: usize) -> Result<usize, Error> {
        if self.outcome >= outcomes {
            return Err(Error::Invalid(format!("outcome {} out of range: pool has {outcomes}", self.outcome)));
        }
        match side {
            Side::Yes => Ok(self.outcome),
            Side::No if outcomes == 2 => Ok(1 - self.outcome),
            Side::No => Err(Error::Invalid(format!(
                "NO has no single token in a {outcomes}-outcome pool; buy the other outcomes' YES instead"
            ))),
        }
    }
}

/// Lowercase hex: one spelling per pool, so keys compare as strings.
pub fn format_address(a: Address) -> String {
    format!("{a:#x}")
}

impl fmt::Display for PoolMarket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", format_address(self.pool), self.outcome)
    }
}

impl FromStr for PoolMarket {
    type Err = Error;

    fn from_str(s: &str) -> Result<PoolMarket, Error> {
        let (addr, outcome) =
            s.split_once(':').ok_or_else(|| Error::Invalid(format!("AMM symbol {s:?} is not <pool>:<outcome>")))?;
        let pool =
            Address::from_str(addr).map_err(|e| Error::Invalid(format!("AMM symbol {s:?}: bad address: {e}")))?;
        let outcome = outcome
            .parse::<usize>()
            .map_err(|e| Error::Invalid(format!("AMM symbol {s:?}: bad outcome index: {e}")))?;
        Ok(PoolMarket { pool, outcome })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_round_trip_in_lowercase() {
        let pool: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap();
        let m = PoolMarket::new(pool, 1);
        assert_eq!(m.to_string(), "0x5fbdb2315678afecb367f032d93f642f64180aa3:1");
        assert_eq!(m.to_string().parse::<PoolMarket>().unwrap(), m);
        // Mixed case parses to the same market.
        assert_eq!("0x5FbDB2315678afecb367f032d93F642f64180aa3:1".parse::<PoolMarket>().unwrap(), m);
        assert_eq!(PoolMarket::from_key(&m.key()).unwrap(), m);
        assert!(PoolMarket::from_key(&MarketKey::new(Venue::Kalshi, m.to_string())).is_err());
        assert!("0x5fbdb2315678afecb367f032d93f642f64180aa3".parse::<PoolMarket>().is_err());
        assert!("nothex:0".parse::<PoolMarket>().is_err());
        assert!("0x5fbdb2315678afecb367f032d93f642f64180aa3:-1".parse::<PoolMarket>().is_err());
    }

    #[test]
    fn sides_map_to_tokens() {
        let m = PoolMarket::new(Address::ZERO, 0);
        assert_eq!(m.token_outcome(Side::Yes, 2).unwrap(), 0);
        assert_eq!(m.token_outcome(Side::No, 2).unwrap(), 1);
        assert_eq!(PoolMarket::new(Address::ZERO, 1).token_outcome(Side::No, 2).unwrap(), 0);
        assert_eq!(PoolMarket::new(Address::ZERO, 2).token_outcome(Side::Yes, 3).unwrap(), 2);
        assert!(PoolMarket::new(Address::ZERO, 2).token_outcome(Side::No, 3).is_err());
        assert!(PoolMarket::new(Address::ZERO, 3).token_outcome(Side::Yes, 3).is_err());
    }
}
