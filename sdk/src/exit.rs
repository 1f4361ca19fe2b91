//! Exit value: what selling a held bundle back yields now, and whether that
//! beats holding it to settlement.
//!
//! A held bundle pays `quantity x $1` at resolution for sure. Selling it back
//! early walks each leg's bids (or sells into its pool) and pays fees and gas;
//! it is worth it when the proceeds beat the payout (prices moved past $1
//! together), or, counting the time value of money, when what holding still
//! earns (payout minus proceeds, annualised over the time left) is below what
//! the freed capital could earn elsewhere.

use crate::amm;
use crate::book;
use crate::money::{Money, Price, Qty, Rounding, SCALE, div_round};
use crate::sizing::YEAR_MS;
use crate::types::{ExitDecision, MarketId, Order, Position, Side, TimestampMs};
use crate::wire::{MarketView, Source};

/// Selling one held leg now.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ExitLeg {
    pub market: MarketId,
    pub side: Side,
    /// Held quantity.
    pub held: Qty,
    /// What the market takes now (all of it, unless the book is too thin or the view lacks the leg).
    pub sold: Qty,
    /// Pool sales only: tokens left over because they would not buy another
    /// base unit of collateral back (worth less than a micro-dollar at the pool).
    pub dust: Qty,
    /// Book: the worst bid hit. Pool: the average price received, rounded down.
    pub limit_price: Price,
    /// Cash received for `sold`, net of the venue's fee (before the fixed cost).
    pub proceeds: Money,
    pub fee: Money,
    /// Gas for an on-chain sale.
    pub fixed_cost: Money,
}

impl ExitLeg {
    /// The whole holding goes (up to pool dust).
    pub fn complete(&self) -> bool {
        self.sold + self.dust == self.held
    }
}

/// Selling the whole bundle now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitValue {
    pub legs: Vec<ExitLeg>,
    /// Sum of the legs' proceeds minus their fixed costs.
    pub proceeds: Money,
    /// Every leg can be sold in full (otherwise the bundle would be broken up).
    pub complete: bool,
}

/// The comparison an exit policy needs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// What holding pays at resolution.
    pub hold_value: Money,
    /// What exiting yields now.
    pub exit_value: Money,
    /// `exit_value - hold_value`: positive when selling now beats holding outright.
    pub edge: Money,
    /// Return realised by exiting now, on the bundle's cost, ppm.
    pub return_to_date_ppm: i64,
    /// What holding still earns on the capital exiting would free:
    /// `(hold_value - exit_value) / exit_value`, annualised over the time left, ppm.
    pub remaining_annualized_ppm: i64,
    /// Milliseconds until resolution (at least 1).
    pub millis_left: i64,
}

/// When to exit.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ExitPolicy {
    /// Exit when selling now beats holding to settlement by at least this much.
    pub min_edge: Money,
    /// Also exit when holding would earn less than this annualised (ppm) on
    /// the capital exiting frees, provided exiting does not lock in a loss.
    /// `None`: only the edge counts.
    pub hurdle_annualized_ppm: Option<i64>,
}

impl Default for ExitPolicy {
    fn default() -> ExitPolicy {
        ExitPolicy { min_edge: Money::from_micros(1), hurdle_annualized_ppm: None }
    }
}

impl ExitPolicy {
    /// From a strategy's parameters: `exit_min_edge` (dollars; exit when
    /// selling beats holding by at least this) and `exit_hurdle_apy_ppm`
    /// (optional; also exit when holding earns less than this annualised).
    pub fn from_params(p: &crate::types::Params) -> Result<ExitPolicy, String> {
        let d = ExitPolicy::default();
        let min_edge: Money = p.parse_or("exit_min_edge", d.min_edge)?;
        if min_edge.is_negative() {
            return Err(format!("parameter exit_min_edge={min_edge}: must not be negative"));
        }
        let hurdle = match p.get("exit_hurdle_apy_ppm") {
            None => None,
            Some(_) => Some(p.parse_or::<i64>("exit_hurdle_apy_ppm", 0)?),
        };
        Ok(ExitPolicy { min_edge, hurdle_annualized_ppm: hurdle })
    }
}

