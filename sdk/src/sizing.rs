//! Bundle sizing: how many contracts of an exhaustive bundle to buy, and where.
//!
//! A candidate's outcomes pay exactly $1 per contract together (one of them
//! wins). Each outcome has one or more legs that buy it (alternatives: a
//! Kalshi book, a Polymarket book, an AMM pool); a bundle picks one leg per
//! outcome and buys the same quantity `Q` on each. Its profit is
//!
//! ```text
//! P(Q) = Q x $1 - sum over outcomes of cost_leg(Q)
//! ```
//!
//! where a book leg's cost walks its asks (cash rounded up per fill, the
//! venue's fee over the fills, see [`crate::book`]), a pool leg's cost is the
//! smallest investment that buys at least `Q` tokens ([`amm::investment_for_tokens`]),
//! and both add the leg's fixed cost (gas) once the leg trades.
//!
//! # The search, and why it is right
//!
//! Every leg's cost is convex in `Q` before rounding: asks get dearer level by
//! level, the per-contract fee `c p (1 - p)` plus the price `p` rises with `p`,
//! and a pool's price rises with every token bought. So for a *fixed choice*
//! of legs, `P` is concave on the sizes where every chosen leg can fill
//! (`[max min_qty, min depth]`); fixed costs only shift it. For the cheapest
//! leg per outcome, `P(Q) = max over choices of P_choice(Q)`.
//!
//! - **Books only** (the common case, any number of alternatives): between two
//!   consecutive *breakpoints* (every level boundary of every leg, every leg's
//!   minimum size and depth limit, on the lot grid) every leg is linear in `Q`,
//!   so each outcome's cheapest cost is a minimum of lines (concave) and `P`
//!   is convex there: its maximum is at a breakpoint. We evaluate `P` exactly
//!   at every breakpoint. That is exact up to the venues' own rounding, which
//!   is bounded: a Kalshi leg's fee is rounded up to the cent per order, so `P`
//!   inside a segment can exceed both ends by less than one cent per Kalshi leg
//!   (plus $0.00001 per Polymarket fill and a micro-dollar per fill of cash
//!   rounding). We recover most of that: in every segment whose better end
//!   is within that bound of the best (or of zero, before any), we walk the
//!   Kalshi legs' cent steps from the better end inwards; between two steps
//!   every fee is flat and the profit linear, so the sizes just before a step
//!   are the only places rounding can hide more (with one Kalshi leg the
//!   first step point is the best, with several the walk goes up to
//!   [`WALK_STEPS`] steps). Tests compare with brute force over every lot
//!   (with and without a capital limit): the search is exactly optimal in
//!   about 98% of random cases, and never outside the bound.
//! - **Early stop**: once every leg trades and even the cheapest next
//!   contracts (price plus fee before rounding, per outcome) sum to $1, no
//!   larger size can earn more (beyond the same rounding bound), so the sweep
//!   stops; levels past that point are never priced.
//! - **With pools**: a pool's cost is curved, so the optimum can sit inside a
//!   segment. We enumerate the choices of legs (bounded, see
//!   [`MAX_CHOICES`]), and for each, `P_choice` is concave: a golden-section
//!   search on the lot grid finds its maximum, then the Kalshi cent steps
//!   around it are walked as above. The pool's integer rounding leaves
//!   plateaus of a few micro-dollars; tests compare with brute force.
//! - **Constraints**: `max_capital` (cost is monotone in `Q` for a fixed
//!   choice, so the largest affordable size is found by bisection), minimum
//!   profit, minimum return and annualised return (checked at every evaluated
//!   size; where the best size fails them, bisection finds the largest smaller
//!   size that passes). Whatever is returned satisfies every limit: it is
//!   re-evaluated from scratch before it is reported.
//!
//! Slippage: a book leg only uses levels priced within `max_slippage_ppm` of
//! its best ask; a pool leg only sizes whose average price (fee included)
//! stays within it of the price of its first token (`p_i / (1 - fee)`).

use crate::amm;
use crate::fees::FeeSchedule;
use crate::money::{Money, Price, Qty, Rounding, SCALE, div_round};
use crate::types::{MarketId, Opportunity, Order, Side, Venue};
use crate::wide::Recip;
use crate::wire::{Candidate, Leg, Level, Source};
use core::cell::Cell;

/// Choices of legs enumerated when pools are involved or a choice filter is
/// given; beyond it, the dearest alternatives (by the price of their first
/// lot) are dropped from the outcomes with the most legs.
pub const MAX_CHOICES: usize = 64;

/// Sizes are capped here (a billion contracts): far above any real book.
const MAX_QTY_MICROS: i64 = 1_000_000_000 * SCALE;

/// Milliseconds in 365 days: the annualisation basis.
pub const YEAR_MS: i64 = 365 * 24 * 60 * 60 * 1000;

/// What a bundle must respect.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct Limits {
    /// Most the bundle may cost, fees and fixed costs included.
    pub max_capital: Money,
    /// Per leg: worst price touched vs the leg's best price, parts per million.
    pub max_slippage_ppm: u32,
    /// Least profit worth trading (never below one micro-dollar).
    pub min_profit: Money,
    /// Least return on cost, parts per million.
    pub min_return_ppm: i64,
    /// Least annualised return (return x 365 days / time to resolution), ppm.
    pub min_annualized_ppm: i64,
    /// Sizes are multiples of this (0.01 contracts suits every venue; pools take any base unit).
    pub lot: Qty,
    /// Largest bundle size considered.
    pub max_qty: Qty,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_capital: Money::MAX,
            max_slippage_ppm: u32::MAX,
            min_profit: Money::from_micros(1),
            min_return_ppm: 0,
            min_annualized_ppm: 0,
            lot: Qty::from_hundredths(1),
            max_qty: Qty::MAX,
        }
    }
}

impl Limits {
    /// From a strategy's parameters, every one optional (defaults above):
    /// `max_capital` (dollars), `max_slippage_ppm`, `min_profit` (dollars),
    /// `min_return_ppm`, `min_apy_ppm` (annualised return floor; alias
    /// `min_annualized_ppm`), `lot` and `max_qty` (contracts). Errors name
    /// the parameter and say why.
    pub fn from_params(p: &crate::types::Params) -> Result<Limits, String> {
        let d = Limits::default();
        let apy_key = if p.get("min_annualized_ppm").is_some() { "min_annualized_ppm" } else { "min_apy_ppm" };
        let l = Limits {
            max_capital: p.parse_or("max_capital", d.max_capital)?,
            max_slippage_ppm: p.parse_or("max_slippage_ppm", d.max_slippage_ppm)?,
            min_profit: p.parse_or("min_profit", d.min_profit)?,
            min_return_ppm: p.parse_or("min_return_ppm", d.min_return_ppm)?,
            min_annualized_ppm: p.parse_or(apy_key, d.min_annualized_ppm)?,
            lot: p.parse_or("lot", d.lot)?,
            max_qty: p.parse_or("max_qty", d.max_qty)?,
        };
        if !l.max_capital.is_positive() {
            return Err(format!("parameter max_capital={}: must be positive", l.max_capital));
        }
        if l.min_profit.is_negative() {
            return Err(format!("parameter min_profit={}: must not be negative", l.min_profit));
        }
        if !l.lot.is_positive() {
            return Err(format!("parameter lot={}: must be positive (0.01 suits every venue)", l.lot));
        }
        if !l.max_qty.is_positive() {
            return Err(format!("parameter max_qty={}: must be positive", l.max_qty));
        }
        Ok(l)
    }
}

/// One leg of a sized bundle.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LegPlan {
    /// Index of the leg in the candidate.
    pub leg: usize,
    pub outcome: u32,
    pub market: MarketId,
    pub venue: Venue,
    pub side: Side,
    /// Contracts to buy (a pool leg receives at least this many tokens).
    pub qty: Qty,
    /// Book: the worst level price touched. Pool: the average price, fee included, rounded up.
    pub limit_price: Price,
    /// Cash paid to the venue: price times quantity plus fee (a pool: the investment).
    pub amount: Money,
    /// The venue's fee inside `amount` (a pool: the part of the investment the pool keeps).
    pub fee: Money,
    /// Paid once per order outside the venue (gas).
    pub fixed_cost: Money,
    /// `amount + fixed_cost`.
    pub cost: Money,
    /// Tokens a pool leg actually receives (at least `qty`); `qty` for books.
    pub received: Qty,
}

/// A sized bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Contracts per outcome; the bundle pays exactly this many dollars.
    pub quantity: Qty,
    pub legs: Vec<LegPlan>,
    /// Everything paid: amounts plus fixed costs.
    pub cost: Money,
    /// Venue fees plus fixed costs.
    pub fees: Money,
    pub payout: Money,
    pub profit: Money,
    pub return_ppm: i64,
    pub annualized_ppm: i64,
}

