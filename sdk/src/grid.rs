//! The prices and sizes a venue accepts.
//!
//! An order off the venue's grid is rejected (or, worse, silently re-priced),
//! so limit prices and sizes are validated and rounded here, in a direction
//! the caller chooses: a buy's limit rounds down (never pay more than meant),
//! a sell's rounds up.
//!
//! - Kalshi publishes `price_level_structure` (`linear_cent`,
//!   `tapered_deci_cent`, `deci_cent`) and the exact `price_ranges`
//!   `[{start, end, step}]` as dollar strings; counts are in 0.01 contracts
//!   where fractional trading is enabled, whole contracts otherwise.
//! - Polymarket has one tick per market (0.1, 0.01, 0.005, 0.0025, 0.001 or
//!   0.0001) and accepts prices in `[tick, 1 - tick]`; sizes have 2 decimals.

use crate::money::{AmountError, Price, Qty, Rounding, SCALE};

/// Why a grid definition, price or size is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    #[error("unknown price_level_structure {0:?} (expected linear_cent, tapered_deci_cent or deci_cent)")]
    UnknownStructure(String),
    #[error("price range {start}..{end} step {step}: {reason}")]
    BadRange { start: String, end: String, step: String, reason: &'static str },
    #[error("price ranges overlap or are out of order at {0}")]
    Overlap(String),
    #[error("no price ranges")]
    Empty,
    #[error("{0} is not a Polymarket tick size (0.1, 0.01, 0.005, 0.0025, 0.001, 0.0001)")]
    BadTick(String),
    #[error("price {price} is off the grid (nearest valid: {below} below, {above} above)")]
    OffGrid { price: String, below: String, above: String },
    #[error("price {price} is outside the tradable range {min}..={max}")]
    OutOfRange { price: String, min: String, max: String },
    #[error("size {size} is not a multiple of {step}")]
    SizeOffGrid { size: String, step: String },
    #[error("size {size} is below the minimum {min}")]
    SizeTooSmall { size: String, min: String },
    #[error(transparent)]
    Amount(#[from] AmountError),
}

/// One `{start, end, step}` interval: the prices `start + k * step` up to `end`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PriceRange {
    pub start: Price,
    pub end: Price,
    pub step: Price,
}

impl PriceRange {
    /// Parse the venue's dollar strings (`"0.1000"`).
    pub fn parse(start: &str, end: &str, step: &str) -> Result<PriceRange, GridError> {
        PriceRange::new(Price::parse(start)?, Price::parse(end)?, Price::parse(step)?)
    }

    pub fn new(start: Price, end: Price, step: Price) -> Result<PriceRange, GridError> {
        let bad = |reason| GridError::BadRange {
            start: start.to_string(),
            end: end.to_string(),
            step: step.to_string(),
            reason,
        };
        if step.is_zero() {
            return Err(bad("step is zero"));
        }
        if start >= end {
            return Err(bad("start is not below end"));
        }
        if (end.micros() - start.micros()) % step.micros() != 0 {
            return Err(bad("end is not a whole number of steps from start"));
        }
        Ok(PriceRange { start, end, step })
    }

    #[inline]
    fn contains(&self, p: i64) -> bool {
        p >= self.start.micros() && p <= self.end.micros() && (p - self.start.micros()) % self.step.micros() == 0
    }
}

/// The valid prices of one market: a union of [`PriceRange`]s, limited to the
/// tradable interval (a contract never trades at $0 or $1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceGrid {
    ranges: Vec<PriceRange>,
    min: Price,
    max: Price,
}

impl PriceGrid {
    /// From `price_ranges`, sorted by start; neighbouring ranges may share an
    /// endpoint (Kalshi's tapered grid switches step at $0.10 and $0.90).
    /// $0 and $1 are range boundaries, never tradable prices.
    pub fn from_ranges(ranges: &[PriceRange]) -> Result<PriceGrid, GridError> {
        if ranges.is_empty() {
            return Err(GridError::Empty);
        }
        for w in ranges.windows(2) {
            if w[1].start < w[0].end {
                return Err(GridError::Overlap(w[1].start.to_string()));
            }
        }
        let mut g = PriceGrid { ranges: ranges.to_vec(), min: Price::ZERO, max: Price::ONE };
        // The tradable extremes: the first and last grid prices strictly inside (0, 1).
        g.min = g.scan(1, Rounding::Up).ok_or(GridError::Empty)?;
        g.max = g.scan(SCALE - 1, Rounding::Down).ok_or(GridError::Empty)?;
        if g.min > g.max {
            return Err(GridError::Empty);
        }
        Ok(g)
    }