/// What selling `position` back into `view` yields now, per leg and in total.
///
/// Held legs the view does not carry count as unsellable (`sold = 0`).
pub fn exit_value(position: &Position, view: &MarketView<'_>) -> ExitValue {
    let mut legs = Vec::with_capacity(position.legs.len());
    let mut total: i64 = 0;
    let mut complete = true;
    for held in &position.legs {
        let leg = sell_leg(held.market, held.side, held.quantity, view);
        complete &= leg.complete();
        total = total.saturating_add(leg.proceeds.micros()).saturating_sub(leg.fixed_cost.micros());
        legs.push(leg);
    }
    ExitValue { legs, proceeds: Money::from_micros(total), complete }
}

fn sell_leg(market: MarketId, side: Side, qty: Qty, view: &MarketView<'_>) -> ExitLeg {
    let none = ExitLeg {
        market,
        side,
        held: qty,
        sold: Qty::ZERO,
        dust: Qty::ZERO,
        limit_price: Price::ZERO,
        proceeds: Money::ZERO,
        fee: Money::ZERO,
        fixed_cost: Money::ZERO,
    };
    if !qty.is_positive() {
        return none;
    }
    let Some(leg) = view.find(market, side) else { return none };
    match leg.source {
        Source::Book(bids) => {
            let sold = qty.min(book::depth(bids));
            match book::sell(bids, sold, &leg.fee) {
                Ok(w) => ExitLeg {
                    sold,
                    limit_price: w.worst_price,
                    proceeds: w.total,
                    fee: w.fee,
                    fixed_cost: leg.fixed_cost,
                    ..none
                },
                Err(_) => none,
            }
        }
        Source::Pool(p) => {
            let balances: Vec<u128> = p.balances.iter().map(|&b| b.max(0) as u128).collect();
            let tokens = qty.micros() as u128;
            let Ok(r) = amm::max_return_for_tokens(&balances, p.fee_wad, p.outcome, tokens) else { return none };
            if r == 0 {
                return none;
            }
            let sold = amm::calc_sell_amount(&balances, p.fee_wad, r, p.outcome).unwrap_or(tokens).min(tokens);
            let fee = amm::sell_fee(p.fee_wad, r).unwrap_or(0);
            let r = i64::try_from(r).unwrap_or(i64::MAX);
            // Average price per token handed in, rounded down (a sale's floor).
            let avg = div_round(r as i128 * SCALE as i128, qty.micros() as i128, Rounding::Down) as i64;
            let sold = Qty::from_micros(sold as i64);
            ExitLeg {
                // The pool takes what the return needs; the rest would not buy another base unit back.
                sold,
                dust: qty - sold,
                limit_price: Price::from_micros(avg.min(SCALE)).unwrap_or(Price::ZERO),
                proceeds: Money::from_micros(r),
                fee: Money::from_micros(i64::try_from(fee).unwrap_or(i64::MAX)),
                fixed_cost: leg.fixed_cost,
                ..none
            }
        }
    }
}

/// Compare exiting now with holding `position` to settlement.
pub fn assess(position: &Position, value: &ExitValue, now: TimestampMs) -> Assessment {
    let hold = position.quantity.payout();
    let exit = value.proceeds;
    let millis_left = (position.resolves_at - now).max(1);
    let ppm = |num: i64, den: i64| -> i64 {
        if den <= 0 {
            return 0;
        }
        div_round(num as i128 * SCALE as i128, den as i128, Rounding::Down).clamp(i64::MIN as i128, i64::MAX as i128)
            as i64
    };
    let remaining = ppm(hold.micros() - exit.micros(), exit.micros());
    let remaining_annualized = if exit.is_positive() {
        div_round(remaining as i128 * YEAR_MS as i128, millis_left as i128, Rounding::Down)
            .clamp(i64::MIN as i128, i64::MAX as i128) as i64
    } else {
        i64::MAX // nothing to redeploy: holding is infinitely better
    };
    Assessment {
        hold_value: hold,
        exit_value: exit,
        edge: exit - hold,
        return_to_date_ppm: ppm(exit.micros() - position.cost.micros(), position.cost.micros()),
        remaining_annualized_ppm: remaining_annualized,
        millis_left,
    }
}

