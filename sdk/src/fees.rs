//! Venue fee schedules.
//!
//! The arithmetic lives with the schedule so the host and strategies can never
//! disagree about a fee; the schedule's shape is part of the wire format (see
//! [`crate::wire`]).
//!
//! Two views of every fee, on purpose:
//! - the *estimate* ([`FeeSchedule::taker_fee`], [`FeeSchedule::taker_fee_fills`])
//!   that sizing and risk checks use: exact arithmetic, rounded up at every
//!   venue rounding point, so it is never below what the venue charges;
//! - what the venue *charges* ([`FeeSchedule::charged_fill_fee`]), as we read
//!   its rules, for simulators and reconciliation.
//!
//! Kalshi: `round_up(coef x multiplier x C x P x (1 - P))`, coef 0.07 taker
//! (0.035 on INX / NASDAQ100), 0.0175 maker on `quadratic_with_maker_fees`
//! series; each fill rounded up to $0.0001, the order settled in whole cents.
//! Polymarket: `C x rate x (p (1 - p))^exponent` on takers, 5 decimals; makers
//! pay nothing. (Per the docs as read in the research, a BUY taker pays this fee
//! in shares at the fill price rather than in cash: to end up holding `C`
//! shares the order must be grossed up by about `fee / p` shares, which costs
//! about the same cash as the fee here plus the fee on the extra shares, a
//! second-order `rate (1 - p)` relative difference. Sizing uses the cash
//! formula; whoever places the order must gross its size up to receive `C`.)
//! AMM: the pool keeps `fee / 1e18` of an investment, and grosses a sale's
//! return up by `1 / (1 - fee)`. Gas: [`gas_cost`], a fixed cost per on-chain
//! order.

/// How a venue charges for an order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "model", rename_all = "kebab-case"))]
pub enum FeeSchedule {
    /// No trading fee.
    #[default]
    None,
    /// Kalshi: `ceil_to_cent(coef x multiplier x C x P x (1 - P))` per order.
    /// Coefficients and multiplier in parts per million (0.07 = 70_000).
    Kalshi { taker_ppm: u32, maker_ppm: u32, multiplier_ppm: u32 },
    /// Polymarket CLOB: `C x rate x (p (1 - p))^exponent` on takers, to 5 decimals; makers pay nothing.
    Polymarket { rate_ppm: u32, exponent: u32 },
    /// Fixed-product AMM: the pool keeps `fee_wad / 1e18` of every investment.
    Amm { fee_wad: u64 },
}

impl FeeSchedule {
    /// Four words for the packed wire format.
    pub fn to_words(self) -> [i64; 4] {
        match self {
            FeeSchedule::None => [0, 0, 0, 0],
            FeeSchedule::Kalshi { taker_ppm, maker_ppm, multiplier_ppm } => {
                [1, taker_ppm as i64, maker_ppm as i64, multiplier_ppm as i64]
            }
            FeeSchedule::Polymarket { rate_ppm, exponent } => [2, rate_ppm as i64, exponent as i64, 0],
            FeeSchedule::Amm { fee_wad } => [3, fee_wad as i64, 0, 0],
        }
    }

    /// Inverse of [`FeeSchedule::to_words`]; `None` for words no schedule produces.
    pub fn from_words(w: [i64; 4]) -> Option<FeeSchedule> {
        let ppm = |v: i64| u32::try_from(v).ok();
        match w[0] {
            0 => Some(FeeSchedule::None),
            1 => Some(FeeSchedule::Kalshi { taker_ppm: ppm(w[1])?, maker_ppm: ppm(w[2])?, multiplier_ppm: ppm(w[3])? }),
            2 => Some(FeeSchedule::Polymarket { rate_ppm: ppm(w[1])?, exponent: ppm(w[2])? }),
            3 => {
                Some(FeeSchedule::Amm { fee_wad: u64::try_from(w[1]).ok().filter(|&f| f < 1_000_000_000_000_000_000)? })
            }
            _ => None,
        }
    }
}

