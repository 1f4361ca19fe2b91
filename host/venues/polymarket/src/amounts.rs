//! Maker and taker amounts of a signed order, from a price and a size.
//!
//! The exchange never sees a price: it sees how many base units (6 decimals)
//! the maker gives and how many it wants back. The venue checks those against
//! the market's tick size, so the translation must be exact and must refuse
//! anything that is off the grid rather than round it silently into a
//! different order. We follow the strict rules of Polymarket's Rust clients:
//! the price must sit on the tick, the size has at most two decimals, and the
//! collateral amount is truncated to `tick decimals + 2` places.

use arbytron_sdk::{Price, Qty};

/// The tick sizes Polymarket markets use (0.005 and 0.0025 arrived in July 2026).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TickSize {
    Tenth,
    Hundredth,
    FiveThousandth,
    TwentyFiveTenThousandth,
    Thousandth,
    TenThousandth,
}

impl TickSize {
    pub const ALL: [TickSize; 6] = [
        TickSize::Tenth,
        TickSize::Hundredth,
        TickSize::FiveThousandth,
        TickSize::TwentyFiveTenThousandth,
        TickSize::Thousandth,
        TickSize::TenThousandth,
    ];

    /// The tick in micro-dollars.
    pub const fn micros(self) -> i64 {
        match self {
            TickSize::Tenth => 100_000,
            TickSize::Hundredth => 10_000,
            TickSize::FiveThousandth => 5_000,
            TickSize::TwentyFiveTenThousandth => 2_500,
            TickSize::Thousandth => 1_000,
            TickSize::TenThousandth => 100,
        }
    }

    pub fn price(self) -> Price {
        Price::from_micros_const(self.micros())
    }

    /// Decimals of a price on this grid (the official clients' rounding table).
    pub const fn price_decimals(self) -> u32 {
        match self {
            TickSize::Tenth => 1,
            TickSize::Hundredth => 2,
            TickSize::FiveThousandth | TickSize::Thousandth => 3,
            TickSize::TwentyFiveTenThousandth | TickSize::TenThousandth => 4,
        }
    }

    /// Decimals kept in the collateral amount: price decimals plus the size's two.
    pub const fn amount_decimals(self) -> u32 {
        self.price_decimals() + 2
    }

    /// The venue's string for it (`"0.01"`), as `/tick-size` and the WS send it.
    pub fn as_str(self) -> &'static str {
        match self {
            TickSize::Tenth => "0.1",
            TickSize::Hundredth => "0.01",
            TickSize::FiveThousandth => "0.005",
            TickSize::TwentyFiveTenThousandth => "0.0025",
            TickSize::Thousandth => "0.001",
            TickSize::TenThousandth => "0.0001",
        }
    }

    pub fn from_micros(micros: i64) -> Option<TickSize> {
        TickSize::ALL.into_iter().find(|t| t.micros() == micros)
    }

    /// Parse the venue's string or number form (`"0.01"`, `0.001`, `".0001"`).
    pub fn parse(s: &str) -> Option<TickSize> {
        arbytron_sdk::money::parse_micros(s).ok().and_then(TickSize::from_micros)
    }

    /// Parse a JSON value that may be a string or a number (`/tick-size` sends either).
    pub fn from_json(v: &serde_json::Value) -> Option<TickSize> {
        match v {
            serde_json::Value::String(s) => TickSize::parse(s),
            serde_json::Value::Number(n) => TickSize::parse(&n.to_string()),
            _ => None,
        }
    }
}

impl std::fmt::Display for TickSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which token flow an order is: BUY gives collateral for tokens, SELL the reverse.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderSide {
    Buy,
    Sell,
}

impl OrderSide {
    /// The signed `uint8`: 0 = BUY, 1 = SELL.
    pub const fn code(self) -> u8 {
        match self {
            OrderSide::Buy => 0,
            OrderSide::Sell => 1,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderSide::Buy => "BUY",
            OrderSide::Sell => "SELL",
        }
    }

    pub fn parse(s: &str) -> Option<OrderSide> {
        match s {
            "BUY" | "buy" => Some(OrderSide::Buy),
            "SELL" | "sell" => Some(OrderSide::Sell),
            _ => None,
        }
    }
}

/// Base units (6 decimals) a maker gives and wants.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Amounts {
    pub maker: u64,
    pub taker: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountsError {
    #[error("price {price} is not a multiple of tick {tick}")]
    OffTick { price: Price, tick: TickSize },
    #[error("price {price} is outside [{tick}, 1 - {tick}]")]
    PriceOutOfRange { price: Price, tick: TickSize },
    #[error("size {0} has more than 2 decimals")]
    SizeTooPrecise(Qty),
    #[error("size {0} must be positive")]
    NonPositiveSize(Qty),
}

