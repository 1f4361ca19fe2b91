//! Venue fee schedules.
//!
//! The arithmetic lives with the schedule so the host and strategies can never
//! disagree about a fee. (Formulas are filled in by the money-math work; the
//! schedule's shape is part of the wire format, see [`crate::wire`].)

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

/// Parts per million, the scale of every fee coefficient and multiplier.
const PPM: i128 = 1_000_000;

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

    /// What a taker pays for `qty` contracts at `price`, rounded against us.
    ///
    /// - Kalshi: rounded up to the cent per order (the venue rounds each fill up
    ///   to $0.0001 and refunds overpaid cents per order, so a whole order never
    ///   costs more than this).
    /// - Polymarket: rounded up to $0.00001 (the venue rounds to 5 decimals).
    /// - AMM: zero here; the pool takes its fee out of the investment (see `amm`).
    ///
    /// Saturates at `Money::MAX` instead of overflowing, which makes any trade
    /// of absurd size look unprofitable rather than free.
    pub fn taker_fee(&self, qty: crate::Qty, price: crate::Price) -> crate::Money {
        self.fee(qty, price, false)
    }

    /// What a maker (resting order) pays; zero where the venue charges makers nothing.
    pub fn maker_fee(&self, qty: crate::Qty, price: crate::Price) -> crate::Money {
        self.fee(qty, price, true)
    }

    fn fee(&self, qty: crate::Qty, price: crate::Price, maker: bool) -> crate::Money {
        use crate::money::{Rounding, div_round};
        let q = qty.micros().max(0) as i128;
        let v = price.variance_micros2(); // p(1-p), scale 1e12
        let micros = match *self {
            FeeSchedule::None | FeeSchedule::Amm { .. } => Some(0),
            FeeSchedule::Kalshi { taker_ppm, maker_ppm, multiplier_ppm } => {
                let coef = if maker { maker_ppm } else { taker_ppm } as i128;
                // dollars = coef/1e6 * mult/1e6 * q/1e6 * v/1e12 ; cents = dollars * 100
                (coef * multiplier_ppm as i128)
                    .checked_mul(v)
                    .and_then(|x| x.checked_mul(q))
                    .map(|num| div_round(num, 10i128.pow(28), Rounding::Up) * 10_000)
            }
            FeeSchedule::Polymarket { rate_ppm, exponent } => {
                if maker {
                    Some(0)
                } else {
                    // (p(1-p))^e at scale 1e12, rounded up at each step (only
                    // ever overstates the fee, by far less than its last digit).
                    let mut var = PPM * PPM; // 1.0 at scale 1e12
                    for _ in 0..exponent.min(8) {
                        var = div_round(var * v, PPM * PPM, Rounding::Up);
                    }
                    // dollars = q/1e6 * rate/1e6 * var/1e12 ; units of 1e-5 = dollars * 1e5
                    (rate_ppm as i128)
                        .checked_mul(var)
                        .and_then(|x| x.checked_mul(q))
                        .map(|num| div_round(num, 10i128.pow(19), Rounding::Up) * 10)
                }
            }
        };
        micros.and_then(|m| i64::try_from(m).ok()).map(crate::Money::from_micros).unwrap_or(crate::Money::MAX)
    }
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
