//! The host's re-check of what a strategy proposes: the same SDK math on the
//! current books, then every risk limit. Nothing a strategy returns is traded
//! on its own say-so.

use arbytron_model::{MarketKey, TimestampMs};
use arbytron_sdk::sizing::{Plan, plan_at};
use arbytron_sdk::wire::{Candidate, LegsBuf};
use arbytron_sdk::{MarketId, Money, Opportunity, Price, Qty, Rounding, Side, Venue};

use crate::candidate::best_price;
use crate::links::Link;
use crate::markets::Markets;
use crate::risk::{Exposure, Reject, RiskState};

/// One leg the host has decided to buy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedLeg {
    pub market: MarketKey,
    pub market_id: MarketId,
    pub venue: Venue,
    pub side: Side,
    pub event: String,
    /// Contracts to buy (a pool leg receives at least this many tokens).
    pub quantity: Qty,
    /// Worst price per contract the order may pay (a pool: the average price, fee included).
    pub limit_price: Price,
    /// Cash to the venue including its fee (a pool: the investment).
    pub amount: Money,
    pub fee: Money,
    /// Gas and other costs outside the venue.
    pub fixed_cost: Money,
    /// Pool legs: the pool address and outcome token index.
    pub pool: Option<(String, u32)>,
    /// The market's price grid step (zero: any price), for repair orders.
    pub tick: Price,
}

/// A bundle the host will buy.
#[derive(Clone, Debug)]
pub struct Checked {
    pub plan: Plan,
    pub legs: Vec<PlannedLeg>,
    pub exposure: Exposure,
}

