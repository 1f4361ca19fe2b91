//! Exact fixed-point price, quantity and money types.
//!
//! Every venue grid fits in six decimals: Kalshi prices (4 dp in practice, 6
//! allowed) and counts (2 dp), Polymarket ticks (down to 0.0001), sizes (2 dp)
//! and 6-decimal collateral, and AMM outcome tokens (6-decimal base units). So
//! all three types count millionths:
//!
//! - [`Price`]: micro-dollars per contract, `0 ..= 1_000_000`;
//! - [`Qty`]: micro-contracts (one AMM outcome-token base unit each);
//! - [`Money`]: micro-dollars, signed.
//!
//! Products of two of them are taken in `i128` and brought back with an explicit
//! [`Rounding`], so the direction of every rounding is a decision made at the
//! call site: costs and fees round against us ([`Rounding::Up`]), proceeds round
//! down ([`Rounding::Down`]).

use core::fmt;
use core::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// Millionths: the scale of [`Price`], [`Qty`] and [`Money`].
pub const SCALE: i64 = 1_000_000;

/// Which way to round a result that is not a whole number of micro-units.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// Toward positive infinity: for what we pay.
    Up,
    /// Toward negative infinity: for what we receive.
    Down,
}

/// Divide rounding as asked. `den` must be positive.
#[inline]
pub const fn div_round(num: i128, den: i128, rounding: Rounding) -> i128 {
    let q = num.div_euclid(den);
    let r = num.rem_euclid(den);
    match rounding {
        Rounding::Down => q,
        Rounding::Up => {
            if r == 0 {
                q
            } else {
                q + 1
            }
        }
    }
}

/// Why a string or number is not a valid amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("not a decimal number: {0:?}")]
    Syntax(String),
    #[error("{0:?} has more than 6 decimal places")]
    TooPrecise(String),
    #[error("{0:?} is out of range")]
    OutOfRange(String),
    #[error("price {0:?} is outside [0, 1]")]
    PriceOutOfRange(String),
    #[error("{0:?} is negative")]
    Negative(String),
    #[error("{value} is not a multiple of {step}")]
    OffGrid { value: String, step: String },
    #[error("arithmetic overflow")]
    Overflow,
}

/// Parse a decimal string into an exact count of millionths.
///
/// Accepts what the venues send: `"0.5600"`, `".48"`, `"10"`, `"-54.00"`,
/// `"1e-3"`, surrounding whitespace. Rejects anything that is not exactly
/// representable in six decimals (trailing zeros beyond the sixth place are fine).
pub fn parse_micros(input: &str) -> Result<i64, AmountError> {
    let err = || AmountError::Syntax(truncate(input));
    let s = input.trim();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => {
            let e: i32 = s[i + 1..].parse().map_err(|_| err())?;
            (&s[..i], e)
        }
        None => (s, 0),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(err());
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    // All digits as one integer, with the decimal point `scale` places from the right.
    let digits = int_part.bytes().chain(frac_part.bytes());
    let scale = frac_part.len() as i64 - exp as i64;
    if !(-40..=400).contains(&scale) {
        return Err(AmountError::OutOfRange(truncate(input)));
    }
    // Drop trailing zeros beyond the sixth decimal; anything else there is too precise.
    let mut value: i128 = 0;
    let total = int_part.len() as i64 + frac_part.len() as i64;
    let keep = total - (scale - 6).max(0); // digits that land at or above 1e-6
    for (seen, d) in digits.enumerate() {
        let d = (d - b'0') as i128;
        if (seen as i64) < keep {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(d))
                .ok_or_else(|| AmountError::OutOfRange(truncate(input)))?;
        } else if d != 0 {
            return Err(AmountError::TooPrecise(truncate(input)));
        }
    }
    // value now has min(scale, 6) decimals; bring it to exactly 6.
    let shift = 6 - scale.min(6);
    for _ in 0..shift {
        value = value.checked_mul(10).ok_or_else(|| AmountError::OutOfRange(truncate(input)))?;
    }
    let value = if neg { -value } else { value };
    i64::try_from(value).map_err(|_| AmountError::OutOfRange(truncate(input)))
}

