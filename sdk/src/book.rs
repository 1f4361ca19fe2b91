//! Walking an order book: what buying or selling a quantity costs or yields.
//!
//! Levels come best first (asks ascending, bids descending), as the packed
//! candidate carries them. Every fill is rounded on its own, the way a venue
//! books it: a buy's cash per fill rounds up, a sale's proceeds per fill round
//! down, and the fee is the venue's order fee over the fills
//! ([`FeeSchedule::taker_fee_fills`]). Nothing allocates.
//!
//! Kalshi publishes only bids, for YES and for NO: a NO bid at `x` is a YES
//! ask at `1 - x`. [`asks_from_opposite_bids`] turns one side's bids into the
//! other side's asks, best first.

use crate::fees::FeeSchedule;
use crate::money::{Money, Price, Qty, Rounding};
use crate::wire::Level;

/// Why a walk cannot be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("the book holds {available} contracts, {wanted} wanted")]
    InsufficientDepth { wanted: Qty, available: Qty },
    #[error("quantity {0} is not positive")]
    NonPositive(Qty),
}

/// The result of walking a book for one order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Walk {
    pub qty: Qty,
    /// Price times quantity over the fills: rounded up per fill for a buy,
    /// down for a sale.
    pub notional: Money,
    /// The venue's fee for the order, rounded up.
    pub fee: Money,
    /// Cash out for a buy (`notional + fee`), cash in for a sale (`notional - fee`).
    pub total: Money,
    /// `notional / qty`: rounded up for a buy, down for a sale.
    pub avg_price: Price,
    /// The first level's price.
    pub best_price: Price,
    /// The least favourable price touched (the limit price that fills the order).
    pub worst_price: Price,
    /// Levels touched.
    pub levels: usize,
}

/// Which way an order goes through the book.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Take asks: pay.
    Buy,
    /// Hit bids: receive.
    Sell,
}

impl Direction {
    #[inline]
    fn rounding(self) -> Rounding {
        match self {
            Direction::Buy => Rounding::Up,
            Direction::Sell => Rounding::Down,
        }
    }

    /// Whether `a` is a worse price than `b` for this direction.
    #[inline]
    fn worse(self, a: Price, b: Price) -> bool {
        match self {
            Direction::Buy => a > b,
            Direction::Sell => a < b,
        }
    }
}

/// Total quantity on the levels.
pub fn depth(levels: &[Level]) -> Qty {
    Qty::from_micros(levels.iter().map(|l| l.qty.micros().max(0)).fold(0i64, i64::saturating_add))
}

/// Buy `qty` from `asks` (best first): cost rounded up, fee rounded up.
pub fn buy(asks: &[Level], qty: Qty, fee: &FeeSchedule) -> Result<Walk, BookError> {
    walk(asks, qty, fee, Direction::Buy)
}

/// Sell `qty` into `bids` (best first): proceeds rounded down, fee rounded up.
pub fn sell(bids: &[Level], qty: Qty, fee: &FeeSchedule) -> Result<Walk, BookError> {
    walk(bids, qty, fee, Direction::Sell)
}

/// Walk `levels` for `qty` in `dir`.
pub fn walk(levels: &[Level], qty: Qty, fee: &FeeSchedule, dir: Direction) -> Result<Walk, BookError> {
    if !qty.is_positive() {
        return Err(BookError::NonPositive(qty));
    }
    let mut left = qty.micros();
    let mut notional: i64 = 0;
    let mut units: i64 = 0;
    let mut touched = 0usize;
    let mut best = Price::ZERO;
    let mut worst = Price::ZERO;
    for l in levels {
        if left == 0 {
            break;
        }
        let take = l.qty.micros().min(left);
        if take <= 0 {
            continue;
        }
        let q = Qty::from_micros(take);
        notional = notional.saturating_add(q.value_at(l.price, dir.rounding()).micros());
        units = units.saturating_add(fee.fill_units(q, l.price, false));
        if touched == 0 {
            best = l.price;
            worst = l.price;
        } else if dir.worse(l.price, worst) {
            worst = l.price;
        }
        touched += 1;
        left -= take;
    }
    if left > 0 {
        return Err(BookError::InsufficientDepth { wanted: qty, available: depth(levels) });
    }
    let notional = Money::from_micros(notional);
    let fee = fee.order_fee(units);
    let total = match dir {
        Direction::Buy => notional + fee,
        Direction::Sell => notional - fee,
    };
    // notional / qty is within [best, worst], so it is a valid price.
    let avg_price = notional.per_contract(qty, dir.rounding()).unwrap_or(worst);
    Ok(Walk { qty, notional, fee, total, avg_price, best_price: best, worst_price: worst, levels: touched })
}

/// Largest quantity an order limited at `limit` takes: all asks priced at or
/// below it (`Buy`) or bids at or above it (`Sell`).
pub fn depth_within(levels: &[Level], limit: Price, dir: Direction) -> Qty {
    let ok = |p: Price| match dir {
        Direction::Buy => p <= limit,
        Direction::Sell => p >= limit,
    };
    Qty::from_micros(
        levels.iter().filter(|l| ok(l.price)).map(|l| l.qty.micros().max(0)).fold(0i64, i64::saturating_add),
    )
}

