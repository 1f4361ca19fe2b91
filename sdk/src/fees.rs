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