/// Format millionths with exactly `decimals` places; errors if that would lose digits.
pub fn format_micros(micros: i64, decimals: u32) -> Result<String, AmountError> {
    assert!(decimals <= 6, "at most 6 decimals");
    let unit = 10i64.pow(6 - decimals);
    if micros % unit != 0 {
        return Err(AmountError::OffGrid { value: format_micros_full(micros), step: format_micros_full(unit) });
    }
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let int = abs / SCALE as u64;
    if decimals == 0 {
        return Ok(format!("{sign}{int}"));
    }
    let frac = (abs % SCALE as u64) / unit as u64;
    Ok(format!("{sign}{int}.{frac:0width$}", width = decimals as usize))
}

/// Format millionths with as few decimals as represent it exactly (at least 2).
pub fn format_micros_full(micros: i64) -> String {
    let mut decimals = 6;
    while decimals > 2 && micros % 10i64.pow(7 - decimals) == 0 {
        decimals -= 1;
    }
    format_micros(micros, decimals).unwrap_or_else(|_| micros.to_string())
}

fn truncate(s: &str) -> String {
    const MAX: usize = 40;
    if s.len() <= MAX {
        s.to_string()
    } else {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

macro_rules! fixed_common {
    ($t:ident) => {
        impl $t {
            pub const ZERO: $t = $t(0);

            /// Millionths as a raw integer.
            #[inline]
            pub const fn micros(self) -> i64 {
                self.0
            }

            #[inline]
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// Format with exactly `decimals` places; errors if that would lose digits.
            pub fn to_decimal_string(self, decimals: u32) -> Result<String, AmountError> {
                format_micros(self.0, decimals)
            }

            #[inline]
            pub fn checked_add(self, o: $t) -> Option<$t> {
                self.0.checked_add(o.0).map($t)
            }

            #[inline]
            pub fn checked_sub(self, o: $t) -> Option<$t> {
                self.0.checked_sub(o.0).map($t)
            }

            /// Round down to a multiple of `step` millionths.
            #[inline]
            pub fn floor_to(self, step: i64) -> $t {
                $t(self.0.div_euclid(step) * step)
            }

            /// Round up to a multiple of `step` millionths.
            #[inline]
            pub fn ceil_to(self, step: i64) -> $t {
                $t(div_round(self.0 as i128, step as i128, Rounding::Up) as i64 * step)
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&format_micros_full(self.0))
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), format_micros_full(self.0))
            }
        }

        impl core::str::FromStr for $t {
            type Err = AmountError;
            fn from_str(s: &str) -> Result<$t, AmountError> {
                $t::parse(s)
            }
        }
    };
}

/// Dollars per contract, in millionths; always within `[0, 1]` dollars.
#[repr(transparent)]
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(i64);
fixed_common!(Price);

impl Price {
    /// $1.00: what one winning contract pays.
    pub const ONE: Price = Price(SCALE);

    /// From micro-dollars; errors outside `[0, 1_000_000]`.
    pub fn from_micros(micros: i64) -> Result<Price, AmountError> {
        if (0..=SCALE).contains(&micros) {
            Ok(Price(micros))
        } else {
            Err(AmountError::PriceOutOfRange(format_micros_full(micros)))
        }
    }

    /// From micro-dollars known to be in range (constants, already-validated data).
    ///
    /// # Panics
    /// If `micros` is outside `[0, 1_000_000]`.
    pub const fn from_micros_const(micros: i64) -> Price {
        assert!(micros >= 0 && micros <= SCALE, "price out of range");
        Price(micros)
    }