    /// From Kalshi's `price_ranges` as `(start, end, step)` dollar strings.
    pub fn kalshi_ranges<'a>(
        ranges: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Result<PriceGrid, GridError> {
        let ranges = ranges.into_iter().map(|(s, e, st)| PriceRange::parse(s, e, st)).collect::<Result<Vec<_>, _>>()?;
        PriceGrid::from_ranges(&ranges)
    }

    /// Kalshi's named structures, as documented: `linear_cent` ($0.01 from $0
    /// to $1), `tapered_deci_cent` ($0.001 below $0.10 and above $0.90, $0.01
    /// between), `deci_cent` ($0.001 everywhere). Prefer the market's own
    /// `price_ranges` when present; this is the fallback and the cross-check.
    pub fn kalshi_structure(name: &str) -> Result<PriceGrid, GridError> {
        const fn r(start: i64, end: i64, step: i64) -> PriceRange {
            PriceRange {
                start: Price::from_micros_const(start),
                end: Price::from_micros_const(end),
                step: Price::from_micros_const(step),
            }
        }
        match name {
            "linear_cent" => PriceGrid::from_ranges(&[r(0, SCALE, 10_000)]),
            "tapered_deci_cent" => {
                PriceGrid::from_ranges(&[r(0, 100_000, 1_000), r(100_000, 900_000, 10_000), r(900_000, SCALE, 1_000)])
            }
            "deci_cent" => PriceGrid::from_ranges(&[r(0, SCALE, 1_000)]),
            other => Err(GridError::UnknownStructure(other.to_string())),
        }
    }

    /// Polymarket: one tick, prices in `[tick, 1 - tick]`.
    pub fn polymarket(tick: Price) -> Result<PriceGrid, GridError> {
        if !POLYMARKET_TICKS.contains(&tick.micros()) {
            return Err(GridError::BadTick(tick.to_string()));
        }
        PriceGrid::from_ranges(&[PriceRange { start: Price::ZERO, end: Price::ONE, step: tick }])
    }

    /// Polymarket's tick from its string (`"0.01"`, `"0.0025"`).
    pub fn polymarket_tick(s: &str) -> Result<PriceGrid, GridError> {
        let tick = Price::parse(s).map_err(|_| GridError::BadTick(s.to_string()))?;
        PriceGrid::polymarket(tick)
    }

    pub fn ranges(&self) -> &[PriceRange] {
        &self.ranges
    }

    /// Lowest tradable price.
    pub fn min(&self) -> Price {
        self.min
    }

    /// Highest tradable price.
    pub fn max(&self) -> Price {
        self.max
    }

    /// Whether `p` is a tradable price on this grid.
    pub fn contains(&self, p: Price) -> bool {
        p >= self.min && p <= self.max && self.ranges.iter().any(|r| r.contains(p.micros()))
    }

    /// `Ok` if `p` is tradable; otherwise why not, with the nearest valid prices.
    pub fn check(&self, p: Price) -> Result<(), GridError> {
        if p < self.min || p > self.max {
            return Err(GridError::OutOfRange {
                price: p.to_string(),
                min: self.min.to_string(),
                max: self.max.to_string(),
            });
        }
        if self.contains(p) {
            return Ok(());
        }
        let show = |q: Option<Price>| q.map_or_else(|| "none".to_string(), |q| q.to_string());
        Err(GridError::OffGrid {
            price: p.to_string(),
            below: show(self.round(p, Rounding::Down)),
            above: show(self.round(p, Rounding::Up)),
        })
    }

    /// The nearest tradable price in the given direction (`Up`: the smallest
    /// at or above `p`; `Down`: the largest at or below), or `None` if there
    /// is none that way.
    pub fn round(&self, p: Price, rounding: Rounding) -> Option<Price> {
        let m = p.micros().clamp(self.min.micros(), self.max.micros());
        match rounding {
            Rounding::Up if p > self.max => None,
            Rounding::Down if p < self.min => None,
            _ => self.scan(m, rounding),
        }
    }

    /// The next tradable price strictly above (`Up`) or below (`Down`) `p`.
    pub fn step_from(&self, p: Price, rounding: Rounding) -> Option<Price> {
        let next = match rounding {
            Rounding::Up => Price::from_micros(p.micros() + 1).ok()?,
            Rounding::Down => Price::from_micros(p.micros() - 1).ok()?,
        };
        self.round(next, rounding)
    }