impl Plan {
    /// The opportunity a strategy returns for this plan.
    pub fn to_opportunity(&self, link: u32) -> Opportunity {
        Opportunity {
            link,
            quantity: self.quantity,
            orders: self
                .legs
                .iter()
                .map(|l| Order {
                    market: l.market,
                    side: l.side,
                    quantity: l.qty,
                    limit_price: l.limit_price,
                    amount: l.amount,
                    fee: l.fee,
                })
                .collect(),
            cost: self.cost,
            fees: self.fees,
            payout: self.payout,
            profit: self.profit,
            return_ppm: self.return_ppm,
            annualized_ppm: self.annualized_ppm,
        }
    }
}

/// A point of the profit curve (cheapest leg per outcome at that size).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CurvePoint {
    pub qty: Qty,
    pub cost: Money,
    pub profit: Money,
}

/// Why a candidate cannot be sized at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizingError {
    #[error("the candidate has no legs")]
    NoLegs,
    #[error("outcome {0} has no leg that can trade")]
    OutcomeWithoutLegs(u32),
    #[error("leg {leg} cannot buy {qty} contracts")]
    LegCannotFill { leg: usize, qty: Qty },
    #[error("leg {leg} belongs to outcome {got}, not {want}")]
    WrongOutcome { leg: usize, got: u32, want: usize },
    #[error("a choice needs one leg per outcome: {got} given for {want} outcomes")]
    ChoiceLength { got: usize, want: usize },
}

/// The best bundle for a candidate under `limits`, as an opportunity; `None`
/// if nothing profitable fits. Strategies and the host both call this.
pub fn best_opportunity(c: &Candidate<'_>, limits: &Limits) -> Option<Opportunity> {
    let model = Model::new(c, limits).ok()?;
    let (q, choice) = model.best(None)?;
    let choice = &choice[..model.outcomes];
    // Built straight from the legs (one allocation), re-evaluated from scratch.
    let mut orders = Vec::with_capacity(choice.len());
    let (mut cost, mut fees) = (Money::ZERO, Money::ZERO);
    for &i in choice {
        let l = model.leg_plan(i, q).ok()?;
        cost = cost.checked_add(l.cost)?;
        fees = fees.checked_add(l.fee + l.fixed_cost)?;
        orders.push(Order {
            market: l.market,
            side: l.side,
            quantity: l.qty,
            limit_price: l.limit_price,
            amount: l.amount,
            fee: l.fee,
        });
    }
    let (return_ppm, annualized_ppm) = model.returns(q, cost.micros());
    let quantity = Qty::from_micros(q);
    let opp = Opportunity {
        link: c.link,
        quantity,
        orders,
        cost,
        fees,
        payout: quantity.payout(),
        profit: quantity.payout() - cost,
        return_ppm,
        annualized_ppm,
    };
    (model.meets_limits(q, cost.micros()) && opp.profit.is_positive() && opp.cost < opp.payout).then_some(opp)
}

/// The best bundle, cheapest leg per outcome.
pub fn best_plan(c: &Candidate<'_>, limits: &Limits) -> Option<Plan> {
    best_impl(c, limits, None)
}

/// The best bundle among the choices `allow` accepts. A choice lists, per
/// outcome, the index (in the candidate) of the leg that buys it; e.g. a
/// strategy that only wants legs on different venues checks that here.
pub fn best_plan_with(c: &Candidate<'_>, limits: &Limits, allow: impl Fn(&[usize]) -> bool) -> Option<Plan> {
    best_impl(c, limits, Some(&allow))
}

/// A filter on choices of legs (one candidate leg index per outcome).
type ChoiceFilter<'f> = &'f dyn Fn(&[usize]) -> bool;

fn best_impl(c: &Candidate<'_>, limits: &Limits, allow: Option<ChoiceFilter<'_>>) -> Option<Plan> {
    let model = Model::new(c, limits).ok()?;
    let (q, choice) = model.best(allow)?;
    model.plan(q, &choice[..model.outcomes]).ok().filter(|p| model.acceptable(p))
}

/// Evaluate the bundle at a given size with a given choice of legs (one
/// candidate leg index per outcome): the host's re-check before it trades.
/// Limits other than the lot are not applied here; compare the plan with them.
pub fn plan_at(c: &Candidate<'_>, qty: Qty, choice: &[usize]) -> Result<Plan, SizingError> {
    let limits = Limits { lot: Qty::from_micros(1), ..Limits::default() };
    let model = Model::new(c, &limits)?;
    if choice.len() != model.outcomes {
        return Err(SizingError::ChoiceLength { got: choice.len(), want: model.outcomes });
    }
    for (o, &leg) in choice.iter().enumerate() {
        let got = model.legs.get(leg).map(|l| l.leg.outcome).ok_or(SizingError::LegCannotFill { leg, qty })?;
        if got as usize != o {
            return Err(SizingError::WrongOutcome { leg, got, want: o });
        }
    }
    model.plan(qty.micros(), choice)
}

/// Profit at every breakpoint the search considers (cheapest leg per outcome,
/// no limits but the lot and slippage): the curve a human checks by eye.
pub fn profit_curve(c: &Candidate<'_>, limits: &Limits) -> Vec<CurvePoint> {
    let Ok(model) = Model::new(c, limits) else { return Vec::new() };
    let mut used = [0usize; MAX_OUTCOMES];
    let mut out = Vec::new();
    model.merge_points(None, |q| {
        if let Some(cost) = model.total_cost(q, None, &mut used) {
            out.push(CurvePoint {
                qty: Qty::from_micros(q),
                cost: Money::from_micros(cost),
                profit: Money::from_micros(q - cost),
            });
        }
        true
    });
    out
}

/// Outcomes a bundle may have (a neg-risk event with more is not a candidate we size).
pub const MAX_OUTCOMES: usize = 64;

/// Cent steps walked from one size when looking for rounding pockets: where
/// profit is flat, every step is within rounding of the best and the walk
/// would never end; the documented bound holds whatever this is.
pub const WALK_STEPS: usize = 6;

enum Kind {
    Book {
        /// This leg's non-empty levels within the slippage limit, in `Model::lv` / `Model::pre`.
        levels: core::ops::Range<usize>,
        /// How many of them have their `Pre` computed (lazily: a search that
        /// stops at the third level never prices the tenth).
        built: Cell<usize>,
        /// The divisor of the fee's linear form (see [`FeeSchedule::taker_linear`]).
        div: Option<&'static Recip>,
    },
    Pool {
        balances: Vec<u128>,
        fee_wad: u64,
        outcome: usize,
        /// Highest average price (fee included) the slippage limit allows, micro-dollars.
        max_avg: i64,
        /// The last `(investment, tokens)` solved, to warm-start the next size.
        hint: Cell<Option<(u128, u128)>>,
    },
}

/// A book level: where it ends (cumulative quantity) and its price.
#[derive(Copy, Clone, Debug)]
struct Lvl {
    end: i64,
    price: i64,
}

/// A book level with everything before it summed, so a leg's cost at any
/// size is a lookup plus one partial fill.
#[derive(Copy, Clone, Debug, Default)]
struct Pre {
    /// Cash for all earlier levels (each rounded up).
    cash_before: i64,
    /// Fee units of all earlier levels (each rounded up).
    units_before: i64,
    /// Highest price up to and including this level.
    worst: i64,
    /// The fee's linear factor at this price; `u128::MAX` when there is none
    /// (the exact slow path prices fills at this level).
    factor: u128,
    /// This level's price plus its fee per contract before rounding (rounded
    /// down): a lower bound on what each further contract here costs.
    marginal: i64,
}

struct LegModel<'a> {
    leg: Leg<'a>,
    kind: Kind,
    /// Smallest and largest size this leg can buy, micro-contracts on the lot grid; `lo > hi` if none.
    lo: i64,
    hi: i64,
}

#[derive(Copy, Clone, Debug, Default)]
struct LegEval {
    amount: i64,
    fee: i64,
    limit: i64,
    /// `amount + fixed cost`
    cost: i64,
}

#[derive(Copy, Clone, Debug)]
struct Best {
    q: i64,
    profit: i64,
    choice: [u16; MAX_OUTCOMES],
}

struct Model<'a> {
    legs: Vec<LegModel<'a>>,
    lv: Vec<Lvl>,
    pre: Vec<Cell<Pre>>,
    outcomes: usize,
    /// Usable leg indices grouped by outcome: `order[start[o]..start[o + 1]]`.
    order: Vec<usize>,
    start: [u16; MAX_OUTCOMES + 1],
    lot: i64,
    has_pool: bool,
    limits: Limits,
    millis_to_resolution: i64,
}

