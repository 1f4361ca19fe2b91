//! One market's order book as Kalshi streams it: two bid ladders, YES bids at
//! YES prices and NO bids at NO prices, rebuilt from a snapshot and kept by
//! signed deltas; turned into the model's YES bids and asks on demand.

use std::collections::BTreeMap;

use arbytron_model::{Book, Level, Price, Qty};

/// Which ladder a level belongs to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LadderSide {
    Yes,
    No,
}

impl LadderSide {
    pub fn parse(s: &str) -> Option<LadderSide> {
        match s {
            "yes" => Some(LadderSide::Yes),
            "no" => Some(LadderSide::No),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("level price {0} is not strictly between 0 and 1")]
    PriceOutOfRange(Price),
    #[error("book is crossed: YES bid {bid} >= YES ask {ask}")]
    Crossed { bid: Price, ask: Price },
    #[error("level size at {0} overflows")]
    Overflow(Price),
}

/// Bids only, keyed by price; the best bid is the last key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalBook {
    yes: BTreeMap<Price, Qty>,
    /// NO bids at NO-leg prices.
    no: BTreeMap<Price, Qty>,
}

impl LocalBook {
    pub fn new() -> LocalBook {
        LocalBook::default()
    }

    /// Replace everything with a snapshot (NO levels at NO-leg prices). Zero levels are skipped.
    pub fn from_snapshot(yes: &[(Price, Qty)], no: &[(Price, Qty)]) -> Result<LocalBook, BookError> {
        let mut b = LocalBook::new();
        for (ladder, levels) in [(&mut b.yes, yes), (&mut b.no, no)] {
            for &(p, q) in levels {
                check(p)?;
                if q.is_positive() {
                    let level = ladder.entry(p).or_default();
                    *level = level.checked_add(q).ok_or(BookError::Overflow(p))?;
                }
            }
        }
        Ok(b)
    }

    /// Apply a signed change to one level (NO side at NO-leg prices); a level
    /// that reaches zero or below is removed.
    pub fn apply(&mut self, side: LadderSide, price: Price, delta: Qty) -> Result<(), BookError> {
        check(price)?;
        let ladder = match side {
            LadderSide::Yes => &mut self.yes,
            LadderSide::No => &mut self.no,
        };
        let level = ladder.entry(price).or_default();
        *level = level.checked_add(delta).ok_or(BookError::Overflow(price))?;
        if !level.is_positive() {
            ladder.remove(&price);
        }
        Ok(())
    }

    /// Top `depth` levels a side in YES terms: YES bids from the YES ladder,
    /// YES asks at `1 - p` from the NO ladder. Errors on a crossed book, which
    /// a consistent Kalshi book never is.
    pub fn to_book(&self, depth: usize) -> Result<Book, BookError> {
        let yes_bids: Vec<Level> = self.yes.iter().rev().take(depth).map(|(p, q)| Level::new(*p, *q)).collect();
        let yes_asks: Vec<Level> =
            self.no.iter().rev().take(depth).map(|(p, q)| Level::new(p.complement(), *q)).collect();
        if let (Some(b), Some(a)) = (yes_bids.first(), yes_asks.first())
            && b.price >= a.price
        {
            return Err(BookError::Crossed { bid: b.price, ask: a.price });
        }
        Ok(Book { yes_bids, yes_asks })
    }

    pub fn is_empty(&self) -> bool {
        self.yes.is_empty() && self.no.is_empty()
    }

    pub fn levels(&self) -> usize {
        self.yes.len() + self.no.len()
    }
}

fn check(p: Price) -> Result<(), BookError> {
    if p <= Price::ZERO || p >= Price::ONE { Err(BookError::PriceOutOfRange(p)) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(n: i64) -> Qty {
        Qty::from_contracts(n)
    }

    #[test]
    fn snapshot_deltas_and_yes_terms() {
        // Kalshi sends bids ascending, best last; NO levels at NO prices.
        let mut b = LocalBook::from_snapshot(&[(p("0.40"), q(5)), (p("0.41"), q(3))], &[(p("0.55"), q(7))]).unwrap();
        let book = b.to_book(10).unwrap();
        assert_eq!(book.yes_bids, vec![Level::new(p("0.41"), q(3)), Level::new(p("0.40"), q(5))]);
        // NO bid 0.55 is a YES ask at 0.45.
        assert_eq!(book.yes_asks, vec![Level::new(p("0.45"), q(7))]);
        b.apply(LadderSide::Yes, p("0.41"), -q(3)).unwrap();
        b.apply(LadderSide::No, p("0.56"), q(2)).unwrap();
        let book = b.to_book(1).unwrap();
        assert_eq!(book.yes_bids, vec![Level::new(p("0.40"), q(5))]);
        assert_eq!(book.yes_asks, vec![Level::new(p("0.44"), q(2))]);
        book.validate().unwrap();
        // Over-removal deletes the level rather than going negative.
        b.apply(LadderSide::Yes, p("0.40"), -q(9)).unwrap();
        assert!(b.to_book(10).unwrap().yes_bids.is_empty());
    }

    #[test]
    fn rejects_out_of_range_and_crossed() {
        let mut b = LocalBook::new();
        assert!(b.apply(LadderSide::Yes, Price::ONE, q(1)).is_err());
        assert!(b.apply(LadderSide::No, Price::ZERO, q(1)).is_err());
        b.apply(LadderSide::Yes, p("0.60"), q(1)).unwrap();
        b.apply(LadderSide::No, p("0.45"), q(1)).unwrap(); // YES ask 0.55 < bid 0.60
        assert!(matches!(b.to_book(5), Err(BookError::Crossed { .. })));
    }

    #[test]
    fn sizes_that_overflow_are_errors_not_panics() {
        let huge = Qty::from_micros(i64::MAX - 1);
        let mut b = LocalBook::new();
        b.apply(LadderSide::Yes, p("0.40"), huge).unwrap();
        assert_eq!(b.apply(LadderSide::Yes, p("0.40"), huge), Err(BookError::Overflow(p("0.40"))));
        let twice = [(p("0.40"), huge), (p("0.40"), huge)];
        assert_eq!(LocalBook::from_snapshot(&twice, &[]), Err(BookError::Overflow(p("0.40"))));
    }
}