    /// Nearest grid point to micro-price `m` across all ranges, ignoring the tradable bounds.
    fn scan(&self, m: i64, rounding: Rounding) -> Option<Price> {
        let mut best: Option<i64> = None;
        for r in &self.ranges {
            let (s, e, st) = (r.start.micros(), r.end.micros(), r.step.micros());
            let cand = match rounding {
                Rounding::Up => {
                    if m > e {
                        continue;
                    }
                    if m <= s { s } else { s + (m - s + st - 1) / st * st }
                }
                Rounding::Down => {
                    if m < s {
                        continue;
                    }
                    if m >= e { e } else { s + (m - s) / st * st }
                }
            };
            best = Some(match (best, rounding) {
                (None, _) => cand,
                (Some(b), Rounding::Up) => b.min(cand),
                (Some(b), Rounding::Down) => b.max(cand),
            });
        }
        best.and_then(|b| Price::from_micros(b).ok())
    }
}

/// Polymarket's tick sizes in micro-dollars.
pub const POLYMARKET_TICKS: [i64; 6] = [100_000, 10_000, 5_000, 2_500, 1_000, 100];

/// The sizes a venue accepts: multiples of `step`, at least `min`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QtyGrid {
    pub step: Qty,
    pub min: Qty,
}

impl QtyGrid {
    /// Kalshi: 0.01 contracts where `fractional_trading_enabled`, else whole contracts.
    pub const fn kalshi(fractional: bool) -> QtyGrid {
        let step = if fractional { Qty::from_hundredths(1) } else { Qty::ONE };
        QtyGrid { step, min: step }
    }

    /// Polymarket CLOB: 2-decimal sizes and the market's `minimum_order_size`.
    pub fn polymarket(min_order_size: Qty) -> QtyGrid {
        let step = Qty::from_hundredths(1);
        QtyGrid { step, min: min_order_size.max(step) }
    }

    /// An AMM: any number of base units.
    pub const AMM: QtyGrid = QtyGrid { step: Qty::from_micros(1), min: Qty::from_micros(1) };

    /// Parse and validate a size string such as `"21.04"`.
    pub fn parse(&self, s: &str) -> Result<Qty, GridError> {
        let q = Qty::parse_non_negative(s)?;
        self.check(q)?;
        Ok(q)
    }

    pub fn check(&self, q: Qty) -> Result<(), GridError> {
        if q.micros() % self.step.micros() != 0 {
            return Err(GridError::SizeOffGrid { size: q.to_string(), step: self.step.to_string() });
        }
        if q < self.min {
            return Err(GridError::SizeTooSmall { size: q.to_string(), min: self.min.to_string() });
        }
        Ok(())
    }