    /// Parse a dollar string such as `"0.5600"`.
    pub fn parse(s: &str) -> Result<Price, AmountError> {
        let m = parse_micros(s)?;
        if (0..=SCALE).contains(&m) { Ok(Price(m)) } else { Err(AmountError::PriceOutOfRange(truncate(s))) }
    }

    /// `1 - p`: the price of the other side of a binary market.
    #[inline]
    pub const fn complement(self) -> Price {
        Price(SCALE - self.0)
    }

    /// `p * (1 - p)` in micro-dollars squared (scale 1e12): the shape of every venue's fee curve.
    #[inline]
    pub const fn variance_micros2(self) -> i128 {
        self.0 as i128 * (SCALE - self.0) as i128
    }
}

/// A number of contracts, in millionths of a contract.
#[repr(transparent)]
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Qty(i64);
fixed_common!(Qty);

impl Qty {
    /// One whole contract.
    pub const ONE: Qty = Qty(SCALE);
    pub const MAX: Qty = Qty(i64::MAX);

    #[inline]
    pub const fn from_micros(micros: i64) -> Qty {
        Qty(micros)
    }

    /// Whole contracts.
    #[inline]
    pub const fn from_contracts(n: i64) -> Qty {
        Qty(n * SCALE)
    }

    /// Hundredths of a contract (Kalshi's count granularity, Polymarket's lot).
    #[inline]
    pub const fn from_hundredths(n: i64) -> Qty {
        Qty(n * (SCALE / 100))
    }

    /// Parse a count string such as `"10.00"`; negative counts are allowed (signed positions).
    pub fn parse(s: &str) -> Result<Qty, AmountError> {
        parse_micros(s).map(Qty)
    }

    /// Parse a count that must not be negative (order sizes, book levels).
    pub fn parse_non_negative(s: &str) -> Result<Qty, AmountError> {
        let q = Qty::parse(s)?;
        if q.0 < 0 { Err(AmountError::Negative(truncate(s))) } else { Ok(q) }
    }

    #[inline]
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    #[inline]
    pub fn min(self, o: Qty) -> Qty {
        if self.0 <= o.0 { self } else { o }
    }

    #[inline]
    pub fn max(self, o: Qty) -> Qty {
        if self.0 >= o.0 { self } else { o }
    }

    /// `self * price`, in money, rounded as asked.
    #[inline]
    pub fn value_at(self, price: Price, rounding: Rounding) -> Money {
        let num = self.0 as i128 * price.0 as i128;
        Money(div_round(num, SCALE as i128, rounding) as i64)
    }

    /// What this many winning contracts pay at settlement.
    #[inline]
    pub const fn payout(self) -> Money {
        Money(self.0)
    }
}

/// Dollars, in millionths; signed.
#[repr(transparent)]
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);
fixed_common!(Money);

impl Money {
    /// One cent.
    pub const CENT: Money = Money(SCALE / 100);
    pub const DOLLAR: Money = Money(SCALE);
    pub const MAX: Money = Money(i64::MAX);

    #[inline]
    pub const fn from_micros(micros: i64) -> Money {
        Money(micros)
    }

    /// Whole cents (Kalshi's integer `balance`, `revenue`).
    #[inline]
    pub const fn from_cents(cents: i64) -> Money {
        Money(cents * (SCALE / 100))
    }

    #[inline]
    pub const fn from_dollars(d: i64) -> Money {
        Money(d * SCALE)
    }

    /// Parse a dollar string such as `"1.7500"` or `"-0.02"`.
    pub fn parse(s: &str) -> Result<Money, AmountError> {
        parse_micros(s).map(Money)
    }

    #[inline]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    #[inline]
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    #[inline]
    pub fn max(self, o: Money) -> Money {
        if self.0 >= o.0 { self } else { o }
    }

    #[inline]
    pub fn min(self, o: Money) -> Money {
        if self.0 <= o.0 { self } else { o }
    }