/// Micro-dollars in one rounding unit of a fill's fee: Kalshi rounds each
/// fill up to $0.0001, Polymarket to $0.00001.
const KALSHI_FILL_UNIT: i64 = 100;
const POLYMARKET_FILL_UNIT: i64 = 10;
/// Kalshi's per-order total is settled in whole cents (non-direct members).
const KALSHI_ORDER_UNIT_FILLS: i64 = 100; // $0.01 / $0.0001

impl FeeSchedule {
    /// Kalshi's schedule for a series: 0.07 taker on most series, 0.035 on the
    /// S&P 500 / Nasdaq-100 series (tickers starting `INX` / `NASDAQ100`, with or
    /// without the `KX` prefix), maker 0.0175 only where `fee_type` is
    /// `quadratic_with_maker_fees`, everything scaled by the series (or event)
    /// `fee_multiplier`; `flat` and unknown fee types are refused rather than guessed.
    pub fn kalshi(series_ticker: &str, fee_type: &str, fee_multiplier: &str) -> Result<FeeSchedule, String> {
        let multiplier = crate::money::parse_micros(fee_multiplier)
            .map_err(|e| format!("fee_multiplier {fee_multiplier:?}: {e}"))?;
        let multiplier_ppm =
            u32::try_from(multiplier).map_err(|_| format!("fee_multiplier {fee_multiplier:?} out of range"))?;
        let index = ["INX", "NASDAQ100", "KXINX", "KXNASDAQ100"].iter().any(|p| series_ticker.starts_with(p));
        let taker_ppm = if index { 35_000 } else { 70_000 };
        let maker_ppm = match fee_type {
            "quadratic" => 0,
            "quadratic_with_maker_fees" => 17_500,
            other => return Err(format!("unsupported Kalshi fee_type {other:?}")),
        };
        Ok(FeeSchedule::Kalshi { taker_ppm, maker_ppm, multiplier_ppm })
    }

    /// Kalshi's schedule for a market of an event that may override its
    /// series: the event's `fee_type_override` / `fee_multiplier_override`
    /// replace the series' values when present (absent, `null` or empty
    /// strings mean "no override").
    pub fn kalshi_event(
        series_ticker: &str,
        series_fee_type: &str,
        series_fee_multiplier: &str,
        fee_type_override: Option<&str>,
        fee_multiplier_override: Option<&str>,
    ) -> Result<FeeSchedule, String> {
        fn pick(o: Option<&str>) -> Option<&str> {
            o.map(str::trim).filter(|s| !s.is_empty())
        }
        let fee_type = pick(fee_type_override).unwrap_or(series_fee_type);
        let multiplier = pick(fee_multiplier_override).unwrap_or(series_fee_multiplier);
        FeeSchedule::kalshi(series_ticker, fee_type, multiplier)
    }