/// The exit decision for a position under a policy: sell every leg now, or hold.
///
/// Never exits a bundle it cannot sell in full (that would leave a naked leg).
pub fn decide(position: &Position, view: &MarketView<'_>, policy: &ExitPolicy) -> ExitDecision {
    let value = exit_value(position, view);
    if !value.complete || value.legs.is_empty() {
        return ExitDecision::Hold;
    }
    let a = assess(position, &value, view.now);
    let beats_holding = a.edge >= policy.min_edge.max(Money::from_micros(1));
    let below_hurdle =
        policy.hurdle_annualized_ppm.is_some_and(|h| a.remaining_annualized_ppm < h && value.proceeds >= position.cost);
    if beats_holding || below_hurdle {
        ExitDecision::Exit(value.legs.iter().map(order_for).collect())
    } else {
        ExitDecision::Hold
    }
}

fn order_for(l: &ExitLeg) -> Order {
    Order {
        market: l.market,
        side: l.side,
        quantity: l.sold,
        limit_price: l.limit_price,
        amount: l.proceeds,
        fee: l.fee,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fees::FeeSchedule;
    use crate::types::{HeldLeg, Venue};
    use crate::wire::{LegHeader, LegsBuf, Level};

    fn header(market: u32, venue: Venue, side: Side, fee: FeeSchedule) -> LegHeader {
        LegHeader { tick: Price::ZERO, min_qty: Qty::ZERO, ..LegHeader::new(0, market, venue, side, fee) }
    }

    fn lv(p: &str, q: &str) -> Level {
        Level::new(Price::parse(p).unwrap(), Qty::parse(q).unwrap())
    }

    fn position(q: i64, cost: &str) -> Position {
        Position {
            bundle: 1,
            link: 1,
            quantity: Qty::from_contracts(q),
            legs: vec![
                HeldLeg { market: 1, side: Side::Yes, quantity: Qty::from_contracts(q), cost: Money::ZERO },
                HeldLeg { market: 2, side: Side::No, quantity: Qty::from_contracts(q), cost: Money::ZERO },
            ],
            cost: Money::parse(cost).unwrap(),
            opened_at: 0,
            resolves_at: 100 * 86_400_000,
        }
    }

    #[test]
    fn books_that_bid_past_a_dollar_are_sold() {
        let mut buf = LegsBuf::default();
        let k = FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap();
        buf.push_book(&header(1, Venue::Kalshi, Side::Yes, k), [lv("0.60", "5"), lv("0.58", "100")], 10);
        buf.push_book(&header(2, Venue::PolymarketClob, Side::No, FeeSchedule::None), [lv("0.45", "100")], 10);
        let view = MarketView::new(50 * 86_400_000, &buf.legs, &buf.data).unwrap();
        let pos = position(10, "9.50");
        let v = exit_value(&pos, &view);
        // YES: 5 @ .60 + 5 @ .58 = 5.90; fee .084 + .0853 -> .0840 + .0853 = .1693 -> .17; NO: 4.50.
        assert_eq!(v.legs[0].proceeds, Money::parse("5.73").unwrap());
        assert_eq!(v.legs[0].limit_price, Price::parse("0.58").unwrap());
        assert_eq!(v.legs[1].proceeds, Money::parse("4.50").unwrap());
        assert_eq!(v.proceeds, Money::parse("10.23").unwrap());
        assert!(v.complete);
        let a = assess(&pos, &v, view.now);
        assert_eq!(a.edge, Money::parse("0.23").unwrap());
        assert_eq!(a.return_to_date_ppm, 76_842); // 0.73 / 9.50
        match decide(&pos, &view, &ExitPolicy::default()) {
            ExitDecision::Exit(orders) => {
                assert_eq!(orders.len(), 2);
                assert_eq!(orders[0].quantity, Qty::from_contracts(10));
                assert_eq!(orders[0].amount, Money::parse("5.73").unwrap());
            }
            ExitDecision::Hold => panic!("selling at 1.023 beats holding"),
        }
        // A threshold above the edge holds.
        let strict = ExitPolicy { min_edge: Money::parse("0.30").unwrap(), ..ExitPolicy::default() };
        assert_eq!(decide(&pos, &view, &strict), ExitDecision::Hold);
    }

    #[test]
    fn hurdle_counts_the_time_value() {
        let mut buf = LegsBuf::default();
        buf.push_book(&header(1, Venue::Kalshi, Side::Yes, FeeSchedule::None), [lv("0.55", "100")], 10);
        buf.push_book(&header(2, Venue::PolymarketClob, Side::No, FeeSchedule::None), [lv("0.44", "100")], 10);
        // 50 days left; exit at 0.99 leaves 0.01/0.99 = 1.01% to earn = ~7.37% a year.
        let view = MarketView::new(50 * 86_400_000, &buf.legs, &buf.data).unwrap();
        let pos = position(10, "9.50");
        let a = assess(&pos, &exit_value(&pos, &view), view.now);
        assert_eq!(a.edge, Money::parse("-0.10").unwrap());
        assert_eq!(a.remaining_annualized_ppm, 10_101 * 365 / 50);
        assert_eq!(decide(&pos, &view, &ExitPolicy::default()), ExitDecision::Hold);
        let hurdle = ExitPolicy { hurdle_annualized_ppm: Some(100_000), ..ExitPolicy::default() };
        assert!(matches!(decide(&pos, &view, &hurdle), ExitDecision::Exit(_)));
        // But not at a loss: bought for 9.95, exiting at 9.90 would lock it in.
        let dear = position(10, "9.95");
        assert_eq!(decide(&dear, &view, &hurdle), ExitDecision::Hold);
    }

    #[test]
    fn policy_from_params() {
        use crate::types::Params;
        let p = |kv: &[(&str, &str)]| Params(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        assert_eq!(ExitPolicy::from_params(&p(&[])).unwrap(), ExitPolicy::default());
        let e = ExitPolicy::from_params(&p(&[("exit_min_edge", "0.05"), ("exit_hurdle_apy_ppm", "80000")])).unwrap();
        assert_eq!(e, ExitPolicy { min_edge: Money::parse("0.05").unwrap(), hurdle_annualized_ppm: Some(80_000) });
        assert!(
            ExitPolicy::from_params(&p(&[("exit_hurdle_apy_ppm", "soon")]))
                .unwrap_err()
                .contains("exit_hurdle_apy_ppm")
        );
        assert!(ExitPolicy::from_params(&p(&[("exit_min_edge", "-1")])).is_err());
    }

    #[test]
    fn thin_books_and_missing_legs_hold() {
        let mut buf = LegsBuf::default();
        buf.push_book(&header(1, Venue::Kalshi, Side::Yes, FeeSchedule::None), [lv("0.70", "3")], 10);
        let view = MarketView::new(0, &buf.legs, &buf.data).unwrap();
        let pos = position(10, "5.00");
        let v = exit_value(&pos, &view);
        assert_eq!(v.legs[0].sold, Qty::from_contracts(3));
        assert_eq!(v.legs[1].sold, Qty::ZERO);
        assert!(!v.complete);
        assert_eq!(decide(&pos, &view, &ExitPolicy::default()), ExitDecision::Hold);
    }

    #[test]
    fn pool_legs_sell_through_the_contract_math() {
        let mut buf = LegsBuf::default();
        buf.push_book(&header(1, Venue::Kalshi, Side::Yes, FeeSchedule::None), [lv("0.52", "100")], 10);
        let mut h = header(2, Venue::PolymarketAmm, Side::No, FeeSchedule::Amm { fee_wad: 20_000_000_000_000_000 });
        h.fixed_cost = Money::parse("0.03").unwrap();
        // Pool [YES 400, NO 600] dollars: NO marginal 0.40.
        buf.push_pool(&h, 1, [400_000_000, 600_000_000]);
        let view = MarketView::new(0, &buf.legs, &buf.data).unwrap();
        let pos = position(10, "9.00");
        let v = exit_value(&pos, &view);
        let pool = v.legs[1];
        let r = pool.proceeds.micros() as u128;
        // The sale is the largest return 10 tokens pay for, checked against the contract math.
        let b = [400_000_000u128, 600_000_000];
        assert!(amm::calc_sell_amount(&b, 20_000_000_000_000_000, r, 1).unwrap() <= 10_000_000);
        assert!(amm::calc_sell_amount(&b, 20_000_000_000_000_000, r + 1, 1).unwrap() > 10_000_000);
        assert!(pool.proceeds < Money::parse("3.95").unwrap() && pool.proceeds > Money::parse("3.85").unwrap());
        assert_eq!(pool.fixed_cost, Money::parse("0.03").unwrap());
        assert_eq!(pool.sold + pool.dust, Qty::from_contracts(10));
        assert!(pool.dust < Qty::from_micros(5), "{pool:?}");
        assert_eq!(v.proceeds, Money::parse("5.20").unwrap() + pool.proceeds - pool.fixed_cost);
        assert!(v.complete);
    }
}