/// Check a price against a tick grid and the valid range `[tick, 1 - tick]`.
pub fn check_price(price: Price, tick: TickSize) -> Result<(), AmountsError> {
    if price.micros() % tick.micros() != 0 {
        return Err(AmountsError::OffTick { price, tick });
    }
    if price.micros() < tick.micros() || price.micros() > 1_000_000 - tick.micros() {
        return Err(AmountsError::PriceOutOfRange { price, tick });
    }
    Ok(())
}

/// Check an order size: positive, at most two decimals (the venue's lot of 0.01).
pub fn check_size(size: Qty) -> Result<(), AmountsError> {
    if !size.is_positive() {
        return Err(AmountsError::NonPositiveSize(size));
    }
    if size.micros() % 10_000 != 0 {
        return Err(AmountsError::SizeTooPrecise(size));
    }
    Ok(())
}

/// Truncate a base-unit amount to `decimals` places (of the 6 it has).
fn truncate_to(units: i128, decimals: u32) -> i128 {
    let unit = 10i128.pow(6 - decimals.min(6));
    units - units.rem_euclid(unit)
}

fn round_up_to(units: i128, decimals: u32) -> i128 {
    let unit = 10i128.pow(6 - decimals.min(6));
    let t = truncate_to(units, decimals);
    if t == units { t } else { t + unit }
}

/// Amounts of a limit order (GTC/GTD, and what we also sign for FOK/FAK: a
/// worst price and a size, so the venue can never fill us beyond either).
///
/// BUY: maker gives `size x price` collateral, takes `size` tokens.
/// SELL: maker gives `size` tokens, takes `size x price` collateral.
pub fn limit_amounts(side: OrderSide, price: Price, size: Qty, tick: TickSize) -> Result<Amounts, AmountsError> {
    check_price(price, tick)?;
    check_size(size)?;
    // size (micro-shares) x price (micro-dollars) / 1e6 = micro-dollars; exact,
    // because 2 + tick decimals <= 6, but truncate as documented all the same.
    let notional = size.micros() as i128 * price.micros() as i128 / 1_000_000;
    let notional = truncate_to(notional, tick.amount_decimals());
    let shares = size.micros() as i128;
    let (maker, taker) = match side {
        OrderSide::Buy => (notional, shares),
        OrderSide::Sell => (shares, notional),
    };
    // Both are non-negative and below i64::MAX (they came from i64 inputs and
    // a price <= 1), so the conversions cannot fail.
    Ok(Amounts { maker: maker as u64, taker: taker as u64 })
}

/// Amounts of an immediate order (FOK/FAK), which the venue reads as a
/// market order and holds to a coarser precision whatever the tick: the
/// collateral of a BUY to 2 decimals, the taker amount to 4.
///
/// From a worst price and a size: BUY offers `size x price` collateral
/// truncated to the cent for at least `size` shares (so the implied price
/// never exceeds `price`); SELL offers `size` shares for at least
/// `size x price` collateral truncated to 4 decimals (at most $0.0001 below
/// the exact product, only on ticks finer than 0.01).
pub fn market_amounts(side: OrderSide, price: Price, size: Qty, tick: TickSize) -> Result<Amounts, AmountsError> {
    check_price(price, tick)?;
    check_size(size)?;
    let notional = size.micros() as i128 * price.micros() as i128 / 1_000_000;
    let shares = size.micros() as i128;
    // The venue reads a market order's worst price off its amounts (a buyer's
    // ceiling is cash / shares, rounded down). Truncating a BUY's cash to the
    // cent would put that ceiling just under the limit, below the very ask
    // the order means to take; so a BUY rounds its cash up (at most one cent
    // more for the same shares) and a SELL truncates its proceeds (its floor
    // rounds up, so it never sells below the limit).
    // If the extra cent would lift the ceiling past the next grid price (tiny
    // orders on fine ticks), truncate instead: never pay more than the limit.
    let buy_cash = {
        let up = round_up_to(notional, 2);
        if up * 1_000_000 / shares < (price.micros() + tick.micros()) as i128 { up } else { truncate_to(notional, 2) }
    };
    let (maker, taker) = match side {
        OrderSide::Buy => (buy_cash, shares),
        OrderSide::Sell => (shares, truncate_to(notional, 4)),
    };
    if maker == 0 || taker == 0 {
        return Err(AmountsError::NonPositiveSize(size));
    }
    Ok(Amounts { maker: maker as u64, taker: taker as u64 })
}