    /// Polymarket's schedule from the market's `feeSchedule {rate, exponent}`
    /// (or CLOB `fd {r, e}`) strings; a missing schedule is a fee-free market.
    pub fn polymarket(rate: &str, exponent: &str) -> Result<FeeSchedule, String> {
        let rate_ppm = crate::money::parse_micros(rate).ok().and_then(|r| u32::try_from(r).ok()).ok_or_else(|| {
            format!("Polymarket fee rate {rate:?} is not a non-negative decimal with at most 6 places")
        })?;
        let exponent = exponent
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("Polymarket fee exponent {exponent:?} is not a non-negative integer"))?;
        Ok(FeeSchedule::Polymarket { rate_ppm, exponent })
    }

    /// What a taker pays for `qty` contracts at `price`, rounded against us.
    ///
    /// - Kalshi: rounded up to the cent per order (the venue rounds each fill up
    ///   to $0.0001 and refunds overpaid cents per order, so a whole order never
    ///   costs more than this).
    /// - Polymarket: `C x rate x (p (1 - p))^exponent`, computed exactly (no
    ///   intermediate rounding, any exponent) and rounded up to $0.00001.
    ///   The venue rounds to 5 decimals, to the nearest as we read its docs:
    ///   [`FeeSchedule::charged_fill_fee`] is that, at most $0.00001 below this.
    /// - AMM: zero here; the pool takes its fee out of the investment (see
    ///   [`FeeSchedule::amm_buy_fee`] and [`crate::amm`]).
    ///
    /// Saturates at `Money::MAX` instead of overflowing, which makes any trade
    /// of absurd size look unprofitable rather than free.
    pub fn taker_fee(&self, qty: crate::Qty, price: crate::Price) -> crate::Money {
        self.order_fee(self.fill_units(qty, price, false))
    }

    /// What a maker (resting order) pays; zero where the venue charges makers nothing.
    pub fn maker_fee(&self, qty: crate::Qty, price: crate::Price) -> crate::Money {
        self.order_fee(self.fill_units(qty, price, true))
    }

    /// The fee of one order filled in several pieces (a walk down the book):
    /// each fill rounded up to the venue's fill unit, the order's total then
    /// rounded up to what the venue settles (whole cents on Kalshi). Never less
    /// than the venue charges; equal to `taker_fee` for a single fill.
    pub fn taker_fee_fills(&self, fills: impl IntoIterator<Item = (crate::Qty, crate::Price)>) -> crate::Money {
        let units = fills.into_iter().fold(0i64, |acc, (q, p)| acc.saturating_add(self.fill_units(q, p, false)));
        self.order_fee(units)
    }

    /// A fill's fee in the venue's fill unit ($0.0001 Kalshi, $0.00001
    /// Polymarket), rounded up; accumulate these and pass the sum to
    /// [`FeeSchedule::order_fee`]. Saturates at `i64::MAX / 2`.
    pub fn fill_units(&self, qty: crate::Qty, price: crate::Price, maker: bool) -> i64 {
        let q = qty.micros().max(0) as u128;
        let v = price.variance_micros2() as u128; // p(1-p), scale 1e12
        let units = match *self {
            FeeSchedule::None | FeeSchedule::Amm { .. } => Some(0),
            FeeSchedule::Kalshi { taker_ppm, maker_ppm, multiplier_ppm } => {
                let coef = if maker { maker_ppm } else { taker_ppm } as u128;
                // dollars = coef/1e6 * mult/1e6 * q/1e6 * v/1e12 = X / 1e30; units of 1e-4 = X / 1e26
                exact_ceil(&[coef, multiplier_ppm as u128, q, v], 26)
            }
            FeeSchedule::Polymarket { rate_ppm, exponent } => {
                if maker {
                    Some(0)
                } else {
                    polymarket_units(q, rate_ppm as u128, v, exponent)
                }
            }
        };
        units.and_then(|u| i64::try_from(u).ok()).map_or(i64::MAX / 2, |u| u.min(i64::MAX / 2))
    }

    /// The taker fill fee as a linear form at `price`: `fill_units(q, price,
    /// false) == ceil(factor * q / divisor)` for every `q` whose product fits
    /// in 128 bits. Sizing precomputes this per level, so its inner loop
    /// never divides; `None` where no such form applies (exponents above 2,
    /// absurd coefficients), and callers fall back to [`FeeSchedule::fill_units`].
    pub fn taker_linear(&self, price: crate::Price) -> Option<(u128, &'static crate::wide::Recip)> {
        let v = price.variance_micros2() as u128;
        match *self {
            FeeSchedule::None | FeeSchedule::Amm { .. } => Some((0, &DIV_1)),
            FeeSchedule::Kalshi { taker_ppm, multiplier_ppm, .. } => {
                Some(((taker_ppm as u128 * multiplier_ppm as u128).checked_mul(v)?, &DIV_1E26))
            }
            FeeSchedule::Polymarket { rate_ppm, exponent } => {
                let r = rate_ppm as u128;
                match exponent {
                    0 => Some((r, &DIV_1E7)),
                    1 => Some((r.checked_mul(v)?, &DIV_1E19)),
                    2 => Some((r.checked_mul(v)?.checked_mul(v)?, &DIV_1E31)),
                    _ => None,
                }
            }
        }
    }

    /// Micro-dollars in one fill unit ($0.0001 Kalshi, $0.00001 Polymarket).
    pub fn fill_unit_micros(&self) -> i64 {
        match self {
            FeeSchedule::Kalshi { .. } => KALSHI_FILL_UNIT,
            FeeSchedule::Polymarket { .. } => POLYMARKET_FILL_UNIT,
            FeeSchedule::None | FeeSchedule::Amm { .. } => 0,
        }
    }

    /// Money owed for fills whose fees sum to `units` fill units: Kalshi's
    /// order total rounded up to the cent; Polymarket's as is.
    pub fn order_fee(&self, units: i64) -> crate::Money {
        let micros = match *self {
            FeeSchedule::None | FeeSchedule::Amm { .. } => 0,
            FeeSchedule::Kalshi { .. } => {
                // Units are never negative; round up to whole cents.
                let cents = (units.max(0) + (KALSHI_ORDER_UNIT_FILLS - 1)) / KALSHI_ORDER_UNIT_FILLS;
                cents.checked_mul(KALSHI_FILL_UNIT * KALSHI_ORDER_UNIT_FILLS).unwrap_or(i64::MAX)
            }
            FeeSchedule::Polymarket { .. } => units.checked_mul(POLYMARKET_FILL_UNIT).unwrap_or(i64::MAX),
        };
        crate::Money::from_micros(micros)
    }

    /// What the venue actually books for one fill, as we read its rules (for
    /// simulators and reconciliation, not for sizing):
    /// - Kalshi: the trade fee rounded up to $0.0001 (the per-order cent
    ///   settlement then makes an order total [`FeeSchedule::taker_fee_fills`]);
    /// - Polymarket: rounded to the nearest $0.00001, halves up (so a fee below
    ///   $0.000005 is free), where our estimate rounds up;
    /// - no fee, and AMMs: zero (the pool's fee is inside the swap).
    pub fn charged_fill_fee(&self, qty: crate::Qty, price: crate::Price, maker: bool) -> crate::Money {
        match *self {
            FeeSchedule::Polymarket { rate_ppm, exponent } if !maker => {
                // Nearest = floor(x + 1/2): add half a unit (5e-6 dollars = 5e24 / 1e30 scale) before flooring.
                let q = qty.micros().max(0) as u128;
                let units = polymarket_units_rounded(q, rate_ppm as u128, price.variance_micros2() as u128, exponent);
                crate::Money::from_micros(
                    units
                        .and_then(|u| i64::try_from(u).ok())
                        .and_then(|u| u.checked_mul(POLYMARKET_FILL_UNIT))
                        .unwrap_or(i64::MAX),
                )
            }
            FeeSchedule::Kalshi { .. } => {
                let units = self.fill_units(qty, price, maker);
                crate::Money::from_micros(units.saturating_mul(KALSHI_FILL_UNIT))
            }
            FeeSchedule::Polymarket { .. } | FeeSchedule::None | FeeSchedule::Amm { .. } => crate::Money::ZERO,
        }
    }

    /// The pool's fee on a buy of `investment` (see [`crate::amm::buy_fee`]); zero for other schedules.
    pub fn amm_buy_fee(&self, investment: crate::Money) -> crate::Money {
        match *self {
            FeeSchedule::Amm { fee_wad } => {
                let x = investment.micros().max(0) as u128;
                crate::Money::from_micros(i64::try_from(crate::amm::buy_fee(fee_wad, x)).unwrap_or(i64::MAX))
            }
            _ => crate::Money::ZERO,
        }
    }

    /// The pool's fee on a sell returning `proceeds` (see [`crate::amm::sell_fee`]); zero for other schedules.
    pub fn amm_sell_fee(&self, proceeds: crate::Money) -> Result<crate::Money, crate::amm::AmmError> {
        match *self {
            FeeSchedule::Amm { fee_wad } => {
                let r = proceeds.micros().max(0) as u128;
                Ok(crate::Money::from_micros(i64::try_from(crate::amm::sell_fee(fee_wad, r)?).unwrap_or(i64::MAX)))
            }
            _ => Ok(crate::Money::ZERO),
        }
    }
}

