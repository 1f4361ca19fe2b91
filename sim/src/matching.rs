//! A price-time-priority matching engine for one binary market.
//!
//! Both simulated venues use it: Kalshi's V2 API is a single YES book
//! (`bid` buys YES, `ask` sells YES), and Polymarket's two token books are one
//! unified book (buying NO at `q` is selling YES at `1 - q`). Each venue's
//! server translates its orders into YES-book orders and its fills back.

use std::collections::{BTreeMap, HashMap, VecDeque};

use arbytron_sdk::{Price, Qty};

pub type OrderId = u64;

/// Aggregated price levels, best first.
pub type Levels = Vec<(Price, Qty)>;

/// Which side of the YES book.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BookSide {
    /// Buys YES.
    Bid,
    /// Sells YES.
    Ask,
}

impl BookSide {
    pub fn opposite(self) -> BookSide {
        match self {
            BookSide::Bid => BookSide::Ask,
            BookSide::Ask => BookSide::Bid,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Tif {
    GoodTillCanceled,
    ImmediateOrCancel,
    FillOrKill,
}

/// What to do when an order would trade with its owner's own resting order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum SelfTrade {
    /// Cancel the incoming order's remainder; fills so far stand (Kalshi `taker_at_cross`).
    #[default]
    CancelTaker,
    /// Cancel the resting order and keep matching (Kalshi `maker`).
    CancelMaker,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub owner: String,
    pub client_order_id: Option<String>,
    pub side: BookSide,
    pub price: Price,
    pub qty: Qty,
    pub tif: Tif,
    pub self_trade: SelfTrade,
    /// Reject instead of taking liquidity.
    pub post_only: bool,
}

impl NewOrder {
    /// A market maker's quote: rests until cancelled, may take liquidity.
    pub fn quote(owner: &str, side: BookSide, price: Price, qty: Qty, self_trade: SelfTrade) -> NewOrder {
        NewOrder {
            owner: owner.into(),
            client_order_id: None,
            side,
            price,
            qty,
            tif: Tif::GoodTillCanceled,
            self_trade,
            post_only: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    pub id: OrderId,
    pub owner: String,
    pub client_order_id: Option<String>,
    pub side: BookSide,
    pub price: Price,
    pub original: Qty,
    pub remaining: Qty,
    seq: u64,
}

/// One match: the taker traded `qty` at the maker's price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trade {
    pub maker_order: OrderId,
    pub maker_owner: String,
    pub taker_order: OrderId,
    pub taker_owner: String,
    /// The side the taker was on.
    pub taker_side: BookSide,
    pub price: Price,
    pub qty: Qty,
    /// The maker order is now fully filled and gone from the book.
    pub maker_done: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchResult {
    pub order_id: OrderId,
    pub filled: Qty,
    pub trades: Vec<Trade>,
    /// Left on the book (GTC only).
    pub resting: Qty,
    /// Neither filled nor resting (IOC remainder, FOK kill, self-trade cancel).
    pub cancelled: Qty,
    /// Resting orders of the owner cancelled by self-trade prevention.
    pub cancelled_makers: Vec<OrderId>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("quantity must be positive")]
    NonPositiveQuantity,
    #[error("price must be strictly between 0 and 1")]
    PriceOutOfRange,
    #[error("post-only order would cross")]
    PostOnlyWouldCross,
    #[error("fill-or-kill order cannot be filled completely")]
    FillOrKillUnfilled,
}

/// One market's book.
#[derive(Debug, Default)]
pub struct OrderBook {
    /// Keyed by price; best bid is the last key.
    bids: BTreeMap<Price, VecDeque<RestingOrder>>,
    /// Best ask is the first key.
    asks: BTreeMap<Price, VecDeque<RestingOrder>>,
    index: HashMap<OrderId, (BookSide, Price)>,
    next_seq: u64,
}

impl OrderBook {
    pub fn new() -> OrderBook {
        OrderBook::default()
    }

    /// Match `order` against the book, then rest what is left if it is GTC.
    /// `id` comes from the caller so a venue can keep one id space for all markets.
    pub fn submit(&mut self, id: OrderId, order: NewOrder) -> Result<MatchResult, RejectReason> {
        if !order.qty.is_positive() {
            return Err(RejectReason::NonPositiveQuantity);
        }
        if order.price <= Price::ZERO || order.price >= Price::ONE {
            return Err(RejectReason::PriceOutOfRange);
        }
        let crosses = |p: Price| match order.side {
            BookSide::Bid => p <= order.price,
            BookSide::Ask => p >= order.price,
        };
        if order.post_only && self.best(order.side.opposite()).is_some_and(crosses) {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        if order.tif == Tif::FillOrKill && self.fillable(&order) < order.qty {
            return Err(RejectReason::FillOrKillUnfilled);
        }

        let mut result = MatchResult {
            order_id: id,
            filled: Qty::ZERO,
            trades: Vec::new(),
            resting: Qty::ZERO,
            cancelled: Qty::ZERO,
            cancelled_makers: Vec::new(),
        };
        let mut remaining = order.qty;
        'levels: while remaining.is_positive() {
            let Some(level_price) = self.best(order.side.opposite()).filter(|&p| crosses(p)) else { break };
            let book = match order.side {
                BookSide::Bid => &mut self.asks,
                BookSide::Ask => &mut self.bids,
            };
            let queue = book.get_mut(&level_price).expect("best level exists");
            while remaining.is_positive() {
                let Some(maker) = queue.front_mut() else { break };
                if maker.owner == order.owner {
                    match order.self_trade {
                        SelfTrade::CancelTaker => {
                            if queue.is_empty() {
                                book.remove(&level_price);
                            }
                            break 'levels;
                        }
                        SelfTrade::CancelMaker => {
                            let gone = queue.pop_front().expect("front exists");
                            self.index.remove(&gone.id);
                            result.cancelled_makers.push(gone.id);
                            continue;
                        }
                    }
                }
                let qty = remaining.min(maker.remaining);
                maker.remaining -= qty;
                remaining -= qty;
                let maker_done = maker.remaining.is_zero();
                result.trades.push(Trade {
                    maker_order: maker.id,
                    maker_owner: maker.owner.clone(),
                    taker_order: id,
                    taker_owner: order.owner.clone(),
                    taker_side: order.side,
                    price: level_price,
                    qty,
                    maker_done,
                });
                if maker_done {
                    let gone = queue.pop_front().expect("front exists");
                    self.index.remove(&gone.id);
                }
            }
            if queue.is_empty() {
                book.remove(&level_price);
            }
        }
        result.filled = order.qty - remaining;
        if remaining.is_positive() {
            if order.tif == Tif::GoodTillCanceled && !self.self_cross_blocked(&order) {
                self.rest(id, &order, remaining);
                result.resting = remaining;
            } else {
                result.cancelled = remaining;
            }
        }
        Ok(result)
    }

    /// A GTC whose remainder would rest crossing its owner's own order is cancelled instead.
    fn self_cross_blocked(&self, order: &NewOrder) -> bool {
        let opposite = match order.side {
            BookSide::Bid => &self.asks,
            BookSide::Ask => &self.bids,
        };
        opposite.iter().any(|(p, q)| {
            let crosses = match order.side {
                BookSide::Bid => *p <= order.price,
                BookSide::Ask => *p >= order.price,
            };
            crosses && q.iter().any(|o| o.owner == order.owner)
        })
    }

    fn rest(&mut self, id: OrderId, order: &NewOrder, qty: Qty) {
        self.next_seq += 1;
        let resting = RestingOrder {
            id,
            owner: order.owner.clone(),
            client_order_id: order.client_order_id.clone(),
            side: order.side,
            price: order.price,
            original: order.qty,
            remaining: qty,
            seq: self.next_seq,
        };
        let book = match order.side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        book.entry(order.price).or_default().push_back(resting);
        self.index.insert(id, (order.side, order.price));
    }

    /// How much of `order` could trade right now (for fill-or-kill), honouring self-trade rules.
    fn fillable(&self, order: &NewOrder) -> Qty {
        let mut total = Qty::ZERO;
        let levels: Box<dyn Iterator<Item = (&Price, &VecDeque<RestingOrder>)>> = match order.side {
            BookSide::Bid => Box::new(self.asks.iter().take_while(|(p, _)| **p <= order.price)),
            BookSide::Ask => Box::new(self.bids.iter().rev().take_while(|(p, _)| **p >= order.price)),
        };
        for (_, queue) in levels {
            for o in queue {
                if o.owner == order.owner {
                    match order.self_trade {
                        SelfTrade::CancelTaker => return total,
                        SelfTrade::CancelMaker => continue,
                    }
                }
                total += o.remaining;
                if total >= order.qty {
                    return total;
                }
            }
        }
        total
    }

    /// Remove a resting order.
    pub fn cancel(&mut self, id: OrderId) -> Option<RestingOrder> {
        let (side, price) = self.index.remove(&id)?;
        let book = match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        let queue = book.get_mut(&price)?;
        let pos = queue.iter().position(|o| o.id == id)?;
        let order = queue.remove(pos);
        if queue.is_empty() {
            book.remove(&price);
        }
        order
    }

    /// Reduce a resting order to `remaining` (keeps its queue position).
    pub fn reduce(&mut self, id: OrderId, remaining: Qty) -> Option<Qty> {
        let &(side, price) = self.index.get(&id)?;
        let book = match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        let order = book.get_mut(&price)?.iter_mut().find(|o| o.id == id)?;
        if remaining >= order.remaining {
            return Some(order.remaining);
        }
        if remaining.is_positive() {
            order.remaining = remaining;
            Some(remaining)
        } else {
            self.cancel(id).map(|_| Qty::ZERO)
        }
    }

    pub fn get(&self, id: OrderId) -> Option<&RestingOrder> {
        let &(side, price) = self.index.get(&id)?;
        let book = match side {
            BookSide::Bid => &self.bids,
            BookSide::Ask => &self.asks,
        };
        book.get(&price)?.iter().find(|o| o.id == id)
    }

    /// Best price on a side.
    pub fn best(&self, side: BookSide) -> Option<Price> {
        match side {
            BookSide::Bid => self.bids.keys().next_back().copied(),
            BookSide::Ask => self.asks.keys().next().copied(),
        }
    }

    /// Aggregated levels, best first: (bids descending, asks ascending).
    pub fn depth(&self) -> (Levels, Levels) {
        let agg = |q: &VecDeque<RestingOrder>| q.iter().map(|o| o.remaining).sum::<Qty>();
        (
            self.bids.iter().rev().map(|(p, q)| (*p, agg(q))).collect(),
            self.asks.iter().map(|(p, q)| (*p, agg(q))).collect(),
        )
    }

    /// Total resting at one price on one side (what a venue's delta message reports).
    pub fn level_total(&self, side: BookSide, price: Price) -> Qty {
        let book = match side {
            BookSide::Bid => &self.bids,
            BookSide::Ask => &self.asks,
        };
        book.get(&price).map(|q| q.iter().map(|o| o.remaining).sum()).unwrap_or_default()
    }

    /// Every resting order of `owner`.
    pub fn orders_of<'a>(&'a self, owner: &'a str) -> impl Iterator<Item = &'a RestingOrder> + 'a {
        self.bids.values().chain(self.asks.values()).flat_map(|q| q.iter()).filter(move |o| o.owner == owner)
    }

    /// Cancel every resting order of `owner`; returns what was removed.
    pub fn cancel_all_of(&mut self, owner: &str) -> Vec<RestingOrder> {
        let ids: Vec<OrderId> = self.orders_of(owner).map(|o| o.id).collect();
        ids.into_iter().filter_map(|id| self.cancel(id)).collect()
    }
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
    fn order(owner: &str, side: BookSide, price: &str, qty: i64, tif: Tif) -> NewOrder {
        NewOrder {
            owner: owner.into(),
            client_order_id: None,
            side,
            price: p(price),
            qty: q(qty),
            tif,
            self_trade: SelfTrade::CancelTaker,
            post_only: false,
        }
    }

    #[test]
    fn price_then_time_priority() {
        let mut b = OrderBook::new();
        b.submit(1, order("m1", BookSide::Ask, "0.42", 5, Tif::GoodTillCanceled)).unwrap();
        b.submit(2, order("m2", BookSide::Ask, "0.41", 5, Tif::GoodTillCanceled)).unwrap();
        b.submit(3, order("m3", BookSide::Ask, "0.41", 5, Tif::GoodTillCanceled)).unwrap();
        let r = b.submit(4, order("t", BookSide::Bid, "0.42", 12, Tif::ImmediateOrCancel)).unwrap();
        let fills: Vec<(OrderId, Price, Qty)> = r.trades.iter().map(|t| (t.maker_order, t.price, t.qty)).collect();
        assert_eq!(fills, vec![(2, p("0.41"), q(5)), (3, p("0.41"), q(5)), (1, p("0.42"), q(2))]);
        assert_eq!((r.filled, r.resting, r.cancelled), (q(12), Qty::ZERO, Qty::ZERO));
        assert_eq!(b.depth().1, vec![(p("0.42"), q(3))]);
    }

    #[test]
    fn ioc_cancels_rest_gtc_rests_fok_all_or_nothing() {
        let mut b = OrderBook::new();
        b.submit(1, order("m", BookSide::Bid, "0.40", 5, Tif::GoodTillCanceled)).unwrap();
        let r = b.submit(2, order("t", BookSide::Ask, "0.40", 8, Tif::ImmediateOrCancel)).unwrap();
        assert_eq!((r.filled, r.cancelled), (q(5), q(3)));
        assert_eq!(b.best(BookSide::Bid), None);

        b.submit(3, order("m", BookSide::Bid, "0.40", 5, Tif::GoodTillCanceled)).unwrap();
        assert_eq!(
            b.submit(4, order("t", BookSide::Ask, "0.40", 6, Tif::FillOrKill)),
            Err(RejectReason::FillOrKillUnfilled)
        );
        assert_eq!(b.level_total(BookSide::Bid, p("0.40")), q(5), "a killed FOK leaves the book alone");
        let r = b.submit(5, order("t", BookSide::Ask, "0.39", 7, Tif::GoodTillCanceled)).unwrap();
        assert_eq!((r.filled, r.resting), (q(5), q(2)));
        assert_eq!(b.best(BookSide::Ask), Some(p("0.39")));
    }

    #[test]
    fn self_trade_prevention_both_ways() {
        let mut b = OrderBook::new();
        b.submit(1, order("me", BookSide::Ask, "0.50", 5, Tif::GoodTillCanceled)).unwrap();
        let r = b.submit(2, order("me", BookSide::Bid, "0.50", 5, Tif::ImmediateOrCancel)).unwrap();
        assert_eq!((r.filled, r.cancelled), (Qty::ZERO, q(5)));
        assert!(b.get(1).is_some(), "taker_at_cross keeps the resting order");

        let mut o = order("me", BookSide::Bid, "0.50", 5, Tif::ImmediateOrCancel);
        o.self_trade = SelfTrade::CancelMaker;
        let r = b.submit(3, o).unwrap();
        assert_eq!(r.cancelled_makers, vec![1]);
        assert!(b.get(1).is_none());
    }

    #[test]
    fn post_only_and_bad_orders_are_rejected() {
        let mut b = OrderBook::new();
        b.submit(1, order("m", BookSide::Ask, "0.50", 5, Tif::GoodTillCanceled)).unwrap();
        let mut o = order("t", BookSide::Bid, "0.55", 1, Tif::GoodTillCanceled);
        o.post_only = true;
        assert_eq!(b.submit(2, o), Err(RejectReason::PostOnlyWouldCross));
        assert_eq!(
            b.submit(3, order("t", BookSide::Bid, "1", 1, Tif::GoodTillCanceled)),
            Err(RejectReason::PriceOutOfRange)
        );
        let mut o = order("t", BookSide::Bid, "0.5", 1, Tif::GoodTillCanceled);
        o.qty = Qty::ZERO;
        assert_eq!(b.submit(4, o), Err(RejectReason::NonPositiveQuantity));
    }

    #[test]
    fn cancel_and_reduce() {
        let mut b = OrderBook::new();
        b.submit(1, order("m", BookSide::Bid, "0.30", 5, Tif::GoodTillCanceled)).unwrap();
        b.submit(2, order("m", BookSide::Bid, "0.30", 5, Tif::GoodTillCanceled)).unwrap();
        assert_eq!(b.reduce(1, q(2)), Some(q(2)));
        assert_eq!(b.level_total(BookSide::Bid, p("0.30")), q(7));
        assert_eq!(b.cancel(2).map(|o| o.remaining), Some(q(5)));
        assert_eq!(b.cancel(2), None);
        assert_eq!(b.cancel_all_of("m").len(), 1);
        assert_eq!(b.depth(), (vec![], vec![]));
    }
}