#[inline]
fn floor_lot(q: i64, lot: i64) -> i64 {
    q.div_euclid(lot) * lot
}

#[inline]
fn ceil_lot(q: i64, lot: i64) -> i64 {
    (-q).div_euclid(lot).wrapping_neg() * lot
}

/// `ceil(q * p / 1e6)`: cash for `q` micro-contracts at `p` micro-dollars.
#[inline]
fn cash_up(q: i64, p: i64) -> i64 {
    match q.checked_mul(p) {
        Some(n) => (n + (SCALE - 1)) / SCALE,
        None => i64::try_from(div_round(q as i128 * p as i128, SCALE as i128, Rounding::Up)).unwrap_or(i64::MAX),
    }
}

/// A fill's fee units: the linear form when it applies and fits, else the schedule's exact method.
#[inline]
fn fill_units(fee: &FeeSchedule, div: Option<&Recip>, factor: u128, qty: i64, price: i64) -> i64 {
    if let Some(div) = div
        && factor != u128::MAX
        && let Some(n) = factor.checked_mul(qty as u128)
    {
        return div.div_ceil(n).min((i64::MAX / 2) as u128) as i64;
    }
    let p = Price::from_micros(price).unwrap_or(Price::ONE);
    fee.fill_units(Qty::from_micros(qty), p, false)
}

