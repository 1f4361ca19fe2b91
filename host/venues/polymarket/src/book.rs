//! One token's order book, kept from snapshots and level updates.
//!
//! The venue sends bids ascending and asks descending (best last), and
//! `price_change` carries a level's new total. We keep levels by value, so the
//! wire's ordering never matters: best prices are chosen by price, not position.

use std::collections::BTreeMap;

use arbytron_model::{Book, Level, Price, Qty};

use crate::amounts::OrderSide;
use crate::wire::{WireBook, WireLevel};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenBook {
    pub bids: BTreeMap<Price, Qty>,
    pub asks: BTreeMap<Price, Qty>,
    pub hash: Option<String>,
    pub ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("bad price {0:?}")]
    Price(String),
    #[error("bad size {0:?}")]
    Size(String),
    #[error("bad side {0:?}")]
    Side(String),
}

fn level(l: &WireLevel) -> Result<(Price, Qty), BookError> {
    let p = Price::parse(&l.price).map_err(|_| BookError::Price(arbytron_telemetry::truncate(&l.price, 24)))?;
    if p <= Price::ZERO || p >= Price::ONE {
        return Err(BookError::Price(l.price.clone()));
    }
    let q = Qty::parse_non_negative(&l.size).map_err(|_| BookError::Size(arbytron_telemetry::truncate(&l.size, 24)))?;
    Ok((p, q))
}

impl TokenBook {
    /// Build from a snapshot; all levels are checked before anything is kept.
    pub fn from_wire(b: &WireBook) -> Result<TokenBook, BookError> {
        let mut book = TokenBook {
            hash: b.hash.clone(),
            ts: crate::wire::timestamp_ms(&b.timestamp).unwrap_or(0),
            ..TokenBook::default()
        };
        for (levels, side) in [(&b.bids, &mut book.bids), (&b.asks, &mut book.asks)] {
            for l in levels {
                let (p, q) = level(l)?;
                if q.is_positive() {
                    side.insert(p, q);
                }
            }
        }
        Ok(book)
    }

    /// Set a level's total (`price_change`): zero removes it.
    pub fn set_level(&mut self, side: OrderSide, price: Price, size: Qty) {
        let levels = match side {
            OrderSide::Buy => &mut self.bids,
            OrderSide::Sell => &mut self.asks,
        };
        if size.is_positive() {
            levels.insert(price, size);
        } else {
            levels.remove(&price);
        }
    }

    /// Parse and apply one wire change; nothing changes if it is malformed.
    pub fn apply_wire(&mut self, side: &str, price: &str, size: &str) -> Result<(), BookError> {
        let side = OrderSide::parse(side).ok_or_else(|| BookError::Side(arbytron_telemetry::truncate(side, 12)))?;
        let (p, q) = level(&WireLevel { price: price.to_string(), size: size.to_string() })?;
        self.set_level(side, p, q);
        Ok(())
    }

    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.bids.iter().next_back().map(|(p, q)| (*p, *q))
    }

    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.asks.iter().next().map(|(p, q)| (*p, *q))
    }

    /// The model's YES book, if this is the YES token's book; `depth` levels a side.
    pub fn to_model(&self, depth: usize) -> Book {
        Book {
            yes_bids: self.bids.iter().rev().take(depth).map(|(p, q)| Level::new(*p, *q)).collect(),
            yes_asks: self.asks.iter().take(depth).map(|(p, q)| Level::new(*p, *q)).collect(),
        }
    }

    /// The other token's book: its bids are `1 - ask`, its asks `1 - bid`.
    pub fn mirrored(&self) -> TokenBook {
        TokenBook {
            bids: self.asks.iter().map(|(p, q)| (p.complement(), *q)).collect(),
            asks: self.bids.iter().map(|(p, q)| (p.complement(), *q)).collect(),
            hash: None,
            ts: self.ts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl(p: &str, s: &str) -> WireLevel {
        WireLevel { price: p.into(), size: s.into() }
    }

    #[test]
    fn best_prices_by_value_not_position() {
        // Wire order: bids ascending, asks descending, best last.
        let wire = WireBook {
            asset_id: "1".into(),
            bids: vec![wl(".01", "100"), wl("0.40", "5"), wl("0.48", "7")],
            asks: vec![wl("0.99", "100"), wl("0.55", "3"), wl("0.52", "2")],
            ..WireBook::default()
        };
        let b = TokenBook::from_wire(&wire).unwrap();
        assert_eq!(b.best_bid(), Some((Price::parse("0.48").unwrap(), Qty::from_contracts(7))));
        assert_eq!(b.best_ask(), Some((Price::parse("0.52").unwrap(), Qty::from_contracts(2))));
        let m = b.to_model(2);
        assert_eq!(m.yes_bids[0].price, Price::parse("0.48").unwrap());
        assert_eq!(m.yes_asks[1].price, Price::parse("0.55").unwrap());
        m.validate().unwrap();
        let no = b.mirrored();
        assert_eq!(no.best_bid().unwrap().0, Price::parse("0.48").unwrap());
        assert_eq!(no.best_ask().unwrap().0, Price::parse("0.52").unwrap());
    }

    #[test]
    fn level_updates_replace_and_remove() {
        let mut b = TokenBook::default();
        b.apply_wire("BUY", "0.40", "10").unwrap();
        b.apply_wire("BUY", "0.40", "4").unwrap();
        assert_eq!(b.bids.get(&Price::parse("0.4").unwrap()), Some(&Qty::from_contracts(4)));
        b.apply_wire("BUY", "0.40", "0").unwrap();
        assert!(b.bids.is_empty());
        assert!(b.apply_wire("HOLD", "0.4", "1").is_err());
        assert!(b.apply_wire("SELL", "1.2", "1").is_err());
        assert!(b.apply_wire("SELL", "0.5", "-1").is_err());
        assert!(b.asks.is_empty());
    }
}