    /// `self / qty` as a price per contract, rounded as asked; `None` for zero quantity
    /// or a result outside `[0, 1]`.
    pub fn per_contract(self, qty: Qty, rounding: Rounding) -> Option<Price> {
        if qty.0 <= 0 {
            return None;
        }
        let p = div_round(self.0 as i128 * SCALE as i128, qty.0 as i128, rounding);
        Price::from_micros(i64::try_from(p).ok()?).ok()
    }

    /// `self / base` in parts per million, rounded down (a return on `base`).
    pub fn ratio_ppm(self, base: Money) -> Option<i64> {
        if base.0 <= 0 {
            return None;
        }
        i64::try_from(div_round(self.0 as i128 * SCALE as i128, base.0 as i128, Rounding::Down)).ok()
    }
}

macro_rules! arith {
    ($t:ident) => {
        impl Add for $t {
            type Output = $t;
            #[inline]
            fn add(self, o: $t) -> $t {
                $t(self.0 + o.0)
            }
        }
        impl Sub for $t {
            type Output = $t;
            #[inline]
            fn sub(self, o: $t) -> $t {
                $t(self.0 - o.0)
            }
        }
        impl AddAssign for $t {
            #[inline]
            fn add_assign(&mut self, o: $t) {
                self.0 += o.0;
            }
        }
        impl SubAssign for $t {
            #[inline]
            fn sub_assign(&mut self, o: $t) {
                self.0 -= o.0;
            }
        }
        impl core::iter::Sum for $t {
            fn sum<I: Iterator<Item = $t>>(iter: I) -> $t {
                iter.fold($t(0), |a, b| a + b)
            }
        }
    };
}
arith!(Qty);
arith!(Money);