static DIV_1: crate::wide::Recip = crate::wide::Recip::new(1);
static DIV_1E7: crate::wide::Recip = crate::wide::Recip::new(10u128.pow(7));
static DIV_1E19: crate::wide::Recip = crate::wide::Recip::new(10u128.pow(19));
static DIV_1E26: crate::wide::Recip = crate::wide::Recip::new(10u128.pow(26));
static DIV_1E31: crate::wide::Recip = crate::wide::Recip::new(10u128.pow(31));

use crate::wide::{Nat, U256};

/// `ceil(prod(factors) / 10^pow10)`, exact; `None` past 256 bits.
fn exact_ceil(factors: &[u128], pow10: u32) -> Option<u128> {
    // Fast path: the product fits in 128 bits (every realistic order).
    let mut p: Option<u128> = Some(1);
    for &f in factors {
        p = p.and_then(|p| p.checked_mul(f));
    }
    if let Some(p) = p {
        return ceil_pow10_u128(p, pow10);
    }
    let mut w = U256::ONE;
    for &f in factors {
        w = w.checked_mul(U256::from_u128(f))?;
    }
    ceil_pow10_wide(w, pow10).to_u128()
}

fn ceil_pow10_u128(mut n: u128, mut k: u32) -> Option<u128> {
    // ceil(ceil(n / a) / b) == ceil(n / (a b)): divide in 64-bit chunks.
    while k > 0 {
        let c = k.min(19);
        let d = 10u128.pow(c);
        n = n.div_ceil(d);
        k -= c;
    }
    Some(n)
}