    /// Round onto the step (sizes we buy usually round down: never more than we can pay for).
    pub fn round(&self, q: Qty, rounding: Rounding) -> Qty {
        match rounding {
            Rounding::Down => q.floor_to(self.step.micros()),
            Rounding::Up => q.ceil_to(self.step.micros()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }

    #[test]
    fn kalshi_named_structures() {
        let lin = PriceGrid::kalshi_structure("linear_cent").unwrap();
        assert_eq!((lin.min(), lin.max()), (p("0.01"), p("0.99")));
        assert!(lin.contains(p("0.56")));
        assert!(!lin.contains(p("0.565")));
        assert!(!lin.contains(Price::ZERO) && !lin.contains(Price::ONE));

        let tap = PriceGrid::kalshi_structure("tapered_deci_cent").unwrap();
        assert_eq!((tap.min(), tap.max()), (p("0.001"), p("0.999")));
        assert!(tap.contains(p("0.053")));
        assert!(tap.contains(p("0.10")));
        assert!(!tap.contains(p("0.105")));
        assert!(tap.contains(p("0.901")));
        assert_eq!(tap.round(p("0.105"), Rounding::Down), Some(p("0.10")));
        assert_eq!(tap.round(p("0.105"), Rounding::Up), Some(p("0.11")));
        assert_eq!(tap.round(p("0.8995"), Rounding::Up), Some(p("0.90")));
        assert_eq!(tap.round(p("0.0995"), Rounding::Down), Some(p("0.099")));

        let deci = PriceGrid::kalshi_structure("deci_cent").unwrap();
        assert!(deci.contains(p("0.505")));
        assert!(!deci.contains(p("0.5055")));
        assert!(matches!(PriceGrid::kalshi_structure("quarter_cent"), Err(GridError::UnknownStructure(_))));
    }

    #[test]
    fn kalshi_price_ranges_from_strings_match_the_names() {
        let g = PriceGrid::kalshi_ranges([
            ("0.0000", "0.1000", "0.0010"),
            ("0.1000", "0.9000", "0.0100"),
            ("0.9000", "1.0000", "0.0010"),
        ])
        .unwrap();
        assert_eq!(g, PriceGrid::kalshi_structure("tapered_deci_cent").unwrap());
        assert!(matches!(
            PriceGrid::kalshi_ranges([("0.0000", "0.1000", "0.0300")]),
            Err(GridError::BadRange { reason: "end is not a whole number of steps from start", .. })
        ));
        assert!(matches!(PriceGrid::kalshi_ranges([("0.5", "0.1", "0.01")]), Err(GridError::BadRange { .. })));
        assert!(matches!(PriceGrid::kalshi_ranges([("0", "1", "0")]), Err(GridError::BadRange { .. })));
        assert!(matches!(
            PriceGrid::kalshi_ranges([("0", "0.5", "0.01"), ("0.4", "1", "0.01")]),
            Err(GridError::Overlap(_))
        ));
        assert!(matches!(PriceGrid::kalshi_ranges([("0", "abc", "0.01")]), Err(GridError::Amount(_))));
        assert_eq!(PriceGrid::kalshi_ranges([]), Err(GridError::Empty));
    }

    #[test]
    fn polymarket_ticks_and_bounds() {
        let g = PriceGrid::polymarket_tick("0.01").unwrap();
        assert_eq!((g.min(), g.max()), (p("0.01"), p("0.99")));
        let g = PriceGrid::polymarket_tick("0.0025").unwrap();
        assert_eq!((g.min(), g.max()), (p("0.0025"), p("0.9975")));
        assert!(g.contains(p("0.5025")));
        assert!(!g.contains(p("0.5030")));
        assert_eq!(g.round(p("0.503"), Rounding::Down), Some(p("0.5025")));
        assert_eq!(g.round(p("0.503"), Rounding::Up), Some(p("0.505")));
        assert_eq!(g.round(p("0.999"), Rounding::Up), None);
        assert_eq!(g.round(p("0.999"), Rounding::Down), Some(p("0.9975")));
        assert_eq!(g.round(p("0.001"), Rounding::Down), None);
        assert_eq!(g.step_from(p("0.5025"), Rounding::Up), Some(p("0.505")));
        assert_eq!(g.step_from(p("0.5025"), Rounding::Down), Some(p("0.5")));
        assert!(matches!(PriceGrid::polymarket_tick("0.02"), Err(GridError::BadTick(_))));
        for t in ["0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001"] {
            assert!(PriceGrid::polymarket_tick(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn check_explains_what_is_wrong() {
        let g = PriceGrid::kalshi_structure("linear_cent").unwrap();
        assert_eq!(g.check(p("0.42")), Ok(()));
        assert_eq!(
            g.check(p("0.425")),
            Err(GridError::OffGrid { price: "0.425".into(), below: "0.42".into(), above: "0.43".into() })
        );
        assert!(matches!(g.check(Price::ONE), Err(GridError::OutOfRange { .. })));
        assert_eq!(
            g.check(p("0.425")).unwrap_err().to_string(),
            "price 0.425 is off the grid (nearest valid: 0.42 below, 0.43 above)"
        );
    }

    #[test]
    fn quantity_grids() {
        let k = QtyGrid::kalshi(true);
        assert_eq!(k.parse("21.04"), Ok(Qty::from_hundredths(2104)));
        assert!(matches!(k.parse("21.045"), Err(GridError::SizeOffGrid { .. })));
        assert!(matches!(k.parse("-1"), Err(GridError::Amount(_))));
        let whole = QtyGrid::kalshi(false);
        assert!(matches!(whole.parse("1.5"), Err(GridError::SizeOffGrid { .. })));
        let pm = QtyGrid::polymarket(Qty::from_contracts(5));
        assert!(matches!(pm.parse("4.99"), Err(GridError::SizeTooSmall { .. })));
        assert_eq!(pm.parse("5.01"), Ok(Qty::from_hundredths(501)));
        assert_eq!(pm.round(Qty::from_micros(5_019_999), Rounding::Down), Qty::from_hundredths(501));
        assert_eq!(pm.round(Qty::from_micros(5_010_001), Rounding::Up), Qty::from_hundredths(502));
        assert_eq!(QtyGrid::AMM.check(Qty::from_micros(7)), Ok(()));
    }
}