impl<'a> Model<'a> {
    fn new(c: &Candidate<'a>, limits: &Limits) -> Result<Model<'a>, SizingError> {
        if c.legs.is_empty() {
            return Err(SizingError::NoLegs);
        }
        let lot = limits.lot.micros().max(1);
        let max_q = floor_lot(limits.max_qty.micros().min(MAX_QTY_MICROS), lot);
        let mut legs = Vec::with_capacity(c.legs.len());
        let mut lv: Vec<Lvl> = Vec::with_capacity(c.legs.len() * 10);
        let mut has_pool = false;
        for leg in c.legs.iter() {
            let lo = ceil_lot(leg.min_qty.micros().max(lot), lot);
            let (kind, depth) = match leg.source {
                Source::Book(levels) => {
                    let levels = within_slippage(levels, limits.max_slippage_ppm);
                    let l0 = lv.len();
                    let mut end = 0i64;
                    for l in levels {
                        if l.qty.is_positive() {
                            end = end.saturating_add(l.qty.micros());
                            lv.push(Lvl { end, price: l.price.micros() });
                        }
                    }
                    let div = leg.fee.taker_linear(Price::ZERO).map(|(_, d)| d);
                    (Kind::Book { levels: l0..lv.len(), built: Cell::new(0), div }, end)
                }
                Source::Pool(p) => {
                    has_pool = true;
                    let balances: Vec<u128> = p.balances.iter().map(|&b| b.max(0) as u128).collect();
                    let (max_avg, depth) = pool_limits(&balances, p.fee_wad, p.outcome, limits);
                    let kind =
                        Kind::Pool { balances, fee_wad: p.fee_wad, outcome: p.outcome, max_avg, hint: Cell::new(None) };
                    (kind, depth)
                }
            };
            let hi = floor_lot(depth.min(max_q), lot);
            legs.push(LegModel { leg, kind, lo, hi });
        }
        let outcomes = c.legs.outcome_count();
        if outcomes > MAX_OUTCOMES {
            return Err(SizingError::OutcomeWithoutLegs(MAX_OUTCOMES as u32));
        }
        let mut order: Vec<usize> = (0..legs.len()).filter(|&i| legs[i].lo <= legs[i].hi).collect();
        order.sort_by_key(|&i| legs[i].leg.outcome);
        if legs.len() > u16::MAX as usize {
            return Err(SizingError::NoLegs);
        }
        let mut start = [0u16; MAX_OUTCOMES + 1];
        for &i in &order {
            start[legs[i].leg.outcome as usize + 1] += 1;
        }
        for o in 0..outcomes {
            start[o + 1] += start[o];
        }
        let pre = vec![Cell::new(Pre::default()); lv.len()];
        Ok(Model {
            legs,
            lv,
            pre,
            outcomes,
            order,
            start,
            lot,
            has_pool,
            limits: *limits,
            millis_to_resolution: c.millis_to_resolution(),
        })
    }

    fn outcome_legs(&self, o: usize) -> &[usize] {
        &self.order[self.start[o] as usize..self.start[o + 1] as usize]
    }

    /// The legs that may buy outcome `o`: the chosen one, or every usable one.
    #[inline]
    fn legs_of<'s>(&'s self, o: usize, choice: Option<&'s [usize]>) -> &'s [usize] {
        match choice {
            Some(ch) => core::slice::from_ref(&ch[o]),
            None => self.outcome_legs(o),
        }
    }

    /// The summed state of leg `l`'s `k`-th level (relative to the leg),
    /// computing it and any level before it on first use.
    fn level_pre(&self, l: &LegModel<'_>, k: usize) -> Pre {
        let Kind::Book { levels, built, div } = &l.kind else { return Pre::default() };
        let lv = &self.lv[levels.clone()];
        let pre = &self.pre[levels.clone()];
        let fee = &l.leg.fee;
        let unit = fee.fill_unit_micros() as u128;
        let mut b = built.get();
        while b <= k {
            let here = lv[b];
            let mut p = if b == 0 {
                Pre::default()
            } else {
                // Everything up to the previous level, filled completely.
                let prev = pre[b - 1].get();
                let below = lv[b - 1];
                let qty = below.end - if b >= 2 { lv[b - 2].end } else { 0 };
                Pre {
                    cash_before: prev.cash_before.saturating_add(cash_up(qty, below.price)),
                    units_before: prev.units_before.saturating_add(fill_units(
                        fee,
                        *div,
                        prev.factor,
                        qty,
                        below.price,
                    )),
                    worst: prev.worst,
                    ..Pre::default()
                }
            };
            let linear = fee.taker_linear(Price::from_micros(here.price).unwrap_or(Price::ONE));
            p.factor = linear.map_or(u128::MAX, |(f, _)| f);
            // Fee per contract before rounding, rounded down: factor * 1e6 / D fill units.
            let per_contract = linear
                .and_then(|(f, d)| f.checked_mul(SCALE as u128 * unit).map(|n| d.div_rem(n).0))
                .map_or(0, |m| m.min(SCALE as u128) as i64);
            p.marginal = here.price + per_contract;
            p.worst = p.worst.max(here.price);
            pre[b].set(p);
            b += 1;
        }
        built.set(b.max(built.get()));
        pre[k].get()
    }

    /// Leg `l`'s first level (relative index) ending at or after `q` (`>= q`)
    /// or strictly after it (`strict`).
    #[inline]
    fn level_at(&self, l: &LegModel<'_>, q: i64, strict: bool) -> Option<usize> {
        let Kind::Book { levels, .. } = &l.kind else { return None };
        self.lv[levels.clone()].iter().position(|v| if strict { v.end > q } else { v.end >= q })
    }

    /// Cost of leg `l` at `q`, or `None` if it cannot buy exactly that.
    fn leg_eval(&self, l: &LegModel<'_>, q: i64) -> Option<LegEval> {
        if q < l.lo || q > l.hi {
            return None;
        }
        let fixed = l.leg.fixed_cost.micros();
        match &l.kind {
            Kind::Book { levels, div, .. } => {
                let k = self.level_at(l, q, false)?;
                let lv = &self.lv[levels.clone()];
                let p = self.level_pre(l, k);
                let part = q - if k == 0 { 0 } else { lv[k - 1].end };
                let price = lv[k].price;
                let cash = p.cash_before.checked_add(cash_up(part, price))?;
                let units = p.units_before.saturating_add(fill_units(&l.leg.fee, *div, p.factor, part, price));
                let fee = l.leg.fee.order_fee(units).micros();
                let amount = cash.checked_add(fee)?;
                Some(LegEval { amount, fee, limit: p.worst, cost: amount.checked_add(fixed)? })
            }
            Kind::Pool { balances, fee_wad, outcome, max_avg, hint } => {
                let x = amm::investment_for_tokens_near(balances, *fee_wad, *outcome, q as u128, hint.get()).ok()?;
                hint.set(Some((x, q as u128)));
                let x = i64::try_from(x).ok()?;
                let avg = div_round(x as i128 * SCALE as i128, q as i128, Rounding::Up) as i64;
                if avg > *max_avg || avg > SCALE {
                    return None;
                }
                let fee = i64::try_from(amm::buy_fee(*fee_wad, x as u128)).ok()?;
                Some(LegEval { amount: x, fee, limit: avg, cost: x.checked_add(fixed)? })
            }
        }
    }

    /// What leg `l` pays at least for each contract after `q` (price plus
    /// fee before rounding): a lower bound on its marginal cost from there on.
    fn next_price(&self, l: &LegModel<'_>, q: i64) -> i64 {
        match &l.kind {
            Kind::Book { .. } => self.level_at(l, q, true).map_or(i64::MAX / 4, |k| self.level_pre(l, k).marginal),
            Kind::Pool { .. } => 0,
        }
    }

    /// Total cost at `q`: the cheapest leg per outcome (`choice == None`) or
    /// the chosen legs; records the legs used in `used`.
    fn total_cost(&self, q: i64, choice: Option<&[usize]>, used: &mut [usize; MAX_OUTCOMES]) -> Option<i64> {
        let mut total: i64 = 0;
        for (o, slot) in used.iter_mut().enumerate().take(self.outcomes) {
            let mut best: Option<(i64, usize)> = None;
            for &i in self.legs_of(o, choice) {
                if let Some(e) = self.leg_eval(&self.legs[i], q)
                    && best.is_none_or(|(c, _)| e.cost < c)
                {
                    best = Some((e.cost, i));
                }
            }
            let (cost, i) = best?;
            *slot = i;
            total = total.checked_add(cost)?;
        }
        Some(total)
    }

    /// Whether a size with this cost meets every limit.
    #[inline]
    fn meets_limits(&self, q: i64, cost: i64) -> bool {
        let profit = q - cost;
        if cost > self.limits.max_capital.micros() || profit < self.limits.min_profit.micros().max(1) || cost <= 0 {
            return false;
        }
        // A positive profit already meets return floors at or below zero.
        if self.limits.min_return_ppm <= 0 && self.limits.min_annualized_ppm <= 0 {
            return true;
        }
        let ret = div_round(profit as i128 * SCALE as i128, cost as i128, Rounding::Down);
        if ret < self.limits.min_return_ppm as i128 {
            return false;
        }
        annualize(ret, self.millis_to_resolution) >= self.limits.min_annualized_ppm as i128
    }

    fn acceptable(&self, p: &Plan) -> bool {
        self.meets_limits(p.quantity.micros(), p.cost.micros())
            && p.profit.is_positive()
            && p.payout == p.quantity.payout()
            && p.cost < p.payout
    }

    /// The sizes where a bundle can exist: `[max over outcomes of the
    /// smallest leg minimum, min over outcomes of the largest leg depth]`.
    fn range(&self, choice: Option<&[usize]>) -> Option<(i64, i64)> {
        let (mut lo_all, mut hi_all) = (i64::MIN, i64::MAX);
        for o in 0..self.outcomes {
            let legs = self.legs_of(o, choice);
            lo_all = lo_all.max(legs.iter().map(|&i| self.legs[i].lo).min()?);
            hi_all = hi_all.min(legs.iter().map(|&i| self.legs[i].hi).max()?);
        }
        (lo_all <= hi_all).then_some((lo_all, hi_all))
    }

    /// Visit every breakpoint of the selected legs in ascending order, once
    /// each, within the feasible range; stop when `f` returns false. Points
    /// are generated as the walk reaches them (a search that stops early
    /// never looks at the deeper levels).
    fn merge_points(&self, choice: Option<&[usize]>, mut f: impl FnMut(i64) -> bool) {
        let Some((lo, hi)) = self.range(choice) else { return };
        let sel: &[usize] = choice.unwrap_or(&self.order);
        let mut buf = [PointCursor::default(); 2 * MAX_OUTCOMES];
        let mut spill;
        let cursors: &mut [PointCursor] = if sel.len() <= buf.len() {
            &mut buf[..sel.len()]
        } else {
            spill = vec![PointCursor::default(); sel.len()];
            &mut spill
        };
        let mut last = lo - 1;
        if !f(lo) {
            return;
        }
        last = last.max(lo);
        loop {
            let mut next = i64::MAX;
            for (c, &i) in cursors.iter_mut().zip(sel) {
                if let Some(p) = self.next_point(&self.legs[i], c, last) {
                    next = next.min(p);
                }
            }
            if next >= hi {
                if last < hi {
                    f(hi);
                }
                return;
            }
            last = next;
            if !f(next) {
                return;
            }
        }
    }

    /// Leg `l`'s first breakpoint above `after` (not consumed: the cursor only
    /// moves past points at or below `after`). Breakpoints come in ascending
    /// order: the lot grid around each level's end, merged with where the leg
    /// starts and stops trading.
    fn next_point(&self, l: &LegModel<'_>, c: &mut PointCursor, after: i64) -> Option<i64> {
        let lot = self.lot;
        let extras = [l.lo - lot, l.lo, l.hi, l.hi + lot];
        let pre = match &l.kind {
            Kind::Book { levels, .. } => &self.lv[levels.clone()],
            Kind::Pool { .. } => &[],
        };
        loop {
            let boundary = pre.get(c.level).map(|p| {
                let f = floor_lot(p.end, lot);
                if c.upper && f != p.end { f + lot } else { f }
            });
            let extra = extras.get(c.extra).copied();
            let (p, from_level) = match (boundary, extra) {
                (Some(b), Some(e)) if e < b => (e, false),
                (Some(b), _) => (b, true),
                (None, Some(e)) => (e, false),
                (None, None) => return None,
            };
            // Peek: only points at or below `after` are consumed.
            if p > after {
                return Some(p);
            }
            if from_level {
                if c.upper {
                    c.level += 1;
                }
                c.upper = !c.upper;
            } else {
                c.extra += 1;
            }
        }
    }

    /// The best size for one choice of legs (`Some`) or the cheapest leg per outcome (`None`).
    fn search(&self, choice: Option<&[usize]>) -> Option<Best> {
        let mut s = Searcher {
            model: self,
            choice,
            best: None,
            used: [0; MAX_OUTCOMES],
            segments: [Segment::default(); 8],
            segments_len: 0,
        };
        let has_pool = choice.is_some_and(|ch| ch.iter().any(|&i| matches!(self.legs[i].kind, Kind::Pool { .. })));
        if has_pool {
            // Concave for a fixed choice: golden section over the affordable range.
            let (lo, hi) = self.range(choice)?;
            let _ = s.try_point(lo);
            if let Some(hi) = s.affordable(lo, hi) {
                let q = s.golden(lo, hi);
                if s.try_point(q) == Some(false) {
                    s.bisect_limit(lo, q);
                }
            }
            // Kalshi's cent rounding: the steps around the best size.
            s.refine_kalshi();
        } else {
            // The segments on either side of the best breakpoint are walked here.
            s.sweep();
            s.refine_segments();
        }
        s.best
    }

    /// Call `f` with every choice of one leg per outcome (pruned to `MAX_CHOICES`).
    fn for_each_choice(&self, mut f: impl FnMut(&[usize])) {
        let mut lists: Vec<Vec<usize>> = (0..self.outcomes).map(|o| self.outcome_legs(o).to_vec()).collect();
        if lists.iter().any(|l| l.is_empty()) {
            return;
        }
        // Prune: drop the dearest first lot from the longest list until few enough.
        let price_of = |i: usize| {
            let l = &self.legs[i];
            self.leg_eval(l, l.lo)
                .map_or(i64::MAX, |e| div_round(e.cost as i128 * SCALE as i128, l.lo as i128, Rounding::Up) as i64)
        };
        for list in lists.iter_mut() {
            list.sort_by_key(|&i| price_of(i));
        }
        while lists.iter().map(|l| l.len()).product::<usize>() > MAX_CHOICES {
            if let Some(longest) = lists.iter_mut().max_by_key(|l| l.len()) {
                longest.pop();
            }
        }
        let mut idx = vec![0usize; self.outcomes];
        let mut choice = vec![0usize; self.outcomes];
        loop {
            for o in 0..self.outcomes {
                choice[o] = lists[o][idx[o]];
            }
            f(&choice);
            let mut o = 0;
            loop {
                if o == self.outcomes {
                    return;
                }
                idx[o] += 1;
                if idx[o] < lists[o].len() {
                    break;
                }
                idx[o] = 0;
                o += 1;
            }
        }
    }

    /// The best size and choice of legs, over the choices `allow` accepts.
    fn best(&self, allow: Option<ChoiceFilter<'_>>) -> Option<(i64, [usize; MAX_OUTCOMES])> {
        let best = if allow.is_none() && !self.has_pool {
            // Cheapest leg per outcome at every size: exact over any number of alternatives.
            self.search(None)
        } else {
            let mut best: Option<Best> = None;
            self.for_each_choice(|choice| {
                if allow.is_some_and(|f| !f(choice)) {
                    return;
                }
                if let Some(b) = self.search(Some(choice))
                    && best.as_ref().is_none_or(|x| b.profit > x.profit || (b.profit == x.profit && b.q < x.q))
                {
                    best = Some(b);
                }
            });
            best
        }?;
        let mut choice = [0usize; MAX_OUTCOMES];
        for (c, &b) in choice.iter_mut().zip(&best.choice[..self.outcomes]) {
            *c = b as usize;
        }
        Some((best.q, choice))
    }

    /// Leg `i` bought at `q`, evaluated from scratch.
    fn leg_plan(&self, i: usize, q: i64) -> Result<LegPlan, SizingError> {
        let l = &self.legs[i];
        let cannot = || SizingError::LegCannotFill { leg: i, qty: Qty::from_micros(q) };
        let e = self.leg_eval(l, q).ok_or_else(cannot)?;
        let received = match &l.kind {
            Kind::Book { .. } => q,
            Kind::Pool { balances, fee_wad, outcome, .. } => {
                let t = amm::calc_buy_amount(balances, *fee_wad, e.amount as u128, *outcome).map_err(|_| cannot())?;
                i64::try_from(t).map_err(|_| cannot())?
            }
        };
        Ok(LegPlan {
            leg: i,
            outcome: l.leg.outcome,
            market: l.leg.market,
            venue: l.leg.venue,
            side: l.leg.side,
            qty: Qty::from_micros(q),
            limit_price: Price::from_micros(e.limit).map_err(|_| cannot())?,
            amount: Money::from_micros(e.amount),
            fee: Money::from_micros(e.fee),
            fixed_cost: l.leg.fixed_cost,
            cost: Money::from_micros(e.cost),
            received: Qty::from_micros(received),
        })
    }

    /// Return on cost and its annualised figure, ppm (rounded down, clamped).
    fn returns(&self, q: i64, cost: i64) -> (i64, i64) {
        let profit = q - cost;
        let ret = if cost > 0 { div_round(profit as i128 * SCALE as i128, cost as i128, Rounding::Down) } else { 0 };
        let clamp = |v: i128| v.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        (clamp(ret), clamp(annualize(ret, self.millis_to_resolution)))
    }

    /// The full plan at `q` with `choice`, evaluated from scratch.
    fn plan(&self, q: i64, choice: &[usize]) -> Result<Plan, SizingError> {
        let mut legs = Vec::with_capacity(choice.len());
        let (mut cost, mut fees) = (0i64, 0i64);
        for &i in choice {
            let l = self.leg_plan(i, q)?;
            let overflow = || SizingError::LegCannotFill { leg: i, qty: Qty::from_micros(q) };
            cost = cost.checked_add(l.cost.micros()).ok_or_else(overflow)?;
            fees = fees.checked_add(l.fee.micros() + l.fixed_cost.micros()).ok_or_else(overflow)?;
            legs.push(l);
        }
        let (return_ppm, annualized_ppm) = self.returns(q, cost);
        Ok(Plan {
            quantity: Qty::from_micros(q),
            legs,
            cost: Money::from_micros(cost),
            fees: Money::from_micros(fees),
            payout: Qty::from_micros(q).payout(),
            profit: Money::from_micros(q - cost),
            return_ppm,
            annualized_ppm,
        })
    }
}

/// `return x 365 days / time to resolution`, rounded down.
fn annualize(return_ppm: i128, millis: i64) -> i128 {
    div_round(return_ppm * YEAR_MS as i128, millis.max(1) as i128, Rounding::Down)
}

/// Levels priced within `ppm` of the best (first) one; stops at the first
/// level beyond it (levels come best first).
fn within_slippage(levels: &[Level], ppm: u32) -> &[Level] {
    let Some(first) = levels.iter().position(|l| l.qty.is_positive()) else { return &levels[..0] };
    let best = levels[first].price.micros() as i128;
    let limit = div_round(best * (SCALE as i128 + ppm as i128), SCALE as i128, Rounding::Down);
    let end = levels.iter().position(|l| l.price.micros() as i128 > limit).unwrap_or(levels.len());
    &levels[..end]
}

/// A pool leg's slippage limit on the average price, and the most tokens it allows.
fn pool_limits(balances: &[u128], fee_wad: u64, outcome: usize, limits: &Limits) -> (i64, i64) {
    let fee = fee_wad as u128;
    let Ok(p) = amm::marginal_price(balances, outcome) else { return (0, 0) };
    if fee >= amm::ONE {
        return (0, 0);
    }
    if limits.max_slippage_ppm as i64 >= 100 * SCALE {
        return (SCALE, MAX_QTY_MICROS);
    }
    // First token's price p / (1 - fee), times (1 + slippage), rounded down.
    let first = crate::wide::mul_div_floor(p.micros() as u128, amm::ONE, amm::ONE - fee).unwrap_or(u128::MAX);
    let limit = crate::wide::mul_div_floor(first, SCALE as u128 + limits.max_slippage_ppm as u128, SCALE as u128)
        .unwrap_or(u128::MAX)
        .min(SCALE as u128) as i64;
    let Ok(x) = amm::max_investment_at_or_below(balances, fee_wad, outcome, Price::from_micros_const(limit)) else {
        return (0, 0);
    };
    let tokens = amm::calc_buy_amount(balances, fee_wad, x, outcome).unwrap_or(0);
    (limit, i64::try_from(tokens).unwrap_or(i64::MAX).min(MAX_QTY_MICROS))
}

/// Where a leg's breakpoint walk is: the level whose end comes next (its lot
/// floor, then its lot ceiling) and the next of the four start/stop sizes.
#[derive(Copy, Clone, Debug, Default)]
struct PointCursor {
    level: usize,
    upper: bool,
    extra: usize,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Ok,
    /// Costs more than `max_capital` (which can bind between two breakpoints).
    OverCapital,
    /// Profitable enough but below a return floor (which can too).
    BelowReturn,
    /// Not profitable enough.
    Unprofitable,
}

struct Searcher<'m, 'a, 'c> {
    model: &'m Model<'a>,
    choice: Option<&'c [usize]>,
    best: Option<Best>,
    used: [usize; MAX_OUTCOMES],
    /// Segments where Kalshi rounding may hide a better size (the most promising kept).
    segments: [Segment; 8],
    segments_len: usize,
}