fn ceil_pow10_wide(mut n: U256, mut k: u32) -> U256 {
    while k > 0 {
        let c = k.min(19);
        n = n.ceil_div(U256::from_u128(10u128.pow(c))).unwrap_or(U256::MAX);
        k -= c;
    }
    n
}

/// Polymarket fee in $0.00001 units, rounded up:
/// `ceil(q/1e6 * rate/1e6 * (v/1e12)^e * 1e5) = ceil(q * rate * v^e / 10^(7 + 12e))`.
fn polymarket_units(q: u128, rate: u128, v: u128, exponent: u32) -> Option<u128> {
    match exponent {
        0 => exact_ceil(&[q, rate], 7),
        1 => exact_ceil(&[q, rate, v], 19),
        2 => exact_ceil(&[q, rate, v, v], 31),
        e => {
            // Any exponent, exactly: q * rate * v^e against 10^(7 + 12e) in arbitrary precision.
            let num = (0..e).fold(Nat::from_u128(q).mul_u128(rate), |acc, _| acc.mul_u128(v));
            let den = pow10_nat(7 + 12 * e);
            let max = exact_ceil(&[q, rate], 7)?; // (p(1-p))^e <= 1
            let floor = num.ratio_floor(1, &den, max);
            Some(if den.mul_u128(floor) == num { floor } else { floor + 1 })
        }
    }
}

/// Polymarket fee in $0.00001 units rounded to the nearest, halves up.
fn polymarket_units_rounded(q: u128, rate: u128, v: u128, exponent: u32) -> Option<u128> {
    // floor(x + 1/2) = floor((2 num + den) / (2 den)).
    let num = (0..exponent).fold(Nat::from_u128(q).mul_u128(rate), |acc, _| acc.mul_u128(v));
    let den = pow10_nat(7 + 12 * exponent);
    let max = exact_ceil(&[q, rate], 7)?.checked_add(1)?;
    Some(num.mul_u128(2).add(&den).ratio_floor(1, &den.mul_u128(2), max))
}

fn pow10_nat(k: u32) -> Nat {
    let mut n = Nat::from_u128(1);
    let mut k = k;
    while k > 0 {
        let c = k.min(38);
        n = n.mul_u128(10u128.pow(c));
        k -= c;
    }
    n
}

