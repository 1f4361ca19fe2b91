//! Conversions between on-chain base units and the model's exact money types.
//!
//! Collateral and outcome tokens have 6 decimals, the same scale as [`Money`] and [`Qty`]
//! (micro-dollars, micro-contracts), so a base unit converts one-to-one; the only failure is
//! an amount beyond `i64`, which no real pool reaches and which is reported, never wrapped.

use alloy::primitives::U256;
use arbytron_model::{Money, Qty};

use crate::Error;

pub fn qty(base_units: u128) -> Result<Qty, Error> {
    i64::try_from(base_units)
        .map(Qty::from_micros)
        .map_err(|_| Error::Invalid(format!("{base_units} outcome-token units exceed the model's range")))
}

pub fn money(base_units: u128) -> Result<Money, Error> {
    i64::try_from(base_units)
        .map(Money::from_micros)
        .map_err(|_| Error::Invalid(format!("{base_units} collateral units exceed the model's range")))
}

/// Non-negative model amount as base units.
pub fn base_units(micros: i64, what: &str) -> Result<u128, Error> {
    u128::try_from(micros).map_err(|_| Error::Invalid(format!("{what} must not be negative, got {micros} micros")))
}

/// A chain value (`uint256`) that must fit the SDK math's `u128`.
pub fn to_u128(v: U256, what: &str) -> Result<u128, Error> {
    u128::try_from(v).map_err(|_| Error::Malformed(format!("{what} {v} does not fit in 128 bits")))
}

/// The cost of `gas_used` at `gas_price_wei` in money, at `native_price` dollars per whole
/// native token (1e18 wei), rounded up: gas is a cost. The SDK's formula (the one sizing
/// uses), with its saturation turned into errors.
pub fn gas_cost(gas_used: u64, gas_price_wei: u128, native_price: Money) -> Result<Money, Error> {
    if native_price.is_negative() {
        return Err(Error::Config(format!("native token price {native_price} is negative")));
    }
    let cost = arbytron_sdk::fees::gas_cost(gas_used, gas_price_wei, native_price);
    if cost == Money::from_micros(i64::MAX) {
        return Err(Error::Invalid(format!("gas cost of {gas_used} gas at {gas_price_wei} wei is out of range")));
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gas_cost_rounds_up_and_scales() {
        // 100k gas at 30 gwei = 0.003 native; at $0.25 = $0.00075.
        assert_eq!(gas_cost(100_000, 30_000_000_000, Money::from_micros(250_000)).unwrap(), Money::from_micros(750));
        // One wei at $1 is 1e-18 dollars: still costs a micro-dollar.
        assert_eq!(gas_cost(1, 1, Money::DOLLAR).unwrap(), Money::from_micros(1));
        assert_eq!(gas_cost(0, 1, Money::DOLLAR).unwrap(), Money::ZERO);
        assert!(gas_cost(1, 1, Money::from_micros(-1)).is_err());
    }

    #[test]
    fn conversions_refuse_out_of_range() {
        assert_eq!(qty(1_500_000).unwrap(), Qty::from_micros(1_500_000));
        assert!(qty(u128::from(u64::MAX)).is_err());
        assert!(money(i64::MAX as u128 + 1).is_err());
        assert!(base_units(-1, "x").is_err());
        assert_eq!(base_units(7, "x").unwrap(), 7);
        assert!(to_u128(U256::MAX, "balance").is_err());
    }
}