/// Largest multiple of `lot` whose buy costs at most `limit` per contract on
/// average, fee included (cost rounded up). The average cost rises with the
/// quantity apart from fee rounding, so this bisects on the lot grid and then
/// looks a few lots further for a quantity the rounding lets back under.
pub fn max_buy_qty_for_average(asks: &[Level], fee: &FeeSchedule, limit: Price, lot: Qty) -> Qty {
    let lot = lot.micros().max(1);
    let lots_total = depth(asks).micros() / lot;
    let ok = |n: i64| -> bool {
        if n == 0 {
            return true;
        }
        let q = Qty::from_micros(n * lot);
        match buy(asks, q, fee) {
            Ok(w) => w.total <= q.value_at(limit, Rounding::Down),
            Err(_) => false,
        }
    };
    if ok(lots_total) {
        return Qty::from_micros(lots_total * lot);
    }
    let (mut lo, mut hi) = (0i64, lots_total); // ok(lo), !ok(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let best = (lo + 2..=(lo + 8).min(lots_total)).rev().find(|&n| ok(n)).unwrap_or(lo);
    Qty::from_micros(best * lot)
}

/// Best ask of one side from the other side's bids: `1 - best opposite bid`
/// (Kalshi: best YES ask = 1 - best NO bid).
pub fn best_ask_from_opposite_bids(opposite_bids: &[Level]) -> Option<Price> {
    opposite_bids.iter().filter(|l| l.qty.is_positive()).map(|l| l.price).max().map(Price::complement)
}

/// One side's asks, best first, from the other side's bids (best first):
/// each bid at `x` is an ask at `1 - x` for the same quantity.
pub fn asks_from_opposite_bids(opposite_bids: &[Level]) -> impl Iterator<Item = Level> + '_ {
    opposite_bids.iter().filter(|l| l.qty.is_positive()).map(|l| Level::new(l.price.complement(), l.qty))
}

/// A Kalshi market's book as published: bids only, for YES and for NO, best first.
#[derive(Copy, Clone, Debug)]
pub struct BidsOnlyBook<'a> {
    pub yes_bids: &'a [Level],
    pub no_bids: &'a [Level],
}

impl<'a> BidsOnlyBook<'a> {
    /// Best YES ask: `1 - best NO bid`.
    pub fn best_yes_ask(&self) -> Option<Price> {
        best_ask_from_opposite_bids(self.no_bids)
    }

    /// Best NO ask: `1 - best YES bid`.
    pub fn best_no_ask(&self) -> Option<Price> {
        best_ask_from_opposite_bids(self.yes_bids)
    }