/// The cost of an on-chain transaction in dollars, rounded up: `gas_units x
/// gas_price` wei of the chain's native token, at `native_price` dollars per
/// whole token (1e18 wei). Gas is paid in the native token, not collateral,
/// so it enters the money math as an input cost (a leg's fixed cost).
pub fn gas_cost(gas_units: u64, gas_price_wei: u128, native_price: crate::Money) -> crate::Money {
    let price = native_price.micros().max(0) as u128;
    let wei = U256::from(gas_units).checked_mul(U256::from_u128(gas_price_wei)).unwrap_or(U256::MAX);
    let micros = wei
        .checked_mul(U256::from_u128(price))
        .and_then(|n| n.ceil_div(U256::from_u128(crate::amm::ONE)))
        .and_then(|m| m.to_u128())
        .and_then(|m| i64::try_from(m).ok())
        .unwrap_or(i64::MAX);
    crate::Money::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Money, Price, Qty};

    #[test]
    fn kalshi_published_examples() {
        let f = FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap();
        let half = Price::parse("0.50").unwrap();
        assert_eq!(f.taker_fee(Qty::from_contracts(100), half), Money::parse("1.75").unwrap());
        assert_eq!(f.taker_fee(Qty::from_contracts(1), half), Money::parse("0.02").unwrap());
        assert_eq!(f.maker_fee(Qty::from_contracts(100), half), Money::ZERO);
        let index = FeeSchedule::kalshi("INXD", "quadratic", "1").unwrap();
        assert_eq!(index.taker_fee(Qty::from_contracts(100), half), Money::parse("0.88").unwrap());
        let makers = FeeSchedule::kalshi("KXFEDDECISION", "quadratic_with_maker_fees", "1").unwrap();
        assert_eq!(makers.maker_fee(Qty::from_contracts(100), half), Money::parse("0.44").unwrap());
        let mlb = FeeSchedule::kalshi("KXMLB", "quadratic", "0.5").unwrap();
        assert_eq!(mlb.taker_fee(Qty::from_contracts(100), half), Money::parse("0.88").unwrap());
        assert!(FeeSchedule::kalshi("X", "flat", "1").is_err());
    }

    #[test]
    fn polymarket_published_example() {
        let f = FeeSchedule::Polymarket { rate_ppm: 70_000, exponent: 1 };
        assert_eq!(f.taker_fee(Qty::from_contracts(100), Price::parse("0.50").unwrap()), Money::parse("1.75").unwrap());
        assert_eq!(f.maker_fee(Qty::from_contracts(100), Price::parse("0.50").unwrap()), Money::ZERO);
        // 1 share at 0.01: 0.07 * 0.0099 = 0.000693 -> 0.00070 (5 dp, rounded up).
        assert_eq!(f.taker_fee(Qty::ONE, Price::parse("0.01").unwrap()), Money::parse("0.0007").unwrap());
    }

    #[test]
    fn polymarket_exponent_is_exact() {
        let p = |s: &str| Price::parse(s).unwrap();
        // Rate 0.25, exponent 2 (the 15-minute crypto schedule): 100 @ 0.50 -> 100 * 0.25 * 0.0625.
        let f = FeeSchedule::Polymarket { rate_ppm: 250_000, exponent: 2 };
        assert_eq!(f.taker_fee(Qty::from_contracts(100), p("0.50")), Money::parse("1.5625").unwrap());
        assert_eq!(f.taker_fee(Qty::from_contracts(100), p("0.30")), Money::parse("1.1025").unwrap());
        // 10 @ 0.123457: 10 * 0.25 * (0.123457 * 0.876543)^2 = 0.0292763...; rounded up to 0.02928.
        assert_eq!(f.taker_fee(Qty::from_contracts(10), p("0.123457")), Money::parse("0.02928").unwrap());
        // Exponent 3 and 5 take the arbitrary-precision path: 100 * 0.25 * 0.25^3 = 0.390625 -> 0.39063.
        let f3 = FeeSchedule::Polymarket { rate_ppm: 250_000, exponent: 3 };
        assert_eq!(f3.taker_fee(Qty::from_contracts(100), p("0.50")), Money::parse("0.39063").unwrap());
        let f5 = FeeSchedule::Polymarket { rate_ppm: 250_000, exponent: 5 };
        // 100 * 0.25 * 0.25^5 = 0.0244140625 -> 0.02442.
        assert_eq!(f5.taker_fee(Qty::from_contracts(100), p("0.50")), Money::parse("0.02442").unwrap());
        // Exponent 0: a flat rate on the shares.
        let f0 = FeeSchedule::Polymarket { rate_ppm: 10_000, exponent: 0 };
        assert_eq!(f0.taker_fee(Qty::from_contracts(3), p("0.9")), Money::parse("0.03").unwrap());
        // Any positive fee costs at least the smallest unit; zero stays zero.
        assert_eq!(f5.taker_fee(Qty::from_hundredths(1), p("0.01")), Money::parse("0.00001").unwrap());
        assert_eq!(f.taker_fee(Qty::ZERO, p("0.5")), Money::ZERO);
        assert_eq!(f.taker_fee(Qty::from_contracts(5), Price::ONE), Money::ZERO);
    }

    #[test]
    fn polymarket_from_strings() {
        assert_eq!(FeeSchedule::polymarket("0.07", "1"), Ok(FeeSchedule::Polymarket { rate_ppm: 70_000, exponent: 1 }));
        assert!(FeeSchedule::polymarket("-0.07", "1").is_err());
        assert!(FeeSchedule::polymarket("0.07", "1.5").is_err());
    }

    #[test]
    fn kalshi_event_overrides_replace_the_series() {
        let half = Price::parse("0.50").unwrap();
        let c100 = Qty::from_contracts(100);
        let f = FeeSchedule::kalshi_event("KXMLB", "quadratic", "0.5", None, Some("1")).unwrap();
        assert_eq!(f.taker_fee(c100, half), Money::parse("1.75").unwrap());
        let f = FeeSchedule::kalshi_event("KXMLB", "quadratic", "0.5", Some(""), Some("  ")).unwrap();
        assert_eq!(f.taker_fee(c100, half), Money::parse("0.88").unwrap());
        let f = FeeSchedule::kalshi_event("KXFED", "quadratic", "1", Some("quadratic_with_maker_fees"), None).unwrap();
        assert_eq!(f.maker_fee(c100, half), Money::parse("0.44").unwrap());
        let f = FeeSchedule::kalshi_event("KXFED", "quadratic", "1", None, Some("0")).unwrap();
        assert_eq!(f.taker_fee(c100, half), Money::ZERO);
        assert!(FeeSchedule::kalshi_event("KXFED", "quadratic", "1", Some("flat"), None).is_err());
    }

    #[test]
    fn walks_round_each_fill_then_the_order() {
        let k = FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap();
        let p = |s: &str| Price::parse(s).unwrap();
        // 50 @ 0.50 = 0.875, 50 @ 0.60 = 0.84: 1.715 -> 1.72 for the order.
        let fee = k.taker_fee_fills([(Qty::from_contracts(50), p("0.50")), (Qty::from_contracts(50), p("0.60"))]);
        assert_eq!(fee, Money::parse("1.72").unwrap());
        // Per fill $0.0001: 0.01 @ 0.5 = 0.000175 -> 0.0002 each; 3 fills = 0.0006 -> 0.01.
        assert_eq!(k.fill_units(Qty::from_hundredths(1), p("0.5"), false), 2);
        assert_eq!(k.taker_fee_fills([(Qty::from_hundredths(1), p("0.5")); 3]), Money::CENT);
        let pm = FeeSchedule::Polymarket { rate_ppm: 70_000, exponent: 1 };
        // 0.000693 + 0.000693 -> 0.00070 + 0.00070 (rounded up per fill).
        assert_eq!(pm.taker_fee_fills([(Qty::ONE, p("0.01")); 2]), Money::parse("0.0014").unwrap());
        assert_eq!(FeeSchedule::None.taker_fee_fills([(Qty::ONE, p("0.5"))]), Money::ZERO);
    }

    #[test]
    fn charged_fees_as_the_venues_book_them() {
        let p = |s: &str| Price::parse(s).unwrap();
        let pm = FeeSchedule::Polymarket { rate_ppm: 70_000, exponent: 1 };
        // 0.000693 rounds to the nearest 0.00069 (our estimate says 0.00070).
        assert_eq!(pm.charged_fill_fee(Qty::ONE, p("0.01"), false), Money::parse("0.00069").unwrap());
        assert_eq!(pm.taker_fee(Qty::ONE, p("0.01")), Money::parse("0.0007").unwrap());
        // 0.0000045 rounds to zero; exactly half a unit rounds up.
        let tiny = FeeSchedule::Polymarket { rate_ppm: 1_800, exponent: 1 };
        assert_eq!(tiny.charged_fill_fee(Qty::from_hundredths(1), p("0.5"), false), Money::ZERO); // 0.01 * 0.0018 * 0.25 = 0.0000045
        let half = FeeSchedule::Polymarket { rate_ppm: 2_000, exponent: 1 };
        assert_eq!(half.charged_fill_fee(Qty::from_hundredths(1), p("0.5"), false), Money::parse("0.00001").unwrap()); // 0.000005
        assert_eq!(pm.charged_fill_fee(Qty::ONE, p("0.5"), true), Money::ZERO);
        let k = FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap();
        assert_eq!(k.charged_fill_fee(Qty::from_hundredths(1), p("0.5"), false), Money::parse("0.0002").unwrap());
        assert_eq!(k.charged_fill_fee(Qty::from_contracts(100), p("0.5"), false), Money::parse("1.75").unwrap());
    }

    #[test]
    fn amm_fees_and_gas() {
        let amm = FeeSchedule::Amm { fee_wad: 20_000_000_000_000_000 };
        assert_eq!(amm.amm_buy_fee(Money::from_dollars(100)), Money::from_dollars(2));
        assert_eq!(amm.amm_sell_fee(Money::parse("98").unwrap()), Ok(Money::from_dollars(2)));
        assert_eq!(amm.taker_fee(Qty::from_contracts(100), Price::parse("0.5").unwrap()), Money::ZERO);
        assert_eq!(FeeSchedule::None.amm_buy_fee(Money::from_dollars(100)), Money::ZERO);
        // 100k gas at 30 gwei = 0.003 POL; at $0.50 that is $0.0015.
        assert_eq!(gas_cost(100_000, 30_000_000_000, Money::parse("0.50").unwrap()), Money::parse("0.0015").unwrap());
        // Rounded up: 1 wei at $1 is a micro-dollar, not zero.
        assert_eq!(gas_cost(1, 1, Money::from_dollars(1)), Money::from_micros(1));
        assert_eq!(gas_cost(0, 30, Money::from_dollars(1)), Money::ZERO);
    }

    #[test]
    fn linear_form_equals_the_fill_fee() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let schedules = [
            FeeSchedule::None,
            FeeSchedule::kalshi("KXFED", "quadratic", "1").unwrap(),
            FeeSchedule::kalshi("INXD", "quadratic", "0.5").unwrap(),
            FeeSchedule::Polymarket { rate_ppm: 70_000, exponent: 1 },
            FeeSchedule::Polymarket { rate_ppm: 250_000, exponent: 2 },
            FeeSchedule::Polymarket { rate_ppm: 10_000, exponent: 0 },
        ];
        for f in schedules {
            for _ in 0..5_000 {
                let p = Price::from_micros((next() % 1_000_001) as i64).unwrap();
                let q = Qty::from_micros((next() % 100_000_000_000) as i64);
                let (factor, div) = f.taker_linear(p).unwrap();
                // Callers fall back to `fill_units` when the product overflows.
                if let Some(n) = factor.checked_mul(q.micros() as u128) {
                    assert_eq!(div.div_ceil(n) as i64, f.fill_units(q, p, false), "{f:?} {q} @ {p}");
                }
            }
        }
        assert_eq!(FeeSchedule::Polymarket { rate_ppm: 1, exponent: 3 }.taker_linear(Price::ONE), None);
    }

    #[test]
    fn absurd_sizes_saturate_instead_of_wrapping() {
        let k = FeeSchedule::Kalshi { taker_ppm: u32::MAX, maker_ppm: 0, multiplier_ppm: u32::MAX };
        let f = k.taker_fee(Qty::MAX, Price::parse("0.5").unwrap());
        assert!(f.is_positive());
        let pm = FeeSchedule::Polymarket { rate_ppm: u32::MAX, exponent: 1 };
        assert!(pm.taker_fee(Qty::MAX, Price::parse("0.5").unwrap()).is_positive());
    }

    #[test]
    fn words_round_trip() {
        for f in [
            FeeSchedule::None,
            FeeSchedule::Kalshi { taker_ppm: 70_000, maker_ppm: 17_500, multiplier_ppm: 500_000 },
            FeeSchedule::Polymarket { rate_ppm: 40_000, exponent: 2 },
            FeeSchedule::Amm { fee_wad: 20_000_000_000_000_000 },
        ] {
            assert_eq!(FeeSchedule::from_words(f.to_words()), Some(f));
        }
        assert_eq!(FeeSchedule::from_words([9, 0, 0, 0]), None);
    }
}