/// Two consecutive breakpoints with a bundle, and their profits.
#[derive(Copy, Clone, Debug, Default)]
struct Segment {
    from: i64,
    from_profit: i64,
    to: i64,
    to_profit: i64,
}

impl Segment {
    fn top(&self) -> i64 {
        self.from_profit.max(self.to_profit)
    }
}

impl Searcher<'_, '_, '_> {
    /// Evaluate `q`: `None` if no bundle exists there, `Some(meets limits)` otherwise.
    fn try_point(&mut self, q: i64) -> Option<bool> {
        self.eval(q).map(|(_, v)| v == Verdict::Ok)
    }

    /// Evaluate `q` once: its cost and which kind of limit it fails, keeping
    /// it as the best if it is; leaves the legs used in `self.used`.
    fn eval(&mut self, q: i64) -> Option<(i64, Verdict)> {
        let cost = self.model.total_cost(q, self.choice, &mut self.used)?;
        if self.model.meets_limits(q, cost) {
            let profit = q - cost;
            if self.best.as_ref().is_none_or(|b| profit > b.profit || (profit == b.profit && q < b.q)) {
                let mut choice = [0u16; MAX_OUTCOMES];
                for (c, &u) in choice.iter_mut().zip(&self.used[..self.model.outcomes]) {
                    *c = u as u16;
                }
                self.best = Some(Best { q, profit, choice });
            }
            return Some((cost, Verdict::Ok));
        }
        // Capital and return floors bind at the top of a range of good sizes;
        // a profit below the floor does not (a smaller size there earns more).
        let l = &self.model.limits;
        let verdict = if cost > l.max_capital.micros() {
            Verdict::OverCapital
        } else if (l.min_return_ppm > 0 || l.min_annualized_ppm > 0) && q - cost >= l.min_profit.micros().max(1) {
            Verdict::BelowReturn
        } else {
            Verdict::Unprofitable
        };
        Some((cost, verdict))
    }

    /// Every breakpoint in ascending order, bisecting towards any limit that
    /// binds between two of them, until no larger size can pay more.
    fn sweep(&mut self) {
        let model = self.model;
        let choice = self.choice;
        // Every leg trades from here on: beyond it nothing new becomes available.
        let all_active = {
            let sel: &[usize] = choice.unwrap_or(&model.order);
            let hi = model.range(choice).map_or(i64::MIN, |r| r.1);
            sel.iter().map(|&i| model.legs[i].lo).filter(|&lo| lo <= hi).max().unwrap_or(i64::MIN)
        };
        let mut prev_ok: Option<i64> = None;
        let mut prev_affordable: Option<i64> = None;
        // The previous breakpoint with a bundle, and its profit.
        let mut prev_point: Option<(i64, i64)> = None;
        model.merge_points(choice, |q| {
            let evaluated = self.eval(q);
            // Kalshi's cent rounding can hide a better size (or a profitable
            // pocket) inside the segment that ends here.
            match evaluated {
                Some((cost, Verdict::Ok | Verdict::Unprofitable | Verdict::BelowReturn)) => {
                    self.note_segment(prev_point, q, cost);
                    prev_point = Some((q, q - cost));
                }
                _ => prev_point = None,
            }
            match evaluated.map(|(_, v)| v) {
                Some(Verdict::Ok) => {
                    prev_ok = Some(q);
                    prev_affordable = Some(q);
                }
                Some(Verdict::OverCapital) => {
                    // Cost rises with size between breakpoints: the largest
                    // affordable size below this one is a candidate.
                    if let Some(a) = prev_affordable.take()
                        && let Some(top) = self.affordable(a, q)
                    {
                        let _ = self.try_point(top);
                    }
                    prev_ok = None;
                }
                Some(Verdict::BelowReturn) => {
                    if let Some(a) = prev_ok.take() {
                        self.bisect_limit(a, q);
                    }
                    prev_affordable = Some(q);
                }
                Some(Verdict::Unprofitable) => {
                    prev_ok = None;
                    prev_affordable = Some(q);
                }
                None => {
                    prev_ok = None;
                    prev_affordable = None;
                }
            }
            // Stop once even the cheapest next contracts cost a dollar: every
            // leg's cost is convex, so the profit cannot rise again (beyond
            // the rounding bound in the module docs).
            if q < all_active {
                return true;
            }
            let mut marginal: i64 = 0;
            for o in 0..model.outcomes {
                let m = model
                    .legs_of(o, choice)
                    .iter()
                    .map(|&i| &model.legs[i])
                    .filter(|l| l.hi > q)
                    .map(|l| model.next_price(l, q))
                    .min()
                    .unwrap_or(i64::MAX / 4);
                marginal = marginal.saturating_add(m);
            }
            marginal < SCALE
        });
    }

    /// Profit at `q` for the golden search (infeasible sizes count as hopeless).
    fn profit_at(&mut self, q: i64) -> i64 {
        self.eval(q).map_or(i64::MIN, |(cost, _)| q - cost)
    }

    /// Between `a` (meets the limits) and `b` (a bundle that does not), the
    /// largest size that still does; valid where the limit is monotone between them.
    fn bisect_limit(&mut self, a: i64, b: i64) {
        let lot = self.model.lot;
        let (mut lo, mut hi) = (a / lot, b / lot);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match self.try_point(mid * lot) {
                Some(true) => lo = mid,
                _ => hi = mid,
            }
        }
    }

    /// The largest size in `[lo, hi]` within `max_capital` (cost rises with size for a fixed choice).
    fn affordable(&mut self, lo: i64, hi: i64) -> Option<i64> {
        let cap = self.model.limits.max_capital.micros();
        let fits = |s: &mut Self, q: i64| s.model.total_cost(q, s.choice, &mut s.used).is_some_and(|c| c <= cap);
        if fits(self, hi) {
            return Some(hi);
        }
        if !fits(self, lo) {
            return None;
        }
        let lot = self.model.lot;
        let (mut a, mut b) = (lo / lot, hi / lot);
        while b - a > 1 {
            let mid = a + (b - a) / 2;
            if fits(self, mid * lot) {
                a = mid;
            } else {
                b = mid;
            }
        }
        Some(a * lot)
    }

    /// Golden-section search for the most profitable size in `[lo, hi]` of a
    /// concave profit; returns the best size seen.
    fn golden(&mut self, lo: i64, hi: i64) -> i64 {
        let lot = self.model.lot;
        let (mut a, mut b) = (lo / lot, hi / lot);
        let place = |a: i64, b: i64| a + ((b - a) as i128 * 382 / 1000) as i64;
        let mut x1 = place(a, b);
        let mut x2 = a + b - x1;
        let (mut f1, mut f2) = (self.profit_at(x1 * lot), self.profit_at(x2 * lot));
        while b - a > 6 {
            if x1 >= x2 {
                x1 = place(a, b);
                x2 = a + b - x1;
                f1 = self.profit_at(x1 * lot);
                f2 = self.profit_at(x2 * lot);
                if x1 >= x2 {
                    break;
                }
            }
            if f1 < f2 {
                a = x1;
                x1 = x2;
                f1 = f2;
                x2 = a + b - x1;
                f2 = self.profit_at(x2 * lot);
            } else {
                b = x2;
                x2 = x1;
                f2 = f1;
                x1 = a + b - x2;
                f1 = self.profit_at(x1 * lot);
            }
        }
        let (mut best_q, mut best_p) = (a * lot, i64::MIN);
        for n in a..=b {
            let p = self.profit_at(n * lot);
            if p > best_p {
                best_p = p;
                best_q = n * lot;
            }
        }
        best_q
    }

    /// After evaluating breakpoint `q` (cost `cost`, legs in `used`), note the
    /// segment from the previous breakpoint `prev` (size and profit) if a
    /// Kalshi leg trades in it: Kalshi's cent rounding can hide a better size
    /// (or a profitable pocket) inside. The walks happen after the sweep, and
    /// only in segments whose better end is within rounding of the final best.
    fn note_segment(&mut self, prev: Option<(i64, i64)>, q: i64, cost: i64) {
        let Some((pq, pp)) = prev else { return };
        let n = self.model.outcomes;
        if self.kalshi_slack(&self.used[..n]) == 0 {
            return;
        }
        let seg = Segment { from: pq, from_profit: pp, to: q, to_profit: q - cost };
        if self.segments_len < self.segments.len() {
            self.segments[self.segments_len] = seg;
            self.segments_len += 1;
        } else if let Some(worst) = self.segments.iter_mut().min_by_key(|s| s.top())
            && worst.top() < seg.top()
        {
            *worst = seg;
        }
    }

    /// Walk the cent steps inside the noted segments that could still beat the best.
    fn refine_segments(&mut self) {
        let n = self.model.outcomes;
        for k in 0..self.segments_len {
            let seg = self.segments[k];
            let reference = self.best.map_or(0, |b| b.profit);
            // Profit is linear in a segment apart from the steps: the better end
            // says which way the hidden maximum lies.
            let (start, profit, down) = if seg.to_profit >= seg.from_profit {
                (seg.to, seg.to_profit, true)
            } else {
                (seg.from, seg.from_profit, false)
            };
            if self.model.total_cost(start, self.choice, &mut self.used).is_none() {
                continue;
            }
            let mut legs = [0usize; MAX_OUTCOMES];
            legs[..n].copy_from_slice(&self.used[..n]);
            if profit + self.kalshi_slack(&legs[..n]) < reference {
                continue;
            }
            self.refine_at(start, profit, &legs[..n], down, seg.from, seg.to);
        }
    }

    /// Try sizes just below each Kalshi leg's last cent steps before the best
    /// size (repeating from any better size found).
    fn refine_kalshi(&mut self) {
        for _ in 0..2 {
            let Some(best) = self.best else { return };
            let mut choice = [0usize; MAX_OUTCOMES];
            for (c, &b) in choice.iter_mut().zip(&best.choice[..self.model.outcomes]) {
                *c = b as usize;
            }
            let legs = &choice[..self.model.outcomes];
            self.refine_at(best.q, best.profit, legs, true, i64::MIN, i64::MAX);
            self.refine_at(best.q, best.profit, legs, false, i64::MIN, i64::MAX);
            if self.best.as_ref().is_some_and(|b| b.q == best.q) {
                return;
            }
        }
    }

    /// A cent per Kalshi leg among `legs`: how far rounding can hide profit.
    fn kalshi_slack(&self, legs: &[usize]) -> i64 {
        legs.iter().filter(|&&i| matches!(self.model.legs[i].leg.fee, FeeSchedule::Kalshi { .. })).count() as i64
            * 10_000
    }

    /// From size `q` (profit `profit`, bought with `legs`), visit the sizes
    /// just before each cent step of the Kalshi legs, downwards (`down`) or
    /// upwards, staying strictly inside `(lo, hi)`: between steps every fee is
    /// flat and profit is linear, so these are the only places rounding can
    /// hide a better size. The walk stops once a step's profit is more than
    /// the slack below `profit` (rounding cannot make up for the distance any
    /// more), at the bound, or after [`WALK_STEPS`] steps.
    fn refine_at(&mut self, q: i64, profit: i64, legs: &[usize], down: bool, lo: i64, hi: i64) {
        let slack = self.kalshi_slack(legs);
        if slack == 0 {
            return;
        }
        let kalshi = |i: &usize| {
            let l = &self.model.legs[*i];
            matches!(l.leg.fee, FeeSchedule::Kalshi { .. }) && matches!(l.kind, Kind::Book { .. })
        };
        let mut ks = [0usize; MAX_OUTCOMES];
        let mut n = 0;
        for &i in legs.iter().filter(|i| kalshi(i)) {
            ks[n] = i;
            n += 1;
        }
        let ks = &ks[..n];
        let lot = self.model.lot;
        // One staircase alone: between steps profit follows the (linear) smooth
        // curve, so the first step point in the walk's direction is the best
        // (a second one absorbs per-fill rounding). Several staircases
        // interleave, and the best mix can be further along.
        let steps = if ks.len() <= 1 { 2 } else { WALK_STEPS };
        let mut cur = q;
        for _ in 0..steps {
            let next = if down {
                // The nearest step below.
                ks.iter().filter_map(|&i| self.below_step(&self.model.legs[i], cur, 1)).max()
            } else {
                // The last size before the nearest step above.
                ks.iter().filter_map(|&i| self.flat_until(&self.model.legs[i], cur)).min()
            };
            let Some(next) = next.filter(|&x| x > lo && x < hi) else { break };
            if next != cur {
                let Some((cost, _)) = self.eval(next) else { break };
                if next - cost + slack < profit {
                    break;
                }
            }
            cur = if down { next } else { next + lot };
        }
    }

    /// The largest lot multiple at or above `q` (within the leg's range) at
    /// which leg `l`'s fee is still what it is at `q`.
    fn flat_until(&self, l: &LegModel<'_>, q: i64) -> Option<i64> {
        let lot = self.model.lot;
        let fee_at = |q: i64| self.model.leg_eval(l, q).map(|e| e.fee);
        let top = fee_at(q)?;
        if let Kind::Book { levels, div: Some(div), .. } = &l.kind {
            let model = self.model;
            let lv = &model.lv[levels.clone()];
            let k = model.level_at(l, q, false)?;
            let target = top / 100; // fee units the same cents allow
            let start = |j: usize| if j == 0 { 0 } else { lv[j - 1].end };
            let mut reach = q;
            for (j, level) in lv.iter().enumerate().skip(k) {
                let p = model.level_pre(l, j);
                if p.units_before > target || p.factor == u128::MAX {
                    break;
                }
                let room = ((target - p.units_before) as u128).checked_mul(div.divisor())?;
                let r = room.checked_div(p.factor).map_or(i64::MAX, |r| i64::try_from(r).unwrap_or(i64::MAX));
                let qty = level.end - start(j);
                reach = reach.max(start(j).saturating_add(r.min(qty)));
                if r < qty {
                    break;
                }
            }
            return Some(floor_lot(reach.min(l.hi), lot).max(q));
        }
        // Slow schedules: bisect on the fee.
        let (mut lo, mut hi) = (q / lot, l.hi / lot + 1); // fee(lo) == top, fee(hi) > top or out of range
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fee_at(mid * lot).is_some_and(|f| f <= top) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo * lot)
    }

    /// The largest lot multiple below `q` at which leg `l`'s fee is at least
    /// `steps` cents lower than at `q`.
    fn below_step(&self, l: &LegModel<'_>, q: i64, steps: i64) -> Option<i64> {
        let lot = self.model.lot;
        if let Kind::Book { levels, div: Some(div), .. } = &l.kind {
            // Solve on the prefix sums: the largest size whose fee units stay
            // at or below the previous cent, level by level from the top.
            let model = self.model;
            let lv = &model.lv[levels.clone()];
            let k = model.level_at(l, q, false)?;
            let start = |k: usize| if k == 0 { 0 } else { lv[k - 1].end };
            let top = model.level_pre(l, k);
            let units = top.units_before + fill_units(&l.leg.fee, Some(div), top.factor, q - start(k), lv[k].price);
            let cents = (units.max(0) + 99) / 100;
            if cents < steps {
                return None;
            }
            let target = (cents - steps) * 100;
            for j in (0..=k).rev() {
                let p = model.level_pre(l, j);
                if p.units_before > target {
                    continue;
                }
                if p.factor == u128::MAX {
                    break; // no linear form here: bisect below
                }
                // ceil(factor * r / D) <= target - before  <=>  factor * r <= (target - before) * D
                let room = ((target - p.units_before) as u128).checked_mul(div.divisor())?;
                let r = room.checked_div(p.factor).map_or(i64::MAX, |r| i64::try_from(r).unwrap_or(i64::MAX));
                let top = (start(j).saturating_add(r)).min(q - 1).min(lv[j].end);
                let cand = floor_lot(top, lot);
                return (cand >= l.lo).then_some(cand);
            }
        }
        let fee_at = |q: i64| self.model.leg_eval(l, q).map(|e| e.fee);
        let top = fee_at(q)? - steps * 10_000; // wanted: fee at most this
        let (mut lo, mut hi) = (l.lo / lot, q / lot); // fee(lo) <= top < fee(hi), if any such size exists
        if fee_at(lo * lot)? > top {
            return None;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fee_at(mid * lot)? <= top {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo * lot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{LegHeader, LegsBuf};

    pub(crate) fn header(outcome: u32, market: u32, venue: Venue, side: Side, fee: FeeSchedule) -> LegHeader {
        LegHeader::new(outcome, market, venue, side, fee)
    }

    fn lv(p: &str, q: &str) -> Level {
        Level::new(Price::parse(p).unwrap(), Qty::parse(q).unwrap())
    }

    fn kalshi() -> FeeSchedule {
        FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap()
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn two_leg_pair_stops_where_the_next_level_loses() {
        let mut buf = LegsBuf::default();
        // YES on Kalshi: 10 @ 0.40, 10 @ 0.45, 50 @ 0.55. NO on Polymarket: 15 @ 0.50, 50 @ 0.53.
        buf.push_book(
            &header(0, 1, Venue::Kalshi, Side::Yes, kalshi()),
            [lv("0.40", "10"), lv("0.45", "10"), lv("0.55", "50")],
            10,
        );
        buf.push_book(
            &header(1, 2, Venue::PolymarketClob, Side::No, FeeSchedule::None),
            [lv("0.50", "15"), lv("0.53", "50")],
            10,
        );
        let c = Candidate::new(7, 0, 30 * DAY, &buf.legs, &buf.data).unwrap();
        let plan = best_plan(&c, &Limits::default()).unwrap();
        // Per contract: to 10, 0.40 + 0.50 + fee 0.0168; to 15, 0.45 + 0.50 + 0.0173;
        // to 20, 0.45 + 0.53 + 0.0173 = 0.9973 (still a profit); beyond, 0.55 + 0.53 > 1.
        let at15 = plan_at(&c, Qty::from_contracts(15), &[0, 1]).unwrap();
        // 10 @ .40 + 5 @ .45 = 6.25; fee .168 + .0866 -> .2546 -> .26; NO 15 @ .50 = 7.50.
        assert_eq!(at15.cost, Money::parse("14.01").unwrap());
        assert_eq!(at15.profit, Money::parse("0.99").unwrap());
        let at20 = plan_at(&c, Qty::from_contracts(20), &[0, 1]).unwrap();
        // YES 8.50 + fee (.168 + .1733 = .3413 -> .35), NO 7.50 + 2.65: cost 19.00.
        assert_eq!(at20.profit, Money::parse("1.00").unwrap());
        // Just below 20 the Kalshi fee is a cent lower: 19.92 keeps 0.34 and earns more.
        assert_eq!(plan.quantity, Qty::from_hundredths(1992), "{plan:?}");
        assert_eq!(plan.legs[0].fee, Money::parse("0.34").unwrap());
        assert_eq!(plan.profit, Money::parse("1.0084").unwrap());
        assert!(plan.profit > at20.profit && plan.profit > at15.profit);
        assert_eq!(plan.payout, plan.quantity.payout());
        assert_eq!(plan.legs.len(), 2);
        assert_eq!(plan.legs[0].limit_price, Price::parse("0.45").unwrap());
        assert_eq!(plan.return_ppm, plan.profit.ratio_ppm(plan.cost).unwrap());
        assert_eq!(plan.annualized_ppm as i128, plan.return_ppm as i128 * 365 / 30);
        let opp = best_opportunity(&c, &Limits::default()).unwrap();
        assert_eq!(opp.link, 7);
        assert_eq!(opp.orders.len(), 2);
        assert_eq!(opp.profit, plan.profit);
    }

    #[test]
    fn limits_from_params_with_clear_errors() {
        use crate::types::Params;
        let p = |kv: &[(&str, &str)]| Params(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        let l = Limits::from_params(&p(&[("max_capital", "500"), ("min_apy_ppm", "150000"), ("lot", "1")])).unwrap();
        assert_eq!(l.max_capital, Money::from_dollars(500));
        assert_eq!(l.min_annualized_ppm, 150_000);
        assert_eq!(l.lot, Qty::ONE);
        assert_eq!(l.min_profit, Limits::default().min_profit);
        let e = Limits::from_params(&p(&[("max_capital", "lots")])).unwrap_err();
        assert_eq!(e, "parameter max_capital=\"lots\": not a decimal number: \"lots\"");
        assert!(Limits::from_params(&p(&[("lot", "0")])).unwrap_err().contains("lot=0"));
        assert!(Limits::from_params(&p(&[("max_slippage_ppm", "-5")])).unwrap_err().contains("max_slippage_ppm"));
        assert!(Limits::from_params(&p(&[("min_profit", "-1")])).unwrap_err().contains("must not be negative"));
    }

    #[test]
    fn profit_curve_lists_the_breakpoints() {
        let mut buf = LegsBuf::default();
        buf.push_book(
            &header(0, 1, Venue::Kalshi, Side::Yes, FeeSchedule::None),
            [lv("0.40", "10"), lv("0.50", "10")],
            10,
        );
        buf.push_book(&header(1, 2, Venue::PolymarketClob, Side::No, FeeSchedule::None), [lv("0.55", "20")], 10);
        let c = Candidate::new(1, 0, DAY, &buf.legs, &buf.data).unwrap();
        let curve = profit_curve(&c, &Limits::default());
        let at = |q: i64| curve.iter().find(|p| p.qty == Qty::from_contracts(q)).copied().unwrap();
        // 10 @ (0.40 + 0.55) = 9.50 -> profit 0.50; 20: + 10 @ 1.05 -> profit 0.00.
        assert_eq!(at(10).cost, Money::parse("9.50").unwrap());
        assert_eq!(at(10).profit, Money::parse("0.50").unwrap());
        assert_eq!(at(20).profit, Money::ZERO);
        assert_eq!(curve.first().unwrap().qty, Qty::from_hundredths(1));
        assert!(curve.windows(2).all(|w| w[0].qty < w[1].qty));
    }

    #[test]
    fn no_arbitrage_no_plan() {
        let mut buf = LegsBuf::default();
        buf.push_book(&header(0, 1, Venue::Kalshi, Side::Yes, FeeSchedule::None), [lv("0.50", "10")], 10);
        buf.push_book(&header(1, 2, Venue::PolymarketClob, Side::No, FeeSchedule::None), [lv("0.50", "10")], 10);
        let c = Candidate::new(1, 0, DAY, &buf.legs, &buf.data).unwrap();
        assert_eq!(best_plan(&c, &Limits::default()), None);
        // Exactly $1 with zero fees is not a profit either.
        assert_eq!(plan_at(&c, Qty::from_contracts(10), &[0, 1]).unwrap().profit, Money::ZERO);
    }

    #[test]
    fn capital_and_min_profit_limits_bind() {
        let mut buf = LegsBuf::default();
        buf.push_book(&header(0, 1, Venue::Kalshi, Side::Yes, FeeSchedule::None), [lv("0.40", "100")], 10);
        buf.push_book(&header(1, 2, Venue::PolymarketClob, Side::No, FeeSchedule::None), [lv("0.50", "100")], 10);
        let c = Candidate::new(1, 0, DAY, &buf.legs, &buf.data).unwrap();
        let free = best_plan(&c, &Limits::default()).unwrap();
        assert_eq!(free.quantity, Qty::from_contracts(100));
        assert_eq!(free.profit, Money::from_dollars(10));
        let capped = best_plan(&c, &Limits { max_capital: Money::from_dollars(45), ..Limits::default() }).unwrap();
        assert_eq!(capped.quantity, Qty::from_contracts(50));
        assert_eq!(capped.cost, Money::from_dollars(45));
        assert_eq!(best_plan(&c, &Limits { min_profit: Money::from_dollars(11), ..Limits::default() }), None);
        // 10/90 = 111,111 ppm return; a higher floor refuses it.
        assert_eq!(best_plan(&c, &Limits { min_return_ppm: 111_112, ..Limits::default() }), None);
        assert!(best_plan(&c, &Limits { min_return_ppm: 111_111, ..Limits::default() }).is_some());
    }

    #[test]
    fn slippage_limits_the_levels_used() {
        let mut buf = LegsBuf::default();
        buf.push_book(
            &header(0, 1, Venue::Kalshi, Side::Yes, FeeSchedule::None),
            [lv("0.40", "10"), lv("0.44", "10")],
            10,
        );
        buf.push_book(&header(1, 2, Venue::PolymarketClob, Side::No, FeeSchedule::None), [lv("0.50", "100")], 10);
        let c = Candidate::new(1, 0, DAY, &buf.legs, &buf.data).unwrap();
        assert_eq!(best_plan(&c, &Limits::default()).unwrap().quantity, Qty::from_contracts(20));
        // 0.44 is 10% above 0.40: a 5% limit keeps only the first level.
        let plan = best_plan(&c, &Limits { max_slippage_ppm: 50_000, ..Limits::default() }).unwrap();
        assert_eq!(plan.quantity, Qty::from_contracts(10));
    }

    #[test]
    fn cheapest_leg_per_outcome_and_min_sizes() {
        let mut buf = LegsBuf::default();
        // Outcome 0 can be bought on Kalshi at 0.45 or Polymarket at 0.42 (min 5 shares).
        buf.push_book(&header(0, 1, Venue::Kalshi, Side::Yes, FeeSchedule::None), [lv("0.45", "100")], 10);
        let mut h = header(0, 3, Venue::PolymarketClob, Side::Yes, FeeSchedule::None);
        h.min_qty = Qty::from_contracts(5);
        buf.push_book(&h, [lv("0.42", "8")], 10);
        buf.push_book(&header(1, 2, Venue::Kalshi, Side::No, FeeSchedule::None), [lv("0.50", "100")], 10);
        let c = Candidate::new(1, 0, DAY, &buf.legs, &buf.data).unwrap();
        let plan = best_plan(&c, &Limits::default()).unwrap();
        // 8 via Polymarket: 8 * 0.08 = 0.64; 100 via Kalshi: 100 * 0.05 = 5.00.
        assert_eq!(plan.quantity, Qty::from_contracts(100));
        assert_eq!(plan.legs[0].market, 1);
        // Capital of $7.36 buys 8 on Polymarket (profit 0.64) or ~8.18 via Kalshi (profit ~0.41).
        let plan = best_plan(&c, &Limits { max_capital: Money::parse("7.36").unwrap(), ..Limits::default() }).unwrap();
        assert_eq!(plan.legs[0].market, 3);
        assert_eq!(plan.profit, Money::parse("0.64").unwrap());
        // A filter that forbids Polymarket.
        let plan =
            best_plan_with(&c, &Limits { max_capital: Money::parse("7.36").unwrap(), ..Limits::default() }, |ch| {
                ch[0] == 0
            })
            .unwrap();
        assert_eq!(plan.legs[0].market, 1);
    }

    #[test]
    fn pool_leg_sizes_inside_a_segment() {
        let mut buf = LegsBuf::default();
        buf.push_book(&header(0, 1, Venue::Kalshi, Side::Yes, FeeSchedule::None), [lv("0.40", "10000")], 10);
        let mut h = header(1, 2, Venue::PolymarketAmm, Side::No, FeeSchedule::Amm { fee_wad: 20_000_000_000_000_000 });
        h.fixed_cost = Money::parse("0.05").unwrap();
        // Pool [YES 1000, NO 1000] dollars: NO at 0.50.
        buf.push_pool(&h, 1, [1_000_000_000, 1_000_000_000]);
        let c = Candidate::new(1, 0, 10 * DAY, &buf.legs, &buf.data).unwrap();
        let plan = best_plan(&c, &Limits::default()).unwrap();
        // Brute force over whole contracts around the optimum.
        let mut best = (0i64, Money::from_micros(i64::MIN));
        for n in 1..3000 {
            if let Ok(p) = plan_at(&c, Qty::from_contracts(n), &[0, 1])
                && p.profit > best.1
            {
                best = (n, p.profit);
            }
        }
        assert!(plan.profit >= best.1, "search {:?} vs brute {:?}", plan.profit, best);
        let pool_leg = plan.legs[1];
        assert!(pool_leg.received >= pool_leg.qty);
        assert_eq!(pool_leg.fixed_cost, Money::parse("0.05").unwrap());
        assert_eq!(plan.fees, plan.legs.iter().map(|l| l.fee + l.fixed_cost).sum());
    }
}