    /// YES asks, best first.
    pub fn yes_asks(&self) -> impl Iterator<Item = Level> + 'a {
        asks_from_opposite_bids(self.no_bids)
    }

    /// NO asks, best first.
    pub fn no_asks(&self) -> impl Iterator<Item = Level> + 'a {
        asks_from_opposite_bids(self.yes_bids)
    }

    /// Asks of `side`, best first.
    pub fn asks(&self, side: crate::Side) -> impl Iterator<Item = Level> + 'a {
        match side {
            crate::Side::Yes => asks_from_opposite_bids(self.no_bids),
            crate::Side::No => asks_from_opposite_bids(self.yes_bids),
        }
    }

    /// Bids of `side`, best first (as published).
    pub fn bids(&self, side: crate::Side) -> &'a [Level] {
        match side {
            crate::Side::Yes => self.yes_bids,
            crate::Side::No => self.no_bids,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(p: &str, q: &str) -> Level {
        Level::new(Price::parse(p).unwrap(), Qty::parse(q).unwrap())
    }

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn buys_across_levels_with_kalshi_fee() {
        let asks = [lv("0.40", "10"), lv("0.42", "5"), lv("0.45", "100")];
        let k = FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap();
        let w = buy(&asks, Qty::parse("20").unwrap(), &k).unwrap();
        // 10 @ 0.40 + 5 @ 0.42 + 5 @ 0.45 = 4.00 + 2.10 + 2.25 = 8.35
        assert_eq!(w.notional, m("8.35"));
        // fees 0.168 + 0.08526 + 0.086625 -> per fill 0.1680 + 0.0853 + 0.0867 = 0.3400 -> 0.34
        assert_eq!(w.fee, m("0.34"));
        assert_eq!(w.total, m("8.69"));
        assert_eq!(w.avg_price, Price::parse("0.4175").unwrap());
        assert_eq!(
            (w.best_price, w.worst_price, w.levels),
            (Price::parse("0.40").unwrap(), Price::parse("0.45").unwrap(), 3)
        );
    }

    #[test]
    fn sells_round_proceeds_down() {
        let bids = [lv("0.333333", "0.000003"), lv("0.30", "1")];
        let w = sell(&bids, Qty::from_micros(3), &FeeSchedule::None).unwrap();
        // 3 micro-contracts at 0.333333 = 0.999999 micro-dollars -> 0.
        assert_eq!(w.notional, Money::ZERO);
        let w2 = buy(&bids, Qty::from_micros(3), &FeeSchedule::None).unwrap();
        assert_eq!(w2.notional, Money::from_micros(1));
        let pm = FeeSchedule::Polymarket { rate_ppm: 70_000, exponent: 1 };
        let w = sell(&bids, Qty::parse("1.000003").unwrap(), &pm).unwrap();
        assert_eq!(w.worst_price, Price::parse("0.30").unwrap());
        // 0.999999e-6 -> 0 + 1 * 0.30 = 0.30; fees: 0.07*3e-6*0.2222 -> 1 unit, 0.07*0.21 = 0.0147 -> 0.01471
        assert_eq!(w.notional, m("0.30"));
        assert_eq!(w.fee, m("0.01471"));
        assert_eq!(w.total, m("0.28529"));
    }

    #[test]
    fn refuses_what_the_book_cannot_fill() {
        let asks = [lv("0.40", "10")];
        assert_eq!(
            buy(&asks, Qty::from_contracts(11), &FeeSchedule::None),
            Err(BookError::InsufficientDepth { wanted: Qty::from_contracts(11), available: Qty::from_contracts(10) })
        );
        assert_eq!(buy(&asks, Qty::ZERO, &FeeSchedule::None), Err(BookError::NonPositive(Qty::ZERO)));
        assert!(buy(&[], Qty::ONE, &FeeSchedule::None).is_err());
    }

    #[test]
    fn depth_under_a_limit() {
        let asks = [lv("0.40", "10"), lv("0.42", "5"), lv("0.45", "100")];
        assert_eq!(depth_within(&asks, Price::parse("0.42").unwrap(), Direction::Buy), Qty::from_contracts(15));
        assert_eq!(depth_within(&asks, Price::parse("0.39").unwrap(), Direction::Buy), Qty::ZERO);
        let bids = [lv("0.60", "3"), lv("0.55", "4")];
        assert_eq!(depth_within(&bids, Price::parse("0.58").unwrap(), Direction::Sell), Qty::from_contracts(3));
        assert_eq!(depth(&asks), Qty::from_contracts(115));
    }

    #[test]
    fn largest_quantity_for_an_average_price() {
        let asks = [lv("0.40", "10"), lv("0.50", "10")];
        // Without fees: avg <= 0.45 up to exactly 20 (10*0.4 + 10*0.5 = 9.0 = 20 * 0.45).
        let q =
            max_buy_qty_for_average(&asks, &FeeSchedule::None, Price::parse("0.45").unwrap(), Qty::from_hundredths(1));
        assert_eq!(q, Qty::from_contracts(20));
        // 0.44: 4 + 0.5 x <= 0.44 (10 + x) -> x <= 6.666 -> 16.66
        let q =
            max_buy_qty_for_average(&asks, &FeeSchedule::None, Price::parse("0.44").unwrap(), Qty::from_hundredths(1));
        assert_eq!(q, Qty::from_hundredths(1666));
        // With Kalshi's fee the same limit buys less, and the answer is checked by walking.
        let k = FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap();
        let limit = Price::parse("0.44").unwrap();
        let q = max_buy_qty_for_average(&asks, &k, limit, Qty::from_hundredths(1));
        assert!(q < Qty::from_hundredths(1666));
        assert!(buy(&asks, q, &k).unwrap().total <= q.value_at(limit, Rounding::Down));
        let next = q + Qty::from_hundredths(1);
        assert!(buy(&asks, next, &k).unwrap().total > next.value_at(limit, Rounding::Down));
        assert_eq!(max_buy_qty_for_average(&asks, &k, Price::parse("0.30").unwrap(), Qty::ONE), Qty::ZERO);
    }

    #[test]
    fn kalshi_bids_only_books() {
        let yes_bids = [lv("0.55", "10"), lv("0.54", "20")];
        let no_bids = [lv("0.43", "7"), lv("0.40", "1")];
        let b = BidsOnlyBook { yes_bids: &yes_bids, no_bids: &no_bids };
        assert_eq!(b.best_yes_ask(), Some(Price::parse("0.57").unwrap()));
        assert_eq!(b.best_no_ask(), Some(Price::parse("0.45").unwrap()));
        let yes_asks: Vec<Level> = b.yes_asks().collect();
        assert_eq!(yes_asks, vec![lv("0.57", "7"), lv("0.60", "1")]);
        let no_asks: Vec<Level> = b.asks(crate::Side::No).collect();
        assert_eq!(no_asks, vec![lv("0.45", "10"), lv("0.46", "20")]);
        assert_eq!(b.bids(crate::Side::Yes), &yes_bids);
        assert_eq!(best_ask_from_opposite_bids(&[]), None);
        assert_eq!(best_ask_from_opposite_bids(&[lv("0.5", "0")]), None);
        // The converted asks walk like any other.
        let w = buy(&yes_asks, Qty::from_contracts(8), &FeeSchedule::None).unwrap();
        assert_eq!(w.notional, m("4.59"));
    }
}