/// Re-price `opp` on the candidate the strategy just saw (built from the
/// current books) and apply every limit.
pub fn recheck(
    markets: &Markets,
    risk: &RiskState,
    link: &Link,
    buf: &LegsBuf,
    opp: &Opportunity,
    now: TimestampMs,
    resolves_at: TimestampMs,
) -> Result<Checked, Reject> {
    let limits = &risk.limits;
    if opp.link != link.id {
        return Err(Reject::Invalid(format!("opportunity for link {} while scoring link {}", opp.link, link.id)));
    }
    let candidate = Candidate::new(link.id, now, resolves_at, &buf.legs, &buf.data)
        .map_err(|e| Reject::Invalid(format!("candidate: {e}")))?;
    let outcomes = link.outcomes.len();
    if opp.orders.len() != outcomes {
        return Err(Reject::Invalid(format!("{} orders for {outcomes} outcomes", opp.orders.len())));
    }
    let q = opp.quantity;
    if !q.is_positive() {
        return Err(Reject::Invalid(format!("bundle quantity {q}")));
    }
    // One candidate leg per outcome, matching the strategy's orders.
    let mut choice = vec![usize::MAX; outcomes];
    for order in &opp.orders {
        let found = candidate.legs.iter().enumerate().find(|(_, l)| l.market == order.market && l.side == order.side);
        let Some((i, leg)) = found else {
            return Err(Reject::Invalid(format!(
                "order on market {} {} is not a tradable leg of this link",
                order.market,
                order.side.as_str()
            )));
        };
        let o = leg.outcome as usize;
        if choice[o] != usize::MAX {
            return Err(Reject::Invalid(format!("two orders for outcome {o}")));
        }
        if order.quantity != q {
            return Err(Reject::Invalid(format!("order quantity {} differs from bundle quantity {q}", order.quantity)));
        }
        choice[o] = i;
    }
    // Trade a size every chosen venue accepts: a whole multiple of each leg's
    // lot (Kalshi may only take whole contracts), at most what was proposed.
    let mut lot: i64 = 1;
    for &i in &choice {
        let leg = candidate.legs.leg(i);
        let step = markets.get(leg.market).and_then(|s| s.info.as_ref()).map(|i| i.lot().micros()).unwrap_or(1).max(1);
        lot = lcm(lot, step);
    }
    let q = Qty::from_micros(q.micros() / lot * lot);
    if !q.is_positive() {
        return Err(Reject::CannotFill(format!("proposed size {} is below one lot", opp.quantity)));
    }
    let plan = plan_at(&candidate, q, &choice).map_err(|e| Reject::CannotFill(e.to_string()))?;

    let mut legs = Vec::with_capacity(outcomes);
    let mut exposure = Exposure::default();
    for lp in &plan.legs {
        let s = markets.get(lp.market).ok_or_else(|| Reject::Invalid(format!("unknown market {}", lp.market)))?;
        markets
            .tradable(lp.market, now, limits.max_book_age_ms)
            .map_err(|why| Reject::Stale(format!("{}: {why}", s.key)))?;
        risk.check_market(lp.market)?;
        risk.check_venue(lp.venue, now)?;
        let strategy_limit = opp
            .orders
            .iter()
            .find(|o| o.market == lp.market && o.side == lp.side)
            .map(|o| o.limit_price)
            .unwrap_or(Price::ZERO);
        if lp.limit_price > strategy_limit {
            return Err(Reject::CannotFill(format!(
                "{} needs up to {} but the strategy's limit is {}",
                s.key, lp.limit_price, strategy_limit
            )));
        }
        let pool = s.pool_outcome(lp.side).map(|(a, o)| (a.to_string(), o as u32));
        // Slippage against the best price now: the best ask on a book, the
        // marginal price on a pool (so the pool's fee counts as slippage too).
        let best = match &pool {
            Some((address, outcome)) => markets
                .pool(address)
                .and_then(|p| arbytron_sdk::amm::marginal_price(&p.balances, *outcome as usize).ok()),
            None => best_price(markets, lp.market, lp.side, true),
        };
        if let Some(best) = best
            && best.is_positive()
        {
            let slip = (lp.limit_price.micros() - best.micros()) * 1_000_000 / best.micros();
            if slip > limits.max_slippage_ppm() as i64 {
                return Err(Reject::Slippage(s.key.to_string(), slip, limits.max_slippage_ppm()));
            }
        }
        exposure.add(lp.venue, s.event(), lp.cost);
        legs.push(PlannedLeg {
            market: s.key.clone(),
            market_id: lp.market,
            venue: lp.venue,
            side: lp.side,
            event: s.event().to_string(),
            quantity: lp.qty,
            limit_price: lp.limit_price,
            amount: lp.amount,
            fee: lp.fee,
            fixed_cost: lp.fixed_cost,
            pool,
            tick: s.tick(),
        });
    }

    if !plan.profit.is_positive() {
        return Err(Reject::Unprofitable(plan.profit));
    }
    if plan.profit < limits.min_profit {
        return Err(Reject::BelowMinProfit(plan.profit, limits.min_profit));
    }
    // Gross edge per contract, before fees: $1 minus what the contracts cost.
    let gross = plan.payout - (plan.cost - plan.fees);
    let per_contract = Money::from_micros(arbytron_sdk::money::div_round(
        gross.micros() as i128 * 1_000_000,
        q.micros() as i128,
        Rounding::Down,
    ) as i64);
    if per_contract < Money::from_micros(limits.min_spread.micros()) {
        return Err(Reject::BelowMinSpread(per_contract, limits.min_spread));
    }
    if plan.annualized_ppm < limits.min_apy_ppm() {
        return Err(Reject::BelowMinApy(plan.annualized_ppm, limits.min_apy_ppm()));
    }
    risk.check_exposure(&exposure)?;
    Ok(Checked { plan, legs, exposure })
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: i64, b: i64) -> i64 {
    a / gcd(a, b) * b
}

trait PositivePrice {
    fn is_positive(&self) -> bool;
}

impl PositivePrice for Price {
    fn is_positive(&self) -> bool {
        self.micros() > 0
    }
}