/// The price an order's amounts imply (BUY: maker/taker, SELL: taker/maker),
/// rounded to the tick the way the venue reads it; `None` for a zero leg.
pub fn implied_price(side: OrderSide, amounts: Amounts) -> Option<(Price, Qty)> {
    let (cash, shares) = match side {
        OrderSide::Buy => (amounts.maker, amounts.taker),
        OrderSide::Sell => (amounts.taker, amounts.maker),
    };
    if shares == 0 {
        return None;
    }
    let p = cash as u128 * 1_000_000 / shares as u128;
    let price = Price::from_micros(i64::try_from(p).ok()?).ok()?;
    let qty = Qty::from_micros(i64::try_from(shares).ok()?);
    Some((price, qty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }

    #[test]
    fn tick_table_matches_the_official_rounding_config() {
        let table: Vec<(&str, u32, u32)> =
            TickSize::ALL.iter().map(|t| (t.as_str(), t.price_decimals(), t.amount_decimals())).collect();
        assert_eq!(
            table,
            vec![("0.1", 1, 3), ("0.01", 2, 4), ("0.005", 3, 5), ("0.0025", 4, 6), ("0.001", 3, 5), ("0.0001", 4, 6)]
        );
        for t in TickSize::ALL {
            assert_eq!(TickSize::parse(t.as_str()), Some(t));
        }
        assert_eq!(TickSize::from_json(&serde_json::json!(0.001)), Some(TickSize::Thousandth));
        assert_eq!(TickSize::parse("0.02"), None);
    }

    #[test]
    fn rejects_off_grid_orders() {
        let t = TickSize::Hundredth;
        assert!(matches!(limit_amounts(OrderSide::Buy, p("0.565"), q("10"), t), Err(AmountsError::OffTick { .. })));
        assert!(matches!(
            limit_amounts(OrderSide::Buy, p("0.99"), q("10.001"), t),
            Err(AmountsError::SizeTooPrecise(_))
        ));
        assert!(matches!(limit_amounts(OrderSide::Buy, p("1"), q("1"), t), Err(AmountsError::PriceOutOfRange { .. })));
        assert!(matches!(limit_amounts(OrderSide::Sell, p("0"), q("1"), t), Err(AmountsError::PriceOutOfRange { .. })));
        assert!(matches!(limit_amounts(OrderSide::Sell, p("0.5"), q("0"), t), Err(AmountsError::NonPositiveSize(_))));
        assert!(limit_amounts(OrderSide::Buy, p("0.0025"), q("1"), TickSize::TwentyFiveTenThousandth).is_ok());
        assert!(limit_amounts(OrderSide::Buy, p("0.0050"), q("1"), TickSize::TwentyFiveTenThousandth).is_ok());
        assert!(limit_amounts(OrderSide::Buy, p("0.0030"), q("1"), TickSize::TwentyFiveTenThousandth).is_err());
    }

    #[test]
    fn market_orders_use_the_venue_precision() {
        // BUY: collateral rounded up to the cent, so the ceiling the venue reads
        // reaches the limit, but stays below the next grid price.
        let a = market_amounts(OrderSide::Buy, p("0.56"), q("21.04"), TickSize::Hundredth).unwrap();
        assert_eq!((a.maker, a.taker), (11_790_000, 21_040_000));
        let (implied, _) = implied_price(OrderSide::Buy, a).unwrap();
        assert!(implied >= p("0.56") && implied < p("0.57"), "{implied}");
        // A tiny order on a fine tick would overshoot: truncated instead.
        let a = market_amounts(OrderSide::Buy, p("0.5601"), q("5.03"), TickSize::TenThousandth).unwrap();
        assert_eq!(a.maker, 2_810_000);
        // SELL on a fine tick: proceeds truncated to 4 decimals.
        let a = market_amounts(OrderSide::Sell, p("0.039"), q("2435.89"), TickSize::Thousandth).unwrap();
        assert_eq!((a.maker, a.taker), (2_435_890_000, 94_999_700));
        // Exact products are untouched.
        let a = market_amounts(OrderSide::Buy, p("0.63"), q("10"), TickSize::Hundredth).unwrap();
        assert_eq!((a.maker, a.taker), (6_300_000, 10_000_000));
        // Too small to be worth a cent.
        assert!(market_amounts(OrderSide::Buy, p("0.01"), q("0.5"), TickSize::Hundredth).is_err());
        for t in TickSize::ALL {
            // The grid price just above 0.33 on every tick.
            let price = Price::from_micros((330_000 / t.micros() + 1) * t.micros()).unwrap();
            let a = market_amounts(OrderSide::Buy, price, q("3.33"), t).unwrap();
            assert_eq!(a.maker % 10_000, 0, "{t}: cents only");
            let implied = implied_price(OrderSide::Buy, a).unwrap().0;
            assert!(
                implied < Price::from_micros(price.micros() + t.micros()).unwrap(),
                "{t}: below the next grid price"
            );
            let a = market_amounts(OrderSide::Sell, price, q("3.33"), t).unwrap();
            assert_eq!(a.taker % 100, 0, "{t}: 4 decimals at most");
        }
    }

    #[test]
    fn implied_price_inverts_the_amounts() {
        let a = limit_amounts(OrderSide::Sell, p("0.039"), q("2435.89"), TickSize::Thousandth).unwrap();
        assert_eq!(implied_price(OrderSide::Sell, a), Some((p("0.039"), q("2435.89"))));
        let a = limit_amounts(OrderSide::Buy, p("0.56"), q("21.04"), TickSize::Hundredth).unwrap();
        assert_eq!(implied_price(OrderSide::Buy, a), Some((p("0.56"), q("21.04"))));
    }
}