impl Neg for Money {
    type Output = Money;
    #[inline]
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl Neg for Qty {
    type Output = Qty;
    #[inline]
    fn neg(self) -> Qty {
        Qty(-self.0)
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    //! Amounts travel as decimal strings (the venues' own convention), so a
    //! config file or a message never holds an inexact float.
    use super::*;
    use serde::de::{Error, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    struct AmountVisitor;

    impl Visitor<'_> for AmountVisitor {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a decimal string or an integer")
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<i64, E> {
            parse_micros(v).map_err(E::custom)
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<i64, E> {
            v.checked_mul(SCALE).ok_or_else(|| E::custom(AmountError::Overflow))
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).ok().and_then(|v| v.checked_mul(SCALE)).ok_or_else(|| E::custom(AmountError::Overflow))
        }
    }

    // Human-readable formats (JSON, TOML) carry decimal strings; binary formats
    // (MessagePack on the bus) carry the raw micro-unit integer, which is exact
    // and several times cheaper to encode.
    macro_rules! serde_fixed {
        ($t:ident, $check:expr) => {
            impl Serialize for $t {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    if s.is_human_readable() {
                        s.serialize_str(&format_micros_full(self.0))
                    } else {
                        s.serialize_i64(self.0)
                    }
                }
            }
            impl<'de> Deserialize<'de> for $t {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                    let m =
                        if d.is_human_readable() { d.deserialize_any(AmountVisitor)? } else { i64::deserialize(d)? };
                    let check: fn(i64) -> Result<$t, AmountError> = $check;
                    check(m).map_err(D::Error::custom)
                }
            }
        };
    }
    serde_fixed!(Price, Price::from_micros);
    serde_fixed!(Qty, |m| Ok(Qty(m)));
    serde_fixed!(Money, |m| Ok(Money(m)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_venue_strings_exactly() {
        assert_eq!(Price::parse("0.5600").unwrap().micros(), 560_000);
        assert_eq!(Price::parse(".48").unwrap().micros(), 480_000);
        assert_eq!(Price::parse("0.960").unwrap().micros(), 960_000);
        assert_eq!(Price::parse("0.000100").unwrap().micros(), 100);
        assert_eq!(Price::parse("1").unwrap(), Price::ONE);
        assert_eq!(Price::parse("1e-3").unwrap().micros(), 1_000);
        assert_eq!(Qty::parse("10.00").unwrap(), Qty::from_contracts(10));
        assert_eq!(Qty::parse("-54.00").unwrap().micros(), -54_000_000);
        assert_eq!(Money::parse("0.50000000").unwrap().micros(), 500_000);
        assert_eq!(Money::parse(" 2 ").unwrap(), Money::from_dollars(2));
    }

    #[test]
    fn rejects_bad_strings_with_reasons() {
        assert!(matches!(Price::parse("abc"), Err(AmountError::Syntax(_))));
        assert!(matches!(Price::parse(""), Err(AmountError::Syntax(_))));
        assert!(matches!(Price::parse("."), Err(AmountError::Syntax(_))));
        assert!(matches!(Price::parse("0.5.6"), Err(AmountError::Syntax(_))));
        assert!(matches!(Price::parse("0.1234567"), Err(AmountError::TooPrecise(_))));
        assert!(matches!(Price::parse("1.01"), Err(AmountError::PriceOutOfRange(_))));
        assert!(matches!(Price::parse("-0.01"), Err(AmountError::PriceOutOfRange(_))));
        assert!(matches!(Qty::parse_non_negative("-1"), Err(AmountError::Negative(_))));
        assert!(matches!(Money::parse("99999999999999999999"), Err(AmountError::OutOfRange(_))));
        assert!(matches!(Money::parse("1e99999"), Err(AmountError::Syntax(_) | AmountError::OutOfRange(_))));
        assert!(Price::parse("NaN").is_err());
        assert!(Price::parse("0x10").is_err());
    }

    #[test]
    fn formats_on_request_and_refuses_to_lose_digits() {
        assert_eq!(Price::parse("0.56").unwrap().to_decimal_string(4).unwrap(), "0.5600");
        assert_eq!(Qty::from_hundredths(2104).to_decimal_string(2).unwrap(), "21.04");
        assert!(Price::parse("0.56789").unwrap().to_decimal_string(4).is_err());
        assert_eq!(Money::from_micros(-20_000).to_string(), "-0.02");
        assert_eq!(Price::from_micros(123_456).unwrap().to_string(), "0.123456");
    }

    #[test]
    fn rounding_goes_the_asked_way() {
        // 3 micro-contracts at $0.333333 = 0.999999 micro-dollars.
        let q = Qty::from_micros(3);
        let p = Price::from_micros(333_333).unwrap();
        assert_eq!(q.value_at(p, Rounding::Up).micros(), 1);
        assert_eq!(q.value_at(p, Rounding::Down).micros(), 0);
        assert_eq!(div_round(-7, 2, Rounding::Down), -4);
        assert_eq!(div_round(-7, 2, Rounding::Up), -3);
        assert_eq!(Money::from_micros(1_000_001).ceil_to(10_000).micros(), 1_010_000);
        assert_eq!(Money::from_micros(1_009_999).floor_to(10_000).micros(), 1_000_000);
    }

    #[test]
    fn complement_and_ratios() {
        let p = Price::parse("0.42").unwrap();
        assert_eq!(p.complement(), Price::parse("0.58").unwrap());
        assert_eq!(Money::from_dollars(1).ratio_ppm(Money::from_dollars(4)), Some(250_000));
        assert_eq!(
            Money::parse("1.75").unwrap().per_contract(Qty::from_contracts(7), Rounding::Up),
            Some(Price::parse("0.25").unwrap())
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_round_trips_as_strings() {
        let p: Price = serde_json::from_str("\"0.5600\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"0.56\"");
        let m: Money = serde_json::from_str("3").unwrap();
        assert_eq!(m, Money::from_dollars(3));
        assert!(serde_json::from_str::<Price>("\"1.5\"").is_err());
    }
}
