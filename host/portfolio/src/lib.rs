//! Portfolio bookkeeping, exact to the micro-dollar.
//!
//! A bundle holds one leg per outcome. Each leg's cost basis is the cash
//! actually paid (notional plus fees, as the venue reported); selling part of a
//! leg removes cost pro rata and books the difference as realised PnL. The
//! rounding is chosen so the sum of what is removed never exceeds what was paid
//! and the last contract out takes exactly what is left: over a leg's whole
//! life, realised PnL equals cash in minus cash out, to the micro-dollar, which
//! is what the venues' balances show.

use std::collections::BTreeMap;

use arbytron_model::MarketKey;
use arbytron_model::venue::VenuePosition;
use arbytron_sdk::money::{Rounding, div_round};
use arbytron_sdk::{Money, Qty, Side};
use serde::{Deserialize, Serialize};

/// One leg of a bundle: contracts held and what they cost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub qty: Qty,
    /// Cash paid for `qty`, fees included.
    pub cost: Money,
    /// Fees inside `cost` plus fees paid on sales.
    pub fees: Money,
    /// Realised on partial sales of this leg.
    pub realized: Money,
}

impl Leg {
    /// Record a buy: `notional` before fees, `fee` on top.
    pub fn buy(&mut self, qty: Qty, notional: Money, fee: Money) {
        self.qty += qty;
        self.cost += notional + fee;
        self.fees += fee;
    }

    /// Record a sale of `qty` for `notional` (before fees) minus `fee`.
    /// Returns the PnL it realised. Selling more than held is refused.
    pub fn sell(&mut self, qty: Qty, notional: Money, fee: Money) -> Result<Money, String> {
        if qty > self.qty {
            return Err(format!("selling {qty} of a leg holding {}", self.qty));
        }
        let removed = self.cost_of(qty);
        self.qty -= qty;
        self.cost -= removed;
        self.fees += fee;
        let pnl = notional - fee - removed;
        self.realized += pnl;
        Ok(pnl)
    }

    /// The cost basis of `qty` of this leg: pro rata, rounded up, and all of
    /// what is left for the last contracts (so nothing is ever stranded).
    pub fn cost_of(&self, qty: Qty) -> Money {
        if qty >= self.qty || !self.qty.is_positive() {
            return self.cost;
        }
        Money::from_micros(div_round(
            self.cost.micros() as i128 * qty.micros() as i128,
            self.qty.micros() as i128,
            Rounding::Up,
        ) as i64)
    }

    /// Undo a buy that never settled (a Polymarket trade reported FAILED).
    pub fn unbuy(&mut self, qty: Qty, notional: Money, fee: Money) {
        self.qty -= qty;
        self.cost -= notional + fee;
        self.fees -= fee;
    }
}

/// Realised PnL of a settlement: what the venue pays minus the cost basis.
pub fn settlement_pnl(legs: &[(Side, &Leg)], winner: Option<Side>) -> (Money, Money) {
    let mut payout = Money::ZERO;
    let mut cost = Money::ZERO;
    for (side, leg) in legs {
        cost += leg.cost;
        payout += match winner {
            Some(w) if w == *side => leg.qty.payout(),
            Some(_) => Money::ZERO,
            None => leg.cost,
        };
    }
    (payout, payout - cost)
}

/// A market where what we think we hold differs from what the venue says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    pub market: MarketKey,
    /// Our books: YES contracts positive, NO negative.
    pub ours: Qty,
    pub venue: Qty,
}

/// Compare our positions (net YES per market) with the venue's. Markets the
/// venue does not list count as zero there, and the other way round.
pub fn reconcile(ours: &BTreeMap<MarketKey, Qty>, venue: &[VenuePosition]) -> Vec<Drift> {
    let mut theirs: BTreeMap<&MarketKey, Qty> = BTreeMap::new();
    for p in venue {
        *theirs.entry(&p.market).or_default() += p.yes_position;
    }
    let mut drifts = Vec::new();
    for (m, &q) in ours {
        let v = theirs.get(m).copied().unwrap_or_default();
        if v != q {
            drifts.push(Drift { market: m.clone(), ours: q, venue: v });
        }
    }
    for (m, &v) in &theirs {
        if !ours.contains_key(*m) && !v.is_zero() {
            drifts.push(Drift { market: (*m).clone(), ours: Qty::ZERO, venue: v });
        }
    }
    drifts
}

/// Net YES position implied by holding `qty` of `side`.
pub fn signed(side: Side, qty: Qty) -> Qty {
    match side {
        Side::Yes => qty,
        Side::No => -qty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbytron_sdk::Venue;
    use proptest::prelude::*;

    fn m(d: &str) -> Money {
        Money::parse(d).unwrap()
    }

    #[test]
    fn partial_sales_realise_pro_rata_and_the_last_takes_the_rest() {
        let mut leg = Leg::default();
        leg.buy(Qty::from_contracts(3), m("1.00"), m("0.02")); // 1.02 for 3
        let pnl = leg.sell(Qty::from_contracts(1), m("0.40"), m("0.01")).unwrap();
        // cost of 1 of 3 at 1.02 = 0.34 (exact); 0.40 - 0.01 - 0.34 = 0.05
        assert_eq!(pnl, m("0.05"));
        assert_eq!(leg.cost, m("0.68"));
        let pnl = leg.sell(Qty::from_contracts(2), m("0.60"), m("0.01")).unwrap();
        assert_eq!(pnl, m("-0.09"));
        assert_eq!((leg.qty, leg.cost), (Qty::ZERO, Money::ZERO));
        assert_eq!(leg.realized, m("-0.04"), "cash in 0.98 - cash out 1.02");
        assert!(leg.sell(Qty::ONE, Money::ZERO, Money::ZERO).is_err());
    }

    #[test]
    fn settlement_pays_the_winning_side() {
        let mut yes = Leg::default();
        yes.buy(Qty::from_contracts(10), m("4.00"), m("0.17"));
        let mut no = Leg::default();
        no.buy(Qty::from_contracts(10), m("5.00"), m("0.10"));
        let (payout, pnl) = settlement_pnl(&[(Side::Yes, &yes), (Side::No, &no)], Some(Side::No));
        assert_eq!((payout, pnl), (m("10"), m("0.73")));
        let (payout, pnl) = settlement_pnl(&[(Side::Yes, &yes), (Side::No, &no)], None);
        assert_eq!((payout, pnl), (m("9.27"), Money::ZERO), "void returns cost");
    }

    #[test]
    fn drift_is_found_both_ways() {
        let k = |s: &str| MarketKey::new(Venue::Kalshi, s);
        let ours = BTreeMap::from([(k("A"), Qty::from_contracts(5)), (k("B"), Qty::from_contracts(-3))]);
        let venue = vec![
            VenuePosition { market: k("A"), yes_position: Qty::from_contracts(5) },
            VenuePosition { market: k("B"), yes_position: Qty::from_contracts(-2) },
            VenuePosition { market: k("C"), yes_position: Qty::from_contracts(1) },
        ];
        let d = reconcile(&ours, &venue);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0], Drift { market: k("B"), ours: Qty::from_contracts(-3), venue: Qty::from_contracts(-2) });
        assert_eq!(d[1].market, k("C"));
    }

    proptest! {
        /// Whatever the sequence of buys and partial sales, realised PnL over
        /// a fully closed leg is exactly cash in minus cash out.
        #[test]
        fn realised_equals_cash_flow(ops in prop::collection::vec((1i64..1_000_000_000, 0i64..2_000_000_000, 0i64..50_000_000), 1..20)) {
            let mut leg = Leg::default();
            let mut cash = Money::ZERO;
            for (i, (q, notional, fee)) in ops.iter().enumerate() {
                let (q, n, f) = (Qty::from_micros(*q), Money::from_micros(*notional), Money::from_micros(*fee));
                if i % 2 == 0 || leg.qty.is_zero() {
                    leg.buy(q, n, f);
                    cash -= n + f;
                } else {
                    let q = q.min(leg.qty);
                    leg.sell(q, n, f).unwrap();
                    cash += n - f;
                }
                prop_assert!(leg.cost >= Money::ZERO);
            }
            let q = leg.qty;
            leg.sell(q, Money::ZERO, Money::ZERO).unwrap();
            prop_assert_eq!(leg.realized, cash);
        }
    }
}
